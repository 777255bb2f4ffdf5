package appcmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type moveOptions struct {
	f      *command.Factory
	domain string
	opts   app.MoveOptions
	force  bool
	json   bool
}

func newMoveCmd(f *command.Factory, runF func(context.Context, *moveOptions) error) *cobra.Command {
	o := &moveOptions{f: f}
	cmd := &cobra.Command{
		Use:   "move <domain> <server>",
		Short: "Move an app to another server, with its data and secrets",
		Long: `Move an app to another registered server.

The backup service of the old server takes a snapshot; the same version (the one
pinned in the env file) is deployed on the new server; the secrets missing there
are created with the values the running services use (read through the backup
service); the new deploy is stopped, the snapshot's data copied into its volumes
and every file's sha256 checked against the snapshot; then it is started, the
old deploy is undeployed and the env file moves to servers/<server>/.

Both servers need the backup-bot recipe deployed, and the app's data services
the deploy label backupbot.backup=true. Until the old deploy is undeployed the
app keeps running on the old server: a failure says so and how to retry. Nothing
is deleted on the old server (volumes and secrets stay) unless --remove-old.
Point the domain's DNS at the new server afterwards.`,
		Example: "  abra app move blog.example.org new.example.org --dry-run\n  abra app move blog.example.org new.example.org",
		Args:    command.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain, o.opts.To = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runMove(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.opts.DryRun, "dry-run", "r", false, "check both servers and print the plan; change nothing")
	cmd.Flags().BoolVar(&o.opts.RemoveOld, "remove-old", false, "after a successful move, remove the app's volumes and secrets on the old server")
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "move without asking")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON, and the steps as JSON Lines on stderr")
	return cmd
}

func runMove(ctx context.Context, o *moveOptions) error {
	a, oldC, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	newC, err := o.f.Cluster(ctx, o.opts.To)
	if err != nil {
		return err
	}
	steps := &ui.Steps{W: o.f.IO.Err, JSON: o.json, Color: o.f.IO.Color()}
	bp := newBackupProgress(o.f, o.json)
	bp.indent = "    "
	store := o.f.Store()
	m := &app.Mover{
		Store: store, Old: oldC, New: newC, Observer: steps, Backups: bp,
		Deploy: func(ctx context.Context, na *app.App, version string) error {
			d := &app.Deployer{Store: store, Cluster: newC, Observer: steps}
			// The domain still points at the old server: that is what a move changes.
			_, err := d.Deploy(ctx, na, app.DeployOptions{Version: version, NoDomainChecks: true, Offline: o.f.Offline})
			return err
		},
	}
	if o.f.Debug {
		m.Logs = o.f.IO.Err
	}
	if !o.opts.DryRun && !o.force && !o.f.NoInput {
		plan := o.opts
		plan.DryRun = true
		res, err := m.Move(ctx, a, plan)
		if err != nil {
			return err
		}
		printMovePlan(o.f, res)
		ok, err := o.f.Confirm(fmt.Sprintf("move %s from %s to %s", a.Domain, a.Server, o.opts.To), "--force")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("move cancelled")
		}
	}
	res, err := m.Move(ctx, a, o.opts)
	if err != nil {
		return err
	}
	if o.json {
		return ui.JSON(o.f.IO, res)
	}
	if o.opts.DryRun {
		printMovePlan(o.f, res)
		return nil
	}
	w := o.f.IO.Err
	fmt.Fprintf(w, "%s moved from %s to %s: %s, %d files (%d bytes) byte-identical to snapshot %s\n",
		res.App, res.From, res.To, res.Version, res.Files, res.Bytes, backup.ShortID(res.Snapshot))
	if len(res.SecretsCopied) > 0 {
		fmt.Fprintf(w, "secrets copied to %s: %s\n", res.To, strings.Join(res.SecretsCopied, ", "))
	}
	fmt.Fprintf(w, "env file: %s\n", res.EnvFile)
	if res.Removed {
		fmt.Fprintf(w, "the app's volumes and secrets on %s were removed\n", res.From)
	} else if len(res.OldVolumes)+len(res.OldSecrets) > 0 {
		fmt.Fprintf(w, "kept on %s: volumes %s; secrets %s (remove them with --remove-old next time, or 'docker volume rm' / 'docker secret rm' there)\n",
			res.From, joinOrDash(res.OldVolumes), joinOrDash(res.OldSecrets))
	}
	fmt.Fprintf(w, "point the DNS of %s at %s\n", res.App, res.To)
	return nil
}

// printMovePlan prints the steps a move would take on stdout.
func printMovePlan(f *command.Factory, res *app.MoveResult) {
	fmt.Fprintf(f.IO.Out, "move %s (%s) from %s to %s:\n", res.App, res.Version, res.From, res.To)
	for i, p := range res.Plan {
		fmt.Fprintf(f.IO.Out, "  %d. %s\n", i+1, p)
	}
}
