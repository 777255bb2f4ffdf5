package appcmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/ui"
	"coopcloud.tech/abra/internal/update"
)

// newSyncCmd: abra app sync <domain> records the running version in the env file.
func newSyncCmd(f *command.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "sync <domain>",
		Short: "Record the version the server runs in the app's env file (after an automatic update)",
		Long: `Record the version the server runs in the app's env file (TYPE=<recipe>:<version>).

The update agent upgrades apps on the server; the env file on your machine still
pins the version you deployed, and 'abra app deploy' refuses to go back to it.
This brings the env file up to date. Nothing on the server changes.`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, c, err := loadApp(ctx, f, args[0])
			if err != nil {
				return err
			}
			st, err := app.DeployedState(ctx, c, a.StackName())
			if err != nil {
				return err
			}
			if !st.Deployed || st.Chaos || st.Version == "" {
				return hint.With(fmt.Errorf("sync %s: the server runs no release of it (deployed: %t, chaos: %t)", a.Domain, st.Deployed, st.Chaos),
					"deploy a release with 'abra app deploy "+a.Domain+"'")
			}
			old := a.PinnedVersion()
			if old == st.Version {
				fmt.Fprintf(f.IO.Err, "%s: the env file already pins %s\n", a.Domain, old)
				return nil
			}
			if err := f.Store().Update(ctx, a, func(env *envfile.File) error { return (&app.App{Env: env}).Pin(st.Version) }); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Err, "%s: the env file now pins %s (was %s)\n", a.Domain, st.Version, old)
			return nil
		},
	}
}

// newHistoryCmd: abra app history <domain> shows the app's update operations.
func newHistoryCmd(f *command.Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history <domain>",
		Short: "Show the app's upgrades as the server recorded them (who, from, to, result, snapshot)",
		Long: `Show the app's upgrades as the server recorded them: every 'abra app upgrade',
fleet upgrade and update agent run, newest first, with who or what ran it, the
versions, the result and the pre-upgrade snapshot.`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, c, err := loadApp(ctx, f, args[0])
			if err != nil {
				return err
			}
			recs, err := update.Records{Cluster: c}.List(ctx, a.StackName())
			if err != nil {
				return err
			}
			return printList(f, asJSON, recs, a.Domain+": no upgrades recorded",
				[]string{"started", "from", "to", "result", "by", "via", "snapshot", "error"}, func(r update.Record) []string {
					snap := ""
					if r.Snapshot != "" {
						snap = backup.ShortID(r.Snapshot)
					}
					return []string{r.Started.Local().Format(time.DateTime), r.From, r.To, string(r.State), r.Actor, r.Trigger, snap, r.Error}
				})
		},
	}
	command.AddJSONFlag(cmd, &asJSON)
	return cmd
}

// newQuarantineCmd: abra app quarantine <domain> [--clear [version]].
func newQuarantineCmd(f *command.Factory) *cobra.Command {
	var clear, asJSON bool
	cmd := &cobra.Command{
		Use:   "quarantine <domain> [version]",
		Short: "List the releases that failed on this app (automatic updates skip them), or clear them",
		Long: `List the releases that failed on this app and were rolled back: automatic
updates skip them until a newer release appears. --clear lifts the quarantine
of [version], or of every release without one.`,
		Args: command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, c, err := loadApp(ctx, f, args[0])
			if err != nil {
				return err
			}
			records := update.Records{Cluster: c}
			if clear {
				version := ""
				if len(args) == 2 {
					version = args[1]
				}
				cleared, err := records.Clear(ctx, a.StackName(), version)
				if err != nil {
					return err
				}
				if len(cleared) == 0 {
					return fmt.Errorf("%s: nothing to clear (no quarantined release%s)", a.Domain, map[bool]string{true: " " + version}[version != ""])
				}
				for _, v := range cleared {
					fmt.Fprintf(f.IO.Err, "%s: %s is no longer quarantined\n", a.Domain, v)
				}
				return nil
			}
			qs, err := records.Quarantined(ctx, a.StackName())
			if err != nil {
				return err
			}
			return printList(f, asJSON, qs, a.Domain+": no quarantined releases", []string{"version", "since", "operation", "reason"},
				func(q update.Quarantine) []string {
					return []string{q.Version, q.Since.Local().Format(time.DateTime), q.Operation, q.Reason}
				})
		},
	}
	cmd.Flags().BoolVar(&clear, "clear", false, "lift the quarantine of [version] (every release without one)")
	command.AddJSONFlag(cmd, &asJSON)
	return cmd
}

// printList prints items as JSON (an empty list, not null) or as a table, or
// says empty on stderr when there are none (an empty table when empty is "").
func printList[T any](f *command.Factory, asJSON bool, items []T, empty string, headers []string, row func(T) []string) error {
	if asJSON {
		if items == nil {
			items = []T{}
		}
		return ui.JSON(f.IO, items)
	}
	if len(items) == 0 && empty != "" {
		fmt.Fprintln(f.IO.Err, empty)
		return nil
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		rows = append(rows, row(it))
	}
	return ui.Table(f.IO, headers, rows)
}
