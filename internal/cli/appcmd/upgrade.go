package appcmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
	"coopcloud.tech/abra/internal/update"
)

type upgradeOptions struct {
	f      *command.Factory
	dir    app.Direction
	domain string
	opts   app.DeployOptions
	// noBackup skips the backup an upgrade takes first when backups are enabled.
	noBackup bool
	// force skips the confirmation (abra's -f/--force).
	force bool
	// notesOnly prints the release notes on stdout and changes nothing (abra's -r/--releasenotes).
	notesOnly bool
	// chaos is accepted for abra compatibility; see the flag's help.
	chaos bool
	// all upgrades the fleet (upgrade --all).
	all   bool
	fleet fleetOptions
}

func newUpgradeCmd(f *command.Factory, runF func(context.Context, *upgradeOptions) error) *cobra.Command {
	return newVersionChangeCmd(f, app.Up, runF)
}

func newRollbackCmd(f *command.Factory, runF func(context.Context, *upgradeOptions) error) *cobra.Command {
	return newVersionChangeCmd(f, app.Down, runF)
}

func newVersionChangeCmd(f *command.Factory, dir app.Direction, runF func(context.Context, *upgradeOptions) error) *cobra.Command {
	o := &upgradeOptions{f: f, dir: dir}
	cmd := &cobra.Command{
		Use:     "upgrade <domain> [version]",
		Aliases: []string{"up"},
		Short:   "Deploy a newer version of the app's recipe, showing its release notes first",
		Long: `Upgrade a deployed app to a newer release (the newest unless [version] is named).

The release notes (release/<version> in the recipe) of every version in between
are shown, a change of the recipe's major version is warned about loudly, and
you are asked before anything changes (-f or -n: go ahead without asking;
-r: only print the release notes). If the new
version does not converge, the previous one is put back.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.all {
				return command.NoArgs(cmd, args)
			}
			return command.RangeArgs(1, 2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.opts.Offline = f.Offline
			if o.all {
				return runUpgradeAll(cmd.Context(), o)
			}
			o.domain = args[0]
			if len(args) == 2 {
				o.opts.Version = args[1]
			}
			o.opts.Offline = f.Offline
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runVersionChange(cmd.Context(), o)
		},
	}
	if dir == app.Down {
		cmd.Use = "rollback <domain> [version]"
		cmd.Aliases = []string{"rb", "rl"}
		cmd.Short = "Deploy an older version of the app's recipe"
		cmd.Long = strings.NewReplacer("Upgrade a deployed app to a newer release (the newest", "Roll a deployed app back to an older release (the previous one",
			"If the new\nversion does not converge, the previous one is put back.", "If the older\nversion does not converge, the current one is put back.").Replace(cmd.Long)
	}
	cmd.Flags().BoolVarP(&o.opts.NoDomainChecks, "no-domain-checks", "D", false, "do not check that the domain points at the server")
	cmd.Flags().BoolVarP(&o.opts.NoConvergeChecks, "no-converge-checks", "c", false, "do not wait for the services to converge")
	cmd.Flags().BoolVar(&o.opts.DryRun, "dry-run", false, "print what would change and change nothing")
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "go ahead without asking")
	cmd.Flags().BoolVarP(&o.chaos, "chaos", "C", false, "accepted for abra compatibility: releases are exported from git, so uncommitted recipe changes neither block nor enter it")
	if dir == app.Up {
		cmd.Long += "\n\nWhen a service of the app has backups enabled (backupbot.backup=true) and the\nserver has a backup service, a backup tagged pre-upgrade is taken and verified\nfirst; if that fails, nothing changes. Without a backup service it warns and goes on.\n\nIf the new version fails (or, with AUTO_UPDATE_VERIFY set, a task fails or\nrestarts within that window, or AUTO_UPDATE_PROBE/AUTO_UPDATE_CHECK fail), the\nprevious version and the pre-upgrade backup are put back and the release is\nquarantined on this app. 'abra app history <domain>' shows every upgrade."
		cmd.Flags().BoolVar(&o.noBackup, "no-backup", false, "do not take a backup first")
		cmd.Flags().BoolVarP(&o.notesOnly, "releasenotes", "r", false, "only print the release notes (on stdout) and change nothing")
		cmd.Use = "upgrade <domain> [version] | --all"
		cmd.Long += `

With --all, every deployed app (of one server with --server) moves to the
newest release within its policy class (AUTO_UPDATE_POLICY; minor unless
--major), skipping held (AUTO_UPDATE_HOLD) and quarantined releases and never
past a release whose notes ask for a manual step ("Manual step: …"). One app
per server at a time (--per-server), servers in parallel; after --stop-after
failures no new upgrade starts. Each upgrade is the same pipeline: verified
backup, deploy, verify, or the previous version and its data put back and the
release quarantined.

Update policy keys in an app's env file (checked at deploy, mirrored to labels
for the update agent, recipes/abra-agent):
  ENABLE_AUTO_UPDATE=true          the agent may update this app
  AUTO_UPDATE_POLICY=minor         patch, minor, major or notify (report only)
  AUTO_UPDATE_WINDOW="Mon-Fri 02:00-05:00 Europe/Berlin"   when the agent may
  AUTO_UPDATE_MIN_AGE=3d           wait until a release is this old
  AUTO_UPDATE_HOLD=1.4.0+2.0.0     releases never installed automatically
  AUTO_UPDATE_VERIFY=2m            no task may fail or restart this long after
  AUTO_UPDATE_PROBE=https://${DOMAIN}/health   must answer 2xx/3xx
  AUTO_UPDATE_CHECK="app healthcheck"          abra.sh function that must exit 0
  AUTO_UPDATE_BRANCH=main          a staging app: the agent's webhook redeploys
                                   it at each push to this branch, not releases`
		cmd.Flags().BoolVarP(&o.all, "all", "a", false, "upgrade every deployed app within its policy")
		cmd.Flags().StringVarP(&o.fleet.server, "server", "s", "", "with --all: only this server's apps")
		cmd.Flags().BoolVar(&o.fleet.major, "major", false, "with --all: allow major upgrades (within each app's policy class)")
		cmd.Flags().IntVar(&o.fleet.perServer, "per-server", 1, "with --all: apps upgraded at once per server")
		cmd.Flags().IntVar(&o.fleet.stopAfter, "stop-after", 1, "with --all: start no new upgrade after this many failures")
		command.AddJSONFlag(cmd, &o.fleet.json)
	} else {
		cmd.Long += "\n\nAfterwards abra offers to restore the backup taken before the last upgrade\n(with -n it prints the command instead)."
	}
	return cmd
}

func runVersionChange(ctx context.Context, o *upgradeOptions) (err error) {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	verb := map[app.Direction]string{app.Up: "upgrade", app.Down: "rollback"}[o.dir]
	if repo, err := o.f.Store().AppRecipe(a); err != nil {
		return err
	} else if !o.f.Offline {
		if err := repo.Fetch(ctx); err != nil {
			fmt.Fprintf(o.f.IO.Err, "warning: could not fetch new versions of %s: %v\n", a.Recipe(), err)
		}
	}
	vc, err := o.f.Store().PlanVersionChange(ctx, c, a, o.dir, o.opts.Version)
	if err != nil {
		return err
	}
	current, cands, target := vc.Current, vc.Candidates, vc.Target
	src, err := o.f.Store().CheckoutApp(ctx, a, target.Tag, false)
	if err != nil {
		return err
	}
	notes := app.ReleaseNotes(src.Dir, cands, target, o.dir)
	src.Close()

	w := o.f.IO.Err
	tags := make([]string, len(cands))
	for i, c := range cands {
		tags[i] = c.Tag
	}
	if o.notesOnly {
		for _, n := range notes {
			fmt.Fprintf(o.f.IO.Out, "%s\n%s\n\n", n.Version, strings.TrimRight(n.Text, "\n"))
		}
		if len(notes) == 0 {
			fmt.Fprintf(w, "%s: no release notes between %s and %s\n", a.Domain, current, target.Tag)
		}
		return nil
	}
	fmt.Fprintf(w, "%s: deployed %s; available: %s\n", a.Domain, current, strings.Join(tags, ", "))
	fmt.Fprintf(w, "%s %s: %s → %s\n", verb, a.Domain, current, target.Tag)
	for _, n := range notes {
		fmt.Fprintf(w, "\nrelease notes of %s:\n  %s\n", n.Version, strings.ReplaceAll(n.Text, "\n", "\n  "))
	}
	if app.MajorChange(current, target) {
		red, reset := "", ""
		if o.f.IO.Color() {
			red, reset = "\033[1;31m", "\033[0m"
		}
		fmt.Fprintf(w, "\n%sWARNING: the recipe's major version changes (%s → %s): read the release notes, this may need manual steps%s\n", red, current, target.Tag, reset)
	}
	backupFirst := false
	if o.dir == app.Up && !o.noBackup {
		var warning error
		if backupFirst, warning, err = app.NeedsPreUpgradeBackup(ctx, c, a); err != nil {
			return err
		}
		if warning != nil {
			fmt.Fprintf(w, "\nwarning: %v\nhint: %s\n", warning, hint.Of(warning))
		}
		if backupFirst && !o.opts.DryRun {
			fmt.Fprintf(w, "\na backup (tags %s) is taken and verified first; --no-backup skips it\n", strings.Join(app.PreUpgradeTags(current), ", "))
		}
	}
	if !o.f.NoInput && !o.force && !o.opts.DryRun {
		ok, err := o.f.Confirm(fmt.Sprintf("%s %s to %s", verb, a.Domain, target.Tag), "-f/--force")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s cancelled", verb)
		}
	}
	opts := o.opts
	opts.Version, opts.Force, opts.Upgrade = target.Tag, true, o.dir == app.Up
	var obs step.Observer = &ui.Steps{W: w, Color: o.f.IO.Color()}
	if !opts.DryRun {
		op := journalled(o.f, verb, a)
		obs = step.Tee{obs, op}
		defer func() { op.End(err) }()
	}
	if o.dir == app.Up && !opts.DryRun {
		return upgradeOnPipeline(ctx, o, c, a, current, target.Tag, obs)
	}
	d := &app.Deployer{Store: o.f.Store(), Cluster: c, Observer: obs}
	res, err := d.Deploy(ctx, a, opts)
	if err != nil {
		return err
	}
	if opts.DryRun {
		return printPlan(o.f, res.Plan, false)
	}
	fmt.Fprintf(w, "%s: %s to %s done\n", a.Domain, verb, target.Tag)
	if o.dir == app.Down {
		offerPreUpgradeRestore(ctx, o.f, c, a, target.Tag)
	}
	return nil
}

// upgradeOnPipeline runs a person's upgrade on the update pipeline: lock,
// verified backup, deploy, verify (the app's AUTO_UPDATE_VERIFY window, probe
// and check, when set), or roll back with the data and quarantine.
func upgradeOnPipeline(ctx context.Context, o *upgradeOptions, c swarm.Cluster, a *app.App, from, to string, obs step.Observer) error {
	w := o.f.IO.Err
	pol, err := app.PersonPolicy(a)
	if err != nil {
		return err
	}
	records := update.Records{Cluster: c}
	if qs, err := records.Quarantined(ctx, a.StackName()); err == nil {
		for _, q := range qs {
			if q.Version == to {
				fmt.Fprintf(w, "warning: %s is quarantined on %s since %s: %s\n", to, a.Domain, q.Since.Local().Format(time.DateTime), q.Reason)
			}
		}
	}
	p := newBackupProgress(o.f, false)
	p.indent = "  "
	r := &update.Runner{Store: o.f.Store(), Cluster: c, Observer: obs, Backup: p, Actor: app.Holder(), Trigger: "cli",
		Server: a.Server, NoBackup: o.noBackup, Deploy: o.opts, LockWait: 10 * time.Minute}
	if o.opts.NoConvergeChecks {
		pol.Verify, pol.Probe, pol.Check = time.Millisecond, "", ""
	}
	_, err = r.Run(ctx, update.Job{App: a, From: from, To: to, Policy: pol})
	p.done()
	if err != nil {
		return err
	}
	if cleared, _ := records.Clear(ctx, a.StackName(), to); len(cleared) > 0 {
		fmt.Fprintf(w, "%s: %s is no longer quarantined\n", a.Domain, to)
	}
	fmt.Fprintf(w, "%s: upgrade to %s done\n", a.Domain, to)
	return nil
}
