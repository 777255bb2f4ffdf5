package cicmd

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/ci"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/sshdocker"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

type deployOptions struct {
	f       *command.Factory
	environ func() []string
	takeEnv func(string) string // reads a secret variable and removes it
	// connect reaches the server by its abra name; nil: in-process SSH with
	// the key and host keys of ssh.
	connect func(ctx context.Context, server string) (swarm.Cluster, error)

	server, domain, recipe, checkout string
	envFile                          string
	envFromEnvironment               bool
	vars                             map[string]string // set on top of the app env (the plugin's COMPOSE_FILE)
	ssh                              sshOptions
	opts                             ci.Options
	json                             bool
}

func newDeployCmd(f *command.Factory, runF func(context.Context, *deployOptions) error) *cobra.Command {
	o := &deployOptions{f: f, environ: os.Environ, takeEnv: takeEnv}
	var networks []string
	cmd := &cobra.Command{
		Use:   "deploy --server HOST --ssh-key-env VAR --known-hosts LINE [flags]",
		Short: "Deploy the CI's checkout of a recipe to a server and wait until it converged",
		Long: `Deploy the CI's checkout of a recipe (the current directory, or --checkout) to
one server and wait until every service converged; with --purge, remove the
app again afterwards (review apps, smoke tests).

What is deployed: the checkout's HEAD commit as it was committed (labelled
with the commit, like a chaos deploy), or with --version a tagged release of
the checkout, or with --work-tree the work tree as it is.

The server (--server host, user@host:port or ssh://user@host:port; user root
and port 22 by default) is reached in process: the SSH key is read from a
file or an environment variable and held in memory only, and the server's
host key must be given (--known-hosts, --known-hosts-file or
--host-fingerprint). A host key that does not match is refused before the key
is offered.

The app env is --env-file (an app's .env, as in ~/.abra/servers/<server>/),
or with --env-from-environment the environment (without the CI runner's
variables: PLUGIN_*, CI_*, DRONE_*, WOODPECKER_*, GITHUB_*, FORGEJO_*, GITEA_*,
RUNNER_*, HOME, PATH, …), or else the checkout's .env.sample; DOMAIN is
--domain when given, TYPE the recipe.

Exit codes: 0 converged; 1 failed after changing the server; 4 did not
converge, the previous version was put back; 5 did not converge and no good
version runs (putting it back failed, or a first deploy); 6 another deploy
held the app's lock longer than --lock-wait; 7 refused before changing
anything (input, host key, authentication, lint, compose files, server).`,
		Example: `  abra ci deploy --server ssh://root@swarm.example.org --ssh-key-env DEPLOY_KEY \
    --known-hosts "$KNOWN_HOSTS" --domain review-42.example.org --env-file review.env --purge --json
  abra ci deploy --server swarm.example.org --ssh-key-file key --host-fingerprint SHA256:… \
    --domain blog.example.org --version 1.2.0+6.4.1`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.opts.Offline = f.Offline
			o.opts.Networks = networks
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runDeploy(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.server, "server", "", "the server: `HOST`, user@host:port or ssh://user@host:port")
	o.ssh.addFlags(cmd)
	fl.StringVar(&o.domain, "domain", "", "the app's domain (default: DOMAIN of the app env)")
	fl.StringVar(&o.recipe, "recipe", "", "the recipe's name (default: TYPE of the app env, else the checkout directory's name)")
	fl.StringVar(&o.envFile, "env-file", "", "the app's env file, as in ~/.abra/servers/<server>/<domain>.env")
	fl.BoolVar(&o.envFromEnvironment, "env-from-environment", false, "the app env is the environment, without the CI runner's variables")
	fl.StringVar(&o.checkout, "checkout", ".", "the recipe's checkout: a git work tree")
	fl.StringVar(&o.opts.Version, "version", "", "deploy this tagged release of the checkout instead of its HEAD commit")
	fl.BoolVar(&o.opts.WorkTree, "work-tree", false, "deploy the work tree as it is, uncommitted changes included")
	fl.BoolVar(&o.opts.GenerateSecrets, "generate-secrets", false, "generate the app's missing secrets first (values are never printed)")
	fl.StringSliceVar(&networks, "network", nil, "create this external network if the server lacks it (repeatable)")
	fl.BoolVar(&o.opts.Purge, "purge", false, "after the deploy converged, remove the app: services, volumes, secrets")
	fl.BoolVarP(&o.opts.NoDomainChecks, "no-domain-checks", "D", false, "do not check that the domain points at the server")
	fl.DurationVar(&o.opts.LockWait, "lock-wait", 10*time.Minute, "how long to wait for another deploy of the app to finish")
	fl.DurationVar(&o.opts.Timeout, "timeout", 0, "how long to wait for convergence (default: the recipe's timeout label, else 5m)")
	fl.BoolVar(&o.json, "json", false, "print the result as JSON on stdout (progress as JSON Lines on stderr)")
	_ = cmd.MarkFlagFilename("env-file")
	_ = cmd.MarkFlagDirname("checkout")
	return cmd
}

func runDeploy(ctx context.Context, o *deployOptions) error {
	res := &ci.Result{App: o.domain, Recipe: o.recipe}
	err := deploy(ctx, o, res)
	return finish(o.f, res, ci.OutcomeOf(ctx, err), err, o.json)
}

func deploy(ctx context.Context, o *deployOptions, res *ci.Result) error {
	if o.server == "" {
		return ci.Refuse(command.Usagef("no server: pass --server HOST (or user@host:port)"))
	}
	target, err := sshdocker.ParseTarget(o.server)
	if err != nil {
		return ci.Refuse(&command.UsageError{Err: err})
	}
	server := target.Name()
	res.Server = server
	connect := o.connect
	if connect == nil {
		d, err := o.ssh.dialer(o.takeEnv)
		if err != nil {
			return ci.Refuse(err)
		}
		c := &connector{d: d}
		defer c.Close()
		connect = c.connect()
	}
	spec, err := o.appSpec(server)
	if err != nil {
		return ci.Refuse(err)
	}
	w, err := ci.NewWorkspace(spec)
	if err != nil {
		return ci.Refuse(err)
	}
	defer w.Close()
	res.App, res.Stack, res.Recipe = w.App.Domain, w.App.StackName(), w.App.Recipe()
	c, err := connect(ctx, server)
	if err != nil {
		return ci.Refuse(err)
	}
	o.opts.Actor = actor(o.environ())
	obs := &ui.Steps{W: o.f.IO.Err, JSON: o.json, Color: o.f.IO.Color()}
	r, err := ci.Deploy(ctx, w, c, o.opts, obs)
	*res = *r
	return err
}

// appSpec gathers the app env: --env-file, the environment, or the
// checkout's .env.sample.
func (o *deployOptions) appSpec(server string) (ci.AppSpec, error) {
	s := ci.AppSpec{Server: server, Domain: o.domain, Recipe: o.recipe, FallbackRecipe: repoName(o.environ()),
		Checkout: o.checkout, Vars: map[string]string{}}
	switch {
	case o.envFile != "" && o.envFromEnvironment:
		return s, command.Usagef("give the app env once: --env-file or --env-from-environment")
	case o.envFile != "":
		b, err := os.ReadFile(o.envFile)
		if err != nil {
			return s, err
		}
		s.Env, s.EnvName = b, o.envFile
	case o.envFromEnvironment:
		s.Vars, s.EnvName = appEnv(o.environ(), o.ssh.keyEnv), "the environment"
	default:
		b, err := guard.ReadFile(o.checkout, ".env.sample")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return s, err
		}
		s.Env, s.EnvName, s.SetDomain = b, ".env.sample of the checkout", true
	}
	for k, v := range o.vars {
		s.Vars[k] = v
	}
	return s, nil
}
