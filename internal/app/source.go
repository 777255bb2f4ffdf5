package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
)

// Source is a recipe's files at the version an operation works on.
type Source struct {
	Recipe  string
	Dir     string // where the compose files are
	Version string // the release, or "" for a chaos (work tree) source
	Chaos   bool
	Commit  string // chaos: the work tree's HEAD
	Dirty   bool   // chaos: uncommitted changes
	Remote  string // the clone's origin, credentials redacted ("" without one)
	cleanup func()
}

// Close removes the temporary export, if any.
func (s *Source) Close() {
	if s.cleanup != nil {
		s.cleanup()
	}
}

// ChaosVersion is the label value for a chaos deploy: the commit, +U when dirty.
func (s *Source) ChaosVersion() string {
	short := s.Commit
	if len(short) > 8 {
		short = short[:8]
	}
	if s.Dirty {
		short += "+U"
	}
	return short
}

// OpenRecipe opens the recipe's clone, with a hint to fetch it when missing.
func (s Store) OpenRecipe(name string) (*recipe.Repo, error) {
	if err := guard.RecipeName(name); err != nil {
		return nil, hint.With(err, "run 'abra recipe ls' to see the catalogue's recipes")
	}
	repo, err := recipe.Open(s.RecipeDir(name))
	if err != nil {
		return nil, hint.With(fmt.Errorf("recipe %s: %w", name, err), "run 'abra recipe fetch "+name+"' first")
	}
	return repo, nil
}

// CloneRecipe clones a recipe into RecipeDir(name) from url; on failure
// nothing is left behind.
func (s Store) CloneRecipe(ctx context.Context, name, url string) (*recipe.Repo, error) {
	if err := guard.RecipeName(name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.RecipesDir(), 0o755); err != nil {
		return nil, err
	}
	dir := s.RecipeDir(name)
	repo, err := recipe.Clone(ctx, url, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, hint.With(fmt.Errorf("recipe %s: clone %s: %w", name, url, err), "check the URL, or pass --url <git-url> to 'abra recipe fetch'")
	}
	return repo, nil
}

// ErrNoRecipe is wrapped when an app's env file names no recipe.
var ErrNoRecipe = errors.New("names no recipe (TYPE= or RECIPE=)")

// AppRecipe opens the recipe the app's env file names; an env file without
// TYPE= (or RECIPE=) is an error naming the file.
func (s Store) AppRecipe(a *App) (*recipe.Repo, error) {
	if err := a.checkRecipe(); err != nil {
		return nil, err
	}
	return s.OpenRecipe(a.Recipe())
}

// CheckoutApp is Checkout of the recipe the app's env file names.
func (s Store) CheckoutApp(ctx context.Context, a *App, version string, chaos bool) (*Source, error) {
	if err := a.checkRecipe(); err != nil {
		return nil, err
	}
	return s.Checkout(ctx, a.Recipe(), version, chaos)
}

// CheckoutAppCommit is CheckoutCommit of the recipe the app's env file names.
func (s Store) CheckoutAppCommit(ctx context.Context, a *App, commit string) (*Source, error) {
	if err := a.checkRecipe(); err != nil {
		return nil, err
	}
	return s.CheckoutCommit(ctx, a.Recipe(), commit)
}

// CheckoutCommit exports one commit of the recipe's clone (a full or
// abbreviated hash, e.g. a branch push's) to a temporary directory. It is a
// chaos source, labelled with the commit as a deploy of that work tree would
// be, but the clone's own work tree is never touched.
func (s Store) CheckoutCommit(ctx context.Context, name, commit string) (*Source, error) {
	repo, err := s.OpenRecipe(name)
	if err != nil {
		return nil, err
	}
	full, err := repo.ResolveCommit(commit)
	if err != nil {
		return nil, hint.With(fmt.Errorf("recipe %s: %w", name, err), "fetch the recipe ('abra recipe fetch "+name+"') or name a commit it has")
	}
	return export(ctx, repo, &Source{Recipe: name, Chaos: true, Commit: full}, full)
}

// export exports rev of repo into a temporary directory as src's files; the
// shared clone is never switched.
func export(ctx context.Context, repo *recipe.Repo, src *Source, rev string) (*Source, error) {
	dir, err := os.MkdirTemp("", "abra-"+guard.RecipeDirName(src.Recipe)+"-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	dest := filepath.Join(dir, guard.RecipeDirName(src.Recipe))
	if err := repo.Export(ctx, rev, dest); err != nil {
		cleanup()
		return nil, fmt.Errorf("recipe %s: check out %s: %w", src.Recipe, rev, err)
	}
	src.Dir, src.cleanup = dest, cleanup
	src.Remote, _ = repo.Origin()
	return src, nil
}

func (a *App) checkRecipe() error {
	if a.Recipe() != "" {
		return nil
	}
	return hint.With(&guard.FileError{Path: a.Path, Key: a.recipeKey(), Err: ErrNoRecipe},
		"add TYPE=<recipe> to it with 'abra app config "+a.Domain+"' ('abra recipe ls' lists recipes)")
}

// Checkout prepares the recipe's files. With chaos it is the clone's work tree
// as it is; otherwise the release is exported to a temporary directory, so the
// shared clone is never switched and concurrent abra processes cannot clobber
// each other. An empty version means the latest release.
func (s Store) Checkout(ctx context.Context, name, version string, chaos bool) (*Source, error) {
	repo, err := s.OpenRecipe(name)
	if err != nil {
		return nil, err
	}
	if chaos {
		commit, dirty, err := repo.Head()
		if err != nil {
			return nil, fmt.Errorf("recipe %s: %w", name, err)
		}
		origin, _ := repo.Origin()
		return &Source{Recipe: name, Dir: s.RecipeDir(name), Chaos: true, Commit: commit, Dirty: dirty, Remote: origin}, nil
	}
	var rel recipe.Release
	if version != "" {
		if err := guard.Version(version); err != nil {
			return nil, hint.With(err, "list versions with 'abra recipe versions "+name+"'")
		}
	}
	if version == "" {
		rel, err = repo.Latest()
		if errors.Is(err, recipe.ErrNoReleases) {
			return nil, hint.With(fmt.Errorf("recipe %s has no published versions", name),
				"deploy the work tree with --chaos, or release a version with 'abra recipe release "+name+"'")
		}
	} else {
		rel, err = repo.Find(version)
	}
	if err != nil {
		return nil, hint.With(fmt.Errorf("recipe %s: %w", name, err), "list versions with 'abra recipe versions "+name+"'")
	}
	return export(ctx, repo, &Source{Recipe: name, Version: rel.Tag, Commit: rel.Commit}, rel.Tag)
}
