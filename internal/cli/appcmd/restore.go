package appcmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

type restoreOptions struct {
	f      *command.Factory
	domain string
	opts   app.RestoreOptions
	force  bool
	json   bool
}

func newRestoreCmd(f *command.Factory, runF func(context.Context, *restoreOptions) error) *cobra.Command {
	o := &restoreOptions{f: f}
	cmd := &cobra.Command{
		Use:     "restore <domain> [service]",
		Aliases: []string{"rs"},
		Short:   "Restore the app's data from a snapshot, after a safety snapshot of the current data",
		Long: `Restore the app (or one service) from a snapshot, the latest unless --snapshot.

The backup service first takes a safety snapshot of the current data, then stops
the services, restores their volumes, runs the restore hooks
("backupbot.restore.pre-hook" / "post-hook"), starts them again and waits until
they are healthy. abra prints the command that goes back to the safety snapshot.
You are asked first unless -n/--no-input or --force.`,
		Example: "  abra app restore blog.example.org\n  abra app restore blog.example.org db --snapshot 1a2b3c4d",
		Args:    command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if len(args) == 2 {
				o.opts.Service = args[1]
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runRestore(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.opts.Snapshot, "snapshot", "s", "", "snapshot ID (default: the app's latest)")
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "restore without asking")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON, and the backup service's events as JSON Lines on stderr")
	return cmd
}

func runRestore(ctx context.Context, o *restoreOptions) (err error) {
	a, b, p, err := backupsFor(ctx, o.f, o.domain, o.json)
	if err != nil {
		return err
	}
	if !o.force && !o.f.NoInput {
		what, snap := "all services", "the latest snapshot"
		if o.opts.Service != "" {
			what = "service " + o.opts.Service
		}
		if o.opts.Snapshot != "" {
			snap = "snapshot " + o.opts.Snapshot
		}
		ok, err := o.f.Confirm(fmt.Sprintf("restore %s of %s from %s (the current data is kept in a safety snapshot)", what, a.Domain, snap), "--force")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("restore cancelled")
		}
	}
	op := journalled(o.f, "restore", a)
	defer func() { op.End(err) }()
	b.Observer = app.BackupNotes{BackupObserver: p, Note: op.Note}
	res, err := b.Restore(ctx, a, o.opts)
	p.done()
	if err != nil {
		return err
	}
	op.Note("restore", fmt.Sprintf("restored %s from snapshot %s", joinOrDash(res.Services), backup.ShortID(res.SnapshotID)))
	if o.json {
		return ui.JSON(o.f.IO, res)
	}
	printRestored(o.f, a, o.opts.Service, res)
	return nil
}

// printRestored says what was restored and how to go back.
func printRestored(f *command.Factory, a *app.App, service string, res app.RestoreResult) {
	w := f.IO.Err
	fmt.Fprintf(w, "%s: restored %s from snapshot %s\n", a.Domain, joinOrDash(res.Services), backup.ShortID(res.SnapshotID))
	if res.SafetySnapshotID != "" {
		fmt.Fprintf(w, "the data from before is in safety snapshot %s; to go back:\n  abra app restore %s%s --snapshot %s\n",
			backup.ShortID(res.SafetySnapshotID), a.Domain, prefixed(" ", service), backup.ShortID(res.SafetySnapshotID))
	}
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// offerPreUpgradeRestore runs after a rollback to version target: when a
// snapshot taken before an upgrade exists, it offers to restore it (prompt),
// or prints the command with -n or without a terminal. Problems only warn:
// the rollback itself is done.
func offerPreUpgradeRestore(ctx context.Context, f *command.Factory, c swarm.Cluster, a *app.App, target string) {
	w := f.IO.Err
	if enabled, err := app.BackupServices(ctx, c, a); err != nil || len(enabled) == 0 {
		return
	}
	b := &app.Backups{Cluster: c}
	snaps, err := b.List(ctx, a)
	if err != nil {
		fmt.Fprintf(w, "warning: could not look for the backup taken before the upgrade: %v\n", err)
		return
	}
	snap, ok := app.Latest(snaps, app.PreUpgradeTags(target)...)
	if !ok {
		if snap, ok = app.Latest(snaps, app.PreUpgradeTags(target)[0]); !ok {
			return
		}
	}
	from := "an upgrade"
	for _, t := range snap.Tags {
		if v, ok := strings.CutPrefix(t, "from:"); ok {
			from = "the upgrade from " + v
		}
	}
	fmt.Fprintf(w, "\nsnapshot %s was taken before %s (%s); the data may have changed since.\n", snap.ShortID, from, snap.Time.Local().Format("2006-01-02 15:04:05"))
	cmd := "abra app restore " + a.Domain + " --snapshot " + snap.ShortID
	if f.NoInput || !f.IO.Interactive() {
		fmt.Fprintf(w, "to restore it:\n  %s\n", cmd)
		return
	}
	yes, err := f.Confirm("restore it now (the current data is kept in a safety snapshot)", "-n")
	if err != nil || !yes {
		fmt.Fprintf(w, "not restored; to restore it later:\n  %s\n", cmd)
		return
	}
	p := newBackupProgress(f, false)
	b.Observer = p
	res, err := b.Restore(ctx, a, app.RestoreOptions{Snapshot: snap.ID})
	p.done()
	if err != nil {
		fmt.Fprintf(w, "warning: %v\n", err)
		return
	}
	printRestored(f, a, "", res)
}
