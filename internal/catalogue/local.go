package catalogue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
)

// Defaults of the catalogue source: Co-op Cloud's public recipes and its
// catalogue repository (abra's REPOS_BASE_URL and CATALOGUE_JSON_REPO_NAME).
const (
	DefaultRecipeBaseURL = "https://git.coopcloud.tech/coop-cloud"
	DefaultURL           = DefaultRecipeBaseURL + "/recipes-catalogue-json.git"
)

// Config says where recipes and the catalogue come from.
type Config struct {
	URL           string // git URL of the catalogue repository
	RecipeBaseURL string // recipe <name> is cloned from <RecipeBaseURL>/<name>.git
}

// ConfigFromEnv reads $ABRA_CATALOGUE_URL and $ABRA_RECIPE_BASE_URL through
// getenv, falling back to the defaults.
func ConfigFromEnv(getenv func(string) string) Config {
	c := Config{URL: getenv("ABRA_CATALOGUE_URL"), RecipeBaseURL: getenv("ABRA_RECIPE_BASE_URL")}
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.RecipeBaseURL == "" {
		c.RecipeBaseURL = DefaultRecipeBaseURL
	}
	return c
}

// RecipeURL is the git URL of a recipe.
func (c Config) RecipeURL(name string) string {
	return strings.TrimRight(c.RecipeBaseURL, "/") + "/" + name + ".git"
}

// RemoteError is a failure to reach a git remote; URL names it (without a
// password).
type RemoteError struct {
	URL string
	Op  string // "clone", "fetch", "push"
	Err error
}

func (e *RemoteError) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.URL, e.Err) }
func (e *RemoteError) Unwrap() error { return e.Err }

// Local is the local copy of the catalogue: a git clone of URL at Dir
// ($ABRA_DIR/catalogue) holding recipes.json.
//
// Methods are not safe for concurrent use on the same Dir.
type Local struct {
	Dir string
	URL string
}

// Path is the local recipes.json.
func (l Local) Path() string { return filepath.Join(l.Dir, FileName) }

// Read reads the local recipes.json (ErrNoCatalogue when there is none).
func (l Local) Read() (Catalogue, error) {
	c, err := Read(l.Path())
	if errors.Is(err, ErrNoCatalogue) {
		return nil, hint.With(err, "run 'abra recipe ls' online to fetch the catalogue, or 'abra catalogue generate <recipe>' to build one")
	}
	return c, err
}

// Sync clones the catalogue when there is no local copy, or fetches it and
// fast-forwards the checked-out branch. Failing to reach the remote gives
// a *RemoteError; a local copy, if any, is left as it was, so callers may
// go on with it. A local copy that is not a git clone is left alone.
func (l Local) Sync(ctx context.Context) error {
	if _, err := os.Stat(l.Dir); isNotExist(err) {
		if _, err := git.PlainCloneContext(ctx, l.Dir, false, &git.CloneOptions{URL: l.URL}); err != nil {
			_ = os.RemoveAll(l.Dir)
			return &RemoteError{URL: recipe.Redact(l.URL), Op: "clone", Err: err}
		}
		return nil
	}
	r, err := git.PlainOpen(l.Dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open catalogue %s: %w", l.Dir, err)
	}
	where := l.originURL(r)
	wt, err := r.Worktree()
	if err != nil {
		return err
	}
	err = wt.PullContext(ctx, &git.PullOptions{RemoteName: git.DefaultRemoteName})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, git.ErrUnstagedChanges), errors.Is(err, git.ErrNonFastForwardUpdate):
		return fmt.Errorf("catalogue %s has local changes (generated, not published): not updated from %s", l.Dir, where)
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		return nil // the remote has no such branch yet (nothing published)
	}
	return &RemoteError{URL: where, Op: "fetch", Err: err}
}

// Refresh syncs the local copy unless offline. When the sync fails but a
// local recipes.json exists, the failure comes back as warning and the
// copy is to be used as it is; without one it is the error, with a hint.
func (l Local) Refresh(ctx context.Context, offline bool) (warning, err error) {
	if offline {
		return nil, nil
	}
	serr := l.Sync(ctx)
	if serr == nil {
		return nil, nil
	}
	if _, err := os.Stat(l.Path()); err == nil {
		return serr, nil
	}
	return nil, hint.With(fmt.Errorf("no local recipe catalogue: %w", serr),
		"check $ABRA_CATALOGUE_URL (now "+recipe.Redact(l.URL)+") and the network, or build one with 'abra catalogue generate <recipe>'")
}

func (l Local) originURL(r *git.Repository) string {
	if rem, err := r.Remote(git.DefaultRemoteName); err == nil && len(rem.Config().URLs) > 0 {
		return recipe.Redact(rem.Config().URLs[0])
	}
	return recipe.Redact(l.URL)
}

// Init makes Dir a new git repository whose origin is URL, for a catalogue
// generated before any was published (or while its remote is unreachable).
// An existing repository is left as it is.
func (l Local) Init() error {
	if _, err := git.PlainOpen(l.Dir); err == nil {
		return nil
	}
	r, err := git.PlainInitWithOptions(l.Dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		return fmt.Errorf("init catalogue %s: %w", l.Dir, err)
	}
	if _, err := r.CreateRemote(&config.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{l.URL}}); err != nil {
		return fmt.Errorf("init catalogue %s: %w", l.Dir, err)
	}
	return nil
}

// ErrNothingToPublish means recipes.json equals the last published one.
var ErrNothingToPublish = errors.New("nothing to publish: the catalogue did not change")

// Publish commits files (relative to Dir; recipes.json when none is given)
// and pushes the branch to origin. It returns the new commit. The author is
// the git identity of the user (user.name, user.email), else abra.
func (l Local) Publish(ctx context.Context, message string, files ...string) (string, error) {
	r, err := git.PlainOpen(l.Dir)
	if err != nil {
		return "", fmt.Errorf("publish: open catalogue %s: %w", l.Dir, err)
	}
	wt, err := r.Worktree()
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		files = []string{FileName}
	}
	for _, f := range files {
		if _, err := wt.Add(f); err != nil {
			return "", fmt.Errorf("publish: add %s: %w", f, err)
		}
	}
	st, err := wt.Status()
	if err != nil {
		return "", err
	}
	changed := false
	for _, f := range files {
		if s := st.File(f); s.Staging != git.Unmodified && s.Staging != git.Untracked {
			changed = true
		}
	}
	if !changed {
		return "", ErrNothingToPublish
	}
	sig := recipe.Signature(r, time.Now())
	h, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return "", fmt.Errorf("publish: commit: %w", err)
	}
	err = r.PushContext(ctx, &git.PushOptions{RemoteName: git.DefaultRemoteName})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return h.String(), hint.With(&RemoteError{URL: l.originURL(r), Op: "push", Err: err},
			"the commit is kept in "+l.Dir+"; fix access to the remote and run the command again with --publish")
	}
	return h.String(), nil
}
