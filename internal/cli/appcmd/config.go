package appcmd

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/envfile"
)

type configOptions struct {
	f      *command.Factory
	domain string
}

func newConfigCmd(f *command.Factory, runF func(context.Context, *configOptions) error) *cobra.Command {
	o := &configOptions{f: f}
	cmd := &cobra.Command{
		Use:     "config <domain>",
		Aliases: []string{"cfg"},
		Short:   "Edit the app's env file with $EDITOR (checked after saving)",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runConfig(cmd.Context(), o)
		},
	}
	return cmd
}

func runConfig(ctx context.Context, o *configOptions) error {
	ref, err := o.f.Store().Find(o.domain)
	if err != nil {
		return err
	}
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "editor", ref.Path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("editor %q: %w", editor, err)
	}
	if _, err := envfile.Load(ref.Path); err != nil {
		return fmt.Errorf("the saved file does not parse, fix it with 'abra app config %s': %w", o.domain, err)
	}
	return nil
}
