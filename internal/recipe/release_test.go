package recipe

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/guard"
)

func TestRelease(t *testing.T) {
	r := releasedRecipe(t, "1.0.0+1.2.0")
	dir := r.Dir()
	replace(t, dir, "compose.yml", "e2e/app:1.2.0", "e2e/app:1.3.0")
	writeFile(t, filepath.Join(dir, NextNotes), "Upgrade the app to 1.3.0.\n", 0o644)
	writeFile(t, filepath.Join(dir, "debug.log"), "ignored\n", 0o644)
	if _, err := r.Sync(""); err != nil {
		t.Fatal(err)
	}
	linted := 0
	plan, err := r.Release(context.Background(), ReleaseOptions{Lint: func(context.Context, string) error { linted++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Version != "1.1.0+1.3.0" || plan.Previous != "1.0.0+1.2.0" || plan.Notes != "release/1.1.0+1.3.0" || linted != 1 {
		t.Errorf("plan = %+v, linted %d times", plan, linted)
	}
	if _, err := os.Stat(filepath.Join(dir, NextNotes)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("release/next is still there: %v", err)
	}
	if got := runGit(t, dir, "cat-file", "-t", "1.1.0+1.3.0"); got != "tag" {
		t.Errorf("tag object type %q, want an annotated tag", got)
	}
	if got := runGit(t, dir, "tag", "-l", "--format=%(contents)", "1.1.0+1.3.0"); strings.TrimSpace(got) != "Upgrade the app to 1.3.0." {
		t.Errorf("tag message %q", got)
	}
	if got := runGit(t, dir, "rev-parse", "1.1.0+1.3.0^{commit}"); got != runGit(t, dir, "rev-parse", "HEAD") || got != plan.Commit {
		t.Errorf("tag names %s, HEAD is %s, plan says %s", got, runGit(t, dir, "rev-parse", "HEAD"), plan.Commit)
	}
	if st := runGit(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("work tree not clean after release:\n%s", st)
	}
	if got := runGit(t, dir, "ls-files", "debug.log"); got != "" {
		t.Errorf("an ignored file was committed: %s", got)
	}
	if got := runGit(t, dir, "show", "1.1.0+1.3.0:release/1.1.0+1.3.0"); got != "Upgrade the app to 1.3.0." {
		t.Errorf("release notes in the tag: %q", got)
	}
	if got := runGit(t, dir, "show", "1.1.0+1.3.0:compose.yml"); !strings.Contains(got, "version=1.1.0+1.3.0") || !strings.Contains(got, "e2e/app:1.3.0") {
		t.Errorf("compose.yml in the tag:\n%s", got)
	}
	rel, err := open(t, dir).Latest()
	if err != nil || rel.Tag != "1.1.0+1.3.0" || !rel.Annotated {
		t.Errorf("Latest = %+v, %v", rel, err)
	}

	// The same version again, or an older one, is refused before any change.
	for _, v := range []string{"1.1.0+1.3.0", "1.0.5+1.3.0"} {
		_, err := r.Release(context.Background(), ReleaseOptions{Version: v})
		if err == nil {
			t.Fatalf("release %s again: no error", v)
		}
		if v == "1.1.0+1.3.0" && !errors.Is(err, ErrVersionExists) {
			t.Errorf("release %s: %v, want ErrVersionExists", v, err)
		}
		if st := runGit(t, dir, "status", "--porcelain"); st != "" {
			t.Errorf("refused release %s changed the work tree:\n%s", v, st)
		}
	}
}

func TestReleaseDryRunChangesNothing(t *testing.T) {
	r := releasedRecipe(t, "1.0.0+1.2.0")
	dir := r.Dir()
	writeFile(t, filepath.Join(dir, NextNotes), "notes\n", 0o644)
	before := readFile(t, filepath.Join(dir, "compose.yml"))
	plan, err := r.Release(context.Background(), ReleaseOptions{Version: "1.0.1+1.2.0", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"set the version label of compose.yml to 1.0.1+1.2.0",
		"move release/next to release/1.0.1+1.2.0",
		"commit the changes",
		"create the annotated tag 1.0.1+1.2.0",
	}
	if strings.Join(plan.Steps, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(plan.Steps, "\n"), strings.Join(want, "\n"))
	}
	if readFile(t, filepath.Join(dir, "compose.yml")) != before || readFile(t, filepath.Join(dir, NextNotes)) != "notes\n" {
		t.Error("dry run changed files")
	}
	if tags := runGit(t, dir, "tag"); tags != "1.0.0+1.2.0" {
		t.Errorf("dry run tagged: %s", tags)
	}
}

func TestReleaseRefusals(t *testing.T) {
	lintErr := errors.New("critical lint rules failed: R101")
	tests := []struct {
		name string
		opts ReleaseOptions
		want string
	}{
		{"lint fails", ReleaseOptions{Version: "1.0.1+1.2.0", Lint: func(context.Context, string) error { return lintErr }}, "R101"},
		{"no version and label of the last release", ReleaseOptions{}, "already tagged"},
		{"not a version", ReleaseOptions{Version: "next"}, "invalid version"},
		{"publish without origin", ReleaseOptions{Version: "1.0.1+1.2.0", Publish: true}, "no remote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := releasedRecipe(t, "1.0.0+1.2.0")
			_, err := r.Release(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if tags := runGit(t, r.Dir(), "tag"); tags != "1.0.0+1.2.0" {
				t.Errorf("refused release tagged: %s", tags)
			}
			if st := runGit(t, r.Dir(), "status", "--porcelain"); st != "" {
				t.Errorf("refused release changed the work tree:\n%s", st)
			}
		})
	}
}

func TestReleasePublish(t *testing.T) {
	r := releasedRecipe(t, "1.0.0+1.2.0")
	origin := filepath.Join(t.TempDir(), "origin.git")
	runGit(t, "", "init", "-q", "--bare", origin)
	runGit(t, r.Dir(), "remote", "add", "origin", origin)
	plan, err := r.Release(context.Background(), ReleaseOptions{Version: "1.0.1+1.2.0", Note: "Fixes.", Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Warnings) != 0 {
		t.Errorf("warnings: %v", plan.Warnings)
	}
	if got := runGit(t, origin, "cat-file", "-t", "1.0.1+1.2.0"); got != "tag" {
		t.Errorf("origin has %q for the tag, want an annotated tag", got)
	}
	if got, want := runGit(t, origin, "rev-parse", "main"), runGit(t, r.Dir(), "rev-parse", "HEAD"); got != want {
		t.Errorf("origin main = %s, want %s", got, want)
	}
	if got := runGit(t, r.Dir(), "show", "HEAD:release/1.0.1+1.2.0"); got != "Fixes." {
		t.Errorf("notes from the note: %q", got)
	}
}

func TestReleaseWithoutNotesWarns(t *testing.T) {
	r := releasedRecipe(t, "1.0.0+1.2.0")
	plan, err := r.Release(context.Background(), ReleaseOptions{Version: "1.0.1+1.2.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "release/next") {
		t.Errorf("warnings = %v", plan.Warnings)
	}
	if got := runGit(t, r.Dir(), "tag", "-l", "--format=%(contents)", "1.0.1+1.2.0"); strings.TrimSpace(got) != "1.0.1+1.2.0" {
		t.Errorf("tag message %q, want the version", got)
	}
}

// TestReleaseNotesOutsideTheRecipeRefused: release/next as a symlink out of
// the recipe would copy that file into release/<version>, commit and push it.
func TestReleaseNotesOutsideTheRecipeRefused(t *testing.T) {
	for _, notes := range []string{NextNotes, "release/1.0.1+1.2.0"} {
		t.Run(notes, func(t *testing.T) {
			r := releasedRecipe(t, "1.0.0+1.2.0")
			shadow := filepath.Join(t.TempDir(), "shadow")
			writeFile(t, shadow, "root:SECRET-HASH\n", 0o600)
			if err := os.MkdirAll(filepath.Join(r.Dir(), "release"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(shadow, filepath.Join(r.Dir(), filepath.FromSlash(notes))); err != nil {
				t.Fatal(err)
			}
			_, err := r.Release(context.Background(), ReleaseOptions{Version: "1.0.1+1.2.0"})
			if !errors.Is(err, guard.ErrOutside) || !strings.Contains(err.Error(), notes+" is outside the recipe") {
				t.Fatalf("err = %v, want ErrOutside naming %s", err, notes)
			}
			if got := runGit(t, r.Dir(), "tag", "-l", "1.0.1+1.2.0"); got != "" {
				t.Errorf("tagged anyway: %s", got)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	r := releasedRecipe(t, "1.0.0+1.2.0")
	if url, ok := r.Origin(); ok {
		t.Errorf("Origin = %q, want none", url)
	}
	runGit(t, r.Dir(), "remote", "add", "origin", "https://user:token@git.coopcloud.tech/coop-cloud/web.git")
	if url, ok := open(t, r.Dir()).Origin(); !ok || strings.Contains(url, "token") || !strings.Contains(url, "git.coopcloud.tech/coop-cloud/web.git") {
		t.Errorf("Origin = %q, %v, want the URL without credentials", url, ok)
	}
}
