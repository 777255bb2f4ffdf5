package appcmd

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
)

type runOptions struct {
	f       *command.Factory
	domain  string
	service string
	cmd     []string
	noTTY   bool
	user    string
}

func newRunCmd(f *command.Factory) *cobra.Command {
	o := &runOptions{f: f}
	cmd := &cobra.Command{
		Use:     "run <domain> <service> [--] <command...>",
		Aliases: []string{"r"},
		Short:   "Run a command in a running container of the app's service",
		Long: `Run a command in a running container of a service (docker exec).

A terminal is allocated when stdin and stdout are terminals, unless --no-tty.
abra exits with the command's exit code.`,
		Example: "  abra app run blog.example.org app -- ls -la /var/www\n  abra app run blog.example.org db mysql",
		Args:    command.RangeArgs(3, 1000),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain, o.service, o.cmd = args[0], args[1], args[2:]
			return runRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.noTTY, "no-tty", "t", false, "do not allocate a terminal")
	cmd.Flags().StringVarP(&o.user, "user", "u", "", "user to run as (name or uid[:gid])")
	return cmd
}

func runRun(ctx context.Context, o *runOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	ct, err := app.ServiceContainer(ctx, c, a, o.service)
	if err != nil {
		return err
	}
	return execIn(ctx, o.f, c, ct.ID, swarm.ExecOptions{Cmd: o.cmd, User: o.user}, !o.noTTY)
}

// execIn runs the command with the operator's streams, in raw terminal mode
// when a terminal is wanted and present, and turns its exit code into ours.
func execIn(ctx context.Context, f *command.Factory, c swarm.Cluster, containerID string, o swarm.ExecOptions, tty bool) error {
	o.Stdout, o.Stderr = f.IO.Out, f.IO.Err
	o.TTY = tty && f.IO.Interactive()
	if in, ok := f.IO.In.(*os.File); ok && o.TTY {
		if state, err := term.MakeRaw(int(in.Fd())); err == nil {
			defer func() { _ = term.Restore(int(in.Fd()), state) }()
		}
		o.Stdin = in
	} else if f.IO.In != nil && !isTerminal(f.IO.In) {
		o.Stdin = f.IO.In
	}
	code, err := c.Exec(ctx, containerID, o)
	if err != nil {
		return err
	}
	if code != 0 {
		return &command.ExitCodeError{Code: code}
	}
	return nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
