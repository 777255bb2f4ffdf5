package appcmd

import (
	"context"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type psOptions struct {
	f      *command.Factory
	domain string
	json   bool
}

func newPsCmd(f *command.Factory, runF func(context.Context, *psOptions) error) *cobra.Command {
	o := &psOptions{f: f}
	cmd := &cobra.Command{
		Use:   "ps <domain>",
		Short: "List the app's tasks: state, health, errors",
		Args:  command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runPs(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runPs(ctx context.Context, o *psOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	tasks, err := app.Tasks(ctx, c, a)
	if err != nil {
		return err
	}
	if o.json {
		if tasks == nil {
			tasks = []app.Task{}
		}
		return ui.JSON(o.f.IO, tasks)
	}
	rows := [][]string{}
	for _, t := range tasks {
		h := t.Health
		if h == "" {
			h = "-"
		}
		rows = append(rows, []string{t.Service, t.Image, t.State, h, t.Since, t.Error})
	}
	return ui.Table(o.f.IO, []string{"service", "image", "state", "health", "since", "error"}, rows)
}
