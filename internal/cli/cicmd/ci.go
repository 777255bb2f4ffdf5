// Package cicmd is "abra ci": deploys from CI runners. `abra ci deploy` is the
// plain command for any CI; `abra ci plugin` (what the image's entry point,
// abra-ci, runs without arguments) reads the Drone/Woodpecker plugin
// settings (PLUGIN_*) in stack-ssh-deploy's form or drone-abra's. Servers are
// reached in process (internal/sshdocker): a key held in memory, a host key
// known in advance, no ssh binary.
package cicmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"coopcloud.tech/abra/internal/ci"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/sshdocker"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

// Exit codes of abra ci deploy and of the plugin's stack form, documented in
// the README. A drone-abra form command exits as abra does.
const (
	ExitConverged      = 0   // the app runs what was deployed (and was purged, if asked)
	ExitFailed         = 1   // failed after changing the server; its state is unknown
	ExitRolledBack     = 4   // did not converge; the previous version runs again (abra's 4)
	ExitRollbackFailed = 5   // did not converge; no good version runs (rollback failed, or a first deploy)
	ExitLockTimeout    = 6   // another deploy held the app's lock longer than the lock wait
	ExitRefused        = 7   // refused before changing anything on the server (input, host key, auth, lint, …)
	ExitInterrupted    = 130 // cancelled
)

// ExitCode is the exit code of an outcome.
func ExitCode(o ci.Outcome) int {
	switch o {
	case ci.Converged:
		return ExitConverged
	case ci.RolledBack:
		return ExitRolledBack
	case ci.RollbackFailed:
		return ExitRollbackFailed
	case ci.LockTimeout:
		return ExitLockTimeout
	case ci.Refused:
		return ExitRefused
	case ci.Interrupted:
		return ExitInterrupted
	}
	return ExitFailed
}

// Runner runs one abra command line with a factory and returns its exit
// code (cli.Run): the drone-abra form runs its command with it.
type Runner func(ctx context.Context, f *command.Factory, args []string) int

// NewCmd is "abra ci". Called with no subcommand, it runs the plugin when
// PLUGIN_* settings are in the environment (the image's entry point).
func NewCmd(f *command.Factory, run Runner) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ci",
		Short: "Deploy from CI (Drone, Woodpecker, Forgejo Actions, any CI)",
		Long: `Deploy from CI runners, with no ssh binary, ~/.ssh or agent: the SSH key is
held in memory, the server's host key must be given (known_hosts line or
fingerprint; there is no accept-any mode), and Docker is reached over the SSH
connection.

  abra ci deploy    the plain command for any CI (see its --help)
  abra ci plugin    the Drone/Woodpecker plugin: settings from PLUGIN_*

The image REGISTRY/abra runs 'abra ci' as its entry point (abra-ci): without
arguments it is 'abra ci plugin' when PLUGIN_* settings are set.

Exit codes: 0 converged; 1 failed after changing the server; 4 did not
converge, previous version put back; 5 did not converge, no good version runs;
6 lock wait timed out; 7 refused before changing anything.`,
		Args: command.NoArgs,
		// Not the root's checks of --server and --domain: abra ci takes
		// ssh://user@host:port servers, and every input it is given is
		// checked where it is read (sshdocker.ParseTarget, ci.NewWorkspace),
		// a refusal with abra ci's exit code.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if f.Debug {
				logrus.SetLevel(logrus.DebugLevel)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if hasPluginSettings(os.Environ()) {
				return runPlugin(cmd.Context(), &pluginOptions{f: f, run: run, root: cmd.Root(), environ: os.Environ, takeEnv: takeEnv})
			}
			return hint.With(command.Usagef("abra ci: no PLUGIN_* or INPUT_* settings in the environment and no subcommand"),
				"run 'abra ci deploy …', or give the plugin step settings (see 'abra ci --help')")
		},
	}
	cmd.SetFlagErrorFunc(refuseFlags)
	cmd.AddCommand(newDeployCmd(f, nil), newPluginCmd(f, run, nil))
	return cmd
}

// noArgs refuses arguments as refuseFlags refuses flags.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return refuseFlags(cmd, fmt.Errorf("unexpected argument %q: abra ci takes flags only", args[0]))
	}
	return nil
}

// refuseFlags makes a malformed command line a refusal (exit 7), as every
// other input error of abra ci is.
func refuseFlags(cmd *cobra.Command, err error) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "abra: %v\nhint: see '%s --help'\n", err, cmd.CommandPath())
	return &command.ExitCodeError{Code: ExitRefused}
}

// takeEnv reads a variable holding a secret and removes it from the
// process environment, so that nothing abra starts inherits it.
func takeEnv(name string) string {
	v := os.Getenv(name)
	_ = os.Unsetenv(name)
	return v
}

