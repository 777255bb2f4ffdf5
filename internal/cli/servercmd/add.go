package servercmd

import (
	"context"
	"fmt"
	"net"
	"os/exec"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/server"
)

type addOptions struct {
	f       *command.Factory
	host    string
	local   bool
	init    bool
	context bool
}

func newAddCmd(f *command.Factory, runF func(context.Context, *addOptions) error) *cobra.Command {
	o := &addOptions{f: f}
	cmd := &cobra.Command{
		Use:     "add [<host>] [--local]",
		Aliases: []string{"a"},
		Short:   "Register a server (--local: this machine's Docker, as server \"default\")",
		Long: `Register a server to deploy apps to.

With --local the local Docker daemon becomes the server "default".
Otherwise <host> is a name from ~/.ssh/config or user@host[:port], reached with
the system ssh client (so ~/.ssh/config, the agent and known_hosts apply; host
keys are verified, never trusted silently). abra checks that Docker answers,
that the node is a swarm manager and that the "proxy" network exists; --init
fixes the last two (docker swarm init, and the proxy overlay network). A Docker
context named after the server is created, so 'docker --context <host>' works.`,
		Example: "  abra server add --local\n  abra server add example.org --init",
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
	cmd.Flags().BoolVar(&o.init, "init", false, "initialise a swarm and create the proxy network where missing")
	cmd.Flags().BoolVar(&o.context, "docker-context", true, "create a Docker context named after the server")
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
	if err := setUp(ctx, o); err != nil {
		if !existed {
			_ = servers.Remove(o.host, true) // leave nothing behind for a server we cannot use
		}
		return err
	}
	if o.host != server.Local && o.context {
		dockerContext(o)
	}
	if existed {
		fmt.Fprintf(o.f.IO.Err, "server %s already registered and ready\n", o.host)
		return nil
	}
	fmt.Fprintf(o.f.IO.Err, "server %s added (%s)\n", o.host, servers.Path(o.host))
	return nil
}

func setUp(ctx context.Context, o *addOptions) error {
	c, err := o.f.Cluster(ctx, o.host)
	if err != nil {
		return err
	}
	r, err := server.Check(ctx, c)
	if err != nil {
		return app.CheckManager(ctx, c, o.host) // explains connection failures
	}
	ready := r.Info.SwarmState == "active" && r.Info.IsManager
	if !ready || !r.Proxy {
		if !o.init && !o.f.NoInput && o.f.IO.Interactive() {
			o.init, _ = o.f.Confirm(fmt.Sprintf("%s: initialise the swarm and/or create the proxy network", o.host), "--init")
		}
		if o.init {
			if err := server.Init(ctx, c, r, advertiseAddr(o.host)); err != nil {
				return err
			}
			fmt.Fprintf(o.f.IO.Err, "server %s: swarm and proxy network ready\n", o.host)
			return nil
		}
	}
	if !ready {
		if err := app.CheckManager(ctx, c, o.host); err != nil {
			return hint.With(err, hint.Of(err)+"; or pass --init to let abra do it")
		}
	}
	if !r.Proxy {
		fmt.Fprintf(o.f.IO.Err, "warning: server %s has no %q network, which most recipes need: pass --init, or run 'docker network create -d overlay --scope swarm --attachable proxy' there\n", o.host, server.ProxyNetwork)
	}
	return nil
}

// advertiseAddr is the address a new swarm advertises: the server's own.
func advertiseAddr(name string) string {
	if name == server.Local {
		return "127.0.0.1"
	}
	host, _ := server.SSHTarget(name)
	if ips, err := net.LookupHost(host); err == nil && len(ips) > 0 {
		return ips[0]
	}
	return host
}

// dockerContext creates a Docker context for the server, so operators can keep
// using 'docker --context <server>'. It is a convenience: failures only warn.
func dockerContext(o *addOptions) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		return
	}
	if exec.Command(docker, "context", "inspect", o.host).Run() == nil {
		return
	}
	out, err := exec.Command(docker, "context", "create", o.host, "--docker", "host=ssh://"+o.host).CombinedOutput()
	if err != nil {
		fmt.Fprintf(o.f.IO.Err, "warning: could not create the Docker context %s: %v: %s\n", o.host, err, out)
		return
	}
	fmt.Fprintf(o.f.IO.Err, "docker context %s created\n", o.host)
}
