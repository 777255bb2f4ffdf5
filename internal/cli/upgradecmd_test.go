package cli

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildAbra builds cmd/abra with the version embedded.
func buildAbra(t *testing.T, version, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, "-ldflags", "-X coopcloud.tech/abra/internal/cli.Version="+version, "coopcloud.tech/abra/cmd/abra")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build abra %s: %v\n%s", version, err, b)
	}
}

// TestSelfUpgradeReplacesTheRealBinary builds abra 0.1.0, serves a 0.2.0
// release laid out as goreleaser does, runs 'abra upgrade --url' and checks
// that the binary now says 0.2.0.
func TestSelfUpgradeReplacesTheRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds abra twice")
	}
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no go toolchain in PATH: %v", err)
		}
		t.Skip("no go toolchain in PATH")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "abra")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	buildAbra(t, "0.1.0", bin)
	next := filepath.Join(dir, "next")
	buildAbra(t, "0.2.0", next)
	newBin, err := os.ReadFile(next)
	if err != nil {
		t.Fatal(err)
	}

	var archive bytes.Buffer
	zw := gzip.NewWriter(&archive)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "abra", Mode: 0o755, Size: int64(len(newBin)), Typeflag: tar.TypeReg})
	tw.Write(newBin)
	tw.Close()
	zw.Close()
	name := "abra_0.2.0_" + runtime.GOOS + "_" + runtime.GOARCH + ".tar.gz"
	sum := sha256.Sum256(archive.Bytes())
	files := map[string][]byte{
		"/versions.json":         []byte(`{"versions": ["0.1.0", "0.2.0"]}`),
		"/0.2.0/" + name:         archive.Bytes(),
		"/0.2.0/checksums.txt":   []byte(hex.EncodeToString(sum[:]) + "  " + name + "\n"),
		"/0.1.0/checksums.txt":   []byte("unused\n"),
		"/0.2.0/unrelated.patch": []byte("unused\n"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()

	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "ABRA_DIR="+filepath.Join(dir, "abra-dir"), "ABRA_RELEASE_URL=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("abra %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("-v"); !strings.Contains(out, "0.1.0") {
		t.Fatalf("abra -v before = %q", out)
	}
	if out := run("upgrade", "--check", "--url", srv.URL); !strings.Contains(out, "would upgrade abra 0.1.0 → 0.2.0") {
		t.Fatalf("upgrade --check said %q", out)
	}
	if out := run("-v"); !strings.Contains(out, "0.1.0") {
		t.Fatalf("upgrade --check changed the binary: %q", out)
	}
	out := run("upgrade", "--url", srv.URL)
	if !strings.Contains(out, "abra upgraded: 0.1.0 → 0.2.0") {
		t.Fatalf("upgrade said %q", out)
	}
	if out := run("-v"); strings.TrimSpace(out) != "abra 0.2.0" {
		t.Fatalf("abra -v after the upgrade = %q, want abra 0.2.0", out)
	}
	if out := run("upgrade", "--url", srv.URL); !strings.Contains(out, "already the newest release") {
		t.Fatalf("second upgrade said %q", out)
	}
	entries, _ := os.ReadDir(filepath.Dir(bin))
	if len(entries) != 1 {
		t.Errorf("%d files beside the binary, want none left over", len(entries)-1)
	}
}
