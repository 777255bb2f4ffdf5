// Package server keeps the operator's list of servers: one directory per server
// under $ABRA_DIR/servers, holding that server's app env files.
package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
)

// Local is the name of the server that stands for the local Docker daemon.
const Local = "default"

// ErrUnknown is wrapped by errors about servers that are not registered.
var ErrUnknown = errors.New("unknown server")

// ErrHasApps is returned by Remove when apps still exist on the server.
var ErrHasApps = errors.New("server still has apps")

// Store is the servers directory, $ABRA_DIR/servers.
type Store struct{ Dir string }

// Path is the directory of the named server. The name must have passed
// guard.ServerName (Check does that), so the path never leaves Dir.
func (s Store) Path(name string) string { return filepath.Join(s.Dir, name) }

// List returns the registered server names, sorted. Symlinked directories count.
func (s Store) List() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := os.Stat(filepath.Join(s.Dir, e.Name())) // follows symlinks
		if err == nil && fi.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// Exists reports whether the server is registered: a valid name with a
// directory (or a symlink to one) under Dir.
func (s Store) Exists(name string) bool {
	if guard.ServerName(name) != nil {
		return false
	}
	fi, err := os.Stat(s.Path(name))
	return err == nil && fi.IsDir()
}

// Check returns an error naming the server, with a hint, when the name is not
// valid or the server is not registered.
func (s Store) Check(name string) error {
	if err := guard.ServerName(name); err != nil {
		return hint.With(err, "run 'abra server ls' to see your servers")
	}
	if s.Exists(name) {
		return nil
	}
	remedy := fmt.Sprintf("run 'abra server add %s' first", name)
	if name == Local {
		remedy = "run 'abra server add --local' first"
	}
	return hint.With(fmt.Errorf("%w %q", ErrUnknown, name), remedy)
}

// Add registers a server; adding an existing one is not an error.
func (s Store) Add(name string) (created bool, err error) {
	if err := ValidName(name); err != nil {
		return false, err
	}
	if s.Exists(name) {
		return false, nil
	}
	if err := os.MkdirAll(s.Path(name), 0o700); err != nil {
		return false, fmt.Errorf("add server %s: %w", name, err)
	}
	return true, nil
}

// Apps lists the env files (app domains) stored for the server.
func (s Store) Apps(name string) ([]string, error) {
	if err := guard.ServerName(name); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.Path(name))
	if err != nil {
		return nil, err
	}
	var apps []string
	for _, e := range entries {
		// Directories named *.env are listed too, so that commands say what
		// is wrong with them instead of "no env file".
		if strings.HasSuffix(e.Name(), ".env") {
			apps = append(apps, strings.TrimSuffix(e.Name(), ".env"))
		}
	}
	return apps, nil
}

// Remove unregisters a server: only the registered server's own directory
// under Dir goes (a symlinked one is only unlinked). It refuses while app env
// files exist there, unless force is set, in which case the env files go too.
func (s Store) Remove(name string, force bool) error {
	if err := s.Check(name); err != nil {
		return err
	}
	apps, err := s.Apps(name)
	if err != nil {
		return err
	}
	if len(apps) > 0 && !force {
		return hint.With(fmt.Errorf("%w: %s has %d apps (%s)", ErrHasApps, name, len(apps), strings.Join(apps, ", ")),
			"remove the apps first, or pass --force to forget the server and their env files")
	}
	p := s.Path(name)
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return os.Remove(p) // only unlink: the target belongs to the operator
	}
	return os.RemoveAll(p)
}

// ValidName rejects names that cannot be a directory name or a host.
func ValidName(name string) error { return guard.ServerName(name) }

// SSHTarget is the host name and port the system ssh client uses for a server
// name (an ~/.ssh/config alias, or user@host[:port]), as `ssh -G` reports them.
func SSHTarget(name string) (host, port string) {
	host, port = name, "22"
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	if h, p, err := net.SplitHostPort(host); err == nil {
		return h, p
	}
	out, err := exec.Command("ssh", "-G", "--", name).Output()
	if err != nil {
		return host, port
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "hostname":
			host = v
		case "port":
			port = v
		}
	}
	return host, port
}
