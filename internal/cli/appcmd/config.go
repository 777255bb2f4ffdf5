package appcmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
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
		Short:   "Edit the app's env file with $EDITOR (checked before it is saved)",
		Long: `Edit the app's env file with $VISUAL or $EDITOR (default vi).

You edit a copy. When the editor exits the copy is checked; it replaces the env
file only if it parses and nobody changed the env file meanwhile (another abra
pinning a deployed version, or another editor). Otherwise the env file is left
as it is and your edits are kept in the copy, whose path is printed.`,
		Args: command.ExactArgs(1),
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
	store := o.f.Store()
	ref, err := store.Find(o.domain)
	if err != nil {
		return err
	}
	before, err := os.ReadFile(ref.Path)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "abra-config-")
	if err != nil {
		return err
	}
	// The copy keeps the env file's name, so editors recognise it.
	copyPath := filepath.Join(dir, filepath.Base(ref.Path))
	if err := os.WriteFile(copyPath, before, 0o600); err != nil {
		os.RemoveAll(dir)
		return err
	}
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "editor", copyPath)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("editor %q: %w; %s is unchanged", editor, err, ref.Path)
	}
	edited, err := os.ReadFile(copyPath)
	if err != nil {
		return err
	}
	if string(edited) == string(before) {
		os.RemoveAll(dir)
		fmt.Fprintf(o.f.IO.Err, "%s: no changes\n", ref.Path)
		return nil
	}
	kept := "your edits are kept in " + copyPath
	// The store parses and checks the edit (TYPE, COMPOSE_FILE) under the
	// env-file lock, and writes it only if nobody changed the file meanwhile.
	if err := store.ReplaceIfUnchanged(ctx, ref, before, edited); err != nil {
		if errors.Is(err, app.ErrChanged) {
			return hint.With(fmt.Errorf("not saved: %w", err),
				kept+"; compare it with 'diff "+ref.Path+" "+copyPath+"' and run 'abra app config "+o.domain+"' again")
		}
		return hint.With(fmt.Errorf("the edited file is refused: %w; %s is unchanged", err, ref.Path),
			kept+": fix it there and copy it over, or run 'abra app config "+o.domain+"' again")
	}
	os.RemoveAll(dir)
	fmt.Fprintf(o.f.IO.Err, "%s saved\n", ref.Path)
	return nil
}
