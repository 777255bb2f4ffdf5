package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// tgz builds a gzipped tar holding the files.
func tgz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, b := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sumLine(b []byte, name string) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]) + "  " + name + "\n"
}

// server serves files by path; anything else is 404.
func server(t *testing.T, files map[string][]byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUpgrade(t *testing.T) {
	const name = "abra_0.2.0_linux_amd64.tar.gz"
	newBin := []byte("#!/bin/sh\necho abra 0.2.0\n")
	good := tgz(t, map[string][]byte{"README.md": []byte("readme"), "abra": newBin})
	truncated := good[:len(good)/2]
	tests := []struct {
		name    string
		files   map[string][]byte
		wantErr error // nil: the binary is replaced
	}{
		{"good release replaces the binary", map[string][]byte{
			"/r/versions.json":       []byte(`{"versions": ["0.1.0", "0.2.0", "0.3.0-rc.1", "junk"]}`),
			"/r/0.2.0/" + name:       good,
			"/r/0.2.0/checksums.txt": []byte(sumLine([]byte("other"), "abra_0.2.0_darwin_arm64.tar.gz") + sumLine(good, name)),
			"/r/0.3.0-rc.1/" + name:  []byte("a release candidate, not fetched without --rc"),
			"/r/latest":              []byte("0.1.0\n"), // versions.json wins
		}, nil},
		{"latest file when there is no versions.json", map[string][]byte{
			"/r/latest":              []byte("0.2.0\n"),
			"/r/0.2.0/" + name:       good,
			"/r/0.2.0/checksums.txt": []byte(sumLine(good, name)),
		}, nil},
		{"bad checksum", map[string][]byte{
			"/r/latest":              []byte("0.2.0\n"),
			"/r/0.2.0/" + name:       good,
			"/r/0.2.0/checksums.txt": []byte(sumLine([]byte("something else"), name)),
		}, ErrChecksum},
		{"checksums.txt missing", map[string][]byte{
			"/r/latest":        []byte("0.2.0\n"),
			"/r/0.2.0/" + name: good,
		}, ErrChecksum},
		{"archive not named in checksums.txt", map[string][]byte{
			"/r/latest":              []byte("0.2.0\n"),
			"/r/0.2.0/" + name:       good,
			"/r/0.2.0/checksums.txt": []byte(sumLine(good, "abra_0.2.0_linux_arm64.tar.gz")),
		}, ErrChecksum},
		{"archive 404", map[string][]byte{
			"/r/latest":              []byte("0.2.0\n"),
			"/r/0.2.0/checksums.txt": []byte(sumLine(good, name)),
		}, ErrNotFound},
		{"truncated archive with its own checksum", map[string][]byte{
			"/r/latest":              []byte("0.2.0\n"),
			"/r/0.2.0/" + name:       truncated,
			"/r/0.2.0/checksums.txt": []byte(sumLine(truncated, name)),
		}, errAny},
		{"truncated archive, checksum of the whole", map[string][]byte{
			"/r/latest":              []byte("0.2.0\n"),
			"/r/0.2.0/" + name:       truncated,
			"/r/0.2.0/checksums.txt": []byte(sumLine(good, name)),
		}, ErrChecksum},
		{"archive without abra", map[string][]byte{
			"/r/latest":              []byte("0.2.0\n"),
			"/r/0.2.0/" + name:       tgz(t, map[string][]byte{"abra-other": newBin}),
			"/r/0.2.0/checksums.txt": []byte(sumLine(tgz(t, map[string][]byte{"abra-other": newBin}), name)),
		}, errAny},
		{"no release at all", map[string][]byte{}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := server(t, tt.files)
			dir := t.TempDir()
			target := filepath.Join(dir, "abra")
			old := []byte("old binary")
			if err := os.WriteFile(target, old, 0o750); err != nil {
				t.Fatal(err)
			}
			src := Source{BaseURL: srv.URL + "/r/", OS: "linux", Arch: "amd64"}
			ctx := context.Background()
			plan, err := src.Check(ctx, "0.1.0", target, PlanOptions{})
			if err == nil {
				if plan.Latest != "0.2.0" || !plan.Upgrade {
					t.Fatalf("plan = %+v, want an upgrade to 0.2.0", plan)
				}
				err = src.Apply(ctx, plan, nil)
			}
			got, rerr := os.ReadFile(target)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("upgrade: %v", err)
				}
				if !bytes.Equal(got, newBin) {
					t.Fatalf("binary = %q, want the new one", got)
				}
				st, _ := os.Stat(target)
				if st.Mode().Perm() != 0o751 {
					t.Errorf("mode = %v, want the old permissions plus x", st.Mode().Perm())
				}
			} else {
				if err == nil {
					t.Fatal("upgrade succeeded, want an error")
				}
				if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v, want %v", err, tt.wantErr)
				}
				if !bytes.Equal(got, old) {
					t.Fatalf("binary changed to %q after a failed upgrade", got)
				}
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("directory holds %d files, want only the binary (no temporary file left)", len(entries))
			}
		})
	}
}

var errAny = errors.New("any error")

func TestCheck(t *testing.T) {
	srv := server(t, map[string][]byte{"/versions.json": []byte(`{"versions": ["v0.1.0", "0.2.0", "0.3.0-rc.1"]}`)})
	src := Source{BaseURL: srv.URL}
	tests := []struct {
		name    string
		current string
		o       PlanOptions
		latest  string
		upgrade bool
	}{
		{"older is upgraded", "0.1.0", PlanOptions{}, "0.2.0", true},
		{"newest is left alone", "0.2.0", PlanOptions{}, "0.2.0", false},
		{"newer than the newest is left alone", "0.2.1", PlanOptions{}, "0.2.0", false},
		{"release candidates on request", "0.2.0", PlanOptions{RC: true}, "0.3.0-rc.1", true},
		{"a development build needs --force", "dev", PlanOptions{}, "0.2.0", false},
		{"force", "dev", PlanOptions{Force: true}, "0.2.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := src.Check(context.Background(), tt.current, "/x", tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if p.Latest != tt.latest || p.Upgrade != tt.upgrade {
				t.Errorf("plan = %+v, want latest %s upgrade %v", p, tt.latest, tt.upgrade)
			}
		})
	}
}

func TestAssetNames(t *testing.T) {
	a := Source{BaseURL: "https://example.org/rel/", OS: "linux", Arch: "arm64"}.Asset("v1.2.3")
	want := Asset{Version: "v1.2.3", ArchiveName: "abra_1.2.3_linux_arm64.tar.gz",
		ArchiveURL:   "https://example.org/rel/v1.2.3/abra_1.2.3_linux_arm64.tar.gz",
		ChecksumsURL: "https://example.org/rel/v1.2.3/checksums.txt"}
	if a != want {
		t.Errorf("%s", fmt.Sprintf("asset = %+v\nwant    %+v", a, want))
	}
}
