// Package command holds what every abra command shares: the Factory of lazily
// built collaborators, global flag values, and usage errors.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/cli/cli/connhelper"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/i18n"
	"coopcloud.tech/abra/internal/journal"
	"coopcloud.tech/abra/internal/secret"
	"coopcloud.tech/abra/internal/server"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/dockerswarm"
	"coopcloud.tech/abra/internal/ui"
)

// Factory gives commands their collaborators. Only Main builds one.
type Factory struct {
	IO      ui.IO
	AbraDir string

	// Global flags.
	NoInput bool
	Offline bool
	Debug   bool

	// Connect builds a cluster client for a server; tests may replace it with a fake.
	Connect func(ctx context.Context, serverName string) (swarm.Cluster, error)

	// Pass is the operator's password store for --pass; nil means the `pass`
	// command. Tests set a fake.
	Pass secret.PassStore

	// JournalDir is where operations are journalled (internal/journal);
	// "" journals nothing (tests).
	JournalDir string

	// Lang is the language of translated messages (internal/i18n; from
	// LC_ALL, LC_MESSAGES, LANG); "" is English.
	Lang string

	mu       sync.Mutex
	clusters map[string]swarm.Cluster
}

// NewFactory returns a Factory over real Docker connections.
func NewFactory(io ui.IO) *Factory {
	f := &Factory{IO: io, AbraDir: DefaultAbraDir(), clusters: map[string]swarm.Cluster{}}
	f.Connect = dockerConnect
	f.JournalDir, _ = journal.Dir()
	f.Lang = i18n.Default.FromEnv(os.Getenv)
	return f
}

// Journal is the operations journal front ends write long operations to
// (nil: none). It is outside ABRA_DIR on purpose: real abra never sees it.
func (f *Factory) Journal() *journal.Journal {
	if f.JournalDir == "" {
		return nil
	}
	return &journal.Journal{Dir: f.JournalDir}
}

// Text is a translatable message in the operator's language (internal/i18n).
func (f *Factory) Text(key string, args ...any) string {
	return i18n.Default.Text(f.Lang, key, args...)
}

// DefaultAbraDir is $ABRA_DIR, or ~/.abra.
func DefaultAbraDir() string {
	if d := os.Getenv("ABRA_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".abra"
	}
	return filepath.Join(home, ".abra")
}

// PassStore returns the password store --pass writes to.
func (f *Factory) PassStore() secret.PassStore {
	if f.Pass == nil {
		return secret.Pass{}
	}
	return f.Pass
}

// Store is the app store rooted at ABRA_DIR.
func (f *Factory) Store() app.Store { return app.Store{Root: f.AbraDir} }

// Cluster returns the (cached) cluster client for a registered server.
func (f *Factory) Cluster(ctx context.Context, serverName string) (swarm.Cluster, error) {
	if err := f.Store().Servers().Check(serverName); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clusters[serverName]; ok {
		return c, nil
	}
	c, err := f.Connect(ctx, serverName)
	if err != nil {
		return nil, fmt.Errorf("connect to server %s: %w", serverName, err)
	}
	if f.clusters == nil {
		f.clusters = map[string]swarm.Cluster{}
	}
	f.clusters[serverName] = c
	return c, nil
}

// dockerConnect reaches the local daemon for "default" (DOCKER_HOST honoured),
// and any other server over SSH with the system ssh client, so ~/.ssh/config,
// the agent and known_hosts apply.
func dockerConnect(_ context.Context, name string) (swarm.Cluster, error) {
	if name == server.Local {
		return dockerswarm.New()
	}
	if err := guard.ServerName(name); err != nil {
		return nil, err
	}
	helper, err := connhelper.GetConnectionHelper("ssh://" + name)
	if err != nil {
		return nil, err
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := helper.Dialer(ctx, network, addr)
		if err != nil {
			return nil, connectError(name, err)
		}
		return &sshConn{Conn: conn, server: name}, nil
	}
	return dockerswarm.New(
		client.WithHost(helper.Host),
		client.WithDialContext(dial),
	)
}

// sshConn turns the failures of the ssh process that carries the Docker API
// (docker/cli's command connection reports them on the first read, as
// "command [ssh …] has exited with exit status 255 …: stderr=…") into a
// swarm.ConnectError naming the server and giving ssh's own reason.
type sshConn struct {
	net.Conn
	server string
}

func (c *sshConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = connectError(c.server, err)
	}
	return n, err
}

func (c *sshConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = connectError(c.server, err)
	}
	return n, err
}

func connectError(server string, err error) error {
	msg := err.Error()
	reason := msg
	if _, stderr, ok := strings.Cut(msg, "stderr="); ok {
		reason = lastLine(strings.Trim(stderr, "\"\n "))
		if reason == "" {
			reason = "ssh exited without saying why"
		}
	}
	return hint.With(&swarm.ConnectError{Server: server, Reason: reason, Err: err},
		fmt.Sprintf("see which servers answer with 'abra server ls --status'; try 'ssh %s' to see ssh's own messages", server))
}

// lastLine is the last non-empty line of s: ssh prints warnings first and the
// reason it gave up last.
func lastLine(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, `\n`, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// UsageError marks errors in how a command was called (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ErrNeedsInput is wrapped when a value is missing and prompting is not possible.
var ErrNeedsInput = errors.New("missing input")

// ExactArgs is cobra.ExactArgs returning a UsageError.
func ExactArgs(n int) cobra.PositionalArgs { return wrapArgs(cobra.ExactArgs(n)) }

// RangeArgs is cobra.RangeArgs returning a UsageError.
func RangeArgs(min, max int) cobra.PositionalArgs { return wrapArgs(cobra.RangeArgs(min, max)) }

// NoArgs is cobra.NoArgs returning a UsageError.
func NoArgs(cmd *cobra.Command, args []string) error { return wrapArgs(cobra.NoArgs)(cmd, args) }

func wrapArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &UsageError{Err: fmt.Errorf("%s: %w (see '%s --help')", cmd.CommandPath(), err, cmd.CommandPath())}
		}
		return nil
	}
}

// AddJSONFlag adds --json with its abra alias -m/--machine.
func AddJSONFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVar(p, "json", false, "print JSON (stable snake_case fields)")
	cmd.Flags().BoolVarP(p, "machine", "m", false, "alias of --json")
}

// ExitCodeError carries the exit code of a command run for the operator (app
// run, app cmd): abra exits with it and prints nothing more.
type ExitCodeError struct{ Code int }

func (e *ExitCodeError) Error() string { return fmt.Sprintf("command exited with %d", e.Code) }

// ErrPartial is wrapped by errors of batch commands where some items failed
// while others succeeded (exit code 3).
var ErrPartial = errors.New("partial failure")
