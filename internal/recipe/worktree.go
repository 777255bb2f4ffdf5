package recipe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"

	git "github.com/go-git/go-git/v5"
)

// Changed lists the files of the work tree with uncommitted changes
// (modified, staged, deleted or untracked, ignored files excepted), each
// prefixed by its two-letter git status ("M ", "??").
func (r *Repo) Changed() ([]string, error) {
	wt, err := r.repo.Worktree()
	if err != nil {
		return nil, fmt.Errorf("open work tree %s: %w", r.dir, err)
	}
	wt.Excludes = append(wt.Excludes, r.infoExcludes()...)
	st, err := wt.Status()
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", r.dir, err)
	}
	var out []string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range st {
			if !yield(n) {
				return
			}
		}
	}) {
		fs := st[name]
		if fs.Staging == git.Unmodified && fs.Worktree == git.Unmodified {
			continue
		}
		out = append(out, string([]byte{byte(fs.Staging), byte(fs.Worktree)})+" "+name)
	}
	return out, nil
}

// Diff writes the differences between the work tree and HEAD (staged and
// unstaged) to w, as `git diff HEAD` prints them, in colour when color is
// set. git itself is used, so the output is the one maintainers know.
// Untracked files are not in a diff; Changed lists them.
func (r *Repo) Diff(ctx context.Context, w io.Writer, color bool) error {
	colorFlag := "--color=never"
	if color {
		colorFlag = "--color=always"
	}
	return r.git(ctx, w, "diff", colorFlag, "HEAD", "--")
}

// Reset discards the changes to tracked files, staged or not, bringing the
// work tree back to HEAD, as `git reset --hard` does. Untracked files
// (release notes being written, new files) are kept.
func (r *Repo) Reset(ctx context.Context) error {
	return r.git(ctx, nil, "reset", "--quiet", "--hard", "HEAD")
}

// git runs the git command in the clone, its output to w when set.
func (r *Repo) git(ctx context.Context, w io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = r.dir
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s in %s: %w: %s", args[0], r.dir, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
