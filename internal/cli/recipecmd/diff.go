package recipecmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

func newDiffCmd(f *command.Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "diff <recipe>",
		Aliases: []string{"d"},
		Short:   "Show the uncommitted changes of a recipe's work tree",
		Long: `Print the differences between the recipe's work tree and its last commit, as
'git diff HEAD' does (staged and unstaged changes); untracked files are listed
on stderr.`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(cmd.Context(), f, args[0])
		},
	}
}

func runDiff(ctx context.Context, f *command.Factory, name string) error {
	repo, err := f.Store().OpenRecipe(name)
	if err != nil {
		return err
	}
	// Colour when stdout itself is a terminal (ui.IO.Color asks of Err).
	color := ui.IO{Err: f.IO.Out}.Color()
	if err := repo.Diff(ctx, f.IO.Out, color); err != nil {
		return fmt.Errorf("recipe diff %s: %w", name, err)
	}
	changed, err := repo.Changed()
	if err != nil {
		return err
	}
	for _, c := range changed {
		if file, ok := strings.CutPrefix(c, "?? "); ok {
			fmt.Fprintf(f.IO.Err, "untracked: %s\n", file)
		}
	}
	if len(changed) == 0 {
		fmt.Fprintf(f.IO.Err, "recipe %s: no uncommitted changes\n", name)
	}
	return nil
}
