package app

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"coopcloud.tech/abra/internal/recipe"
)

func releases(t *testing.T, tags ...string) []recipe.Release {
	t.Helper()
	var out []recipe.Release
	for _, tag := range tags {
		v, err := recipe.ParseVersion(tag)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recipe.Release{Version: v, Tag: tag})
	}
	return out
}

func tagsOf(rels []recipe.Release) []string {
	var out []string
	for _, r := range rels {
		out = append(out, r.Tag)
	}
	return out
}

func TestCandidatesAndPick(t *testing.T) {
	rels := releases(t, "0.9.0+1.0", "1.0.0+1.1", "1.1.0+1.2", "2.0.0+2.0")
	tests := []struct {
		name, current, want string
		dir                 Direction
		cands               []string
		picked              string
		err                 bool
	}{
		{name: "upgrade to newest", current: "1.0.0+1.1", dir: Up, cands: []string{"1.1.0+1.2", "2.0.0+2.0"}, picked: "2.0.0+2.0"},
		{name: "upgrade to a named version", current: "1.0.0+1.1", want: "1.1.0+1.2", dir: Up, cands: []string{"1.1.0+1.2", "2.0.0+2.0"}, picked: "1.1.0+1.2"},
		{name: "rollback to the previous", current: "1.1.0+1.2", dir: Down, cands: []string{"1.0.0+1.1", "0.9.0+1.0"}, picked: "1.0.0+1.1"},
		{name: "upgrade to an older version is refused", current: "1.1.0+1.2", want: "1.0.0+1.1", dir: Up, cands: []string{"2.0.0+2.0"}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cands, err := Candidates(rels, tt.current, tt.dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tagsOf(cands), tt.cands) {
				t.Fatalf("candidates = %v, want %v", tagsOf(cands), tt.cands)
			}
			got, err := Pick(cands, tt.want, tt.dir)
			if tt.err != (err != nil) {
				t.Fatalf("Pick err = %v", err)
			}
			if !tt.err && got.Tag != tt.picked {
				t.Fatalf("picked %s, want %s", got.Tag, tt.picked)
			}
		})
	}
	if _, err := Candidates(rels, "2.0.0+2.0", Up); !errors.Is(err, ErrNoCandidates) {
		t.Fatalf("newest version: err = %v, want ErrNoCandidates", err)
	}
}

func TestReleaseNotesAndMajorChange(t *testing.T) {
	dir := t.TempDir()
	for tag, text := range map[string]string{"1.1.0+1.2": "one one", "2.0.0+2.0": "two"} {
		if err := os.MkdirAll(filepath.Join(dir, "release"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "release", tag), []byte(text+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cands := releases(t, "1.1.0+1.2", "2.0.0+2.0")
	notes := ReleaseNotes(dir, cands, cands[1], Up)
	if len(notes) != 2 || notes[0].Text != "one one" || notes[1].Version != "2.0.0+2.0" {
		t.Fatalf("notes = %+v", notes)
	}
	if notes := ReleaseNotes(dir, cands, cands[0], Up); len(notes) != 1 {
		t.Fatalf("notes up to 1.1.0 = %+v", notes)
	}
	if !MajorChange("1.0.0+1.1", cands[1]) || MajorChange("1.0.0+1.1", cands[0]) {
		t.Fatal("MajorChange wrong")
	}
}
