package appcmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/ui"
)

type listOptions struct {
	f       *command.Factory
	server  string
	recipe  string
	json    bool
	status  bool
	timeout time.Duration
}

func newListCmd(f *command.Factory, runF func(context.Context, *listOptions) error) *cobra.Command {
	o := &listOptions{f: f}
	cmd := &cobra.Command{
		Use:     "ls [-s <server>] [-r <recipe>]",
		Aliases: []string{"list"},
		Short:   "List apps",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runList(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.server, "server", "s", "", "only apps on this server")
	cmd.Flags().StringVarP(&o.recipe, "recipe", "r", "", "only apps of this recipe")
	cmd.Flags().BoolVarP(&o.status, "status", "S", false, "ask every server, concurrently, what is deployed (status, version, upgrades)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 15*time.Second, "with --status: how long to wait for each server")
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runList(ctx context.Context, o *listOptions) error {
	views, broken, failed, err := app.Fleet(ctx, o.f.Store(), app.FleetOptions{Server: o.server, Recipe: o.recipe,
		Status: o.status, Connect: o.f.Connect, Timeout: o.timeout})
	if err != nil {
		return err
	}
	var statusErr error
	if len(broken) > 0 {
		paths := make([]string, len(broken))
		for i, b := range broken {
			// One broken env file must not hide the other apps.
			fmt.Fprintf(o.f.IO.Err, "abra: %v\n", b.Err)
			paths[i] = b.Path
		}
		statusErr = hint.With(fmt.Errorf("%w: %d env files could not be read: %s", command.ErrPartial, len(broken), strings.Join(paths, ", ")),
			"fix them with 'abra app config <domain>' (or your editor) as said above; a file whose name is not <domain>.env belongs elsewhere")
	}
	if failed != nil {
		statusErr = errors.Join(statusErr, fmt.Errorf("%w: %w", command.ErrPartial, failed))
	}
	if o.json {
		if err := ui.JSON(o.f.IO, app.ByServer(views)); err != nil {
			return err
		}
		return statusErr
	}
	rows := [][]string{}
	for _, v := range views {
		row := []string{v.Server, v.Recipe, v.Domain, orDash(v.Version)}
		if o.status {
			status := v.Status
			if v.Reason != "" {
				status += " (" + v.Reason + ")"
			}
			row = append(row, orDash(v.ChaosVersion), status, orDash(v.Upgrade), v.AutoUpdate)
		}
		rows = append(rows, row)
	}
	headers := []string{"server", "recipe", "domain", "version"}
	if o.status {
		headers = append(headers, "chaos", "status", "upgrade", "autoupdate")
	}
	if err := ui.Table(o.f.IO, headers, rows); err != nil {
		return err
	}
	return statusErr
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
