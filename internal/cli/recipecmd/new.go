package recipecmd

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/recipe/template"
)

func newNewCmd(f *command.Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "new <recipe>",
		Aliases: []string{"n"},
		Short:   "Start a new recipe from a template that passes lint",
		Long: `Create $ABRA_DIR/recipes/<recipe>: compose.yml (one "app" service behind
traefik, with a healthcheck), .env.sample, abra.sh and a README with the
catalogue's metadata block, committed to a new git repository.`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNew(cmd.Context(), f, args[0])
		},
	}
}

func runNew(_ context.Context, f *command.Factory, name string) error {
	if err := guard.RecipeName(name); err != nil {
		return &command.UsageError{Err: err}
	}
	dir := f.Store().RecipeDir(name)
	if _, err := os.Lstat(dir); err == nil {
		return hint.With(fmt.Errorf("recipe new: %s already exists", dir),
			"choose another name, or work on it with 'abra recipe lint "+name+"' and 'abra recipe release "+name+"'")
	}
	if err := template.Write(dir, name); err != nil {
		return fmt.Errorf("recipe new: %w", err)
	}
	if _, err := recipe.Init(dir, "Init "+name+" from abra's recipe template"); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	fmt.Fprintf(f.IO.Err, "recipe %s created in %s\nnext: edit it, check it with 'abra recipe lint %s'\n", name, dir, name)
	return nil
}
