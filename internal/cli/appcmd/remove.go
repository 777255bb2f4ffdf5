package appcmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/cronjob"
	"coopcloud.tech/abra/internal/update"
)

type removeOptions struct {
	f      *command.Factory
	domain string
	force  bool
}

func newRemoveCmd(f *command.Factory, runF func(context.Context, *removeOptions) error) *cobra.Command {
	o := &removeOptions{f: f}
	cmd := &cobra.Command{
		Use:     "remove <domain>",
		Aliases: []string{"rm"},
		Short:   "Delete an undeployed app: its volumes, secrets and env file",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runRemove(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "delete without asking")
	return cmd
}

func runRemove(ctx context.Context, o *removeOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	left, err := app.FindLeftovers(ctx, c, a)
	if err != nil {
		return err
	}
	if !o.force {
		fmt.Fprintf(o.f.IO.Err, "removing %s deletes for good:\n  env file: %s\n  volumes: %s\n  secrets: %s\n",
			a.Domain, a.Path, listOrNone(left.Volumes), listOrNone(left.Secrets))
		ok, err := o.f.Confirm("delete all of this", "--force")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("nothing removed")
		}
	}
	if err := app.Remove(ctx, c, a, left); err != nil {
		return err
	}
	if _, err := (update.Records{Cluster: c}).Forget(ctx, a.StackName()); err != nil {
		fmt.Fprintf(o.f.IO.Err, "warning: %s's upgrade history stays on the server: %v\n", a.Domain, err)
	}
	if _, err := (cronjob.Records{Cluster: c}).Forget(ctx, a.StackName()); err != nil {
		fmt.Fprintf(o.f.IO.Err, "warning: %s's scheduled job runs stay on the server: %v\n", a.Domain, err)
	}
	fmt.Fprintf(o.f.IO.Err, "%s removed (%d volumes, %d secrets, env file)\n", a.Domain, len(left.Volumes), len(left.Secrets))
	return nil
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
