// Package dist makes abra's releases: abra for every platform in .tar.gz
// archives, Debian packages (nfpm), checksums, and the images of the services
// this repository ships as multi-arch OCI indexes (go-containerregistry, no
// Docker daemon, as ko builds them). Everything is reproducible: every time
// inside is the commit's time, tar entries are sorted and owned by root, Go
// builds are -trimpath with pinned settings, so the same commit gives
// byte-identical files and the same image digests on any machine with the
// same Go toolchain.
//
// The output directory is a release location as internal/release reads it
// (`abra upgrade`):
//
//	<out>/versions.json                 every version built into <out>, merged
//	<out>/latest                        the newest stable version
//	<out>/<version>/abra_<version>_<os>_<arch>.tar.gz
//	<out>/<version>/abra_<version>_<arch>.deb
//	<out>/<version>/checksums.txt       sha256sum format, every file above
//	<out>/<version>/images.json         image references and digests
//	<out>/<version>/images/<name>/      each image as an OCI image layout
package dist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"coopcloud.tech/abra/internal/atomicfile"
	"coopcloud.tech/abra/internal/release"
)

// Platform is a Go build target.
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Platforms abra is released for, and the platforms of the images.
var (
	BinaryPlatforms = []Platform{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}
	ImagePlatforms  = []Platform{{"linux", "amd64"}, {"linux", "arm64"}}
)

// Options say what to build from where.
type Options struct {
	Root     string    // the repository checkout to build
	Out      string    // the release location to write (dist/)
	Version  string    // semantic version without "v": 0.1.0, 0.1.1-snapshot.1a2b3c4d5e6f
	Commit   string    // full commit hash
	Time     time.Time // the commit's time: every mtime and creation time
	Source   string    // the repository's public URL, for org.opencontainers.image.source
	Registry string    // push images to <Registry>/<name>:<Version>; empty: OCI layouts only
	// ReleaseURL is baked into abra as the default release location of
	// `abra upgrade` when set (release.DefaultURL otherwise).
	ReleaseURL string
	Log        io.Writer
}

// Result is what Build made.
type Result struct {
	Version string   `json:"version"`
	Files   []string `json:"files"` // relative to <Out>/<Version>
	Images  []Image  `json:"images"`
}

// Build makes a release into opts.Out and pushes its images when
// opts.Registry is set.
func Build(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	dir := filepath.Join(opts.Out, opts.Version)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	res := &Result{Version: opts.Version}
	docs, err := readDocs(opts.Root)
	if err != nil {
		return nil, err
	}
	completions, err := completionScripts()
	if err != nil {
		return nil, err
	}
	for _, p := range BinaryPlatforms {
		bin, err := opts.goBuild(ctx, p, "./cmd/abra", opts.abraLDFlags())
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%s_%s_%s_%s.tar.gz", release.BinaryName, opts.Version, p.OS, p.Arch)
		files := append([]File{{Name: release.BinaryName, Mode: 0o755, Data: bin}}, docs...)
		if err := opts.writeFile(dir, name, func(w io.Writer) error { return writeTarGz(w, files, opts.Time) }); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, name)
		if p.OS == "linux" {
			name, err := opts.writeDeb(dir, p, bin, docs, completions)
			if err != nil {
				return nil, err
			}
			res.Files = append(res.Files, name)
		}
	}
	for _, spec := range images {
		img, err := opts.buildImage(ctx, spec, dir)
		if err != nil {
			return nil, err
		}
		res.Images = append(res.Images, *img)
	}
	if err := writeChecksums(dir, res.Files); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(res.Images, "", "  ")
	if err := atomicfile.Write(filepath.Join(dir, "images.json"), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := addVersion(opts.Out, opts.Version); err != nil {
		return nil, err
	}
	return res, nil
}

