package cli

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/dashboard"
)

type dashboardOptions struct {
	f      *command.Factory
	listen string
	open   bool
}

// newDashboardCmd: abra dashboard serves the web dashboard on loopback.
func newDashboardCmd(f *command.Factory, runF func(context.Context, *dashboardOptions) error) *cobra.Command {
	o := &dashboardOptions{f: f}
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve the web dashboard on this machine (loopback only)",
		Long: `Serve a web dashboard of your apps on this machine: the same ABRA_DIR, SSH
config and agent as the CLI; nothing is installed on the servers.

It listens on a loopback address only and prints an address with a one-time
token: opening it signs that browser in (a session cookie); the token does not
work twice. Other hosts in the address bar (DNS rebinding), forms from other
sites and inline scripts are refused. Stop it with Ctrl-C.

Pages: the fleet (every app, its version and status, upgrades available,
certificates about to expire, env keys the newest release adds; ?format=json
is 'abra app ls --status --json'), a server, an app (tasks and errors, its
configuration with secret-like values hidden, secret names and versions,
backups, history, lock), its logs (live), the catalogue, and the operations
this machine ran and the update agent's, live as they run.

Actions (deploy, upgrade, rollback, undeploy, backup, restore) show their plan
first (the version and deploy --dry-run's changes); confirming runs the same
pipeline as the CLI, journalled like it, and the operation's page ends with
the verified result. Undeploy, rollback and restore ask for the app's domain
to be typed. Messages follow the browser's language (English, German).`,
		Example: "  abra dashboard\n  abra dashboard --listen 127.0.0.1:8765 --open",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runDashboard(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:0", "loopback address and port to listen on (port 0: any free one)")
	cmd.Flags().BoolVar(&o.open, "open", false, "open the address in the desktop's browser (xdg-open)")
	return cmd
}

func runDashboard(ctx context.Context, o *dashboardOptions) error {
	host, _, err := net.SplitHostPort(o.listen)
	if err != nil {
		return command.Usagef("--listen %q: %v (want e.g. 127.0.0.1:8765)", o.listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return command.Usagef("--listen %q: the dashboard listens on a loopback address only (127.0.0.1 or ::1): it acts with your SSH keys", o.listen)
	}
	s, err := dashboard.New(o.f.Store(), o.f.Connect, o.f.Journal())
	if err != nil {
		return err
	}
	s.Offline = o.f.Offline
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	url := s.URL(ln.Addr())
	fmt.Fprintf(o.f.IO.Err, "abra dashboard: open %s\n(the address signs in one browser, once; Ctrl-C stops the dashboard)\n", url)
	if o.open {
		if err := exec.Command("xdg-open", url).Start(); err != nil {
			fmt.Fprintf(o.f.IO.Err, "warning: could not open a browser: %v\n", err)
		}
	}
	start := time.Now()
	err = s.Serve(ctx, ln)
	fmt.Fprintf(o.f.IO.Err, "abra dashboard: stopped after %s\n", time.Since(start).Round(time.Second))
	return err
}
