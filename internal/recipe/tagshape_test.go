package recipe

import (
	"strings"
	"testing"
)

func candidateList(cs []Candidate) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Tag+"("+c.Bump+")")
	}
	return strings.Join(parts, " ")
}

func TestUpgradeCandidates(t *testing.T) {
	tests := []struct {
		name    string
		current string
		tags    []string
		allTags bool
		want    string
	}{
		{"same shape with suffix", "1.2-alpine",
			[]string{"1.1-alpine", "1.2-alpine", "1.3-alpine", "1.3", "1.3-alpine3.19", "2.0-alpine", "1.3.1-alpine", "latest"}, false,
			"1.3-alpine(minor) 2.0-alpine(major)"},
		{"three parts", "1.2.0",
			[]string{"1.2.0", "1.2.1", "1.3.0", "2.0.0", "1.3.0-rc1", "1.10.0", "1.2"}, false,
			"1.2.1(patch) 1.3.0(minor) 1.10.0(minor) 2.0.0(major)"},
		{"numeric order not lexical", "9", []string{"10", "8", "9", "11-slim"}, false, "10(major)"},
		{"v prefix", "v2.4.8", []string{"2.4.9", "v2.4.9", "v2.5.0", "v3.0.0-beta"}, false, "v2.4.9(patch) v2.5.0(minor)"},
		{"four parts", "1.2.3.4", []string{"1.2.3.5", "1.2.4.0"}, false, "1.2.3.5(patch) 1.2.4.0(patch)"},
		{"nothing newer", "2.0.0", []string{"1.0.0", "2.0.0"}, false, ""},
		{"latest has no shape", "latest", []string{"1.0", "latest"}, false, ""},
		{"all tags appends the rest", "1.2.0", []string{"1.3.0", "1.3.0-rc1", "1.1.0", "edge"}, true,
			"1.3.0(minor) 1.3.0-rc1(other) 1.1.0(other) edge(other)"},
		{"date tags", "2024.01.05", []string{"2024.02.01", "2025.01.01"}, false, "2024.02.01(minor) 2025.01.01(major)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := candidateList(UpgradeCandidates(tt.current, tt.tags, tt.allTags)); got != tt.want {
				t.Errorf("UpgradeCandidates(%s) = %q, want %q", tt.current, got, tt.want)
			}
		})
	}
}

func TestPickCandidate(t *testing.T) {
	cands := UpgradeCandidates("1.2.0", []string{"1.2.1", "1.2.2", "1.3.0", "1.4.0", "2.0.0", "1.3.0-rc1"}, true)
	tests := []struct {
		policy Bump
		want   string
	}{
		{BumpPatch, "1.2.2"},
		{BumpMinor, "1.4.0"},
		{BumpMajor, "2.0.0"},
		{BumpNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.policy.String(), func(t *testing.T) {
			got, ok := PickCandidate(cands, tt.policy)
			if got.Tag != tt.want || ok != (tt.want != "") {
				t.Errorf("PickCandidate(%v) = %q, %v; want %q", tt.policy, got.Tag, ok, tt.want)
			}
		})
	}
	if _, ok := PickCandidate(UpgradeCandidates("1.2.0", []string{"2.0.0"}, false), BumpMinor); ok {
		t.Error("a minor policy picked a major step")
	}
}

func TestTagBump(t *testing.T) {
	tests := []struct {
		old, new string
		want     Bump
	}{
		{"1.2.0", "1.2.0", BumpNone},
		{"1.2.0", "1.2.1", BumpPatch},
		{"1.2.0", "1.3.0", BumpMinor},
		{"1.2.0", "2.0.0", BumpMajor},
		{"1.2-alpine", "1.3-alpine", BumpMinor},
		{"1.2-alpine", "1.2-alpine3.19", BumpMajor}, // another variant
		{"latest", "stable", BumpMajor},
		{"1.2.0", "1.1.0", BumpMinor}, // a step back is still a change of that size
	}
	for _, tt := range tests {
		if got := TagBump(tt.old, tt.new); got != tt.want {
			t.Errorf("TagBump(%s, %s) = %v, want %v", tt.old, tt.new, got, tt.want)
		}
	}
}
