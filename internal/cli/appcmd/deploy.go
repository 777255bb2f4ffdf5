package appcmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/ui"
)

type deployOptions struct {
	f      *command.Factory
	domain string
	opts   app.DeployOptions
	json   bool
}

func newDeployCmd(f *command.Factory, runF func(context.Context, *deployOptions) error) *cobra.Command {
	o := &deployOptions{f: f}
	cmd := &cobra.Command{
		Use:     "deploy <domain> [version]",
		Aliases: []string{"d"},
		Short:   "Deploy an app and wait until it runs",
		Long: `Deploy an app to its server and wait until every service converged.

The version is, in order: the [version] argument; the version pinned in the env
file (TYPE=<recipe>:<version>) unless --ignore-env-version; the latest release.
--chaos deploys the recipe's work tree as it is; a commit id as [version] (7 to
40 hex digits) deploys that commit of the recipe's clone, labelled like a chaos
deploy, without touching the work tree. After a successful deploy of a release
the version is pinned in the env file. Deploying the version that already runs
is refused without --force.`,
		Example: "  abra app deploy blog.example.org\n  abra app deploy blog.example.org 1.2.0+6.4.1\n  abra app deploy blog.example.org --chaos\n  abra app deploy blog.example.org 3f2c9a1e",
		Args:    command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if len(args) == 2 {
				o.opts.Version = args[1]
			}
			if o.opts.Chaos && o.opts.Version != "" {
				return command.Usagef("--chaos deploys the work tree: do not name a version too")
			}
			if recipe.IsCommitID(o.opts.Version) {
				o.opts.Commit, o.opts.Version = o.opts.Version, ""
			}
			o.opts.Offline = f.Offline
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runDeploy(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.opts.Chaos, "chaos", "C", false, "deploy the recipe's work tree, uncommitted changes included")
	fl.BoolVarP(&o.opts.Force, "force", "f", false, "deploy even if this version already runs")
	fl.BoolVarP(&o.opts.NoDomainChecks, "no-domain-checks", "D", false, "do not check that the domain points at the server")
	fl.BoolVarP(&o.opts.NoConvergeChecks, "no-converge-checks", "c", false, "do not wait for the services to converge")
	fl.BoolVarP(&o.opts.IgnoreEnvVersion, "ignore-env-version", "i", false, "ignore the version pinned in the env file")
	fl.BoolVar(&o.opts.DryRun, "dry-run", false, "print what would change (services added, removed, changed with a field diff) and change nothing")
	fl.BoolVar(&o.json, "json", false, "print the result as JSON, and progress as JSON Lines on stderr")
	return cmd
}

type deployView struct {
	App      string        `json:"app"`
	Server   string        `json:"server"`
	Stack    string        `json:"stack"`
	Recipe   string        `json:"recipe"`
	Version  string        `json:"version,omitempty"`
	Chaos    string        `json:"chaos_version,omitempty"`
	Services []serviceView `json:"services"`
}

type serviceView struct {
	Name    string `json:"name"`
	Running int    `json:"running"`
	Desired int    `json:"desired"`
	State   string `json:"state"`
}

// Deploy deploys the app as 'abra app deploy' does, progress on stderr.
func Deploy(ctx context.Context, f *command.Factory, domain string, opts app.DeployOptions) error {
	return runDeploy(ctx, &deployOptions{f: f, domain: domain, opts: opts})
}

func runDeploy(ctx context.Context, o *deployOptions) (err error) {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	var obs step.Observer = &ui.Steps{W: o.f.IO.Err, JSON: o.json, Color: o.f.IO.Color()}
	if !o.opts.DryRun {
		op := journalled(o.f, "deploy", a)
		obs = step.Tee{obs, op}
		defer func() { op.End(err) }()
	}
	d := &app.Deployer{Store: o.f.Store(), Cluster: c, Observer: obs}
	res, err := d.Deploy(ctx, a, o.opts)
	if err != nil {
		return err
	}
	if o.opts.DryRun {
		return printPlan(o.f, res.Plan, o.json)
	}
	if o.json {
		v := deployView{App: res.App, Server: a.Server, Stack: res.Stack, Recipe: res.Recipe, Version: res.Version, Chaos: res.Chaos, Services: []serviceView{}}
		for _, s := range res.Services {
			v.Services = append(v.Services, serviceView{Name: s.Name, Running: s.Running, Desired: s.Desired, State: s.State})
		}
		return ui.JSON(o.f.IO, v)
	}
	what := res.Version
	if res.Chaos != "" {
		what = "chaos " + res.Chaos
	}
	if o.opts.NoConvergeChecks {
		fmt.Fprintf(o.f.IO.Err, "%s: %s %s deployed (convergence not checked)\n", a.Domain, res.Recipe, what)
		return nil
	}
	fmt.Fprintf(o.f.IO.Err, "%s: %s %s deployed and converged\n", a.Domain, res.Recipe, what)
	return nil
}

// printPlan renders a dry run's changes on stdout.
func printPlan(f *command.Factory, plan []stack.Change, asJSON bool) error {
	if asJSON {
		if plan == nil {
			plan = []stack.Change{}
		}
		return ui.JSON(f.IO, plan)
	}
	if len(plan) == 0 {
		fmt.Fprintln(f.IO.Out, "no changes")
		return nil
	}
	for _, c := range plan {
		fmt.Fprintln(f.IO.Out, c.String())
	}
	return nil
}
