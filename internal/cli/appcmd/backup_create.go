package appcmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

type backupCreateOptions struct {
	f       *command.Factory
	domain  string
	service string
	tags    []string
	json    bool
}

func newBackupCreateCmd(f *command.Factory, runF func(context.Context, *backupCreateOptions) error) *cobra.Command {
	o := &backupCreateOptions{f: f}
	cmd := &cobra.Command{
		Use:   "create <domain> [service]",
		Short: "Back the app up now (every service with backups enabled, or the one named)",
		Long: `Back the app up now: the backup service runs the pre-hooks, snapshots the
volumes (and paths) the labels select, runs the post-hooks and records file
counts, sizes and checksums for 'abra app backup verify'. A failing hook, a
container that does not run or an empty dump fails the backup, with the reason.

The new snapshot's ID is printed on stdout.`,
		Example: "  abra app backup create blog.example.org\n  abra app backup create blog.example.org db --tag before-migration",
		Args:    command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if len(args) == 2 {
				o.service = args[1]
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runBackupCreate(cmd.Context(), o)
		},
	}
	cmd.Flags().StringArrayVarP(&o.tags, "tag", "t", nil, "tag the snapshot (repeatable)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON, and the backup service's events as JSON Lines on stderr")
	return cmd
}

func runBackupCreate(ctx context.Context, o *backupCreateOptions) error {
	a, b, p, err := backupsFor(ctx, o.f, o.domain, o.json)
	if err != nil {
		return err
	}
	res, err := b.Create(ctx, a, app.CreateBackupOptions{Service: o.service, Tags: o.tags})
	p.done()
	if err != nil {
		return err
	}
	if o.json {
		return ui.JSON(o.f.IO, res)
	}
	fmt.Fprintf(o.f.IO.Err, "%s: snapshot %s of %s: %d files, %s\n", a.Domain, backup.ShortID(res.SnapshotID), joinOrDash(res.Services), res.Files, humanBytes(res.Bytes))
	fmt.Fprintln(o.f.IO.Out, res.SnapshotID)
	return nil
}

// preUpgradeBackup backs the app up as the "back up" step before an upgrade
// from version current; a failure stops the upgrade before anything changed.
func preUpgradeBackup(ctx context.Context, f *command.Factory, c swarm.Cluster, a *app.App, current string, obs step.Observer) error {
	p := newBackupProgress(f, false)
	p.indent = "  "
	b := &app.Backups{Cluster: c, Observer: p}
	var snapshot string
	err := step.Run(ctx, obs, step.Step{Name: "back up", Run: func(ctx context.Context) error {
		res, err := b.Create(ctx, a, app.CreateBackupOptions{Tags: app.PreUpgradeTags(current)})
		p.done()
		if err != nil {
			return err
		}
		obs.Note("back up", fmt.Sprintf("snapshot %s: %d files, %s", backup.ShortID(res.SnapshotID), res.Files, humanBytes(res.Bytes)))
		snapshot = res.SnapshotID
		return nil
	}}, step.Step{Name: "verify backup", Run: func(ctx context.Context) error {
		// Restored to scratch space and compared with its manifest: an
		// upgrade only goes ahead with a backup that is known to restore.
		_, err := b.Verify(ctx, a, snapshot)
		p.done()
		return err
	}})
	if err != nil {
		return hint.With(fmt.Errorf("upgrade %s stopped before any change: %w", a.Domain, err),
			"fix the backup (try 'abra app backup create "+a.Domain+"'), or pass --no-backup to upgrade without one")
	}
	return nil
}
