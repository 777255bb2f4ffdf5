package appcmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type backupListOptions struct {
	f      *command.Factory
	domain string
	json   bool
}

func newBackupListCmd(f *command.Factory, runF func(context.Context, *backupListOptions) error) *cobra.Command {
	o := &backupListOptions{f: f}
	cmd := &cobra.Command{
		Use:     "ls <domain>",
		Aliases: []string{"list", "snapshots"},
		Short:   "List the app's snapshots, oldest first",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runBackupList(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runBackupList(ctx context.Context, o *backupListOptions) error {
	a, b, p, err := backupsFor(ctx, o.f, o.domain, false)
	if err != nil {
		return err
	}
	snaps, err := b.List(ctx, a)
	p.done()
	if err != nil {
		return err
	}
	if o.json {
		return ui.JSON(o.f.IO, snaps)
	}
	if len(snaps) == 0 {
		fmt.Fprintf(o.f.IO.Err, "%s has no snapshots yet; make one with 'abra app backup create %s'\n", a.Domain, a.Domain)
		return nil
	}
	rows := [][]string{}
	for _, s := range snaps {
		rows = append(rows, []string{s.ShortID, s.Time.Local().Format("2006-01-02 15:04:05"), joinOrDash(s.Services), joinOrDash(s.Tags)})
	}
	return ui.Table(o.f.IO, []string{"snapshot", "time", "services", "tags"}, rows)
}
