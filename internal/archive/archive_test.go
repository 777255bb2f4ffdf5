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
