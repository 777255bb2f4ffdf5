// Package ci deploys from CI: a recipe checkout (or any git work tree with
// compose files), an app env given whole, and one server. It builds a
// temporary ABRA_DIR around them (Workspace), deploys with the same
// app.Deployer as `abra app deploy`, optionally purges the app afterwards,
// and says what the server runs now (Outcome), so CI can branch on it.
package ci

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
)

// AppSpec describes the app a CI run deploys.
type AppSpec struct {
	Server string // abra's name for the server (guard.ServerName)
	// Domain is the app's domain, which names its stack; "" means DOMAIN of
	// the env. It becomes the env's DOMAIN when the env has none, or always
	// with SetDomain (the env is a recipe's .env.sample).
	Domain    string
	SetDomain bool
	// Recipe names the recipe; "" means TYPE (or RECIPE) of the env, else
	// FallbackRecipe (the CI's repository name), else the checkout
	// directory's name.
	Recipe, FallbackRecipe string
	Checkout               string // the recipe: a git work tree (CI's clone)

	// EnvName names the env in messages (a file's path, "the environment").
	EnvName string
	// Env is the app's env file text (an app's .env, or a recipe's
	// .env.sample); Vars are set on top of it, in key order.
	Env  []byte
	Vars map[string]string
}

// Workspace is a temporary ABRA_DIR holding one server, one app env file
// (servers/<server>/<domain>.env, mode 0600) and the checkout as the
// recipe's clone (recipes/<recipe>, a link). Close removes it.
type Workspace struct {
	Dir   string
	Store app.Store
	App   *app.App
	// Checkout is the checkout's absolute path.
	Checkout string
}

// ErrNotGit is returned for a checkout that is not a git work tree.
var ErrNotGit = errors.New("not a git work tree")

// NewWorkspace makes the workspace. The env is validated as abra validates
// env files (names of recipes and compose files), and the checkout must be
// a git work tree: a deploy is labelled with its commit.
func NewWorkspace(s AppSpec) (*Workspace, error) {
	if err := guard.ServerName(s.Server); err != nil {
		return nil, err
	}
	checkout, err := filepath.Abs(cmp.Or(s.Checkout, "."))
	if err != nil {
		return nil, err
	}
	if _, err := recipe.Open(checkout); err != nil {
		if errors.Is(err, recipe.ErrNotFound) {
			return nil, hint.With(fmt.Errorf("checkout %s: %w", checkout, ErrNotGit),
				"run abra ci in the clone CI made of the recipe's repository (its top directory, with .git), or pass --checkout DIR")
		}
		return nil, err
	}
	envName := cmp.Or(s.EnvName, "app env")
	env, err := envfile.Parse(envName, s.Env)
	if err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(s.Vars)) {
		if err := env.Set(k, s.Vars[k]); err != nil {
			return nil, fmt.Errorf("%s: %w", envName, err)
		}
	}
	name, err := recipeName(env, s.Recipe, cmp.Or(s.FallbackRecipe, filepath.Base(checkout)))
	if err != nil {
		return nil, err
	}
	domain := s.Domain
	if domain == "" {
		domain, _ = env.Get("DOMAIN")
		if domain == "" {
			return nil, hint.With(fmt.Errorf("%s: no DOMAIN and no domain given", envName), "pass --domain, or set DOMAIN in the app env")
		}
	}
	if err := guard.Domain(domain); err != nil {
		return nil, err
	}
	if _, ok := env.Get("DOMAIN"); s.Domain != "" && (s.SetDomain || !ok) {
		if err := env.Set("DOMAIN", s.Domain); err != nil {
			return nil, fmt.Errorf("%s: %w", envName, err)
		}
	}
	if err := app.CheckEnv(env); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "abra-ci-")
	if err != nil {
		return nil, err
	}
	w := &Workspace{Dir: dir, Store: app.Store{Root: dir}, Checkout: checkout}
	if err := w.fill(s.Server, domain, name, env); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func (w *Workspace) fill(server, domain, name string, env *envfile.File) error {
	servers := w.Store.Servers()
	if err := os.MkdirAll(servers.Path(server), 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(w.Store.RecipesDir(), 0o700); err != nil {
		return err
	}
	if err := os.Symlink(w.Checkout, w.Store.RecipeDir(name)); err != nil {
		return err
	}
	path := filepath.Join(servers.Path(server), domain+".env")
	if err := os.WriteFile(path, env.Bytes(), 0o600); err != nil {
		return err
	}
	a, err := w.Store.Get(domain)
	if err != nil {
		return err
	}
	w.App = a
	return nil
}

// recipeName is the recipe the app runs: given, else the env's TYPE (or
// RECIPE), else fallback. The env names it afterwards (TYPE=<recipe>),
// without a pinned version: CI says what to deploy.
func recipeName(env *envfile.File, given, fallback string) (string, error) {
	key := "TYPE"
	if _, ok := env.Get("RECIPE"); ok {
		key = "RECIPE"
	}
	v, _ := env.Get(key)
	fromEnv, _, _ := strings.Cut(strings.TrimSpace(v), ":")
	name := given
	switch {
	case name != "":
	case fromEnv != "":
		name = fromEnv
	default:
		name = strings.ToLower(fallback)
	}
	if err := guard.RecipeName(name); err != nil {
		return "", hint.With(err, "name the recipe with --recipe (or TYPE= in the app env)")
	}
	if strings.TrimSpace(v) != name {
		if err := env.Set(key, name); err != nil {
			return "", err
		}
	}
	return name, nil
}

// Close removes the workspace (not the checkout it links to).
func (w *Workspace) Close() error {
	if w == nil || w.Dir == "" {
		return nil
	}
	return os.RemoveAll(w.Dir)
}
