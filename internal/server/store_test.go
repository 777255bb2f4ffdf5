package server

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"coopcloud.tech/abra/internal/guard"
)

func TestRemoveStaysInsideItsFolder(t *testing.T) {
	root := t.TempDir()
	abraDir := filepath.Join(root, "abra")
	s := Store{Dir: filepath.Join(abraDir, "servers")}
	for _, n := range []string{"one", "two"} {
		if _, err := s.Add(n); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.Path(n), "app."+n+".env"), []byte("TYPE=web\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	victim := filepath.Join(root, "x")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"..", ".", "", "../../x", "../servers", "one/..", "/"} {
		if err := s.Remove(name, true); !errors.Is(err, guard.ErrInvalid) {
			t.Errorf("Remove(%q) = %v, want guard.ErrInvalid", name, err)
		}
	}
	for _, p := range []string{victim, s.Path("one"), s.Path("two")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is gone: %v", p, err)
		}
	}
	if err := s.Remove("one", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path("one")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("one not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Path("two"), "app.two.env")); err != nil {
		t.Fatalf("another server's env file is gone: %v", err)
	}
}

func TestRemoveUnlinksASymlinkedServer(t *testing.T) {
	root := t.TempDir()
	s := Store{Dir: filepath.Join(root, "servers")}
	shared := filepath.Join(root, "shared-repo", "one")
	if err := os.MkdirAll(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(shared, "app.env"), []byte("TYPE=web\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, s.Path("one")); err != nil {
		t.Fatal(err)
	}
	if !s.Exists("one") {
		t.Fatal("a symlinked server folder is a server")
	}
	if err := s.Remove("one", true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(shared, "app.env")); err != nil {
		t.Fatalf("the operator's shared folder lost its file: %v", err)
	}
}
