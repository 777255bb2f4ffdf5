package envfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name     string
		existing fs.FileMode // 0: no file yet
		want     fs.FileMode
	}{
		{"new file is private", 0, 0o600},
		{"keeps mode", 0o640, 0o640},
		{"keeps wider mode", 0o644, 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "blog.example.org.env")
			if tt.existing != 0 {
				writeOld(t, path, tt.existing)
			}
			f := mustParse(t, "A=1\n")
			if err := f.Set("B", "2"); err != nil {
				t.Fatal(err)
			}
			if err := f.WriteFile(path); err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			assertFile(t, path, "A=1\nB=2\n", tt.want)
			assertNoTemp(t, filepath.Dir(path))
		})
	}
}

func TestSave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.env")
	writeOld(t, path, 0o600)
	f, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path() != path {
		t.Errorf("Path() = %q, want %q", f.Path(), path)
	}
	if err := f.Set("OLD", "new"); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	assertFile(t, path, "OLD=new\n", 0o600)
}

func TestWriteFileFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.env")
	writeOld(t, target, 0o640)
	link := filepath.Join(dir, "link.env")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := mustParse(t, "A=1\n").WriteFile(link); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", fi, err)
	}
	assertFile(t, target, "A=1\n", 0o640)
}

// TestWriteFileFailureKeepsOriginal makes each stage of the write fail in a
// way that also fails for root, which ignores permission bits.
func TestWriteFileFailureKeepsOriginal(t *testing.T) {
	t.Run("temp file cannot be created", func(t *testing.T) {
		// The temporary name adds to the base name, pushing it past
		// NAME_MAX (255) while the file itself is still valid.
		path := filepath.Join(t.TempDir(), strings.Repeat("a", 250))
		writeOld(t, path, 0o640)
		if err := mustParse(t, "A=1\n").WriteFile(path); err == nil {
			t.Fatal("WriteFile succeeded, want an error")
		}
		assertFile(t, path, "OLD=1\n", 0o640)
		assertNoTemp(t, filepath.Dir(path))
	})
	t.Run("rename fails", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "app.env")
		writeOld(t, filepath.Join(path, "inside"), 0o600) // path is a non-empty directory
		if err := mustParse(t, "A=1\n").WriteFile(path); err == nil {
			t.Fatal("WriteFile succeeded, want an error")
		}
		assertFile(t, filepath.Join(path, "inside"), "OLD=1\n", 0o600)
		assertNoTemp(t, dir)
	})
	t.Run("directory not writable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root ignores directory permissions; covered by the cases above")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "app.env")
		writeOld(t, path, 0o600)
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		if err := mustParse(t, "A=1\n").WriteFile(path); err == nil {
			t.Fatal("WriteFile succeeded, want an error")
		}
		assertFile(t, path, "OLD=1\n", 0o600)
	})
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.env"))
	if !os.IsNotExist(err) {
		t.Fatalf("Load() error = %v, want not exist", err)
	}
}

func writeOld(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("OLD=1\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask
		t.Fatal(err)
	}
}

func assertFile(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != content {
		t.Errorf("%s = %q, want %q", path, data, content)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
		t.Errorf("%s mode = %v, want %v (%v)", path, fi.Mode().Perm(), mode, err)
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
