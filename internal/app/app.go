// Package app models Co-op Cloud apps: an env file per app under
// $ABRA_DIR/servers/<server>/<domain>.env, and their lifecycle on a swarm
// (new, deploy, undeploy, remove).
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/server"
)

// ErrUnknown is wrapped by errors about apps that have no env file.
var ErrUnknown = errors.New("unknown app")

// ErrExists is returned when creating an app whose domain is already taken.
var ErrExists = errors.New("app already exists")

// ErrStackTaken is returned when two apps on one server would get the same
// stack name, and so share services, secrets and volumes.
var ErrStackTaken = errors.New("stack name already taken")

// MaxStackNameLength keeps derived Docker names (<stack>_<secret>_<version>,
// <stack>_<service>) within Docker's 64-character limit, as abra does.
const MaxStackNameLength = 45

// App is one app: its domain (which names it), server and env file.
type App struct {
	Domain string
	Server string
	Path   string
	Env    *envfile.File
}

// recipeKey is the env key naming the recipe: TYPE (older) or RECIPE.
func (a *App) recipeKey() string {
	if _, ok := a.Env.Get("RECIPE"); ok {
		return "RECIPE"
	}
	return "TYPE"
}

func (a *App) recipeValue() string {
	v, _ := a.Env.Get(a.recipeKey())
	return strings.TrimSpace(v)
}

// Recipe is the recipe name from TYPE= or RECIPE= ("wordpress:1.2.0+6.4.1" → "wordpress").
func (a *App) Recipe() string {
	name, _, _ := strings.Cut(a.recipeValue(), ":")
	return name
}

// PinnedVersion is the version after ":" in TYPE=/RECIPE=, or "".
func (a *App) PinnedVersion() string {
	_, v, _ := strings.Cut(a.recipeValue(), ":")
	return v
}

// Pin records the deployed version as TYPE=<recipe>:<version> (or RECIPE=).
func (a *App) Pin(version string) error {
	v := a.Recipe()
	if version != "" {
		v += ":" + version
	}
	return a.Env.Set(a.recipeKey(), v)
}

// StackName is the swarm stack name of the app.
func (a *App) StackName() string { return StackName(a.Domain) }

// StackName turns a domain into a stack name: dots become underscores and the
// result is cut to MaxStackNameLength characters. Domains are compared
// case-insensitively, so the stack name is lowercase.
func StackName(domain string) string {
	s := strings.ReplaceAll(strings.ToLower(domain), ".", "_")
	if len(s) > MaxStackNameLength {
		s = s[:MaxStackNameLength]
	}
	return s
}

// Save writes the env file atomically.
func (a *App) Save() error { return a.Env.WriteFile(a.Path) }

