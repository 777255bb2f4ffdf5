package recipe

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"github.com/go-git/go-git/v5/plumbing/object"
	"go.yaml.in/yaml/v3"

	"coopcloud.tech/abra/internal/hint"
)

// ErrNothingChanged means the work tree is what the last release holds
// (release notes and the version label aside).
var ErrNothingChanged = errors.New("nothing changed since the last release")

// ImageBump is an image whose tag changed since the last release.
type ImageBump struct {
	File    string `json:"file"`
	Service string `json:"service"`
	Image   string `json:"image"`
	From    string `json:"from"`
	To      string `json:"to"`
	Bump    string `json:"bump"`
	bump    Bump
}

// Changes is what changed in a recipe's work tree since a release.
type Changes struct {
	Since  string      `json:"since"` // the release's tag; "" before the first release
	Images []ImageBump `json:"images"`
	// Files are the other files added, removed or changed (compose files
	// count when more than their image tags and version label changed).
	// Release notes (release/) do not count.
	Files []string `json:"files"`
}

// Bump is the recipe version step the changes call for: the largest image
// bump; a patch when only other files changed; BumpNone when nothing did.
func (c Changes) Bump() Bump {
	b := BumpNone
	for _, i := range c.Images {
		b = max(b, i.bump)
	}
	if b == BumpNone && len(c.Files) > 0 {
		b = BumpPatch
	}
	return b
}

// releaseNotesDir holds release notes: release/<version>, release/next.
const releaseNotesDir = "release"

// ChangesSince compares the work tree (uncommitted changes included,
// ignored files excluded) with the release tagged tag; tag "" compares with
// nothing, so every file is new.
func (r *Repo) ChangesSince(tag string) (Changes, error) {
	ch := Changes{Since: tag, Images: []ImageBump{}, Files: []string{}}
	old := map[string][]byte{}
	if tag != "" {
		c, err := r.commitAt(tag)
		if err != nil {
			return ch, err
		}
		files, err := c.Files()
		if err != nil {
			return ch, fmt.Errorf("%s: read tree: %w", tag, err)
		}
		err = files.ForEach(func(f *object.File) error {
			s, err := f.Contents()
			old[f.Name] = []byte(s)
			return err
		})
		if err != nil {
			return ch, fmt.Errorf("%s: read tree: %w", tag, err)
		}
	}
	current, err := r.workTreeFiles()
	if err != nil {
		return ch, err
	}
	seen := map[string]bool{}
	for _, name := range current {
		seen[name] = true
		if strings.HasPrefix(name, releaseNotesDir+"/") {
			continue
		}
		data, err := readWorkTreeFile(filepath.Join(r.dir, filepath.FromSlash(name)))
		if err != nil {
			return ch, err
		}
		prev, existed := old[name]
		switch {
		case !existed:
			ch.Files = append(ch.Files, name)
		case bytes.Equal(prev, data):
		case isComposeFile(name):
			same, bumps, err := compareCompose(name, prev, data)
			if err != nil {
				return ch, err
			}
			ch.Images = append(ch.Images, bumps...)
			if !same {
				ch.Files = append(ch.Files, name)
			}
		default:
			ch.Files = append(ch.Files, name)
		}
	}
	for name := range old {
		if !seen[name] && !strings.HasPrefix(name, releaseNotesDir+"/") {
			ch.Files = append(ch.Files, name)
		}
	}
	slices.Sort(ch.Files)
	return ch, nil
}

// readWorkTreeFile reads a file as git stores it: a symlink is its target.
func readWorkTreeFile(p string) ([]byte, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(p)
		return []byte(target), err
	}
	return os.ReadFile(p)
}

func isComposeFile(name string) bool {
	return name == "compose.yml" || (path.Dir(name) == "." && strings.HasPrefix(name, "compose.") && strings.HasSuffix(name, ".yml"))
}

// compareCompose compares two versions of a compose file: the image tags
// that changed, and whether everything else (the version label aside) is the
// same.
func compareCompose(name string, oldData, newData []byte) (same bool, bumps []ImageBump, err error) {
	oldDoc, err := parseComposeText(name, oldData)
	if err != nil {
		return false, nil, err
	}
	newDoc, err := parseComposeText(name, newData)
	if err != nil {
		return false, nil, err
	}
	oldImages := map[string]ImageLine{}
	for _, l := range oldDoc.imageLines(name) {
		oldImages[l.Service] = l
	}
	for _, l := range newDoc.imageLines(name) {
		o, ok := oldImages[l.Service]
		if !ok || o.Ref == l.Ref {
			continue
		}
		b := BumpMajor // another image altogether
		if o.Image == l.Image {
			b = TagBump(o.Tag, l.Tag)
		}
		bumps = append(bumps, ImageBump{File: name, Service: l.Service, Image: l.Image, From: o.Tag, To: l.Tag, Bump: b.String(), bump: b})
	}
	return oldDoc.skeleton() == newDoc.skeleton(), bumps, nil
}

// skeleton is the file with its image lines and the version label line
// blanked out: what is left to compare once those are accounted for.
func (d *composeText) skeleton() string {
	lines := slices.Clone(d.lines)
	blank := func(n *yaml.Node, what string) {
		if n != nil && n.Line >= 1 && n.Line <= len(lines) {
			lines[n.Line-1] = "\x00" + what + "\n"
		}
	}
	for _, s := range d.services() {
		blank(mapValue(s.node, "image"), "image "+s.name)
		if label, _, err := d.versionLabel(s.name); err == nil {
			blank(label, "version "+s.name)
		}
	}
	return strings.Join(lines, "")
}

