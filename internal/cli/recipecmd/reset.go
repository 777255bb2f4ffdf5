package recipecmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
)

type resetOptions struct {
	f     *command.Factory
	name  string
	force bool
}

func newResetCmd(f *command.Factory, runF func(context.Context, *resetOptions) error) *cobra.Command {
	o := &resetOptions{f: f}
	cmd := &cobra.Command{
		Use:     "reset <recipe> [--force]",
		Aliases: []string{"rs"},
		Short:   "Discard the uncommitted changes to a recipe's files",
		Long: `Bring the recipe's tracked files back to their last commit, as
'git reset --hard' does. Untracked files (release/next being written, new
files) are kept. Asks first; -f/--force does not.`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runReset(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.force, "force", "f", false, "discard without asking")
	return cmd
}

func runReset(ctx context.Context, o *resetOptions) error {
	repo, err := o.f.Store().OpenRecipe(o.name)
	if err != nil {
		return err
	}
	changed, err := repo.Changed()
	if err != nil {
		return err
	}
	var tracked []string
	for _, c := range changed {
		if !strings.HasPrefix(c, "??") {
			tracked = append(tracked, strings.TrimSpace(c[2:]))
		}
	}
	if len(tracked) == 0 {
		fmt.Fprintf(o.f.IO.Err, "recipe %s: no changes to discard\n", o.name)
		return nil
	}
	if !o.force {
		ok, err := o.f.Confirm(fmt.Sprintf("discard the changes to %s of recipe %s", strings.Join(tracked, ", "), o.name), "--force")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("recipe reset %s: not confirmed; nothing changed", o.name)
		}
	}
	if err := repo.Reset(ctx); err != nil {
		return fmt.Errorf("recipe reset %s: %w", o.name, err)
	}
	fmt.Fprintf(o.f.IO.Err, "recipe %s: discarded the changes to %s\n", o.name, strings.Join(tracked, ", "))
	return nil
}
