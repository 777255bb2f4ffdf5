package appcmd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/swarm"
)

type cmdOptions struct {
	f        *command.Factory
	domain   string
	service  string
	function string
	args     []string
	local    bool
	list     bool
	chaos    bool
}

func newCmdCmd(f *command.Factory) *cobra.Command {
	o := &cmdOptions{f: f}
	cmd := &cobra.Command{
		Use:     "cmd <domain> [service] <function> [-- args...]",
		Aliases: []string{"cm"},
		Short:   "Run a function of the recipe's abra.sh inside a service container (or --local)",
		Long: `Run a function defined in the recipe's abra.sh.

By default it runs with sh inside a running container of the service; the script
travels in the command line, nothing is copied into the container. --local runs
it on this machine with bash, with the app's env exported. --list lists the
functions. abra.sh is taken at the app's deployed (pinned) version.`,
		Example: "  abra app cmd blog.example.org app migrate\n  abra app cmd blog.example.org --local backup_all -- --verbose\n  abra app cmd blog.example.org --list",
		Args:    command.RangeArgs(1, 1000),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			rest := args[1:]
			if dash := cmd.ArgsLenAtDash(); dash >= 1 {
				o.args = args[dash:]
				rest = args[1:dash]
			} else if dash == 0 {
				return command.Usagef("'--' comes after <domain> <service> <function>: use abra app cmd <domain> <service> <function> -- <args>")
			}
			switch {
			case o.list:
			case o.local && len(rest) == 1:
				o.function = rest[0]
			case !o.local && len(rest) == 2:
				o.service, o.function = rest[0], rest[1]
			default:
				return command.Usagef("want <domain> <service> <function>, or <domain> --local <function>, or --list (see 'abra app cmd --help')")
			}
			return runCmd(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.local, "local", "l", false, "run on this machine, with the app's env exported")
	cmd.Flags().BoolVar(&o.list, "list", false, "list the functions of abra.sh")
	cmd.Flags().BoolVarP(&o.chaos, "chaos", "C", false, "use the recipe's work tree instead of the pinned version")
	return cmd
}

func runCmd(ctx context.Context, o *cmdOptions) error {
	a, err := o.f.Store().Get(o.domain)
	if err != nil {
		return err
	}
	src, err := o.f.Store().CheckoutApp(ctx, a, a.PinnedVersion(), o.chaos)
	if err != nil {
		return err
	}
	defer src.Close()
	script, err := guard.ReadFile(src.Dir, "abra.sh")
	if err != nil {
		if errors.Is(err, guard.ErrOutside) {
			return fmt.Errorf("recipe %s: %w", a.Recipe(), err)
		}
		return fmt.Errorf("recipe %s has no abra.sh: %w", a.Recipe(), err)
	}
	if o.list {
		for _, fn := range app.Functions(script) {
			fmt.Fprintln(o.f.IO.Out, fn)
		}
		return nil
	}
	program, err := app.CmdScript(script, o.function)
	if err != nil {
		return err
	}
	if o.local {
		return runLocal(ctx, o, a, src.Dir, program)
	}
	c, err := o.f.Cluster(ctx, a.Server)
	if err != nil {
		return err
	}
	ct, err := app.ServiceContainer(ctx, c, a, o.service)
	if err != nil {
		return err
	}
	cmd := append([]string{"sh", "-c", program, "abra-cmd"}, o.args...)
	return execIn(ctx, o.f, c, ct.ID, swarm.ExecOptions{Cmd: cmd}, false)
}

func runLocal(ctx context.Context, o *cmdOptions, a *app.App, dir, program string) error {
	env, err := app.Env(a, dir)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "bash", append([]string{"-c", program, "abra-cmd"}, o.args...)...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.f.IO.In, o.f.IO.Out, o.f.IO.Err
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return &command.ExitCodeError{Code: ee.ExitCode()}
		}
		return fmt.Errorf("run %s locally: %w", strings.TrimSpace(o.function), err)
	}
	return nil
}
