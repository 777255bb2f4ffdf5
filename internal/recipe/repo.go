// Package recipe reads Co-op Cloud recipes: git repositories whose annotated
// x.y.z+upstream tags are the published versions, exported file by file for a
// deploy without switching the shared clone.
package recipe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/object"

	"coopcloud.tech/abra/internal/hint"
)

var (
	// ErrNotFound means the recipe directory is missing or is not a git
	// repository.
	ErrNotFound = errors.New("recipe not found")
	// ErrNoReleases means the recipe has no version tags yet.
	ErrNoReleases = errors.New("no published versions")
	// ErrUnknownVersion is matched (errors.Is) by *UnknownVersionError.
	ErrUnknownVersion = errors.New("unknown version")
)

// Release is a published version: a tag whose name parses as a Version.
type Release struct {
	Version Version
	Tag     string // the tag name, equal to Version.String()
	Commit  string // the tagged commit, full hex hash
	// Annotated is false for a lightweight tag; releases should be annotated
	// (they carry the release notes' summary), so lint flags these.
	Annotated bool
	// Time is when the release was made: the tagger's time of an annotated
	// tag, else the commit time. Update policies measure a release's age by it.
	Time time.Time
}

// Repo is a recipe's local git clone.
//
// Open, Versions, Latest, Find, Head and Export only read the repository:
// they never touch the network, the work tree, the index or HEAD, so any
// number of processes may use the same clone at once. Only Fetch writes
// (new objects and tags). A Repo is not safe for concurrent use by several
// goroutines; open one per goroutine.
type Repo struct {
	dir  string
	repo *git.Repository
}

// Open opens the recipe clone at dir. A missing directory, or one that is
// not the top of a git repository, gives an error wrapping ErrNotFound that
// names dir and hints at 'abra recipe fetch'.
func Open(dir string) (*Repo, error) {
	notFound := func(why string) error {
		name := filepath.Base(dir)
		return hint.With(fmt.Errorf("%w: %s %s", ErrNotFound, dir, why),
			"run 'abra recipe fetch "+name+"' first")
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, notFound("does not exist")
	case err != nil:
		return nil, fmt.Errorf("open recipe %s: %w", dir, err)
	case !st.IsDir():
		return nil, notFound("is not a directory")
	}
	// DetectDotGit stays off: a recipes directory inside some other
	// repository must not be mistaken for a recipe.
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, notFound("is not a git repository")
	}
	if err != nil {
		return nil, fmt.Errorf("open recipe %s: %w", dir, err)
	}
	return &Repo{dir: dir, repo: r}, nil
}

// Dir returns the clone's directory, which is also its work tree.
func (r *Repo) Dir() string { return r.dir }

// Versions returns the releases in ascending order. Tags that do not parse
// as a Version, or that do not point at a commit, are skipped. A recipe
// without releases gives an empty list and no error.
func (r *Repo) Versions() ([]Release, error) {
	refs, err := r.repo.Tags()
	if err != nil {
		return nil, fmt.Errorf("list tags in %s: %w", r.dir, err)
	}
	var rels []Release
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		name := ref.Name().Short()
		v, err := ParseVersion(name)
		if err != nil {
			return nil
		}
		commit, annotated, when, err := r.peel(ref.Hash())
		if errors.Is(err, errNotCommit) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tag %s: %w", name, err)
		}
		rels = append(rels, Release{Version: v, Tag: name, Commit: commit.String(), Annotated: annotated, Time: when})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tags in %s: %w", r.dir, err)
	}
	slices.SortFunc(rels, func(a, b Release) int { return a.Version.Compare(b.Version) })
	return rels, nil
}

var errNotCommit = errors.New("does not point at a commit")

// peel follows tag objects (possibly nested) from h to the commit they name.
// annotated reports whether h itself is a tag object; when is the outermost
// tag's time, or the commit's for a lightweight tag.
func (r *Repo) peel(h plumbing.Hash) (commit plumbing.Hash, annotated bool, when time.Time, err error) {
	for range 10 {
		tag, err := r.repo.TagObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			break // not a tag object: h is what the (lightweight) tag names
		}
		if err != nil {
			return plumbing.ZeroHash, false, when, err
		}
		if !annotated {
			when = tag.Tagger.When
		}
		annotated = true
		if tag.TargetType != plumbing.CommitObject && tag.TargetType != plumbing.TagObject {
			return plumbing.ZeroHash, false, when, errNotCommit
		}
		h = tag.Target
	}
	c, err := r.repo.CommitObject(h)
	if err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return plumbing.ZeroHash, false, when, errNotCommit
		}
		return plumbing.ZeroHash, false, when, err
	}
	if !annotated {
		when = c.Committer.When
	}
	return h, annotated, when, nil
}

// Latest returns the highest release, or an error wrapping ErrNoReleases.
func (r *Repo) Latest() (Release, error) {
	rels, err := r.Versions()
	if err != nil {
		return Release{}, err
	}
	if len(rels) == 0 {
		return Release{}, fmt.Errorf("%w: %s has no <major>.<minor>.<patch>+<upstream> tags", ErrNoReleases, r.dir)
	}
	return rels[len(rels)-1], nil
}

