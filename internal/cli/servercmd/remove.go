package servercmd

import (
	"context"
	"fmt"
	"strings"

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
		Short:   "Forget a server: its folder under $ABRA_DIR/servers (asks first)",
		Long: `Forget a registered server: its folder $ABRA_DIR/servers/<server> goes
(a symlinked folder is only unlinked; its target is left alone). Nothing on the
server itself changes.

Asks first, naming the app env files that go with it; -f/--force does not ask.`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.server = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runRemove(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "do not ask; also forget the env files of the apps on it")
	return cmd
}

func runRemove(_ context.Context, o *removeOptions) error {
	servers := o.f.Store().Servers()
	if err := servers.Check(o.server); err != nil {
		return err
	}
	if !o.force {
		apps, err := servers.Apps(o.server)
		if err != nil {
			return err
		}
		question := fmt.Sprintf("forget server %s (%s)", o.server, servers.Path(o.server))
		if len(apps) > 0 {
			question += " and the env files of " + strings.Join(apps, ", ")
		}
		ok, err := o.f.Confirm(question, "--force")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("server rm %s: not confirmed; nothing changed", o.server)
		}
	}
	// Confirmed (or --force): the question named the env files that go too.
	if err := servers.Remove(o.server, true); err != nil {
		return err
	}
	fmt.Fprintf(o.f.IO.Err, "server %s removed\n", o.server)
	return nil
}