func (o *Options) check() error {
	v, err := semver.StrictNewVersion(o.Version)
	if err != nil || v.Metadata() != "" {
		return fmt.Errorf("version %q: want a semantic version without \"v\" or build metadata, e.g. 0.1.0 or 0.1.1-rc.1", o.Version)
	}
	if o.Root == "" || o.Out == "" || o.Commit == "" || o.Time.IsZero() {
		return errors.New("dist: Root, Out, Commit and Time are required")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

func (o *Options) logf(format string, args ...any) { fmt.Fprintf(o.Log, "dist: "+format+"\n", args...) }

// abraLDFlags embed the version, commit and date that `abra -v` prints.
func (o *Options) abraLDFlags() string {
	flags := []string{
		"-s", "-w",
		"-X coopcloud.tech/abra/internal/cli.Version=" + o.Version,
		"-X coopcloud.tech/abra/internal/cli.Commit=" + o.Commit,
		"-X coopcloud.tech/abra/internal/cli.Date=" + o.Time.UTC().Format(time.RFC3339),
	}
	if o.ReleaseURL != "" {
		flags = append(flags, "-X coopcloud.tech/abra/internal/release.DefaultURL="+o.ReleaseURL)
	}
	return strings.Join(flags, " ")
}

// goBuild builds pkg (relative to the module in dir, Root when empty) for p
// and returns the binary. Everything that changes a Go binary besides the
// source and the toolchain is pinned: no cgo, no paths, no VCS stamp, the
// baseline instruction sets.
func (o *Options) goBuild(ctx context.Context, p Platform, pkg, ldflags string, dir ...string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "abra-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bin")
	o.logf("go build %s for %s", pkg, p)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Dir = o.Root
	if len(dir) > 0 {
		cmd.Dir = dir[0]
	}
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=-mod=readonly", "GOEXPERIMENT=")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s for %s: %w\n%s", pkg, p, err, strings.TrimSpace(stderr.String()))
	}
	return os.ReadFile(out)
}

// writeFile writes dir/name whole or not at all.
func (o *Options) writeFile(dir, name string, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	o.logf("%s (%d bytes)", name, b.Len())
	return atomicfile.Write(filepath.Join(dir, name), b.Bytes(), 0o644)
}

// readDocs are the files every archive carries beside the binary.
func readDocs(root string) ([]File, error) {
	var files []File
	for _, name := range []string{"LICENSE", "README.md"} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return nil, err
		}
		files = append(files, File{Name: name, Mode: 0o644, Data: b})
	}
	return files, nil
}

// writeChecksums writes checksums.txt in sha256sum's format, which is what
// internal/release checks downloads against.
func writeChecksums(dir string, names []string) error {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	var b strings.Builder
	for _, n := range sorted {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	return atomicfile.Write(filepath.Join(dir, "checksums.txt"), []byte(b.String()), 0o644)
}

// addVersion adds version to <out>/versions.json (kept sorted, oldest
// first) and points <out>/latest at the newest stable version.
func addVersion(out, version string) error {
	path := filepath.Join(out, "versions.json")
	var list struct {
		Versions []string `json:"versions"`
	}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &list); err != nil {
			return fmt.Errorf("%s: %w (fix or remove it)", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	seen := map[string]bool{}
	var vs []*semver.Version
	for _, v := range append(list.Versions, version) {
		sv, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v"))
		if err != nil {
			return fmt.Errorf("%s lists %q, not a version (fix or remove it)", path, v)
		}
		if !seen[sv.String()] {
			seen[sv.String()] = true
			vs = append(vs, sv)
		}
	}
	sort.Sort(semver.Collection(vs))
	list.Versions = list.Versions[:0]
	latest := ""
	for _, v := range vs {
		list.Versions = append(list.Versions, v.Original())
		if v.Prerelease() == "" {
			latest = v.Original()
		}
	}
	b, _ := json.MarshalIndent(list, "", "  ")
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if latest == "" {
		return nil
	}
	return atomicfile.Write(filepath.Join(out, "latest"), []byte(latest+"\n"), 0o644)
}
