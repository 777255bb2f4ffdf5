package appcmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/stack"
)

type undeployOptions struct {
	f      *command.Factory
	domain string
}

func newUndeployCmd(f *command.Factory, runF func(context.Context, *undeployOptions) error) *cobra.Command {
	o := &undeployOptions{f: f}
	cmd := &cobra.Command{
		Use:     "undeploy <domain>",
		Aliases: []string{"un"},
		Short:   "Stop the app: remove its services and networks, keep volumes and secrets",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runUndeploy(cmd.Context(), o)
		},
	}
	return cmd
}

func runUndeploy(ctx context.Context, o *undeployOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	err = app.Undeploy(ctx, c, a, func(e stack.Event) {
		fmt.Fprintf(o.f.IO.Err, "  %s %s %s\n", e.Action, e.Kind, e.Name)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.f.IO.Err, "%s undeployed; volumes and secrets were kept\n", a.Domain)
	return nil
}
