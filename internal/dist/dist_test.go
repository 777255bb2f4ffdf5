package dist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blakesmith/ar"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var t0 = time.Date(2026, 12, 6, 5, 42, 0, 0, time.UTC)

func tarEntries(t *testing.T, r io.Reader) []*tar.Header {
	t.Helper()
	var hs []*tar.Header
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
}

func TestWriteTarIsTheSameWhateverTheOrderAndAddsParents(t *testing.T) {
	files := []File{
		{Name: "usr/bin/restic", Mode: 0o755, Data: []byte("restic")},
		{Name: "tmp", Mode: 0o1777, Dir: true},
		{Name: "/backupbot", Mode: 0o755, Data: []byte("bot")},
		{Name: "usr/bin/ssh", Mode: 0o777, Link: "/backupbot"},
	}
	var a, b bytes.Buffer
	if err := writeTar(&a, files, t0.Add(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	reversed := []File{files[3], files[2], files[1], files[0]}
	if err := writeTar(&b, reversed, t0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same files in another order (and a sub-second time) gave other bytes")
	}
	var names []string
	for _, h := range tarEntries(t, &a) {
		names = append(names, h.Name)
		if !h.ModTime.Equal(t0) || h.Uid != 0 || h.Gid != 0 || h.Uname != "root" {
			t.Errorf("%s: time %v uid %d gid %d %q", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname)
		}
		switch h.Name {
		case "tmp/":
			if h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
				t.Errorf("tmp/: type %c mode %o, want a sticky 1777 directory", h.Typeflag, h.Mode)
			}
		case "usr/", "usr/bin/":
			if h.Typeflag != tar.TypeDir || h.Mode != 0o755 {
				t.Errorf("implicit parent %s: type %c mode %o", h.Name, h.Typeflag, h.Mode)
			}
		case "usr/bin/ssh":
			if h.Typeflag != tar.TypeSymlink || h.Linkname != "/backupbot" {
				t.Errorf("usr/bin/ssh: type %c → %q", h.Typeflag, h.Linkname)
			}
		}
	}
	if got := strings.Join(names, " "); got != "backupbot tmp/ usr/ usr/bin/ usr/bin/restic usr/bin/ssh" {
		t.Fatalf("entries %s", got)
	}
}

func TestWriteTarRefusesDuplicatesAndEmptyNames(t *testing.T) {
	for _, files := range [][]File{
		{{Name: "a", Data: []byte("1")}, {Name: "./a", Data: []byte("2")}},
		{{Name: "/", Data: []byte("1")}},
		{{Name: "d", Dir: true, Data: []byte("x")}},
	} {
		if err := writeTar(io.Discard, files, t0); err == nil {
			t.Errorf("%v: no error", files)
		}
	}
}

func TestWriteTarGzHasNoNameOrTime(t *testing.T) {
	var b bytes.Buffer
	if err := writeTarGz(&b, []File{{Name: "abra", Mode: 0o755, Data: []byte("x")}}, t0); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Fatalf("gzip header name %q time %v", zr.Name, zr.ModTime)
	}
}

