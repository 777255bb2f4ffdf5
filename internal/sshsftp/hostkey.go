package sshsftp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeys checks the server's host key against the known_hosts files.
type hostKeys struct {
	c      *conf
	log    *logger
	lookup string   // host:port looked up in known_hosts
	name   string   // the same as known_hosts writes it: host or [host]:port
	files  []string // every known_hosts file considered
	db     ssh.HostKeyCallback
	known  []ssh.PublicKey // the keys known for this host
	err    error           // why the key was refused, for the one-line message
}

func newHostKeys(c *conf, log *logger) (*hostKeys, error) {
	h := &hostKeys{c: c, log: log}
	host, port := c.hostname, strconv.Itoa(c.port)
	if c.hostKeyAlias != "" {
		// As in OpenSSH the alias replaces host and port in the lookup.
		host, port = c.hostKeyAlias, "22"
	}
	h.lookup = net.JoinHostPort(host, port)
	h.name = knownhosts.Normalize(h.lookup)
	h.files = append(append([]string(nil), c.userKnownHosts...), c.globalKnownHosts...)
	var existing []string
	for _, f := range h.files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		} else {
			log.debugf("known_hosts %s: %v", f, err)
		}
	}
	if len(existing) == 0 {
		h.db = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	} else {
		db, err := knownhosts.New(existing...)
		if err != nil {
			return nil, err
		}
		h.db = db
	}
	// Ask the database about a key it cannot hold: the KeyError lists every
	// key known for the host, whose algorithms we then prefer, so that a
	// server offering ed25519 and rsa shows the one we know.
	var ke *knownhosts.KeyError
	if err := h.db(h.lookup, &net.TCPAddr{IP: net.IPv4zero, Port: c.port}, probeKey{}); errors.As(err, &ke) {
		for _, k := range ke.Want {
			h.known = append(h.known, k.Key)
			log.debugf("known host key for %s: %s (%s:%d)", h.name, k.Key.Type(), k.Filename, k.Line)
		}
	}
	return h, nil
}

// plainHostKeyAlgos are the host key algorithms we offer, in OpenSSH's
// order; certificates are not used (no @cert-authority support).
var plainHostKeyAlgos = []string{
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

// algorithms is the HostKeyAlgorithms list: those of the known keys first.
func (h *hostKeys) algorithms() []string {
	supported := ssh.SupportedAlgorithms().HostKeys
	var out []string
	add := func(a string) {
		if slices.Contains(supported, a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, k := range h.known {
		if k.Type() == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512)
			add(ssh.KeyAlgoRSASHA256)
		} else {
			add(k.Type())
		}
	}
	for _, a := range plainHostKeyAlgos {
		add(a)
	}
	return out
}

// check is the ssh.HostKeyCallback.
func (h *hostKeys) check(_ string, remote net.Addr, key ssh.PublicKey) error {
	fp := key.Type() + " " + ssh.FingerprintSHA256(key)
	err := h.db(h.lookup, remote, key)
	if err == nil {
		h.log.debugf("host key for %s is known: %s", h.name, fp)
		return nil
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		h.err = fmt.Errorf("WARNING: host key for %s is revoked (%s:%d); refusing to connect", h.name, re.Revoked.Filename, re.Revoked.Line)
	case errors.As(err, &ke) && len(ke.Want) > 0:
		w := ke.Want[0]
		h.err = fmt.Errorf("WARNING: host key for %s has changed (%s:%d); refusing to connect: the server now offers %s", h.name, w.Filename, w.Line, fp)
	case errors.As(err, &ke):
		if h.c.strict == "yes" {
			h.err = h.unknownError(fp)
			break
		}
		if h.c.strict == "no" {
			h.log.warnf("Warning: host key for %s is not known (%s); connecting anyway since StrictHostKeyChecking=no", h.name, fp)
		}
		if f, err := h.add(key); err != nil {
			h.log.warnf("Warning: could not add the host key for %s to the list of known hosts: %v", h.name, err)
		} else {
			h.log.warnf("Warning: Permanently added '%s' (%s) to the list of known hosts (%s).", h.name, key.Type(), f)
		}
		return nil
	default:
		h.err = fmt.Errorf("host key for %s: %v", h.name, err)
	}
	return h.err
}

func (h *hostKeys) unknownError(fp string) error {
	where := "no known_hosts file"
	if len(h.files) > 0 {
		where = strings.Join(h.files, ", ")
	}
	target := h.c.hostname
	if h.c.port != 22 {
		target = "-p " + strconv.Itoa(h.c.port) + " " + target
	}
	file := h.c.userKnownHosts0
	if file == "" {
		file = "~/.ssh/known_hosts"
	}
	alias := ""
	if h.c.hostKeyAlias != "" {
		alias = ", then write " + h.c.hostKeyAlias + " as the line's host name (HostKeyAlias)"
	}
	return fmt.Errorf("host key for %s is not in %s; add it with: ssh-keyscan %s >> %s (and check the fingerprint: the server offers %s)%s",
		h.name, where, target, file, fp, alias)
}

// add appends the key to the first UserKnownHostsFile.
func (h *hostKeys) add(key ssh.PublicKey) (string, error) {
	if len(h.c.userKnownHosts) == 0 {
		return "", errors.New("no UserKnownHostsFile")
	}
	name := h.c.userKnownHosts[0]
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return name, err
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return name, err
	}
	line := knownhosts.Line([]string{h.lookup}, key) + "\n"
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := io.WriteString(f, line); err != nil {
		f.Close()
		return name, err
	}
	return name, f.Close()
}

// probeKey is a public key no known_hosts file can hold.
type probeKey struct{}

func (probeKey) Type() string                        { return "backupbot-probe" }
func (probeKey) Marshal() []byte                     { return []byte("\x00\x00\x00\x0fbackupbot-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }
