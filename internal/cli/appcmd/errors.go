package appcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type errorsOptions struct {
	f        *command.Factory
	domain   string
	json     bool
	watch    bool
	interval time.Duration
}

func newErrorsCmd(f *command.Factory, runF func(context.Context, *errorsOptions) error) *cobra.Command {
	o := &errorsOptions{f: f, interval: 2 * time.Second}
	cmd := &cobra.Command{
		Use:   "errors <domain> [--watch]",
		Short: "List the errors of the app's tasks: failed and rejected tasks, non-zero exits",
		Long: `List what swarm recorded about the app's failing tasks: the task's state,
its error (image not found, healthcheck failing, no suitable node, …) and the
container's exit code, newest first per service. Nothing listed: no failures.

With --watch the list is refreshed every 2 seconds until interrupted (exit 130).`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runErrors(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "refresh the list until interrupted")
	return cmd
}

func runErrors(ctx context.Context, o *errorsOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	print := func() error {
		errs, err := app.Errors(ctx, c, a)
		if err != nil {
			return err
		}
		if errs == nil {
			errs = []app.ServiceError{}
		}
		switch {
		case o.json && o.watch: // JSON Lines: one snapshot per line
			return json.NewEncoder(o.f.IO.Out).Encode(errs)
		case o.json:
			return ui.JSON(o.f.IO, errs)
		}
		rows := [][]string{}
		for _, e := range errs {
			rows = append(rows, []string{e.Service, e.State, strconv.Itoa(e.ExitCode), e.Since, e.Error})
		}
		if len(errs) == 0 {
			fmt.Fprintf(o.f.IO.Err, "%s: no errors recorded\n", a.Domain)
		}
		return ui.Table(o.f.IO, []string{"service", "state", "exit code", "since", "error"}, rows)
	}
	if !o.watch {
		return print()
	}
	return watch(ctx, o.f, o.json, o.interval, print)
}
