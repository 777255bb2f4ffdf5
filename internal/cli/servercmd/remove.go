package servercmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
)

type removeOptions struct {
	f      *command.Factory
	server string
	force  bool
}

func newRemoveCmd(f *command.Factory, runF func(context.Context, *removeOptions) error) *cobra.Command {
	o := &removeOptions{f: f}
	cmd := &cobra.Command{
		Use:     "rm <server>",
		Aliases: []string{"remove"},
		Short:   "Forget a server (refuses while apps exist there, unless --force)",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.server = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runRemove(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "also forget the env files of the apps on it")
	return cmd
}

func runRemove(_ context.Context, o *removeOptions) error {
	if err := o.f.Store().Servers().Remove(o.server, o.force); err != nil {
		return err
	}
	fmt.Fprintf(o.f.IO.Err, "server %s removed\n", o.server)
	return nil
}
