package recipe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/step"
)

// ErrVersionExists is wrapped when a release is asked for a version that is
// already tagged.
var ErrVersionExists = errors.New("version already released")

// NextNotes is the release notes file a maintainer writes before knowing
// the version; release moves it to release/<version>.
const NextNotes = releaseNotesDir + "/next"

// ReleaseOptions says what to release and how.
type ReleaseOptions struct {
	// Version to release; "" takes the version label of compose.yml (as
	// written by Sync).
	Version string
	// Note is the release notes when neither release/next nor
	// release/<version> exists.
	Note string
	// Lint checks the work tree and returns an error when the recipe must
	// not be released (critical failures). Nil skips the check.
	Lint func(ctx context.Context, dir string) error
	// DryRun checks the version and lints, and returns the plan without
	// changing anything.
	DryRun bool
	// Publish pushes the branch and the new tag to origin.
	Publish bool
	// Observer is told about each step; nil discards.
	Observer step.Observer
	// Now stamps the commit and tag; zero means time.Now.
	Now time.Time
}

// ReleasePlan is what Release did, or would do with DryRun.
type ReleasePlan struct {
	Version  string   `json:"version"`
	Previous string   `json:"previous"` // latest release before, "" for the first
	Notes    string   `json:"notes"`    // the release notes file, "" when there are none
	Steps    []string `json:"steps"`    // what the release does, in order
	Commit   string   `json:"commit,omitempty"`
	Warnings []string `json:"warnings"`
}