// sshOptions are how a CI run reaches servers.
type sshOptions struct {
	keyFile, keyEnv            string
	key                        string // the key itself (the plugin's deploy_key)
	knownHosts, knownHostsFile string
	fingerprints               []string
}

func (s *sshOptions) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&s.keyFile, "ssh-key-file", "", "read the SSH private key from `FILE`")
	fl.StringVar(&s.keyEnv, "ssh-key-env", "", "read the SSH private key from the environment variable `VAR` (then removed from abra's environment)")
	fl.StringVar(&s.knownHosts, "known-hosts", "", "the server's known_hosts `LINES` (as ssh-keyscan prints them) or bare public key")
	fl.StringVar(&s.knownHostsFile, "known-hosts-file", "", "read the server's known_hosts lines from `FILE`")
	fl.StringSliceVar(&s.fingerprints, "host-fingerprint", nil, "the server's host key fingerprint, `SHA256:…` as ssh-keygen -lf prints it (repeatable)")
	_ = cmd.MarkFlagFilename("ssh-key-file")
	_ = cmd.MarkFlagFilename("known-hosts-file")
}

// dialer reads the key and the host keys. Every error is a refusal: nothing
// was sent anywhere yet.
func (s *sshOptions) dialer(take func(string) string) (*sshdocker.Dialer, error) {
	key := []byte(s.key)
	switch {
	case s.keyFile != "" && s.keyEnv != "":
		return nil, command.Usagef("give the SSH key once: --ssh-key-file or --ssh-key-env")
	case s.keyFile != "":
		b, err := os.ReadFile(s.keyFile)
		if err != nil {
			return nil, fmt.Errorf("SSH key: %w", err)
		}
		key = b
	case s.keyEnv != "":
		key = []byte(take(s.keyEnv))
		if len(strings.TrimSpace(string(key))) == 0 {
			return nil, hint.With(fmt.Errorf("SSH key: the environment variable %s is empty or unset", s.keyEnv),
				"set it from the CI's secret store (Drone/Woodpecker: from_secret; Forgejo Actions: ${{ secrets.NAME }})")
		}
	}
	if len(strings.TrimSpace(string(key))) == 0 {
		return nil, command.Usagef("no SSH key: pass --ssh-key-file FILE or --ssh-key-env VAR (deploy_key in the plugin's settings)")
	}
	signer, err := sshdocker.ParsePrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("SSH key: %w", err)
	}
	known := s.knownHosts
	if s.knownHostsFile != "" {
		b, err := os.ReadFile(s.knownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("known hosts: %w", err)
		}
		known += "\n" + string(b)
	}
	hk, err := sshdocker.NewHostKeys(known, s.fingerprints...)
	if errors.Is(err, sshdocker.ErrNoHostKey) {
		return nil, hint.With(fmt.Errorf("%w: the server's host key is required (--known-hosts, --known-hosts-file or --host-fingerprint; known_hosts or host_fingerprint in the plugin's settings)", err),
			"on a machine you trust, run 'ssh-keyscan -p PORT HOST', check the fingerprint with 'ssh-keygen -lf' against the server's, and put the line in the CI's settings; abra ci never trusts a host key it was not given")
	}
	if err != nil {
		return nil, err
	}
	return &sshdocker.Dialer{Signer: signer, HostKeys: hk}, nil
}

// connector dials servers by their abra name (an SSH target) and closes the
// connections at the end of the run.
type connector struct {
	d       *sshdocker.Dialer
	mu      sync.Mutex
	clients []*sshdocker.Client
}