// Update changes the app's env file safely against other writers: under the
// env-file lock it reads the file as it is on disk now (another abra may have
// changed it since a was loaded), applies change to it, writes it atomically
// and makes it a's env.
func (s Store) Update(ctx context.Context, a *App, change func(*envfile.File) error) error {
	unlock, err := s.lockEnv(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	env, err := envfile.Load(a.Path)
	if err != nil {
		return err
	}
	if err := change(env); err != nil {
		return err
	}
	if err := env.WriteFile(a.Path); err != nil {
		return fmt.Errorf("%s: %w", a.Path, err)
	}
	a.Env = env
	return nil
}

// ReplaceIfUnchanged writes data as the app's env file, under the env-file
// lock, only when the file still holds exactly old (what the caller read
// before letting the operator edit a copy); otherwise it returns an error
// wrapping ErrChanged and writes nothing.
func (s Store) ReplaceIfUnchanged(ctx context.Context, ref Ref, old, data []byte) error {
	unlock, err := s.lockEnv(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	now, err := os.ReadFile(ref.Path)
	if err != nil {
		return err
	}
	if string(now) != string(old) {
		return fmt.Errorf("%s: %w", ref.Path, ErrChanged)
	}
	env, err := envfile.Parse(ref.Path, data)
	if err != nil {
		return err
	}
	if err := CheckEnv(env); err != nil {
		return err
	}
	return env.WriteFile(ref.Path)
}

// ErrChanged is returned when a file changed on disk while it was being edited.
var ErrChanged = errors.New("changed by someone else while you were editing it")

// Store is the app side of $ABRA_DIR.
type Store struct {
	Root string // $ABRA_DIR
}

// Servers is the servers registry of this ABRA_DIR.
func (s Store) Servers() server.Store { return server.Store{Dir: filepath.Join(s.Root, "servers")} }

// RecipesDir is where recipe clones live.
func (s Store) RecipesDir() string { return filepath.Join(s.Root, "recipes") }

// RecipeDir is the clone of the named recipe: $ABRA_DIR/recipes/<name>, or
// for a recipe named by its repository (git.example.org/org/recipe)
// $ABRA_DIR/recipes/git_example_org_org_recipe. The name must have passed
// guard.RecipeName (OpenRecipe does that), so the path never leaves RecipesDir.
func (s Store) RecipeDir(name string) string {
	return filepath.Join(s.RecipesDir(), guard.RecipeDirName(name))
}

// Ref names an app's env file without loading it.
type Ref struct {
	Domain, Server, Path string
}

// Refs lists every app env file on every server, sorted by server then domain.
func (s Store) Refs() ([]Ref, error) {
	servers, err := s.Servers().List()
	if err != nil {
		return nil, err
	}
	var refs []Ref
	for _, srv := range servers {
		domains, err := s.Servers().Apps(srv)
		if err != nil {
			return nil, err
		}
		slices.Sort(domains)
		for _, d := range domains {
			refs = append(refs, Ref{Domain: d, Server: srv, Path: filepath.Join(s.Servers().Path(srv), d+".env")})
		}
	}
	return refs, nil
}

// Find locates an app by domain across all servers. Domains are compared
// case-insensitively, as DNS does.
func (s Store) Find(domain string) (Ref, error) {
	if err := guard.Domain(strings.ToLower(domain)); err != nil {
		return Ref{}, hint.With(err, "run 'abra app ls' to see your apps")
	}
	refs, err := s.Refs()
	if err != nil {
		return Ref{}, err
	}
	var found []Ref
	for _, r := range refs {
		if strings.EqualFold(r.Domain, domain) {
			found = append(found, r)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	if len(found) > 1 {
		var paths []string
		for _, r := range found {
			paths = append(paths, r.Path)
		}
		return Ref{}, hint.With(fmt.Errorf("app %s has %d env files, one per server: %s", domain, len(found), strings.Join(paths, ", ")),
			"an app lives on one server: remove the stale env file (or move the app with 'abra app move') and run the command again")
	}
	return Ref{}, hint.With(fmt.Errorf("%w %q: no env file %s.env under %s", ErrUnknown, domain, domain, s.Servers().Dir),
		"run 'abra app ls' to see your apps, or 'abra app new <recipe> --domain "+domain+"' to create it")
}

// Load reads the app's env file. Values that name files or recipes
// (TYPE/RECIPE, COMPOSE_FILE) are checked here, so that no command follows
// them out of $ABRA_DIR/recipes or the recipe; an error names file, line and key.
func (r Ref) Load() (*App, error) {
	env, err := envfile.Load(r.Path)
	if err != nil {
		return nil, explainLoadError(r, err)
	}
	if err := CheckEnv(env); err != nil {
		return nil, err
	}
	return &App{Domain: r.Domain, Server: r.Server, Path: r.Path, Env: env}, nil
}

// CheckEnv checks the values of an env file that name recipes or files:
// TYPE/RECIPE and every COMPOSE_FILE entry. A refusal names file, line and key.
func CheckEnv(env *envfile.File) error {
	for _, key := range []string{"TYPE", "RECIPE"} {
		if v, ok := env.Get(key); ok && strings.TrimSpace(v) != "" {
			if err := guard.RecipeRef(v); err != nil {
				return envError(env, key, err, "set "+key+"=<recipe> or "+key+"=<recipe>:<version>")
			}
		}
	}
	if v, ok := env.Get("COMPOSE_FILE"); ok {
		for f := range strings.SplitSeq(v, ":") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			if err := guard.ComposeFile(f); err != nil {
				return envError(env, "COMPOSE_FILE", err, "list compose files of the recipe, separated by ':' (COMPOSE_FILE=compose.yml:compose.smtp.yml)")
			}
		}
	}
	return nil
}

// explainLoadError says what to do about an env file that cannot be read.
func explainLoadError(r Ref, err error) error {
	var syntax *envfile.SyntaxError
	switch fi, lerr := os.Lstat(r.Path); {
	case errors.As(err, &syntax):
		return hint.With(err, fmt.Sprintf("fix line %d with 'abra app config %s' (or your editor): each line is KEY=value, a comment (#) or blank", syntax.Line, r.Domain))
	case lerr == nil && fi.Mode()&os.ModeSymlink != 0:
		target, _ := os.Readlink(r.Path)
		return hint.With(fmt.Errorf("%w (it is a symlink to %s)", err, target),
			"restore "+target+", or remove the link "+r.Path)
	case lerr == nil && fi.IsDir():
		return hint.With(fmt.Errorf("%s is a directory, not an env file", r.Path),
			"move it out of "+filepath.Dir(r.Path)+": every *.env there is an app")
	}
	return err
}

// envError names the file, line and key of a refused value.
func envError(env *envfile.File, key string, err error, remedy string) error {
	return hint.With(&guard.FileError{Path: env.Path(), Line: env.Line(key), Key: key, Err: err}, remedy)
}

// Get finds and loads an app.
func (s Store) Get(domain string) (*App, error) {
	ref, err := s.Find(domain)
	if err != nil {
		return nil, err
	}
	return ref.Load()
}

// NewOptions describes an app to create.
type NewOptions struct {
	Recipe  string
	Version string // pinned into TYPE= when set
	Server  string
	Domain  string
	Sample  []byte // the recipe's .env.sample at the chosen version
}

// StackConflict returns an error naming the other app when another env file
// on the app's server gives the same stack name (domains differing only after
// MaxStackNameLength characters, or only in case): the two would share
// services, secrets and volumes.
func (s Store) StackConflict(server, domain string) error {
	domains, err := s.Servers().Apps(server)
	if err != nil {
		return err
	}
	stack := StackName(domain)
	for _, d := range domains {
		if d != domain && StackName(d) == stack {
			return hint.With(fmt.Errorf("%w: %s and %s on server %s both get stack name %s", ErrStackTaken, domain, d, server, stack),
				"use a domain whose first "+fmt.Sprint(MaxStackNameLength)+" characters differ from "+d+"'s")
		}
	}
	return nil
}

// Create writes a new app env file from the recipe's .env.sample, with DOMAIN
// and TYPE set. Creation is exclusive: under the env-file lock, it refuses a
// domain that exists on any server, and a stack name that another app on the
// server already has.
func (s Store) Create(ctx context.Context, o NewOptions) (*App, error) {
	if err := s.Servers().Check(o.Server); err != nil {
		return nil, err
	}
	if err := guard.Domain(o.Domain); err != nil {
		return nil, err
	}
	if err := guard.RecipeName(o.Recipe); err != nil {
		return nil, err
	}
	unlock, err := s.lockEnv(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if ref, err := s.Find(o.Domain); err == nil {
		return nil, hint.With(fmt.Errorf("%w: %s is already on server %s (%s)", ErrExists, o.Domain, ref.Server, ref.Path),
			"choose another --domain, or remove the existing app with 'abra app remove "+o.Domain+"'")
	}
	if err := s.StackConflict(o.Server, o.Domain); err != nil {
		return nil, err
	}
	path := filepath.Join(s.Servers().Path(o.Server), o.Domain+".env")
	env, err := envfile.Parse(path, o.Sample)
	if err != nil {
		return nil, fmt.Errorf("recipe %s .env.sample: %w", o.Recipe, err)
	}
	a := &App{Domain: o.Domain, Server: o.Server, Path: path, Env: env}
	if err := env.Set(a.recipeKey(), o.Recipe); err != nil {
		return nil, err
	}
	if err := a.Pin(o.Version); err != nil {
		return nil, err
	}
	if err := env.Set("DOMAIN", o.Domain); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, path)
	}
	if err := a.Save(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return a, nil
}
