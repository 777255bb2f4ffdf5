package appcmd

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
)

type newOptions struct {
	f       *command.Factory
	recipe  string
	version string
	server  string
	domain  string
	chaos   bool
	secrets bool
	pass    bool
}

func newNewCmd(f *command.Factory, runF func(context.Context, *newOptions) error) *cobra.Command {
	o := &newOptions{f: f}
	cmd := &cobra.Command{
		Use:     "new <recipe> [version] --server <server> --domain <domain>",
		Aliases: []string{"n"},
		Short:   "Create an app: an env file from the recipe's .env.sample",
		Long: `Create a new app of a recipe on a server.

The recipe's .env.sample (at [version], else the latest release) is copied to
$ABRA_DIR/servers/<server>/<domain>.env with DOMAIN and TYPE set. Edit it with
'abra app config <domain>', then 'abra app deploy <domain>'.`,
		Example: "  abra app new wordpress --server example.org --domain blog.example.org",
		Args:    command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.recipe = args[0]
			if len(args) == 2 {
				o.version = args[1]
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runNew(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.server, "server", "s", "", "server to deploy the app to")
	cmd.Flags().StringVarP(&o.domain, "domain", "D", "", "domain name of the app")
	cmd.Flags().BoolVarP(&o.chaos, "chaos", "C", false, "use the recipe's work tree instead of a release")
	cmd.Flags().BoolVarP(&o.secrets, "secrets", "S", false, "also generate the app's secrets (values are printed once)")
	cmd.Flags().BoolVarP(&o.pass, "pass", "P", false, "with --secrets, also store the values in your password store (pass)")
	return cmd
}

// New creates an app of recipe's latest release on server as domain, as
// 'abra app new' does: for front ends that set up an app themselves
// ('abra server add --traefik').
func New(ctx context.Context, f *command.Factory, recipe, server, domain string) error {
	return runNew(ctx, &newOptions{f: f, recipe: recipe, server: server, domain: domain})
}

func runNew(ctx context.Context, o *newOptions) error {
	if o.pass && !o.secrets {
		return command.Usagef("--pass stores generated secrets: use it with --secrets")
	}
	store := o.f.Store()
	var err error
	if o.server == "" {
		if o.server, err = o.f.Ask("server", "--server <server>"); err != nil {
			return err
		}
	}
	if err := store.Servers().Check(o.server); err != nil {
		return err
	}
	if o.domain == "" {
		if o.domain, err = o.f.Ask("domain", "--domain <domain>"); err != nil {
			return err
		}
	}
	// A git URL names a recipe outside the catalogue by its repository
	// (TYPE=git.example.org/org/recipe); it is cloned when not there yet.
	if name, cloneURL, isURL, err := guard.RecipeURL(o.recipe); err != nil {
		return &command.UsageError{Err: err}
	} else if isURL {
		o.recipe = name
		if _, err := os.Stat(store.RecipeDir(name)); errors.Is(err, os.ErrNotExist) {
			if o.f.Offline {
				return hint.With(fmt.Errorf("recipe %s is not fetched yet and --offline is set", name), "drop --offline to clone it from "+cloneURL)
			}
			fmt.Fprintf(o.f.IO.Err, "cloning %s from %s\n", name, cloneURL)
			if _, err := store.CloneRecipe(ctx, name, cloneURL); err != nil {
				return err
			}
		}
	}
	repo, err := store.OpenRecipe(o.recipe)
	if err != nil {
		return err
	}
	chaos := o.chaos
	if !chaos && o.version == "" {
		if _, err := repo.Latest(); errors.Is(err, recipe.ErrNoReleases) {
			chaos = true // nothing released yet: the work tree is all there is
			fmt.Fprintf(o.f.IO.Err, "recipe %s has no releases: using its work tree\n", o.recipe)
		}
	}
	src, err := store.Checkout(ctx, o.recipe, o.version, chaos)
	if err != nil {
		return err
	}
	defer src.Close()
	sample, err := guard.ReadFile(src.Dir, ".env.sample")
	if err != nil {
		return fmt.Errorf("recipe %s: read .env.sample: %w", o.recipe, err)
	}
	a, err := store.Create(ctx, app.NewOptions{Recipe: o.recipe, Version: o.version, Server: o.server, Domain: o.domain, Sample: sample})
	if err != nil {
		return err
	}
	if o.secrets {
		// All or nothing: without its secrets the app is not created either.
		if err := runSecretGenerate(ctx, o.f, []string{a.Domain}, generateFlags{all: true, chaos: chaos, pass: o.pass, allOrNothing: true}); err != nil {
			if rmErr := os.Remove(a.Path); rmErr != nil {
				return fmt.Errorf("app new %s: generate secrets: %w; and remove %s again: %w", a.Domain, err, a.Path, rmErr)
			}
			return hint.With(fmt.Errorf("app new %s: generate secrets: %w; nothing was created (no env file, no secrets)", a.Domain, err),
				"check the server with 'abra server ls --status', then run the same 'abra app new' again")
		}
	}
	fmt.Fprintf(o.f.IO.Err, "app %s created: %s\nnext: 'abra app config %s' to edit, 'abra app deploy %s' to deploy\n", a.Domain, a.Path, a.Domain, a.Domain)
	return nil
}
