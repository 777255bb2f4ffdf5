package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// gitRepo makes a repository with one commit in a temporary directory,
// makes it the working directory and returns it with a git runner.
func gitRepo(t *testing.T) (string, func(args ...string)) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("GIT_CONFIG_GLOBAL", "/dev/null")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t",
			"GIT_COMMITTER_EMAIL=t@example.org", "GIT_COMMITTER_DATE=2026-12-06T05:42:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-qm", "first")
	return dir, git
}

func TestSnapshotVersionIsTheNextPatchOrderedByCommitTime(t *testing.T) {
	dir, git := gitRepo(t)
	hash, when, err := commit(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !when.Equal(time.Date(2026, 12, 6, 5, 42, 0, 0, time.UTC)) {
		t.Fatalf("commit time %v", when)
	}
	v, err := snapshotVersion(dir, when, hash)
	if err != nil || v != "0.0.1-snapshot.20261206054200.g"+hash[:12] {
		t.Fatalf("without tags: %q %v", v, err)
	}
	git("tag", "-a", "v0.2.3", "-m", "v0.2.3")
	if v, _ := snapshotVersion(dir, when, hash); !strings.HasPrefix(v, "0.2.4-snapshot.") {
		t.Fatalf("after v0.2.3: %q", v)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "86400")
	if _, when, _ := commit(dir); !when.Equal(time.Unix(86400, 0)) {
		t.Fatalf("SOURCE_DATE_EPOCH ignored: %v", when)
	}
}

func TestReleaseRefusesWhatIsNotATaggedCleanCommit(t *testing.T) {
	dir, git := gitRepo(t)
	var stdout, stderr bytes.Buffer
	release := func(args ...string) error {
		return run(context.Background(), append([]string{"release"}, args...), &stdout, &stderr)
	}
	var usage usageError
	if err := release("--version", "0.1.0"); !errors.As(err, &usage) || !strings.Contains(err.Error(), "--registry") {
		t.Fatalf("without a registry: %v", err)
	}
	if err := release("--version", "0.1.0", "--registry", "127.0.0.1:5000/abra"); err == nil || !regexp.MustCompile(`tag v0\.1\.0 is not at HEAD .*git tag -a v0\.1\.0`).MatchString(err.Error()) {
		t.Fatalf("without the tag: %v", err)
	}
	git("tag", "-a", "v0.1.0", "-m", "v0.1.0")
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := release("--version", "0.1.0", "--registry", "127.0.0.1:5000/abra"); err == nil || !strings.Contains(err.Error(), "uncommitted changes") {
		t.Fatalf("with a dirty tree: %v", err)
	}
	if err := run(context.Background(), []string{"publish"}, &stdout, &stderr); !errors.As(err, &usage) {
		t.Fatalf("an unknown verb: %v", err)
	}
	if err := run(context.Background(), []string{"image", "abra-backupbot", "--load", "-o", "x.tar"}, &stdout, &stderr); !errors.As(err, &usage) {
		t.Fatalf("image with --load and -o: %v", err)
	}
}
