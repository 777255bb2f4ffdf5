package appcmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type backupVerifyOptions struct {
	f        *command.Factory
	domain   string
	snapshot string
	json     bool
}

func newBackupVerifyCmd(f *command.Factory, runF func(context.Context, *backupVerifyOptions) error) *cobra.Command {
	o := &backupVerifyOptions{f: f}
	cmd := &cobra.Command{
		Use:   "verify <domain>",
		Short: "Prove a snapshot restores: restore it into scratch space on the server and check it",
		Long: `Restore a snapshot (the latest unless --snapshot) into scratch volumes on the
server and check it against what was recorded at backup time: file count,
sizes and checksums. The app is not touched. Exits non-zero when anything
differs or the repository is damaged.`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runBackupVerify(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.snapshot, "snapshot", "s", "", "snapshot ID (default: the app's latest)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the result as JSON, and the backup service's events as JSON Lines on stderr")
	return cmd
}

func runBackupVerify(ctx context.Context, o *backupVerifyOptions) error {
	a, b, p, err := backupsFor(ctx, o.f, o.domain, o.json)
	if err != nil {
		return err
	}
	res, err := b.Verify(ctx, a, o.snapshot)
	p.done()
	if err != nil {
		return err
	}
	if o.json {
		return ui.JSON(o.f.IO, res)
	}
	fmt.Fprintf(o.f.IO.Err, "%s: snapshot %s verified: %d files, %s restored and checked\n", a.Domain, backup.ShortID(res.SnapshotID), res.Files, humanBytes(res.Bytes))
	return nil
}
