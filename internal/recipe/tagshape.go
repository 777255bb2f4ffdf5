package recipe

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Bump is how far apart two image tags (or two versions) are.
type Bump int

// Bumps in increasing order; a policy allowing BumpMinor allows BumpPatch too.
const (
	BumpNone Bump = iota
	BumpPatch
	BumpMinor
	BumpMajor
)

func (b Bump) String() string {
	switch b {
	case BumpPatch:
		return "patch"
	case BumpMinor:
		return "minor"
	case BumpMajor:
		return "major"
	}
	return "none"
}

// tagShape is an image tag cut into its numeric parts and what surrounds
// them: "v1.2-alpine" is prefix "v", numbers [1 2], suffix "-alpine".
type tagShape struct {
	prefix string
	nums   []int
	suffix string
}

// parseTagShape cuts a tag into its shape. Tags without a number (latest,
// stable) have none.
func parseTagShape(tag string) (tagShape, bool) {
	start := strings.IndexAny(tag, "0123456789")
	if start < 0 {
		return tagShape{}, false
	}
	s := tagShape{prefix: tag[:start]}
	rest := tag[start:]
	for {
		end := 0
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(rest[:end])
		if err != nil {
			return tagShape{}, false // too long to be a version number
		}
		s.nums = append(s.nums, n)
		rest = rest[end:]
		// Another numeric part only after a dot followed by a digit:
		// "1.2-alpine3.19" stops before "-alpine3.19".
		if len(rest) >= 2 && rest[0] == '.' && rest[1] >= '0' && rest[1] <= '9' {
			rest = rest[1:]
			continue
		}
		break
	}
	s.suffix = rest
	return s, true
}

// sameShape: same prefix, same number of numeric parts, same suffix.
func (s tagShape) sameShape(o tagShape) bool {
	return s.prefix == o.prefix && s.suffix == o.suffix && len(s.nums) == len(o.nums)
}

// compare orders tags of the same shape by their numbers.
func (s tagShape) compare(o tagShape) int { return slices.Compare(s.nums, o.nums) }

// bumpTo classifies the step from s to a newer o by the first numeric part
// that differs: the first is major, the second minor, any later one patch.
func (s tagShape) bumpTo(o tagShape) Bump {
	for i := range min(len(s.nums), len(o.nums)) {
		if s.nums[i] == o.nums[i] {
			continue
		}
		switch i {
		case 0:
			return BumpMajor
		case 1:
			return BumpMinor
		}
		return BumpPatch
	}
	if len(s.nums) != len(o.nums) {
		return BumpPatch
	}
	return BumpNone
}

// TagBump classifies the change of an image tag from old to new: by their
// numeric parts when both have some (the first differing part: major, minor,
// then patch), BumpMajor when new has a different shape (another variant, a
// different scheme: nothing can be assumed), BumpNone when they are equal.
func TagBump(old, new string) Bump {
	if old == new {
		return BumpNone
	}
	o, okO := parseTagShape(old)
	n, okN := parseTagShape(new)
	if !okO || !okN || !o.sameShape(n) {
		return BumpMajor
	}
	if b := o.bumpTo(n); b != BumpNone {
		return b
	}
	return BumpPatch
}

// Candidate is a tag an image could be upgraded to.
type Candidate struct {
	Tag  string `json:"tag"`
	Bump string `json:"bump"` // patch, minor, major; "other" for tags of another shape (--all-tags)
	bump Bump
}

// UpgradeCandidates returns the tags newer than current with current's shape
// (for 1.2-alpine: 1.3-alpine and 2.0-alpine, not 1.3, 1.3.1-alpine or
// 1.3-alpine3.19), oldest first, each classified by how far it is from
// current. With allTags, every other tag follows, classified "other", in the
// order given. A current tag without numbers (latest) has no candidates but
// those of allTags.
func UpgradeCandidates(current string, tags []string, allTags bool) []Candidate {
	cur, ok := parseTagShape(current)
	type shaped struct {
		tag   string
		shape tagShape
	}
	var newer []shaped
	var others []Candidate
	for _, t := range tags {
		s, sok := parseTagShape(t)
		switch {
		case t == current:
		case ok && sok && cur.sameShape(s) && cur.compare(s) < 0:
			newer = append(newer, shaped{t, s})
		case allTags:
			others = append(others, Candidate{Tag: t, Bump: "other"})
		}
	}
	slices.SortStableFunc(newer, func(a, b shaped) int {
		return cmp.Or(a.shape.compare(b.shape), strings.Compare(a.tag, b.tag))
	})
	out := make([]Candidate, 0, len(newer)+len(others))
	for _, n := range newer {
		b := cur.bumpTo(n.shape)
		out = append(out, Candidate{Tag: n.tag, Bump: b.String(), bump: b})
	}
	return append(out, others...)
}

// PickCandidate returns the newest candidate that policy allows: BumpPatch
// only patch steps, BumpMinor patch or minor, BumpMajor any. Tags of
// another shape are never picked by policy.
func PickCandidate(cands []Candidate, policy Bump) (Candidate, bool) {
	for i := len(cands) - 1; i >= 0; i-- {
		if c := cands[i]; c.bump != BumpNone && c.bump <= policy {
			return c, true
		}
	}
	return Candidate{}, false
}
