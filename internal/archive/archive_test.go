package archive

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPackUnpackRoundTrip(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"a.txt": "alpha", "sub/b.txt": "beta"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(src, "a.txt"), 0o750); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	rc := Pack(src)
	defer rc.Close()
	if err := Unpack(rc, dest); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		b, err := os.ReadFile(filepath.Join(dest, "data", name))
		if err != nil || string(b) != content {
			t.Fatalf("%s = %q, %v", name, b, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dest, "data", "a.txt")); fi.Mode().Perm() != 0o750 {
		t.Fatalf("mode = %v, want 0750 kept", fi.Mode().Perm())
	}
	// A single file packs under its own name.
	if err := Unpack(Pack(filepath.Join(src, "a.txt")), filepath.Join(dest, "one")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "one", "a.txt")); string(b) != "alpha" {
		t.Fatalf("single file = %q", b)
	}
}

func TestUnpackRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil", "/../../evil", "a/../../evil"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte("x"))
		_ = tw.Close()
		dest := t.TempDir()
		err := Unpack(&buf, dest)
		if err == nil || !strings.Contains(err.Error(), "outside") {
			t.Fatalf("entry %q: err = %v, want a refusal", name, err)
		}
	}
}

func TestRebase(t *testing.T) {
	src := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"a.txt": "alpha\n", "sub/b.txt": "beta"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, to string
		want     map[string]string // unpacked name → source name
	}{
		{name: "to a new name", to: "copy", want: map[string]string{"copy/a.txt": "a.txt", "copy/sub/b.txt": "sub/b.txt"}},
		{name: "contents only", to: "", want: map[string]string{"a.txt": "a.txt", "sub/b.txt": "sub/b.txt"}},
		{name: "same name", to: "data", want: map[string]string{"data/a.txt": "a.txt", "data/sub/b.txt": "sub/b.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := t.TempDir()
			if err := Unpack(Rebase(Pack(src), "data", tt.to), dest); err != nil {
				t.Fatal(err)
			}
			for w, from := range tt.want {
				b, err := os.ReadFile(filepath.Join(dest, w))
				orig, _ := os.ReadFile(filepath.Join(src, from))
				if err != nil || !bytes.Equal(b, orig) {
					t.Errorf("%s = %q, %v; want %q", w, b, err, orig)
				}
			}
		})
	}
	t.Run("a file to a new name", func(t *testing.T) {
		dest := t.TempDir()
		if err := Unpack(Rebase(Pack(filepath.Join(src, "a.txt")), "a.txt", "renamed.txt"), dest); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(dest, "renamed.txt")); err != nil || string(b) != "alpha\n" {
			t.Fatalf("renamed.txt = %q, %v", b, err)
		}
	})
	t.Run("an entry outside is refused", func(t *testing.T) {
		if err := Unpack(Rebase(Pack(src), "other", "x"), t.TempDir()); err == nil || !strings.Contains(err.Error(), "not under") {
			t.Fatalf("err = %v", err)
		}
	})
}
