package cicmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/ci"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

type pluginOptions struct {
	f       *command.Factory
	run     Runner
	root    *cobra.Command // resolves the command form's command lines
	environ func() []string
	takeEnv func(string) string
	// connect reaches a server by its abra name; nil: in-process SSH with
	// the settings' key and host keys.
	connect func(ctx context.Context, server string) (swarm.Cluster, error)
}

func newPluginCmd(f *command.Factory, run Runner, runF func(context.Context, *pluginOptions) error) *cobra.Command {
	o := &pluginOptions{f: f, run: run, environ: os.Environ, takeEnv: takeEnv}
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Run as a Drone/Woodpecker plugin or an Actions step: settings from PLUGIN_* or INPUT_* (the image's entry point)",
		Long: `Run as a Drone or Woodpecker plugin step: each 'settings:' key arrives as
PLUGIN_<KEY>, lists comma-separated. The image's entry point (abra-ci) runs
this when it is started without arguments.

Two forms, as the plugins they replace:

stack-ssh-deploy's form (host and stack): deploy the checkout's compose files
(its work tree, as it is) to a server and wait until they converged. The
step's 'environment:' is the app env (DOMAIN, SECRET_*_VERSION, …), without the
runner's own variables (PLUGIN_*, CI_*, DRONE_*, WOODPECKER_*, GITHUB_*,
FORGEJO_*, GITEA_*, RUNNER_*, ACTIONS_*, HOME, PATH, HOSTNAME, …).
  host, user (root), port (22)   the server
  stack                          the stack: the app's domain with dots as underscores
  compose                        compose files (default: COMPOSE_FILE, else compose.yml)
  generate_secrets               generate missing secrets first
  networks                       external networks to create if missing
  purge                          remove the app after it converged
  recipe, timeout, lock_wait, domain_checks

drone-abra's form (command): run abra command lines (one per line, split like a
shell splits words but never run by one) against an ABRA_DIR: abra_dir, else
the checkout when it has servers/. Each server is reached as its name says
(host, user@host:port). Commands that need a person (app config, app logs
--follow) are refused.

Both forms: deploy_key (required), known_hosts or host_fingerprint (one
required: abra never trusts a host key it was not given), json, debug.

GitHub and Forgejo Actions: a 'uses: docker://…' step's 'with:' keys arrive
as INPUT_<KEY> and are read as the same settings when the step has no
PLUGIN_* ones (errors name them PLUGIN_<KEY>).`,
		Example: `  # .woodpecker.yml / .drone.yml
  steps:
    deploy:
      image: git.coopcloud.tech/coop-cloud/abra:0.1.0
      settings:
        host: swarm.example.org
        stack: review_example_org
        known_hosts: "swarm.example.org ssh-ed25519 AAAA…"
        deploy_key:
          from_secret: deploy_key
        generate_secrets: true
        purge: true
      environment:
        DOMAIN: review.example.org`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.root = cmd.Root()
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runPlugin(cmd.Context(), o)
		},
	}
	return cmd
}

func runPlugin(ctx context.Context, o *pluginOptions) error {
	environ := pluginEnviron(o.environ())
	asJSON := (&parser{raw: map[string]string{"json": lookup(environ, "PLUGIN_JSON")}}).bool("json", false)
	s, err := parseSettings(environ)
	_ = o.takeEnv("PLUGIN_DEPLOY_KEY")
	_ = o.takeEnv(actionsPrefix + "DEPLOY_KEY")
	_ = o.takeEnv(actionsPrefix + "DEPLOY-KEY")
	if err != nil {
		return finish(o.f, nil, ci.Refused, ci.Refuse(err), asJSON)
	}
	if s.debug {
		o.f.Debug = true
	}
	ssh := sshOptions{key: s.deployKey, knownHosts: s.knownHosts, fingerprints: s.fingerprints}
	if s.form == commandForm {
		return runCommands(ctx, o, s, ssh)
	}
	env := appEnv(environ, "")
	res := &ci.Result{}
	domain, err := stackDomain(s.stack, env["DOMAIN"])
	if err != nil {
		return finish(o.f, res, ci.Refused, ci.Refuse(err), s.json)
	}
	d := &deployOptions{
		f: o.f, environ: func() []string { return environ }, takeEnv: o.takeEnv, connect: o.connect,
		server: s.target, domain: domain, recipe: s.recipe, checkout: ".", envFromEnvironment: true, ssh: ssh,
		opts: ci.Options{
			WorkTree: true, GenerateSecrets: s.generateSecrets, Networks: s.networks, Purge: s.purge,
			NoDomainChecks: !s.domainChecks, Offline: o.f.Offline, LockWait: s.lockWait, Timeout: s.timeout,
		},
		json: s.json,
	}
	if len(s.compose) > 0 {
		d.vars = map[string]string{"COMPOSE_FILE": strings.Join(s.compose, ":")}
	}
	return runDeploy(ctx, d)
}

