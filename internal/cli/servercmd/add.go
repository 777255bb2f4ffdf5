package servercmd

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/appcmd"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/cli/recipecmd"
	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/server"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

type addOptions struct {
	f       *command.Factory
	host    string
	local   bool
	init    bool
	context bool
	traefik proxyOptions
}

// proxyOptions: server add --traefik deploys the traefik recipe as the
// server's proxy.
type proxyOptions struct {
	deploy bool
	domain string
	email  string
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
context named after the server is created, so 'docker --context <host>' works.
When the server is the manager of a swarm of several nodes, their hostnames,
roles, availability, state and addresses are listed on stdout, with a warning
for each node that takes no new tasks (down or drained).

--traefik also deploys the traefik recipe as the server's proxy (asked after
--init when abra can prompt): the app traefik.<host> (--traefik-domain), with
the e-mail address Let's Encrypt writes to (--traefik-email, asked when
missing). Apps deployed afterwards are served over HTTPS at their domain.`,
		Example: "  abra server add --local\n  abra server add example.org --init\n  abra server add example.org --init --traefik --traefik-email certs@example.org",
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
			if err := o.traefik.check(o.host); err != nil {
				return err
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
	cmd.Flags().BoolVar(&o.traefik.deploy, "traefik", false, "also deploy the traefik recipe as the server's proxy")
	cmd.Flags().StringVar(&o.traefik.domain, "traefik-domain", "", "with --traefik: the proxy app's domain (default traefik.<host>)")
	cmd.Flags().StringVar(&o.traefik.email, "traefik-email", "", "with --traefik: the e-mail address Let's Encrypt writes to")
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
	} else {
		fmt.Fprintf(o.f.IO.Err, "server %s added (%s)\n", o.host, servers.Path(o.host))
	}
	if !o.traefik.deploy && o.init && !o.f.NoInput && o.f.IO.Interactive() {
		o.traefik.deploy, _ = o.f.Confirm(fmt.Sprintf("%s: deploy the traefik proxy (HTTPS for every app)", o.host), "--traefik")
	}
	if o.traefik.deploy {
		return setUpProxy(ctx, o)
	}
	return nil
}

// setUpProxy creates and deploys the traefik app of the server, as
// 'abra app new traefik' and 'abra app deploy' would; an existing app of
// that domain is left as it is.
func setUpProxy(ctx context.Context, o *addOptions) error {
	p := o.traefik
	if p.domain == "" {
		if o.host == server.Local {
			return command.Usagef("the traefik proxy on the local server needs its own domain: pass --traefik-domain <domain>")
		}
		host, _ := server.SSHTarget(o.host)
		p.domain = "traefik." + host
	}
	if err := guard.Domain(p.domain); err != nil {
		return &command.UsageError{Err: fmt.Errorf("the proxy's domain: %w (pass --traefik-domain)", err)}
	}
	store := o.f.Store()
	if _, err := store.Get(p.domain); err == nil {
		fmt.Fprintf(o.f.IO.Err, "server %s: the proxy app %s exists already: not changed (abra app deploy %s deploys it)\n", o.host, p.domain, p.domain)
		return nil
	}
	if p.email == "" {
		var err error
		if p.email, err = o.f.Ask("the e-mail address Let's Encrypt writes to about certificates", "--traefik-email <address>"); err != nil {
			return err
		}
	}
	if err := checkEmail(p.email); err != nil {
		return err
	}
	if _, err := store.OpenRecipe(recipeTraefik); err != nil {
		if err := recipecmd.Fetch(ctx, o.f, recipeTraefik); err != nil {
			return err
		}
	}
	if err := appcmd.New(ctx, o.f, recipeTraefik, o.host, p.domain); err != nil {
		return err
	}
	a, err := store.Get(p.domain)
	if err != nil {
		return err
	}
	if err := store.Update(ctx, a, func(env *envfile.File) error { return env.Set("LETS_ENCRYPT_EMAIL", p.email) }); err != nil {
		return err
	}
	// The proxy's own domain serves only its (optional) dashboard: its DNS
	// need not be ready for the proxy to serve the apps.
	if err := appcmd.Deploy(ctx, o.f, p.domain, app.DeployOptions{NoDomainChecks: true, Offline: o.f.Offline}); err != nil {
		return hint.With(fmt.Errorf("server %s: deploy the proxy %s: %w", o.host, p.domain, err),
			"the app is created: fix what the error says, then 'abra app deploy "+p.domain+"'")
	}
	return nil
}

// check refuses the --traefik flags before anything is done.
func (p proxyOptions) check(host string) error {
	if !p.deploy && (p.domain != "" || p.email != "") {
		return command.Usagef("--traefik-domain and --traefik-email go with --traefik: pass --traefik too, or drop them")
	}
	if p.domain != "" {
		if err := guard.Domain(p.domain); err != nil {
			return &command.UsageError{Err: fmt.Errorf("--traefik-domain: %w", err)}
		}
	} else if p.deploy && host == server.Local {
		return command.Usagef("--traefik on the local server needs the proxy's own domain: pass --traefik-domain <domain>")
	}
	if p.email != "" {
		return checkEmail(p.email)
	}
	return nil
}

// checkEmail wants something shaped like an e-mail address: it goes into
// the traefik app's env file and Traefik's config.
func checkEmail(email string) error {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || guard.Domain(strings.ToLower(domain)) != nil || strings.ContainsAny(email, " \t\r\n\"'`$\\") {
		return command.Usagef("--traefik-email %q: want an e-mail address, e.g. certs@example.org", email)
	}
	return nil
}

// recipeTraefik is the recipe server add --traefik deploys.
const recipeTraefik = "traefik"

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
	if r.Info.Nodes > 1 {
		return listNodes(ctx, o, c)
	}
	return nil
}

// listNodes prints the nodes of a swarm of several nodes (stdout: hostname,
// role, availability, state, address, "leader"), and warns on stderr about
// nodes that cannot run tasks: apps pinned to them will not run.
func listNodes(ctx context.Context, o *addOptions, c swarm.Cluster) error {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("server %s: list the swarm's nodes: %w", o.host, err)
	}
	fmt.Fprintf(o.f.IO.Err, "server %s: a swarm of %d nodes\n", o.host, len(nodes))
	rows := make([][]string, 0, len(nodes))
	for _, n := range nodes {
		leader := "-"
		if n.Leader {
			leader = "leader"
		}
		rows = append(rows, []string{n.Hostname, n.Role, n.Availability, n.State, n.Addr, leader})
		if !n.Usable() {
			fmt.Fprintf(o.f.IO.Err, "warning: node %s is %s (%s): swarm runs no new tasks there\n", n.Hostname, n.State, n.Availability)
		}
	}
	return ui.Table(o.f.IO, []string{"hostname", "role", "availability", "state", "address", "leader"}, rows)
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