// Find returns the release tagged exactly version. A well-formed version
// that is not tagged gives an *UnknownVersionError (errors.Is
// ErrUnknownVersion); a malformed one an error wrapping ErrInvalidVersion.
func (r *Repo) Find(version string) (Release, error) {
	want, err := ParseVersion(version)
	if err != nil {
		return Release{}, err
	}
	rels, err := r.Versions()
	if err != nil {
		return Release{}, err
	}
	uv := &UnknownVersionError{Version: version}
	for _, rel := range rels {
		if rel.Tag == version {
			return rel, nil
		}
		uv.Available = append(uv.Available, rel.Tag)
		if rel.Version.Recipe().Equal(want.Recipe()) {
			uv.Similar = append(uv.Similar, rel.Tag)
		}
	}
	return Release{}, uv
}

// UnknownVersionError reports a version that the recipe has no tag for.
type UnknownVersionError struct {
	Version   string
	Available []string // every release, ascending
	Similar   []string // releases with the same recipe part, e.g. 1.2.0+6.4.1 for 1.2.0
}

// shownVersions is how many of the latest releases an UnknownVersionError lists.
const shownVersions = 5

func (e *UnknownVersionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "unknown version %q", e.Version)
	switch n := len(e.Available); {
	case len(e.Similar) > 0:
		fmt.Fprintf(&b, "; did you mean %s?", strings.Join(e.Similar, " or "))
	case n == 0:
		b.WriteString("; the recipe has no published versions")
	case n <= shownVersions:
		fmt.Fprintf(&b, "; available: %s", strings.Join(e.Available, ", "))
	default:
		fmt.Fprintf(&b, "; latest %d of %d: %s", shownVersions, n, strings.Join(e.Available[n-shownVersions:], ", "))
	}
	return b.String()
}

// Is makes errors.Is(err, ErrUnknownVersion) hold.
func (e *UnknownVersionError) Is(target error) bool { return target == ErrUnknownVersion }

// Head returns the commit checked out in the work tree and whether the work
// tree has uncommitted changes: modified, staged or deleted tracked files, or
// untracked files that .gitignore or .git/info/exclude do not ignore (the
// user's global excludes file is not read).
func (r *Repo) Head() (commit string, dirty bool, err error) {
	ref, err := r.repo.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", false, fmt.Errorf("read HEAD of %s: no commits yet", r.dir)
	}
	if err != nil {
		return "", false, fmt.Errorf("read HEAD of %s: %w", r.dir, err)
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		return "", false, fmt.Errorf("open work tree %s: %w", r.dir, err)
	}
	// go-git's work tree filesystem refuses paths under .git, so Status
	// never sees .git/info/exclude; hand its patterns over ourselves.
	wt.Excludes = append(wt.Excludes, r.infoExcludes()...)
	st, err := wt.Status()
	if err != nil {
		return "", false, fmt.Errorf("status of %s: %w", r.dir, err)
	}
	return ref.Hash().String(), !st.IsClean(), nil
}

// infoExcludes reads the patterns of .git/info/exclude, if there is one.
func (r *Repo) infoExcludes() []gitignore.Pattern {
	b, err := os.ReadFile(filepath.Join(r.dir, ".git", "info", "exclude"))
	if err != nil {
		return nil
	}
	var ps []gitignore.Pattern
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#") {
			ps = append(ps, gitignore.ParsePattern(line, nil))
		}
	}
	return ps
}

// ResolveCommit resolves a commit hash, full or abbreviated (at least 7 hex
// digits), to the full hash of a commit the clone has. Names of tags and
// branches are not accepted: a commit id from outside means that commit.
func (r *Repo) ResolveCommit(id string) (string, error) {
	if !IsCommitID(id) {
		return "", fmt.Errorf("%q is not a commit id (want 7 to 64 lowercase hex digits)", id)
	}
	h, err := r.repo.ResolveRevision(plumbing.Revision(id))
	if err != nil {
		return "", fmt.Errorf("no commit %s in %s", id, r.dir)
	}
	if _, err := r.repo.CommitObject(*h); err != nil {
		return "", fmt.Errorf("%s is not a commit in %s: %w", id, r.dir, err)
	}
	return h.String(), nil
}

// IsCommitID reports whether s looks like a commit hash: 7 to 64 lowercase
// hex digits. A recipe version always has dots, so the two never mix.
func IsCommitID(s string) bool {
	if len(s) < 7 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// commitAt resolves a tag name, branch or commit hash to a commit. Tags are
// tried first so that a version always means its tag.
func (r *Repo) commitAt(rev string) (*object.Commit, error) {
	var h plumbing.Hash
	if ref, err := r.repo.Tag(rev); err == nil {
		c, _, _, err := r.peel(ref.Hash())
		if err != nil {
			return nil, fmt.Errorf("tag %s: %w", rev, err)
		}
		h = c
	} else {
		ph, err := r.repo.ResolveRevision(plumbing.Revision(rev))
		if err != nil {
			return nil, fmt.Errorf("no tag, branch or commit %q in %s", rev, r.dir)
		}
		h = *ph
	}
	c, err := r.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rev, err)
	}
	return c, nil
}
