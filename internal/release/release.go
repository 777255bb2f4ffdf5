// Package release finds, downloads, checks and installs abra's own releases
// (`abra upgrade`).
//
// A release location is a base URL laid out as `make release` writes it
// (internal/dist):
//
//	<base>/versions.json                               {"versions": ["0.1.0", "0.2.0", "0.3.0-rc.1"]}
//	<base>/latest                                      the newest stable version, one line (read when versions.json is missing)
//	<base>/<version>/abra_<version>_<os>_<arch>.tar.gz the binary "abra" at the archive's top level
//	<base>/<version>/checksums.txt                     sha256sum format: "<hex sha256>  <file name>" per line
//
// <version> is a semantic version without a leading "v" in file names; the
// directory carries the version as versions.json spells it. A version with a
// pre-release part (0.3.0-rc.1) is a release candidate, chosen only when asked.
package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/Masterminds/semver/v3"

	"coopcloud.tech/abra/internal/atomicfile"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/step"
)

// DefaultURL is where abra looks for its releases unless --url or
// ABRA_RELEASE_URL says otherwise. A release build sets it
// (make release RELEASE_URL=…, -X coopcloud.tech/abra/internal/release.DefaultURL=…),
// so that a hoster's own builds upgrade from the hoster's own location.
var DefaultURL = "https://releases.coopcloud.tech/abra"

// BinaryName is the name of the binary inside a release archive.
const BinaryName = "abra"

// maxArchive bounds a download: abra is tens of megabytes, not gigabytes.
const maxArchive = 512 << 20

// Errors callers branch on with errors.Is.
var (
	// ErrChecksum: the archive's sha256 is not the one checksums.txt names,
	// or checksums.txt does not name the archive.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrNotFound: the release location has no such file (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrNoRelease: the release location lists no usable version.
	ErrNoRelease = errors.New("no release")
)

// Source is a release location.
type Source struct {
	BaseURL string       // DefaultURL when empty
	Client  *http.Client // http.DefaultClient when nil
	OS      string       // runtime.GOOS when empty
	Arch    string       // runtime.GOARCH when empty
}

func (s Source) base() string {
	if s.BaseURL == "" {
		return DefaultURL
	}
	return strings.TrimRight(s.BaseURL, "/")
}

func (s Source) client() *http.Client {
	if s.Client == nil {
		return http.DefaultClient
	}
	return s.Client
}

func (s Source) platform() (string, string) {
	o, a := s.OS, s.Arch
	if o == "" {
		o = runtime.GOOS
	}
	if a == "" {
		a = runtime.GOARCH
	}
	return o, a
}

// Asset names the files of one version for this OS and architecture.
type Asset struct {
	Version      string `json:"version"`
	ArchiveName  string `json:"archive"`
	ArchiveURL   string `json:"archive_url"`
	ChecksumsURL string `json:"checksums_url"`
}

// Asset returns where the archive and checksums of version are.
func (s Source) Asset(version string) Asset {
	o, a := s.platform()
	name := fmt.Sprintf("%s_%s_%s_%s.tar.gz", BinaryName, strings.TrimPrefix(version, "v"), o, a)
	dir := s.base() + "/" + version
	return Asset{Version: version, ArchiveName: name, ArchiveURL: dir + "/" + name, ChecksumsURL: dir + "/checksums.txt"}
}

// get fetches url whole (at most limit bytes).
func (s Source) get(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("get %s: %w (HTTP 404)", url, ErrNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: HTTP %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("get %s: larger than %d bytes", url, limit)
	}
	return b, nil
}

