package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"coopcloud.tech/abra/internal/recipe"
)

// The image has no git binary: a recipe remote that is a directory with a
// work tree must clone in process.
func TestCloneLocalRemoteWithoutGit(t *testing.T) {
	src := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "--allow-empty", "-m", "first"},
		{"-c", "user.name=t", "-c", "user.email=t@example.org", "tag", "-a", "1.0.0+1", "-m", "1.0.0+1"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	t.Setenv("PATH", t.TempDir()) // no git-upload-pack to be found
	repo, err := recipe.Clone(context.Background(), src, filepath.Join(t.TempDir(), "r"))
	if err != nil {
		t.Fatalf("clone without git: %v", err)
	}
	rels, err := repo.Versions()
	if err != nil || len(rels) != 1 || rels[0].Tag != "1.0.0+1" {
		t.Fatalf("versions = %v, %v", rels, err)
	}
	if err := os.RemoveAll(repo.Dir()); err != nil {
		t.Fatal(err)
	}
}
