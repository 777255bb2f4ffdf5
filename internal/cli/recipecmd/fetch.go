package recipecmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
)

// DefaultBaseURL is where recipes are cloned from when no URL is given;
// $ABRA_RECIPE_BASE_URL overrides it.
const DefaultBaseURL = "https://git.coopcloud.tech/coop-cloud"

type fetchOptions struct {
	f    *command.Factory
	name string
	url  string
}

func newFetchCmd(f *command.Factory, runF func(context.Context, *fetchOptions) error) *cobra.Command {
	o := &fetchOptions{f: f}
	cmd := &cobra.Command{
		Use:   "fetch <recipe|git-url> [--url <git-url>]",
		Short: "Clone a recipe into $ABRA_DIR/recipes, or fetch its new versions",
		Example: "  abra recipe fetch wordpress\n" +
			"  abra recipe fetch demo --url /srv/git/demo.git\n" +
			"  abra recipe fetch https://git.example.org/me/myapp.git",
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			if strings.Contains(o.name, "/") || strings.Contains(o.name, ":") {
				o.url = o.name
				o.name = strings.TrimSuffix(path.Base(strings.TrimRight(o.name, "/")), ".git")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runFetch(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.url, "url", "", "git URL to clone from (default: the catalogue's)")
	return cmd
}

func runFetch(ctx context.Context, o *fetchOptions) error {
	dir := o.f.Store().RecipeDir(o.name)
	if _, err := os.Stat(dir); err == nil {
		if o.f.Offline {
			return hint.With(fmt.Errorf("recipe %s: not fetching new versions: --offline is set", o.name), "drop --offline to fetch")
		}
		repo, err := recipe.Open(dir)
		if err != nil {
			return err
		}
		if err := repo.Fetch(ctx); err != nil {
			return fmt.Errorf("recipe %s: %w", o.name, err)
		}
		fmt.Fprintf(o.f.IO.Err, "recipe %s: fetched new versions into %s\n", o.name, dir)
		return nil
	}
	if o.f.Offline {
		return hint.With(fmt.Errorf("recipe %s is not fetched yet and --offline is set", o.name), "drop --offline to clone it")
	}
	url := o.url
	if url == "" {
		base := os.Getenv("ABRA_RECIPE_BASE_URL")
		if base == "" {
			base = DefaultBaseURL
		}
		url = strings.TrimRight(base, "/") + "/" + o.name + ".git"
	}
	if err := os.MkdirAll(o.f.Store().RecipesDir(), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(o.f.IO.Err, "cloning %s from %s\n", o.name, url)
	repo, err := recipe.Clone(ctx, url, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return hint.With(fmt.Errorf("recipe %s: %w", o.name, err), "check the URL, or pass --url <git-url>")
	}
	rels, err := repo.Versions()
	if err != nil && !errors.Is(err, recipe.ErrNoReleases) {
		return err
	}
	fmt.Fprintf(o.f.IO.Err, "recipe %s: %d versions in %s\n", o.name, len(rels), dir)
	return nil
}
