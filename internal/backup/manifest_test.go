package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestBuildManifestHashesAndReusesUnchangedFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"a.txt": "alpha", "sub/b.bin": "\x00\x01", "sub/deep/empty": ""}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := BuildManifest("app", []string{dir}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 3 {
		t.Fatalf("files = %+v", m.Files)
	}
	for name, content := range files {
		e, ok := m.Lookup(filepath.Join(dir, name))
		sum := sha256.Sum256([]byte(content))
		if !ok || e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(content)) {
			t.Fatalf("%s: %+v", name, e)
		}
	}
	// An unchanged file keeps the previous checksum without being read: a
	// deliberately wrong previous checksum shows it was reused.
	prev := *m
	prev.Files = append([]ManifestEntry(nil), m.Files...)
	prev.Files[0].SHA256 = "reused"
	again, err := BuildManifest("app", []string{dir}, &prev, time.Now())
	if err != nil || again.Files[0].SHA256 != "reused" {
		t.Fatalf("unchanged file rehashed: %+v, %v", again.Files[0], err)
	}
	// A changed file is hashed again.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(prev.Files[0].Path, later, later); err != nil {
		t.Fatal(err)
	}
	again, err = BuildManifest("app", []string{dir}, &prev, time.Now())
	if err != nil || again.Files[0].SHA256 == "reused" {
		t.Fatalf("changed file not rehashed: %+v, %v", again.Files[0], err)
	}

	// CompareTree: a restored copy matches; damage is named; a file with
	// another mtime was changed during the backup and is not a mismatch.
	root := t.TempDir()
	for _, e := range m.Files {
		p := filepath.Join(root, e.Path)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		b, _ := os.ReadFile(e.Path)
		_ = os.WriteFile(p, b, 0o644)
		mt := time.Unix(0, e.ModTime)
		_ = os.Chtimes(p, mt, mt)
	}
	if bad, changed, err := CompareTree(root, m); err != nil || len(bad) != 0 || len(changed) != 0 {
		t.Fatalf("intact copy: %v %v %v", bad, changed, err)
	}
	a := filepath.Join(root, m.Files[0].Path)
	_ = os.WriteFile(a, []byte("ALPHA"), 0o644)
	mt := time.Unix(0, m.Files[0].ModTime)
	_ = os.Chtimes(a, mt, mt)
	_ = os.Remove(filepath.Join(root, m.Files[1].Path))
	bad, _, err := CompareTree(root, m)
	if err != nil || len(bad) != 2 || bad[0].Reason != "sha256 differs from the one recorded at backup time" || bad[1].Reason != "missing from the restored snapshot" {
		t.Fatalf("damaged copy: %+v %v", bad, err)
	}
	_ = os.Chtimes(a, later, later)
	bad, changed, _ := CompareTree(root, m)
	if len(bad) != 1 || len(changed) != 1 {
		t.Fatalf("changed during backup: bad %v changed %v", bad, changed)
	}
}