// Release publishes a new version of the recipe: the version label is set,
// the work tree is linted, the release notes are put in release/<version>
// (moved from release/next), everything is committed, an annotated tag
// carrying the notes is created, and with Publish the branch and tag are
// pushed to origin. A version that is already tagged, or not newer than the
// latest release, is refused before anything changes.
func (r *Repo) Release(ctx context.Context, opts ReleaseOptions) (ReleasePlan, error) {
	plan := ReleasePlan{Warnings: []string{}}
	v, err := r.releaseVersion(opts.Version, &plan)
	if err != nil {
		return plan, err
	}
	plan.Version = v.String()
	notesPath := filepath.Join(releaseNotesDir, plan.Version)
	label, _, err := ReadVersionLabel(r.dir)
	if err != nil {
		return plan, err
	}
	var notes []byte
	var notesStep string
	moveNext := false
	switch {
	case fileExists(filepath.Join(r.dir, notesPath)):
		notes, err = guard.ReadFile(r.dir, notesPath)
		plan.Notes = filepath.ToSlash(notesPath)
	case fileExists(filepath.Join(r.dir, NextNotes)):
		notes, err = guard.ReadFile(r.dir, NextNotes)
		plan.Notes = filepath.ToSlash(notesPath)
		notesStep = "move " + NextNotes + " to " + plan.Notes
		moveNext = true
	case opts.Note != "":
		notes = []byte(strings.TrimRight(opts.Note, "\n") + "\n")
		plan.Notes = filepath.ToSlash(notesPath)
		notesStep = "write the note into " + plan.Notes
	default:
		plan.Warnings = append(plan.Warnings, "no release notes: write "+NextNotes+" or pass a note, so operators know what changed")
	}
	if err != nil {
		return plan, err
	}
	branch, err := r.branch()
	if err != nil && opts.Publish {
		return plan, err
	}
	origin := ""
	if opts.Publish {
		if origin, err = r.originURL(); err != nil {
			return plan, err
		}
	}

	var steps []step.Step
	add := func(desc string, run func(ctx context.Context) error) {
		plan.Steps = append(plan.Steps, desc)
		steps = append(steps, step.Step{Name: desc, Run: run})
	}
	if opts.Lint != nil {
		add("lint the recipe", func(ctx context.Context) error { return opts.Lint(ctx, r.dir) })
	}
	if label != plan.Version {
		add("set the version label of compose.yml to "+plan.Version, func(context.Context) error {
			return WriteVersionLabel(r.dir, plan.Version)
		})
	}
	if notesStep != "" {
		add(notesStep, func(context.Context) error {
			if err := os.MkdirAll(filepath.Join(r.dir, releaseNotesDir), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(r.dir, notesPath), notes, 0o644); err != nil {
				return err
			}
			if moveNext {
				return os.Remove(filepath.Join(r.dir, NextNotes))
			}
			return nil
		})
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	add("commit the changes", func(context.Context) error {
		h, err := r.commitAll("chore: publish "+plan.Version+" release", now)
		plan.Commit = h
		return err
	})
	message := strings.TrimSpace(string(notes))
	if message == "" {
		message = plan.Version
	}
	add("create the annotated tag "+plan.Version, func(context.Context) error {
		return r.tag(plan.Version, message, now)
	})
	if opts.Publish {
		add("push "+branch+" and "+plan.Version+" to origin ("+origin+")", func(ctx context.Context) error {
			return r.push(ctx, origin, branch, plan.Version)
		})
	}
	if opts.DryRun {
		// Lint reads only; run it so a dry run tells whether the release
		// would be refused.
		if opts.Lint != nil {
			if err := opts.Lint(ctx, r.dir); err != nil {
				return plan, err
			}
		}
		return plan, nil
	}
	return plan, step.Run(ctx, opts.Observer, steps...)
}

// releaseVersion is the version to release: given, or from the label; it
// must not be tagged yet and must be newer than the latest release.
func (r *Repo) releaseVersion(version string, plan *ReleasePlan) (Version, error) {
	if version == "" {
		label, _, err := ReadVersionLabel(r.dir)
		if err != nil {
			return Version{}, err
		}
		if label == "" {
			return Version{}, hint.With(errors.New("no version given and the version label of compose.yml is empty"),
				"run 'abra recipe sync' first, or pass the version")
		}
		version = label
	}
	v, err := ParseVersion(version)
	if err != nil {
		return Version{}, err
	}
	rels, err := r.Versions()
	if err != nil {
		return Version{}, err
	}
	if _, err := r.repo.Tag(v.String()); err == nil {
		return Version{}, hint.With(fmt.Errorf("%w: %s is already tagged", ErrVersionExists, v),
			"run 'abra recipe sync' to compute the next version, or pass a newer one")
	}
	if n := len(rels); n > 0 {
		latest := rels[n-1]
		plan.Previous = latest.Tag
		if v.Compare(latest.Version) <= 0 {
			return Version{}, hint.With(fmt.Errorf("version %s is not newer than the latest release %s", v, latest.Tag),
				"run 'abra recipe sync' to compute the next version, or pass a newer one")
		}
	}
	return v, nil
}

// branch is the checked-out branch.
func (r *Repo) branch() (string, error) {
	ref, err := r.repo.Head()
	if err != nil {
		return "", fmt.Errorf("read HEAD of %s: %w", r.dir, err)
	}
	if !ref.Name().IsBranch() {
		return "", hint.With(fmt.Errorf("%s: HEAD is not on a branch", r.dir), "check out the branch to release from, e.g. 'git -C "+r.dir+" switch main'")
	}
	return ref.Name().Short(), nil
}

func (r *Repo) originURL() (string, error) {
	url, ok := r.Origin()
	if !ok {
		return "", hint.With(fmt.Errorf("%s has no remote %q to publish to", r.dir, git.DefaultRemoteName),
			"add one with 'git -C "+r.dir+" remote add origin <url>', or leave out --publish")
	}
	return url, nil
}

// Origin returns the URL of the clone's origin remote, credentials redacted,
// and false when it has none. Only the clone's config is read, never the network.
func (r *Repo) Origin() (string, bool) {
	remote, err := r.repo.Remote(git.DefaultRemoteName)
	if err != nil || len(remote.Config().URLs) == 0 {
		return "", false
	}
	return Redact(remote.Config().URLs[0]), true
}

// Signature is the user's git identity for commits and tags in repo (its
// own config, then the global one), or abra's when neither names a user.
func Signature(repo *git.Repository, now time.Time) *object.Signature {
	sig := &object.Signature{Name: "abra", Email: "abra@localhost", When: now}
	for _, scope := range []config.Scope{config.LocalScope, config.GlobalScope} {
		if cfg, err := repo.ConfigScoped(scope); err == nil && cfg.User.Name != "" {
			sig.Name, sig.Email = cfg.User.Name, cfg.User.Email
			return sig
		}
	}
	return sig
}

// commitAll stages every change of the work tree (new, changed and removed
// files; ignored ones excepted) and commits it. A clean work tree makes no
// commit; the tag then goes on HEAD.
func (r *Repo) commitAll(message string, now time.Time) (string, error) {
	wt, err := r.repo.Worktree()
	if err != nil {
		return "", err
	}
	wt.Excludes = append(wt.Excludes, r.infoExcludes()...)
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return "", fmt.Errorf("stage changes: %w", err)
	}
	st, err := wt.Status()
	if err != nil {
		return "", err
	}
	if st.IsClean() {
		head, err := r.repo.Head()
		if err != nil {
			return "", err
		}
		return head.Hash().String(), nil
	}
	sig := Signature(r.repo, now)
	h, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return h.String(), nil
}

// tag creates an annotated tag of HEAD.
func (r *Repo) tag(name, message string, now time.Time) error {
	head, err := r.repo.Head()
	if err != nil {
		return err
	}
	_, err = r.repo.CreateTag(name, head.Hash(), &git.CreateTagOptions{
		Tagger:  Signature(r.repo, now),
		Message: message,
	})
	if errors.Is(err, git.ErrTagExists) {
		return fmt.Errorf("%w: %s", ErrVersionExists, name)
	}
	return err
}

// push runs git itself, so the maintainer's ssh config, agent and
// credential helpers apply as with any push.
func (r *Repo) push(ctx context.Context, origin, branch, tag string) error {
	err := r.git(ctx, nil, "push", "--porcelain", git.DefaultRemoteName,
		plumbing.NewBranchReferenceName(branch).String(), plumbing.NewTagReferenceName(tag).String())
	if err != nil {
		return hint.With(fmt.Errorf("push to origin %s: %w", origin, err),
			"the release is committed and tagged locally; push later with 'git -C "+r.dir+" push origin "+branch+" "+tag+"'")
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
