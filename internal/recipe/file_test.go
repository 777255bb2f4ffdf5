package recipe

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileAt(t *testing.T) {
	fx := newFixture(t)
	writeFile(t, filepath.Join(fx.dir, "compose.yml"), "uncommitted\n", 0o644)
	r := open(t, fx.dir)
	tests := []struct {
		name, rev, path string
		want            string
	}{
		{"annotated tag", "1.0.0+1.0", "compose.yml", "v1\n"},
		{"lightweight tag", "1.0.1+1.0", "compose.yml", "v1\n"},
		{"HEAD, not the work tree", "HEAD", "compose.yml", "v2\n"},
		{"commit hash", fx.commit1, "abra.sh", "#!/bin/sh\nexport CONF_VERSION=v1\n"},
		{"nested path", "1.0.0+1.0", "release/1.0.0+1.0", "first release\n"},
		{"unclean path", "1.0.0+1.0", "./release//1.0.0+1.0", "first release\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.FileAt(tt.rev, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("FileAt(%s, %s) = %q, want %q", tt.rev, tt.path, got, tt.want)
			}
		})
	}
}

func TestFileAtMissing(t *testing.T) {
	fx := newFixture(t)
	r := open(t, fx.dir)
	tests := []struct {
		name, rev, path string
		notExist        bool
		contains        string
	}{
		{"added after the tag", "1.0.0+1.0", "new.env", true, "new.env"},
		{"a directory", "HEAD", "release", true, "release"},
		{"a symlink", "HEAD", "current.yml", true, "current.yml"},
		{"unknown revision", "9.9.9+9", "compose.yml", false, `"9.9.9+9"`},
		{"path outside the tree", "HEAD", "../compose.yml", false, "invalid path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.FileAt(tt.rev, tt.path)
			if err == nil {
				t.Fatal("FileAt: no error")
			}
			if errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("FileAt: %v; errors.Is(fs.ErrNotExist) = %v, want %v", err, !tt.notExist, tt.notExist)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not mention %q", err, tt.contains)
			}
		})
	}
}