// runCommands is drone-abra's form: each command line run in process by
// abra's root command, against the ABRA_DIR, over in-process SSH.
func runCommands(ctx context.Context, o *pluginOptions, s *settings, ssh sshOptions) error {
	refuse := func(err error) error { return finish(o.f, nil, ci.Refused, ci.Refuse(err), false) }
	dir, err := abraDir(s.abraDir)
	if err != nil {
		return refuse(err)
	}
	for _, words := range s.commands {
		if err := checkCommand(o.root, words); err != nil {
			return refuse(err)
		}
	}
	connect := o.connect
	if connect == nil {
		d, err := ssh.dialer(o.takeEnv)
		if err != nil {
			return refuse(err)
		}
		c := &connector{d: d}
		defer c.Close()
		connect = c.connect()
	}
	f := &command.Factory{IO: o.f.IO, AbraDir: dir, NoInput: true, Offline: o.f.Offline, Debug: o.f.Debug,
		Connect: connect, Pass: o.f.Pass}
	for _, words := range s.commands {
		fmt.Fprintf(o.f.IO.Err, "→ abra %s\n", strings.Join(words, " "))
		if code := o.run(ctx, f, words); code != 0 {
			return &command.ExitCodeError{Code: code}
		}
	}
	return nil
}

// abraDir is the command form's ABRA_DIR: the abra_dir setting, else the
// checkout (the working directory) when it holds servers/.
func abraDir(setting string) (string, error) {
	dir := setting
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(filepath.Join(abs, "servers")); err != nil || !fi.IsDir() {
		if setting == "" {
			return "", hint.With(fmt.Errorf("the checkout %s has no servers/ directory to be an ABRA_DIR", abs),
				"keep the app env files in the repository as servers/<server>/<domain>.env, or set abra_dir to where they are")
		}
		return "", hint.With(fmt.Errorf("setting PLUGIN_ABRA_DIR = %q: %s has no servers/ directory", setting, abs),
			"an ABRA_DIR holds servers/<server>/<domain>.env (and recipes/<recipe> clones)")
	}
	return abs, nil
}

// refusedCommands need a person, replace abra, or nest.
var refusedCommands = map[string]string{
	"abra app config": "it opens an editor; change the env file in the repository instead",
	"abra upgrade":    "it replaces abra itself; use another image version instead",
	"abra ci":         "it is what runs the command",
}

// checkCommand refuses command lines that make no sense in CI.
func checkCommand(root *cobra.Command, words []string) error {
	if root == nil {
		return nil
	}
	line := "abra " + strings.Join(words, " ")
	cmd, rest, err := root.Find(words)
	if err != nil || cmd == root {
		return hint.With(fmt.Errorf("setting PLUGIN_COMMAND: %q is not an abra command", line), "see 'abra --help' for the commands")
	}
	for p := cmd; p != nil; p = p.Parent() {
		if why, ok := refusedCommands[p.CommandPath()]; ok {
			return fmt.Errorf("setting PLUGIN_COMMAND: %q is refused in CI: %s", line, why)
		}
	}
	if cmd.CommandPath() == "abra app logs" && slices.ContainsFunc(rest, func(a string) bool {
		return a == "--follow" || strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "f")
	}) {
		return fmt.Errorf("setting PLUGIN_COMMAND: %q is refused in CI: --follow never ends", line)
	}
	return nil
}