func TestAddVersionMergesSortsAndPointsLatestAtTheNewestStable(t *testing.T) {
	out := t.TempDir()
	for _, v := range []string{"0.2.0", "0.1.0", "0.3.0-rc.1", "0.2.0"} {
		if err := addVersion(out, v); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(out, "versions.json"))
	if want := "{\n  \"versions\": [\n    \"0.1.0\",\n    \"0.2.0\",\n    \"0.3.0-rc.1\"\n  ]\n}\n"; string(got) != want {
		t.Fatalf("versions.json:\n%s", got)
	}
	if latest, _ := os.ReadFile(filepath.Join(out, "latest")); string(latest) != "0.2.0\n" {
		t.Fatalf("latest = %q", latest)
	}
	if err := os.WriteFile(filepath.Join(out, "versions.json"), []byte(`{"versions": ["main"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := addVersion(out, "0.4.0"); err == nil || !strings.Contains(err.Error(), "versions.json") || !strings.Contains(err.Error(), `"main"`) {
		t.Fatalf("a bad versions.json: %v", err)
	}
}

func TestWriteChecksumsInSha256sumFormat(t *testing.T) {
	dir := t.TempDir()
	for n, c := range map[string]string{"b.tar.gz": "b", "a.deb": "a"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeChecksums(dir, []string{"b.tar.gz", "a.deb"}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "checksums.txt"))
	want := "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  a.deb\n" +
		"3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  b.tar.gz\n"
	if string(got) != want {
		t.Fatalf("checksums.txt:\n%s", got)
	}
}

func TestOptionsWantASemanticVersion(t *testing.T) {
	for _, v := range []string{"v0.1.0", "0.1", "0.1.0+3", "main", ""} {
		o := Options{Root: ".", Out: ".", Commit: "c", Time: t0, Version: v}
		if err := o.check(); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
	o := Options{Root: ".", Out: ".", Commit: "c", Time: t0, Version: "0.1.1-snapshot.20261206054200.g1a2b3c4d5e6f"}
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
}

// testImage is an image spec with fixed files: no Go build.
var testImage = imageSpec{
	Name:        "test",
	Description: "a test image",
	files: func(ctx context.Context, o *Options, p Platform) ([]File, error) {
		return []File{{Name: "bin", Mode: 0o755, Data: []byte("binary for " + p.String())}}, nil
	},
	config: func(o *Options) (v1.Config, error) {
		return v1.Config{Entrypoint: []string{"/bin"}, Labels: map[string]string{"own": "label"}}, nil
	},
}

func TestIndexIsMultiArchAnnotatedAndReproducible(t *testing.T) {
	o := Options{Root: ".", Out: ".", Commit: "1a2b3c", Time: t0, Version: "0.1.0", Source: "https://example.org/abra", Log: io.Discard}
	idx, err := o.Index(context.Background(), testImage)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex || len(m.Manifests) != 2 {
		t.Fatalf("index %s with %d manifests", m.MediaType, len(m.Manifests))
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  "0.1.0",
		"org.opencontainers.image.revision": "1a2b3c",
		"org.opencontainers.image.source":   "https://example.org/abra",
		"org.opencontainers.image.created":  "2026-12-06T05:42:00Z",
	} {
		if m.Annotations[k] != want {
			t.Errorf("index annotation %s = %q, want %q", k, m.Annotations[k], want)
		}
	}
	for i, p := range ImagePlatforms {
		d := m.Manifests[i]
		if d.Platform.OS != p.OS || d.Platform.Architecture != p.Arch {
			t.Fatalf("manifest %d is for %v, want %s", i, d.Platform, p)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != p.Arch || !cf.Created.Time.Equal(t0) || cf.Config.Labels["own"] != "label" ||
			cf.Config.Labels["org.opencontainers.image.revision"] != "1a2b3c" || cf.Config.Entrypoint[0] != "/bin" {
			t.Errorf("%s config: %+v", p, cf)
		}
	}
	again, err := o.Index(context.Background(), testImage)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := idx.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Fatalf("two builds: %s, %s", d1, d2)
	}
	o.Time = t0.Add(time.Second)
	later, err := o.Index(context.Background(), testImage)
	if err != nil {
		t.Fatal(err)
	}
	if d3, _ := later.Digest(); d3 == d1 {
		t.Fatal("another commit time gave the same digest: the time is not in the image")
	}
}

func TestDebIsReproducibleAndHoldsAbra(t *testing.T) {
	o := Options{Root: ".", Out: ".", Commit: "1a2b3c", Time: t0, Version: "0.1.0-rc.1", Log: io.Discard}
	completions := map[string][]byte{"/usr/share/bash-completion/completions/abra": []byte("complete\n")}
	docs := []File{{Name: "LICENSE", Mode: 0o644, Data: []byte("GPL\n")}}
	build := func() []byte {
		dir := t.TempDir()
		name, err := o.writeDeb(dir, Platform{"linux", "arm64"}, []byte("the binary"), docs, completions)
		if err != nil {
			t.Fatal(err)
		}
		if name != "abra_0.1.0-rc.1_arm64.deb" {
			t.Fatalf("deb name %s", name)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	deb := build()
	if !bytes.Equal(deb, build()) {
		t.Fatal("two builds of one .deb differ")
	}
	members := map[string][]byte{}
	r := ar.NewReader(bytes.NewReader(deb))
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		members[strings.TrimSuffix(h.Name, "/")] = b
	}
	control := string(tarGzMember(t, members["control.tar.gz"], "./control"))
	for _, want := range []string{"Package: abra\n", "Architecture: arm64\n", "Version: 0.1.0~rc.1\n", "Maintainer: "} {
		if !strings.Contains(control, want) {
			t.Errorf("control lacks %q:\n%s", want, control)
		}
	}
	if got := tarGzMember(t, members["data.tar.gz"], "./usr/bin/abra"); string(got) != "the binary" {
		t.Errorf("/usr/bin/abra = %q", got)
	}
	if got := tarGzMember(t, members["data.tar.gz"], "./usr/share/doc/abra/copyright"); string(got) != "GPL\n" {
		t.Errorf("copyright = %q", got)
	}
}

func tarGzMember(t *testing.T, gz []byte, name string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("no %s", name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			b, _ := io.ReadAll(tr)
			return b
		}
	}
}
