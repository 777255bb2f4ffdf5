// Package cli is abra's command-line front end: the root command, global flags,
// and the one place where errors become messages, hints and exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/appcmd"
	"coopcloud.tech/abra/internal/cli/cataloguecmd"
	"coopcloud.tech/abra/internal/cli/cicmd"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/cli/recipecmd"
	"coopcloud.tech/abra/internal/cli/servercmd"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

// Version, Commit and Date (the commit's time, RFC 3339) are set at build
// time with -ldflags "-X coopcloud.tech/abra/internal/cli.Version=…" (make
// build, internal/dist); `abra -v` prints them.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// versionLine is what `abra -v` prints: "abra 0.1.0 (commit 1a2b3c4d5e6f, 2026-12-06T05:42:00Z)".
func versionLine() string {
	var extra []string
	if Commit != "" {
		c := Commit
		if len(c) > 12 {
			c = c[:12]
		}
		extra = append(extra, "commit "+c)
	}
	if Date != "" {
		extra = append(extra, Date)
	}
	if len(extra) == 0 {
		return "abra " + Version
	}
	return "abra " + Version + " (" + strings.Join(extra, ", ") + ")"
}

// Exit codes, documented in the README.
const (
	ExitOK           = 0
	ExitFailure      = 1
	ExitUsage        = 2
	ExitPartial      = 3
	ExitNotConverged = 4
	ExitInterrupted  = 130
)

// NewRootCmd builds the command tree. The list of commands is explicit.
func NewRootCmd(f *command.Factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "abra",
		Short:         "The Co-op Cloud command-line tool",
		Long:          "abra deploys and manages libre apps (recipes) on Docker Swarm servers.\n\nState lives in $ABRA_DIR (default ~/.abra): servers/<server>/<domain>.env per app, recipes/<recipe> git clones.",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if f.Debug {
				logrus.SetLevel(logrus.DebugLevel)
			}
			return checkNames(cmd, args)
		},
	}
	root.SetVersionTemplate(versionLine() + "\n")
	pf := root.PersistentFlags()
	pf.BoolVarP(&f.NoInput, "no-input", "n", false, "never prompt; fail naming the flag to pass instead")
	pf.BoolVarP(&f.Offline, "offline", "o", false, "never touch the network (git remotes, registries)")
	pf.BoolVarP(&f.Debug, "debug", "d", false, "show debug output")
	root.Flags().BoolP("version", "v", false, "print the version")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &command.UsageError{Err: fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
	})
	root.AddCommand(
		appcmd.NewCmd(f),
		servercmd.NewCmd(f),
		recipecmd.NewCmd(f),
		cataloguecmd.NewCmd(f),
		cicmd.NewCmd(f, Run),
		newSelfUpgradeCmd(f, nil),
		newDashboardCmd(f, nil),
	)
	refuseUnknownSubcommands(root)
	addCompletion(root, f)
	return root
}

// refuseUnknownSubcommands gives every command group (abra app, abra app
// secret, …) a RunE that shows help when called alone and, for an unknown
// subcommand, fails with a usage error (exit 2) and cobra's suggestions:
// without it cobra prints help and exits 0, and scripts think they succeeded.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() || !cmd.HasParent() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's default for the root
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return &command.UsageError{Err: fmt.Errorf("%s (see '%s --help')", msg, cmd.CommandPath())}
	}
}

// Main runs abra with the arguments and streams, and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := command.NewFactory(ui.IO{In: stdin, Out: stdout, Err: stderr})
	// docker/cli's compose loader warns through logrus (unset variables…): stderr.
	logrus.SetOutput(stderr)
	logrus.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: !f.IO.Color()})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, f, args)
}

// Run executes one command line with the factory and returns the exit code.
func Run(ctx context.Context, f *command.Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	return report(f.IO.Err, ctx, err, f.Debug)
}

func report(w io.Writer, ctx context.Context, err error, debug bool) int {
	var exit *command.ExitCodeError
	if errors.As(err, &exit) {
		return exit.Code
	}
	var conn *swarm.ConnectError
	if errors.As(err, &conn) && !debug {
		// Docker's wrapping ("error during connect: Get http://…: command
		// [ssh …] has exited with exit status 255 …") says less than ssh.
		fmt.Fprintf(w, "abra: %v\n", conn)
	} else {
		fmt.Fprintf(w, "abra: %v\n", err)
	}
	h := hint.Of(err)
	if h == "" && (strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") || strings.HasPrefix(err.Error(), "unknown shorthand")) {
		h = "see 'abra --help' for the commands and flags"
	}
	if h != "" {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
	var usage *command.UsageError
	switch {
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &usage), guard.IsUsage(err):
		return ExitUsage
	case errors.Is(err, stack.ErrNotConverged):
		return ExitNotConverged
	case errors.Is(err, command.ErrPartial):
		return ExitPartial
	case strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag"):
		return ExitUsage
	}
	return ExitFailure
}
