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

func runBackupCreate(ctx context.Context, o *backupCreateOptions) (err error) {
	a, b, p, err := backupsFor(ctx, o.f, o.domain, o.json)
	if err != nil {
		return err
	}
	op := journalled(o.f, "backup", a)
	defer func() { op.End(err) }()
	b.Observer = app.BackupNotes{BackupObserver: p, Note: op.Note}
	res, err := b.Create(ctx, a, app.CreateBackupOptions{Service: o.service, Tags: o.tags})
	p.done()
	if err != nil {
		return err
	}
	op.Note("backup", fmt.Sprintf("snapshot %s: %d files", backup.ShortID(res.SnapshotID), res.Files))
	if o.json {
		return ui.JSON(o.f.IO, res)
	}
	ids := res.Snapshots // one per node holding the app's volumes
	if len(ids) == 0 {
		ids = []string{res.SnapshotID}
	}
	what := "snapshot"
	if len(ids) > 1 {
		what = "snapshots"
	}
	fmt.Fprintf(o.f.IO.Err, "%s: %s %s of %s: %d files, %s\n", a.Domain, what, strings.Join(backup.ShortIDs(ids), ", "), joinOrDash(res.Services), res.Files, humanBytes(res.Bytes))
	for _, id := range ids {
		fmt.Fprintln(o.f.IO.Out, id)
	}
	return nil
}
