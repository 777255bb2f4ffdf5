package appcmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/swarm"
)

type undeployOptions struct {
	f      *command.Factory
	domain string
	prune  bool
}

func newUndeployCmd(f *command.Factory, runF func(context.Context, *undeployOptions) error) *cobra.Command {
	o := &undeployOptions{f: f}
	cmd := &cobra.Command{
		Use:     "undeploy <domain>",
		Aliases: []string{"un"},
		Short:   "Stop the app: remove its services and networks, keep volumes and secrets",
		Long: `Stop the app: remove its services and networks, keep volumes and secrets.
abra waits until the stack is really gone.

With --prune, the app's stopped containers and leftover networks and the
server's dangling images are removed afterwards (volumes and secrets stay).`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runUndeploy(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.prune, "prune", "p", false, "then remove the app's stopped containers and networks and dangling images")
	return cmd
}

func runUndeploy(ctx context.Context, o *undeployOptions) (err error) {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	op := journalled(o.f, "undeploy", a)
	defer func() { op.End(err) }()
	err = app.Undeploy(ctx, c, a, func(e stack.Event) {
		fmt.Fprintf(o.f.IO.Err, "  %s %s %s\n", e.Action, e.Kind, e.Name)
		op.Note("undeploy", fmt.Sprintf("%s %s %s", e.Action, e.Kind, e.Name))
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.f.IO.Err, "%s undeployed; volumes and secrets were kept\n", a.Domain)
	if !o.prune {
		return nil
	}
	r, err := c.Prune(ctx, swarm.PruneOptions{Stack: a.StackName()})
	if err != nil {
		return fmt.Errorf("undeploy %s: prune: %w", a.Domain, err)
	}
	fmt.Fprintf(o.f.IO.Err, "%s: pruned %d containers, %d networks, %d images; %.1f MB reclaimed\n",
		a.Domain, len(r.Containers), len(r.Networks), len(r.Images), float64(r.Reclaimed)/1e6)
	return nil
}
