package recipe

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		recipe   string
		upstream string
	}{
		{"recipe and upstream", "1.2.0+6.4.1", "1.2.0", "6.4.1"},
		{"v-prefixed upstream", "0.3.0+v2.4.8", "0.3.0", "v2.4.8"},
		{"upstream with suffix", "2.0.1+1.27.2-alpine", "2.0.1", "1.27.2-alpine"},
		{"free-form upstream", "1.0.0+latest_2024-01", "1.0.0", "latest_2024-01"},
		{"upstream with plus", "1.0.0+2.0+build.5", "1.0.0", "2.0+build.5"},
		{"old style bare", "1.0.0", "1.0.0", ""},
		{"old style v", "v1.0.0", "1.0.0", ""},
		{"v with upstream", "v1.0.0+2.1", "1.0.0", "2.1"},
		{"recipe pre-release", "1.0.0-rc.1+2.0", "1.0.0-rc.1", "2.0"},
		{"zeros", "0.0.0+0", "0.0.0", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseVersion(tt.in)
			if err != nil {
				t.Fatalf("ParseVersion(%q): %v", tt.in, err)
			}
			if got := v.Recipe().String(); got != tt.recipe {
				t.Errorf("Recipe() = %q, want %q", got, tt.recipe)
			}
			if got := v.Upstream(); got != tt.upstream {
				t.Errorf("Upstream() = %q, want %q", got, tt.upstream)
			}
			if got := v.String(); got != tt.in {
				t.Errorf("String() = %q, want %q", got, tt.in)
			}
		})
	}
}

func TestParseVersionErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"word", "latest"},
		{"two parts", "1.2+3.4"},
		{"four parts", "1.2.3.4+5"},
		{"leading zero", "01.2.0+1"},
		{"empty upstream", "1.2.0+"},
		{"empty recipe", "+1.2.0"},
		{"space in upstream", "1.2.0+6.4 beta"},
		{"double dot upstream", "1.2.0+6..4"},
		{"git-forbidden char", "1.2.0+6:4"},
		{"double v", "vv1.2.0"},
		{"capital V", "V1.2.0"},
		{"negative", "-1.2.0+1"},
		{"surrounding space", " 1.2.0+1"},
		{"invalid utf-8", "1.2.0+\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseVersion(tt.in)
			if err == nil {
				t.Fatalf("ParseVersion(%q) succeeded, want an error", tt.in)
			}
			if !errors.Is(err, ErrInvalidVersion) {
				t.Errorf("error %v does not wrap ErrInvalidVersion", err)
			}
		})
	}
}

func TestParseVersionErrorMessage(t *testing.T) {
	_, err := ParseVersion("x")
	want := `invalid version "x": want <major>.<minor>.<patch>+<upstream>, e.g. 1.2.0+6.4.1`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestVersionCompare(t *testing.T) {
	// Ascending; every pair must compare as its positions do.
	sorted := []string{
		"0.1.0+1.0",
		"1.0.0",
		"v1.0.0",
		"1.0.0+1.0",
		"1.0.0+1.2",
		"1.0.0+1.10",
		"1.0.0+2.0-alpine", // a pre-release to semver
		"1.0.0+2.0",
		"1.0.0+v2.0", // equal to 2.0 as semver, then by String
		"1.0.0+10.0",
		"1.0.0+10x", // not semver-ish: after all that are
		"1.0.0+1x",
		"1.0.0+2x",
		"1.1.0-rc.1+1.0",
		"1.1.0+1.0",
		"1.10.0+0.1",
		"2.0.0+0.1",
		"10.0.0+0.1",
	}
	vs := make([]Version, len(sorted))
	for i, s := range sorted {
		v, err := ParseVersion(s)
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = v
	}
	for i := range vs {
		for j := range vs {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := vs[i].Compare(vs[j]); got != want {
				t.Errorf("%s.Compare(%s) = %d, want %d", vs[i], vs[j], got, want)
			}
		}
	}
	shuffled := slices.Clone(vs)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	slices.SortFunc(shuffled, Version.Compare)
	for i := range shuffled {
		if shuffled[i].String() != sorted[i] {
			t.Errorf("sorted[%d] = %s, want %s", i, shuffled[i], sorted[i])
		}
	}
}

func TestZeroVersion(t *testing.T) {
	var zero Version
	v, _ := ParseVersion("0.0.0")
	if zero.String() != "" || zero.Recipe() != nil || zero.Upstream() != "" {
		t.Errorf("zero Version = %q %v %q", zero.String(), zero.Recipe(), zero.Upstream())
	}
	if zero.Compare(v) != -1 || v.Compare(zero) != 1 || zero.Compare(zero) != 0 {
		t.Error("zero Version must sort first")
	}
}
