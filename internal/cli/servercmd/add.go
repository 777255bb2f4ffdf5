package servercmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/server"
)

type addOptions struct {
	f     *command.Factory
	host  string
	local bool
}

func newAddCmd(f *command.Factory, runF func(context.Context, *addOptions) error) *cobra.Command {
	o := &addOptions{f: f}
	cmd := &cobra.Command{
		Use:   "add [<host>] [--local]",
		Short: "Register a server (--local: this machine's Docker, as server \"default\")",
		Long: `Register a server to deploy apps to.

With --local the local Docker daemon becomes the server "default".
Otherwise <host> is a name from ~/.ssh/config or user@host[:port], reached with
the system ssh client. The server must be a Docker Swarm manager.`,
		Example: "  abra server add --local\n  abra server add example.org",
		Args:    command.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.host = args[0]
			}
			if o.local == (o.host != "") {
				return command.Usagef("name a host or pass --local (one of them)")
			}
			if o.local {
				o.host = server.Local
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runAdd(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.local, "local", "l", false, "use the local Docker daemon (server \"default\")")
	return cmd
}

func runAdd(ctx context.Context, o *addOptions) error {
	servers := o.f.Store().Servers()
	if err := server.ValidName(o.host); err != nil {
		return err
	}
	existed := servers.Exists(o.host)
	if _, err := servers.Add(o.host); err != nil {
		return err
	}
	c, err := o.f.Cluster(ctx, o.host)
	if err == nil {
		err = app.CheckManager(ctx, c, o.host)
	}
	if err != nil {
		if !existed {
			_ = servers.Remove(o.host, true) // leave nothing behind for a server we cannot use
		}
		return err
	}
	if existed {
		fmt.Fprintf(o.f.IO.Err, "server %s already registered and reachable\n", o.host)
		return nil
	}
	fmt.Fprintf(o.f.IO.Err, "server %s added (%s)\n", o.host, servers.Path(o.host))
	return nil
}