func (c *connector) dial(ctx context.Context, server string) (command.DockerDialer, error) {
	t, err := sshdocker.ParseTarget(server)
	if err != nil {
		return nil, err
	}
	cl, err := c.d.Dial(ctx, t)
	if err != nil {
		return nil, explainDialError(err, c.d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clients = append(c.clients, cl)
	return cl, nil
}

func (c *connector) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clients {
		_ = cl.Close()
	}
	c.clients = nil
}

// connect is a Factory.Connect over this connector's SSH connections.
func (c *connector) connect() func(context.Context, string) (swarm.Cluster, error) {
	return command.DialConnect(c.dial)
}

// explainDialError attaches the remedy for refused host keys and keys.
func explainDialError(err error, d *sshdocker.Dialer) error {
	var hke *sshdocker.HostKeyError
	var ae *sshdocker.AuthError
	switch {
	case errors.As(err, &hke):
		return hint.With(err, "if the server was reinstalled or its key rotated, get the new key on a machine you trust ('ssh-keyscan -p PORT HOST', fingerprint checked with 'ssh-keygen -lf' against the server's) and update the CI's settings; otherwise something else answers at that address")
	case errors.As(err, &ae):
		pub := strings.TrimSpace(string(sshPublicKey(d)))
		return hint.With(err, fmt.Sprintf("add the deploy key's public half to ~%s/.ssh/authorized_keys on the server: %s", ae.Target.User, pub))
	case errors.Is(err, context.Canceled):
		return err
	}
	return hint.With(err, "check that the server is up and that its sshd answers at that address and port from the CI runner")
}

func sshPublicKey(d *sshdocker.Dialer) []byte { return ssh.MarshalAuthorizedKey(d.Signer.PublicKey()) }

// resultView is the --json result of a CI run.
type resultView struct {
	App      string        `json:"app"`
	Server   string        `json:"server"`
	Stack    string        `json:"stack,omitempty"`
	Recipe   string        `json:"recipe,omitempty"`
	Version  string        `json:"version,omitempty"`
	Commit   string        `json:"commit,omitempty"`
	Chaos    string        `json:"chaos_version,omitempty"`
	Result   ci.Outcome    `json:"result"`
	ExitCode int           `json:"exit_code"`
	Services []serviceView `json:"services"`
	Secrets  []string      `json:"secrets_generated"`
	Networks []string      `json:"networks_created"`
	Purged   bool          `json:"purged"`
	Warnings []string      `json:"warnings"`
	Error    string        `json:"error,omitempty"`
	Hint     string        `json:"hint,omitempty"`
}

type serviceView struct {
	Name    string `json:"name"`
	Running int    `json:"running"`
	Desired int    `json:"desired"`
	State   string `json:"state"`
}

func newResultView(res *ci.Result, outcome ci.Outcome, err error) resultView {
	v := resultView{Result: outcome, ExitCode: ExitCode(outcome), Services: []serviceView{}, Secrets: []string{}, Networks: []string{}, Warnings: []string{}}
	if res != nil {
		v.App, v.Server, v.Stack, v.Recipe = res.App, res.Server, res.Stack, res.Recipe
		v.Version, v.Commit, v.Chaos, v.Purged = res.Version, res.Commit, res.Chaos, res.Purged
		for _, s := range res.Services {
			v.Services = append(v.Services, serviceView{Name: s.Name, Running: s.Running, Desired: s.Desired, State: s.State})
		}
		v.Secrets = append(v.Secrets, res.Secrets...)
		v.Networks = append(v.Networks, res.Networks...)
		v.Warnings = append(v.Warnings, res.Warnings...)
	}
	if err != nil {
		v.Error, v.Hint = err.Error(), hint.Of(err)
	}
	return v
}

// finish reports a CI run: the JSON result on stdout with asJSON, the error
// and its hint on stderr, a summary line otherwise; the returned error
// carries the exit code.
func finish(f *command.Factory, res *ci.Result, outcome ci.Outcome, err error, asJSON bool) error {
	v := newResultView(res, outcome, err)
	if asJSON {
		if jerr := ui.JSON(f.IO, v); jerr != nil && err == nil {
			return jerr
		}
	}
	if err != nil {
		fmt.Fprintf(f.IO.Err, "abra: %v\n", err)
		if v.Hint != "" {
			fmt.Fprintf(f.IO.Err, "hint: %s\n", v.Hint)
		}
	}
	if !asJSON && res != nil && res.App != "" {
		what := res.Recipe
		switch {
		case res.Version != "":
			what += " " + res.Version
		case res.Chaos != "":
			what += " commit " + res.Chaos
		}
		fmt.Fprintf(f.IO.Err, "%s on %s: %s: %s (exit %d)\n", res.App, res.Server, what, outcome, v.ExitCode)
	}
	if v.ExitCode == 0 {
		return nil
	}
	return &command.ExitCodeError{Code: v.ExitCode}
}

// lookup finds a variable in an environment list.
func lookup(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// repoName is the CI's name for the repository being built (Woodpecker,
// Drone, GitHub and Forgejo Actions): a recipe's name when neither the
// settings nor the app env name it. "" outside those CIs.
func repoName(environ []string) string {
	for _, k := range []string{"CI_REPO_NAME", "DRONE_REPO_NAME"} {
		if v := lookup(environ, k); v != "" {
			return strings.ToLower(v)
		}
	}
	if v := lookup(environ, "GITHUB_REPOSITORY"); v != "" {
		_, name, _ := strings.Cut(v, "/")
		return strings.ToLower(name)
	}
	return ""
}

// actor names the deploy in the server's env record: the CI's link to the
// pipeline when there is one.
func actor(environ []string) string {
	link := cmp.Or(lookup(environ, "CI_PIPELINE_URL"), lookup(environ, "DRONE_BUILD_LINK"))
	if link == "" && lookup(environ, "GITHUB_RUN_ID") != "" {
		link = lookup(environ, "GITHUB_SERVER_URL") + "/" + lookup(environ, "GITHUB_REPOSITORY") + "/actions/runs/" + lookup(environ, "GITHUB_RUN_ID")
	}
	if link != "" {
		return "abra ci (" + link + ")"
	}
	host, _ := os.Hostname()
	return "abra ci@" + host
}