// workTreeFiles lists the files of the work tree that git would track:
// everything but .git and what .gitignore files and .git/info/exclude ignore.
func (r *Repo) workTreeFiles() ([]string, error) {
	ps, err := gitignore.ReadPatterns(osfs.New(r.dir), nil)
	if err != nil {
		return nil, fmt.Errorf("read .gitignore of %s: %w", r.dir, err)
	}
	m := gitignore.NewMatcher(append(ps, r.infoExcludes()...))
	var out []string
	err = filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(r.dir, p)
		if rel == "." {
			return nil
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if d.IsDir() {
			if d.Name() == ".git" || m.Match(parts, true) {
				return filepath.SkipDir
			}
			return nil
		}
		if !m.Match(parts, false) {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out, err
}

// SyncResult is the version sync chose and why.
type SyncResult struct {
	Previous string  `json:"previous"` // the last release, "" before the first
	Version  string  `json:"version"`
	Bump     string  `json:"bump"` // patch, minor, major; "none" for a version given or the first release
	Changes  Changes `json:"changes"`
}

// FirstRecipeVersion is the recipe part of a recipe's first release.
const FirstRecipeVersion = "0.1.0"

// NextVersion computes the version after latest (nil before the first
// release) for changes: the recipe part steps by changes.Bump(), the
// upstream part is upstream (the main service's image tag), or latest's when
// upstream is "". The first release is 0.1.0+<upstream>.
func NextVersion(latest *Version, changes Changes, upstream string) (Version, error) {
	if latest != nil && upstream == "" {
		upstream = latest.Upstream()
	}
	var next semver.Version
	switch {
	case latest == nil:
		next = *semver.MustParse(FirstRecipeVersion)
	default:
		switch changes.Bump() {
		case BumpNone:
			return Version{}, fmt.Errorf("%w (%s)", ErrNothingChanged, latest)
		case BumpPatch:
			next = latest.Recipe().IncPatch()
		case BumpMinor:
			next = latest.Recipe().IncMinor()
		case BumpMajor:
			next = latest.Recipe().IncMajor()
		}
	}
	s := next.String()
	if upstream != "" {
		s += "+" + upstream
	}
	return ParseVersion(s)
}

// BumpedVersion is the version after the latest release with its recipe part
// stepped by b (abra's -x/-y/-z), whatever changed; the upstream part is the
// main service's image tag, or the latest release's. Before the first release
// it steps from 0.0.0 (so -z gives 0.0.1, -y 0.1.0, -x 1.0.0).
func (r *Repo) BumpedVersion(b Bump) (string, error) {
	base, upstream := semver.MustParse("0.0.0"), ""
	switch rel, err := r.Latest(); {
	case err == nil:
		base, upstream = rel.Version.Recipe(), rel.Version.Upstream()
	case !errors.Is(err, ErrNoReleases):
		return "", err
	}
	if tag, err := mainTag(r.dir); err != nil {
		return "", err
	} else if tag != "" {
		upstream = tag
	}
	var next semver.Version
	switch b {
	case BumpPatch:
		next = base.IncPatch()
	case BumpMinor:
		next = base.IncMinor()
	case BumpMajor:
		next = base.IncMajor()
	default:
		return "", fmt.Errorf("bump %s: want patch, minor or major", b)
	}
	s := next.String()
	if upstream != "" {
		s += "+" + upstream
	}
	v, err := ParseVersion(s)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

// Sync works out the recipe's next version from what changed in the work
// tree since the latest release (or takes version when given, which must be
// newer than the latest) and writes it into the version label of the main
// service in compose.yml. The rule: each image tag that changed is a patch,
// minor or major step (by the first of its numbers that changed; a tag of
// another shape or another image is major); the recipe part of the version
// steps by the largest of them; when only other files changed (env sample,
// abra.sh, compose settings) it is a patch. The upstream part is the main
// service's image tag ("app", or else the first service).
func (r *Repo) Sync(version string) (SyncResult, error) {
	var latest *Version
	res := SyncResult{Bump: BumpNone.String()}
	switch rel, err := r.Latest(); {
	case err == nil:
		latest = &rel.Version
		res.Previous = rel.Tag
	case !errors.Is(err, ErrNoReleases):
		return res, err
	}
	ch, err := r.ChangesSince(res.Previous)
	if err != nil {
		return res, err
	}
	res.Changes = ch
	var next Version
	if version != "" {
		next, err = ParseVersion(version)
		if err != nil {
			return res, err
		}
		if latest != nil && next.Compare(*latest) <= 0 {
			return res, hint.With(fmt.Errorf("version %s is not newer than the latest release %s", next, latest),
				"leave the version out to have it computed")
		}
	} else {
		upstream, err := mainTag(r.dir)
		if err != nil {
			return res, err
		}
		next, err = NextVersion(latest, ch, upstream)
		if errors.Is(err, ErrNothingChanged) {
			return res, hint.With(err, "change the recipe first (e.g. 'abra recipe upgrade'), or pass the version")
		}
		if err != nil {
			return res, err
		}
		if latest != nil {
			res.Bump = ch.Bump().String()
		}
	}
	res.Version = next.String()
	if err := WriteVersionLabel(r.dir, res.Version); err != nil {
		return res, err
	}
	return res, nil
}

// mainTag is the image tag of the main service in compose.yml, or "" when
// it has none or it is interpolated.
func mainTag(dir string) (string, error) {
	doc, err := loadComposeText(filepath.Join(dir, "compose.yml"))
	if err != nil {
		return "", err
	}
	main, err := doc.mainService()
	if err != nil {
		return "", err
	}
	for _, l := range doc.imageLines("compose.yml") {
		if l.Service == main && !strings.Contains(l.Tag, "$") {
			return l.Tag, nil
		}
	}
	return "", nil
}
