package recipe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const syncCompose = `services:
  app:
    image: 127.0.0.1:5000/e2e/app:1.2.0
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.2.0"
  db:
    image: postgres:15-alpine
`

// releasedRecipe is a recipe repo with syncCompose, .env.sample and a
// .gitignore, released as tag (annotated) unless tag is "".
func releasedRecipe(t *testing.T, tag string) *Repo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "app")
	writeFile(t, filepath.Join(dir, "compose.yml"), syncCompose, 0o644)
	writeFile(t, filepath.Join(dir, ".env.sample"), "TYPE=app\n", 0o644)
	writeFile(t, filepath.Join(dir, ".gitignore"), "*.log\n", 0o644)
	// A symlink, as some recipes have: unchanged, it is no change.
	if err := os.Symlink("compose.yml", filepath.Join(dir, "current.yml")); err != nil {
		t.Fatal(err)
	}
	runGit(t, dir, "init", "-q")
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "init")
	if tag != "" {
		runGit(t, dir, "tag", "-a", "-m", tag, tag)
	}
	return open(t, dir)
}

func TestSync(t *testing.T) {
	tests := []struct {
		name    string
		noTag   bool
		edit    func(t *testing.T, dir string)
		version string // argument
		want    string
		bump    string
		files   string
		wantErr error
	}{
		{
			name: "minor image bump",
			edit: func(t *testing.T, dir string) {
				replace(t, dir, "compose.yml", "e2e/app:1.2.0", "e2e/app:1.3.0")
			},
			want: "1.1.0+1.3.0", bump: "minor",
		},
		{
			name: "largest bump wins, upstream from app",
			edit: func(t *testing.T, dir string) {
				replace(t, dir, "compose.yml", "e2e/app:1.2.0", "e2e/app:1.2.1")
				replace(t, dir, "compose.yml", "postgres:15-alpine", "postgres:16-alpine")
			},
			want: "2.0.0+1.2.1", bump: "major",
		},
		{
			name: "config only is a patch, upstream kept",
			edit: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, ".env.sample"), "TYPE=app\nNEW=1\n", 0o644)
			},
			want: "1.0.1+1.2.0", bump: "patch", files: ".env.sample",
		},
		{
			name: "compose setting is a patch",
			edit: func(t *testing.T, dir string) {
				replace(t, dir, "compose.yml", "  db:\n", "  db:\n    environment: [A=1]\n")
			},
			want: "1.0.1+1.2.0", bump: "patch", files: "compose.yml",
		},
		{
			name: "removed and new files count; notes, ignored files and the label do not",
			edit: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "release", "next"), "notes\n", 0o644)
				writeFile(t, filepath.Join(dir, "debug.log"), "x\n", 0o644)
				writeFile(t, filepath.Join(dir, "abra.sh"), "export A=1\n", 0o644)
				replace(t, dir, "compose.yml", "version=1.0.0+1.2.0", "version=9.9.9+1.2.0")
				if err := os.Remove(filepath.Join(dir, ".env.sample")); err != nil {
					t.Fatal(err)
				}
			},
			want: "1.0.1+1.2.0", bump: "patch", files: ".env.sample abra.sh",
		},
		{
			name:    "nothing changed",
			edit:    func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "release", "next"), "notes\n", 0o644) },
			wantErr: ErrNothingChanged,
		},
		{
			name: "version given",
			edit: func(t *testing.T, dir string) {}, version: "1.5.0+1.2.0",
			want: "1.5.0+1.2.0", bump: "none",
		},
		{
			name: "version given not newer",
			edit: func(t *testing.T, dir string) {}, version: "1.0.0+1.1.0",
			wantErr: errors.New("not newer"),
		},
		{
			name: "first release", noTag: true,
			edit: func(t *testing.T, dir string) {},
			want: "0.1.0+1.2.0", bump: "none", files: ".env.sample .gitignore compose.yml current.yml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tag := "1.0.0+1.2.0"
			if tt.noTag {
				tag = ""
			}
			r := releasedRecipe(t, tag)
			tt.edit(t, r.Dir())
			before := readFile(t, filepath.Join(r.Dir(), "compose.yml"))
			res, err := r.Sync(tt.version)
			if tt.wantErr != nil {
				if err == nil || (!errors.Is(err, tt.wantErr) && !strings.Contains(err.Error(), tt.wantErr.Error())) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if after := readFile(t, filepath.Join(r.Dir(), "compose.yml")); after != before {
					t.Error("a failed sync changed compose.yml")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Version != tt.want || res.Bump != tt.bump {
				t.Errorf("Sync = %s (%s), want %s (%s)", res.Version, res.Bump, tt.want, tt.bump)
			}
			if got := strings.Join(res.Changes.Files, " "); got != tt.files {
				t.Errorf("changed files %q, want %q", got, tt.files)
			}
			if v, _, _ := ReadVersionLabel(r.Dir()); v != tt.want {
				t.Errorf("label = %q, want %q", v, tt.want)
			}
			// Running it again changes nothing more: the label is not a change.
			if again, err := r.Sync(tt.version); err != nil || again.Version != res.Version {
				t.Errorf("second Sync = %s, %v; want %s", again.Version, err, res.Version)
			}
		})
	}
}

func replace(t *testing.T, dir, name, old, new string) {
	t.Helper()
	p := filepath.Join(dir, name)
	s := readFile(t, p)
	if !strings.Contains(s, old) {
		t.Fatalf("%s lacks %q", name, old)
	}
	writeFile(t, p, strings.Replace(s, old, new, 1), 0o644)
}
