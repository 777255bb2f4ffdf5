package recipecmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
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
	all  bool
}

func newFetchCmd(f *command.Factory, runF func(context.Context, *fetchOptions) error) *cobra.Command {
	o := &fetchOptions{f: f}
	cmd := &cobra.Command{
		Use:     "fetch <recipe|git-url> [--url <git-url>] | fetch --all",
		Aliases: []string{"f"},
		Short:   "Clone a recipe into $ABRA_DIR/recipes, or fetch its new versions",
		Example: "  abra recipe fetch wordpress\n" +
			"  abra recipe fetch demo --url /srv/git/demo.git\n" +
			"  abra recipe fetch https://git.example.org/me/myapp.git\n" +
			"  abra recipe fetch --all",
		Args: command.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.all != (len(args) == 0) {
				return command.Usagef("recipe fetch: name one recipe, or pass --all (see '%s --help')", cmd.CommandPath())
			}
			if o.all && runF != nil {
				return runF(cmd.Context(), o)
			}
			if o.all {
				return runFetchAll(cmd.Context(), o)
			}
			o.name = args[0]
			// A git URL names a recipe outside the catalogue by its
			// repository: git.example.org/org/recipe, kept in
			// $ABRA_DIR/recipes/git_example_org_org_recipe, as abra does.
			name, cloneURL, isURL, err := guard.RecipeURL(o.name)
			if err != nil {
				return &command.UsageError{Err: err}
			}
			switch {
			case isURL:
				o.name = name
				if o.url == "" {
					o.url = cloneURL
				}
			case strings.HasPrefix(o.name, "/") || strings.HasPrefix(o.name, "./") || strings.HasPrefix(o.name, "../"):
				// A repository on this machine: named after its folder.
				o.url = o.name
				o.name = strings.TrimSuffix(filepath.Base(o.name), ".git")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runFetch(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.url, "url", "", "git URL to clone from (default: the catalogue's)")
	cmd.Flags().BoolVarP(&o.all, "all", "a", false, "fetch new versions of every recipe in $ABRA_DIR/recipes, "+strconv.Itoa(fetchJobs)+" at a time")
	return cmd
}

// Fetch clones the recipe from its default location (or fetches its new
// versions), as 'abra recipe fetch <name>' does.
func Fetch(ctx context.Context, f *command.Factory, name string) error {
	return runFetch(ctx, &fetchOptions{f: f, name: name})
}

func runFetch(ctx context.Context, o *fetchOptions) error {
	if err := guard.RecipeName(o.name); err != nil {
		return &command.UsageError{Err: err}
	}
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
		url = guard.CloneURL(o.name) // host/org/recipe: from that repository
	}
	if url == "" {
		base := os.Getenv("ABRA_RECIPE_BASE_URL")
		if base == "" {
			base = DefaultBaseURL
		}
		url = strings.TrimRight(base, "/") + "/" + o.name + ".git"
	}
	fmt.Fprintf(o.f.IO.Err, "cloning %s from %s\n", o.name, url)
	repo, err := o.f.Store().CloneRecipe(ctx, o.name, url)
	if err != nil {
		return err
	}
	rels, err := repo.Versions()
	if err != nil && !errors.Is(err, recipe.ErrNoReleases) {
		return err
	}
	fmt.Fprintf(o.f.IO.Err, "recipe %s: %d versions in %s\n", o.name, len(rels), dir)
	return nil
}

// fetchJobs is how many recipes fetch --all fetches at once.
const fetchJobs = 4

// runFetchAll fetches every recipe clone concurrently, a line per recipe;
// some failing is a partial failure (exit 3) naming them.
func runFetchAll(ctx context.Context, o *fetchOptions) error {
	if o.f.Offline {
		return hint.With(errors.New("recipe fetch --all: --offline is set"), "drop --offline to fetch")
	}
	res, err := recipe.FetchAll(ctx, o.f.Store().RecipesDir(), fetchJobs, func(r recipe.FetchResult) {
		if r.Err != nil {
			fmt.Fprintf(o.f.IO.Err, "recipe %s: %v\n", r.Name, r.Err)
			return
		}
		fmt.Fprintf(o.f.IO.Err, "recipe %s: fetched (%s)\n", r.Name, r.Elapsed.Round(time.Millisecond))
	})
	if errors.Is(err, fs.ErrNotExist) {
		return hint.With(fmt.Errorf("recipe fetch --all: no recipes in %s", o.f.Store().RecipesDir()), "fetch one with 'abra recipe fetch <recipe>'")
	}
	if err != nil {
		return fmt.Errorf("recipe fetch --all: %w", err)
	}
	var failed []string
	for _, r := range res {
		if r.Err != nil {
			failed = append(failed, r.Name)
		}
	}
	fmt.Fprintf(o.f.IO.Err, "fetched %d of %d recipes\n", len(res)-len(failed), len(res))
	if len(failed) > 0 {
		return fmt.Errorf("%w: recipe fetch --all: %d of %d failed: %s", command.ErrPartial, len(failed), len(res), strings.Join(failed, ", "))
	}
	return nil
}