// Latest returns the newest version at the location: the highest of
// versions.json (release candidates only when rc), else the content of
// <base>/latest.
func (s Source) Latest(ctx context.Context, rc bool) (string, error) {
	b, err := s.get(ctx, s.base()+"/versions.json", 1<<20)
	if errors.Is(err, ErrNotFound) {
		b, err := s.get(ctx, s.base()+"/latest", 1<<10)
		if err != nil {
			return "", hint.With(fmt.Errorf("find the newest release: %w", err),
				"check the release location (--url or ABRA_RELEASE_URL); it needs versions.json or latest")
		}
		v := strings.TrimSpace(string(b))
		if _, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v")); err != nil {
			return "", fmt.Errorf("find the newest release: %s/latest holds %q, not a version: %w", s.base(), v, ErrNoRelease)
		}
		return v, nil
	}
	if err != nil {
		return "", hint.With(fmt.Errorf("find the newest release: %w", err), "check the release location (--url or ABRA_RELEASE_URL) and the network")
	}
	var list struct {
		Versions []string `json:"versions"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return "", fmt.Errorf("find the newest release: %s/versions.json: %w", s.base(), err)
	}
	best, bestV := "", (*semver.Version)(nil)
	for _, v := range list.Versions {
		sv, err := semver.StrictNewVersion(strings.TrimPrefix(v, "v"))
		if err != nil || (sv.Prerelease() != "" && !rc) {
			continue
		}
		if bestV == nil || sv.GreaterThan(bestV) {
			best, bestV = v, sv
		}
	}
	if best == "" {
		what := "stable version"
		if rc {
			what = "version"
		}
		return "", fmt.Errorf("find the newest release: %s/versions.json lists no %s: %w", s.base(), what, ErrNoRelease)
	}
	return best, nil
}

// Newer reports whether version latest is newer than current. A current
// version that is not a semantic version ("dev", a commit) is never newer
// nor older: ok is false.
func Newer(current, latest string) (newer, ok bool) {
	c, err := semver.NewVersion(strings.TrimPrefix(current, "v"))
	if err != nil {
		return false, false
	}
	l, err := semver.NewVersion(strings.TrimPrefix(latest, "v"))
	if err != nil {
		return false, false
	}
	return l.GreaterThan(c), true
}

// Fetch downloads the version's archive, checks its sha256 against the
// version's checksums.txt and returns the abra binary it holds. Nothing is
// written to disk.
func (s Source) Fetch(ctx context.Context, version string, obs step.Observer) ([]byte, error) {
	asset := s.Asset(version)
	var archive, sums, bin []byte
	err := step.Run(ctx, obs,
		step.Step{Name: "download", Run: func(ctx context.Context) error {
			var err error
			if archive, err = s.get(ctx, asset.ArchiveURL, maxArchive); err != nil {
				if errors.Is(err, ErrNotFound) {
					o, a := s.platform()
					return hint.With(err, fmt.Sprintf("release %s has no build for %s/%s", version, o, a))
				}
				return err
			}
			if obs != nil {
				obs.Note("download", fmt.Sprintf("%s: %d bytes", asset.ArchiveName, len(archive)))
			}
			return nil
		}},
		step.Step{Name: "verify checksum", Run: func(ctx context.Context) error {
			var err error
			if sums, err = s.get(ctx, asset.ChecksumsURL, 1<<20); err != nil {
				return hint.With(fmt.Errorf("%w: %w", ErrChecksum, err), "a release without checksums is not installed; the binary was not replaced")
			}
			want, ok := lookupChecksum(sums, asset.ArchiveName)
			if !ok {
				return hint.With(fmt.Errorf("%w: checksums.txt of %s does not name %s", ErrChecksum, version, asset.ArchiveName),
					"the release is incomplete; the binary was not replaced")
			}
			sum := sha256.Sum256(archive)
			if got := hex.EncodeToString(sum[:]); got != want {
				return hint.With(fmt.Errorf("%w: %s has sha256 %s, checksums.txt says %s", ErrChecksum, asset.ArchiveName, got, want),
					"the download was damaged or tampered with; the binary was not replaced")
			}
			if obs != nil {
				obs.Note("verify checksum", "sha256 "+want+" matches checksums.txt")
			}
			return nil
		}},
		step.Step{Name: "extract", Run: func(ctx context.Context) error {
			var err error
			bin, err = extract(archive)
			return err
		}},
	)
	if err != nil {
		return nil, fmt.Errorf("fetch abra %s: %w", version, err)
	}
	return bin, nil
}

// lookupChecksum finds name's hex sha256 in sha256sum output ("<sum>  <name>",
// or "<sum> *<name>" for binary mode).
func lookupChecksum(sums []byte, name string) (string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		if strings.TrimPrefix(f[1], "*") == name && len(f[0]) == 64 {
			if _, err := hex.DecodeString(f[0]); err == nil {
				return strings.ToLower(f[0]), true
			}
		}
	}
	return "", false
}

// extract returns the regular file named abra in the gzipped tar archive.
func extract(archive []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read archive: no file %q in it", BinaryName)
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg || path.Base(path.Clean(h.Name)) != BinaryName {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxArchive))
		if err != nil {
			return nil, fmt.Errorf("read archive: %s: %w", h.Name, err)
		}
		if int64(len(b)) != h.Size || len(b) == 0 {
			return nil, fmt.Errorf("read archive: %s: %d of %d bytes", h.Name, len(b), h.Size)
		}
		return b, nil
	}
}

// Replace puts bin in place of the file at target atomically: it is written
// beside target, synced, given target's permissions and renamed over it, so
// target is always either the old binary or the new one. A symlink is
// followed: the file it points to is replaced.
func Replace(target string, bin []byte) error {
	real, err := filepath.EvalSymlinks(target)
	if err != nil {
		return fmt.Errorf("replace %s: %w", target, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("replace %s: %w", real, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("replace %s: not a regular file", real)
	}
	perm := st.Mode().Perm() | 0o111
	if err := atomicfile.Write(real, bin, perm); err != nil {
		err = fmt.Errorf("replace %s: %w", real, err)
		if errors.Is(err, os.ErrPermission) {
			return hint.With(err, "abra cannot write to "+filepath.Dir(real)+": run 'abra upgrade' as the user who installed it (e.g. with sudo)")
		}
		return err
	}
	return nil
}

// Plan is what an upgrade would do.
type Plan struct {
	Current string `json:"current"`
	Latest  string `json:"latest"`
	// Upgrade is true when Latest is to be installed.
	Upgrade bool   `json:"upgrade"`
	Reason  string `json:"reason"`
	Target  string `json:"target"`
	Asset   Asset  `json:"asset"`
}

// PlanOptions tune Check.
type PlanOptions struct {
	RC    bool // consider release candidates
	Force bool // install Latest even when it is not newer (or current is not a version)
}

// Check finds the newest release and decides whether to install it in place
// of target (the running binary), which runs version current.
func (s Source) Check(ctx context.Context, current, target string, o PlanOptions) (Plan, error) {
	latest, err := s.Latest(ctx, o.RC)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Current: current, Latest: latest, Target: target, Asset: s.Asset(latest)}
	newer, ok := Newer(current, latest)
	switch {
	case o.Force:
		p.Upgrade, p.Reason = true, "forced"
	case !ok:
		p.Reason = fmt.Sprintf("this abra's version %q is not a release version (a development build): pass --force to replace it with %s", current, latest)
	case newer:
		p.Upgrade, p.Reason = true, "newer release"
	default:
		p.Reason = "already the newest release"
	}
	return p, nil
}

// Apply fetches and verifies the plan's release and replaces the target with
// it. When anything fails the target is left as it was.
func (s Source) Apply(ctx context.Context, p Plan, obs step.Observer) error {
	bin, err := s.Fetch(ctx, p.Latest, obs)
	if err != nil {
		return err
	}
	return step.Run(ctx, obs, step.Step{Name: "replace binary", Run: func(ctx context.Context) error {
		return Replace(p.Target, bin)
	}})
}
