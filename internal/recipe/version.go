package recipe

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
)

// ErrInvalidVersion is wrapped by every error ParseVersion returns.
var ErrInvalidVersion = errors.New("invalid version")

// Version is a recipe release: <major>.<minor>.<patch>+<upstream>, e.g.
// 1.2.0+6.4.1. The part before the first "+" is the recipe's own semantic
// version; the part after it is the upstream app's version, free-form
// (v2.4.8, 1.27.2-alpine). Older recipes also tagged plain 1.0.0 or v1.0.0;
// those parse too and have no upstream part.
//
// The zero Version is not a valid version: its String is "" and it sorts
// before every parsed one.
type Version struct {
	recipe   *semver.Version
	upstream string
	v        bool // written with a leading "v", as some old tags are
}

// ParseVersion parses a version as found in a recipe's tags. A leading "v"
// and a semver pre-release on the recipe part (1.0.0-rc.1+2.0) are accepted;
// the upstream part may be anything that can appear in a git tag name.
// Errors wrap ErrInvalidVersion.
func ParseVersion(s string) (Version, error) {
	bad := func() (Version, error) {
		return Version{}, fmt.Errorf("%w %q: want <major>.<minor>.<patch>+<upstream>, e.g. 1.2.0+6.4.1", ErrInvalidVersion, s)
	}
	rest, upstream, hasUpstream := strings.Cut(s, "+")
	if hasUpstream && !validUpstream(upstream) {
		return bad()
	}
	rest, v := strings.CutPrefix(rest, "v")
	// StrictNewVersion insists on three numeric parts without leading zeros,
	// so String reproduces the tag exactly and tags match versions textually.
	sv, err := semver.StrictNewVersion(rest)
	if err != nil || sv.Metadata() != "" {
		return bad()
	}
	return Version{recipe: sv, upstream: upstream, v: v}, nil
}

// validUpstream reports whether u is non-empty and could be part of a git
// tag name: no spaces, control characters, "..", or any of ~^:?*[\ .
func validUpstream(u string) bool {
	if u == "" || !utf8.ValidString(u) || strings.Contains(u, "..") || strings.Contains(u, "@{") {
		return false
	}
	for _, r := range u {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`~^:?*[\`, r) {
			return false
		}
	}
	return true
}

// String returns the version as written in its tag, e.g. 1.2.0+6.4.1.
func (v Version) String() string {
	if v.recipe == nil {
		return ""
	}
	s := v.recipe.String()
	if v.v {
		s = "v" + s
	}
	if v.upstream != "" {
		s += "+" + v.upstream
	}
	return s
}

// Recipe returns the recipe's own semantic version (the part before "+"),
// or nil for the zero Version.
func (v Version) Recipe() *semver.Version { return v.recipe }

// Upstream returns the upstream app's version (the part after "+"), or ""
// for an old-style tag that has none.
func (v Version) Upstream() string { return v.upstream }

// Compare returns -1, 0 or +1 as v sorts before, equal to or after other.
// Versions order by their recipe part (semver precedence). Ties are broken
// by the upstream part: no upstream first, then upstreams that parse as
// (loose) semver in semver order, then the rest lexically. Remaining ties
// (v2.4.8 against 2.4.8, or a "v"-prefixed tag) fall back to comparing String,
// so Compare is a total order and returns 0 only for identical versions.
func (v Version) Compare(other Version) int {
	switch {
	case v.recipe == nil && other.recipe == nil:
		return 0
	case v.recipe == nil:
		return -1
	case other.recipe == nil:
		return 1
	}
	if c := v.recipe.Compare(other.recipe); c != 0 {
		return c
	}
	if c := compareUpstream(v.upstream, other.upstream); c != 0 {
		return c
	}
	return strings.Compare(v.String(), other.String())
}

// compareUpstream orders upstream versions. Mixing semver and lexical
// comparison pairwise would not be transitive ("2.0" < "10.0" by semver,
// "10.0" < "1x" < "2.0" lexically), so the classes are kept apart.
func compareUpstream(a, b string) int {
	if a == "" || b == "" {
		return strings.Compare(a, b)
	}
	sa, errA := semver.NewVersion(a)
	sb, errB := semver.NewVersion(b)
	switch {
	case errA == nil && errB == nil:
		return sa.Compare(sb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}
