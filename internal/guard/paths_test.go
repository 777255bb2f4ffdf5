package guard

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pathTree makes a recipe directory beside a secret file standing for
// /etc/shadow, with symlinks in and out of the recipe.
func pathTree(t *testing.T) (dir, secret string) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "recipe")
	secret = filepath.Join(base, "shadow")
	for name, content := range map[string]string{
		"compose.yml":     "services: {}\n",
		"conf/nginx.conf": "server {}\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(secret, []byte("root:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"in.conf":          "conf/nginx.conf",
		"conf/up.conf":     "../compose.yml",
		"confdir":          "conf",
		"abs-out":          secret,
		"abs-in":           filepath.Join(dir, "compose.yml"),
		"rel-out":          "../shadow",
		"conf/rel-out":     "../../shadow",
		"up":               "..",
		"chain":            "hop",
		"hop":              "rel-out",
		"dangling-in":      "conf/missing.conf",
		"dangling-out":     "../missing",
		"loop":             "loop",
		"conf/sub-escape":  "../confdir/../../shadow",
		"conf/sub-back-in": "../confdir/../compose.yml",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, secret
}

func TestInsideAndReadFile(t *testing.T) {
	dir, secret := pathTree(t)
	tests := []struct {
		name    string
		path    string
		outside string // substring of the error; "" means inside
		missing bool
		content string
	}{
		{name: "plain file", path: "compose.yml", content: "services"},
		{name: "file in a directory", path: "conf/nginx.conf", content: "server"},
		{name: "dot segments that stay inside", path: "conf/../compose.yml", content: "services"},
		{name: "symlink inside", path: "in.conf", content: "server"},
		{name: "symlink up but inside", path: "conf/up.conf", content: "services"},
		{name: "through a symlinked directory", path: "confdir/nginx.conf", content: "server"},
		{name: "symlink climbing through a symlinked directory back in", path: "conf/sub-back-in", content: "services"},
		{name: "absolute inside", path: filepath.Join(dir, "conf", "nginx.conf"), content: "server"},
		{name: "missing", path: "nope.conf", missing: true},
		{name: "missing in a missing directory", path: "a/b/c", missing: true},
		{name: "dangling symlink inside", path: "dangling-in", missing: true},

		{name: "absolute outside", path: secret, outside: secret + " is outside the recipe"},
		{name: "absolute missing outside", path: "/nonexistent/x", outside: "/nonexistent/x is outside the recipe"},
		{name: "dot dot", path: "../shadow", outside: "../shadow is outside the recipe"},
		{name: "dot dot after a directory", path: "conf/../../shadow", outside: "is outside the recipe"},
		{name: "absolute symlink out", path: "abs-out", outside: "abs-out links to " + secret},
		{name: "absolute symlink in is refused too", path: "abs-in", outside: "abs-in links to "},
		{name: "relative symlink out", path: "rel-out", outside: "rel-out links to ../shadow"},
		{name: "nested relative symlink out", path: "conf/rel-out", outside: "conf/rel-out links to ../../shadow"},
		{name: "symlink to the parent", path: "up/shadow", outside: "up links to .."},
		{name: "chain of symlinks out", path: "chain", outside: "rel-out links to ../shadow"},
		{name: "dangling symlink out", path: "dangling-out", outside: "dangling-out links to ../missing"},
		{name: "symlink loop", path: "loop", outside: "too many levels of symlinks"},
		{name: "escape through a symlinked directory", path: "conf/sub-escape", outside: "is outside the recipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Inside(dir, tt.path)
			b, rerr := ReadFile(dir, tt.path)
			_, serr := Stat(dir, tt.path)
			if tt.outside != "" {
				for what, e := range map[string]error{"Inside": err, "ReadFile": rerr, "Stat": serr} {
					var oe *OutsideError
					if !errors.Is(e, ErrOutside) || !errors.As(e, &oe) || !strings.Contains(e.Error(), tt.outside) {
						t.Errorf("%s = %v, want an *OutsideError containing %q", what, e, tt.outside)
					}
				}
				if rerr == nil && strings.Contains(string(b), "secret") {
					t.Error("ReadFile read the secret")
				}
				return
			}
			if err != nil {
				t.Errorf("Inside = %v", err)
			}
			if tt.missing {
				if !errors.Is(rerr, fs.ErrNotExist) || errors.Is(rerr, ErrOutside) {
					t.Errorf("ReadFile = %v, want not exist", rerr)
				}
				if !errors.Is(serr, fs.ErrNotExist) {
					t.Errorf("Stat = %v, want not exist", serr)
				}
				return
			}
			if rerr != nil || !strings.Contains(string(b), tt.content) {
				t.Errorf("ReadFile = %q, %v, want %q", b, rerr, tt.content)
			}
			if serr != nil {
				t.Errorf("Stat = %v", serr)
			}
		})
	}
}

func TestReadFileNamesTheFile(t *testing.T) {
	dir, _ := pathTree(t)
	_, err := ReadFile(dir, "nope.conf")
	if err == nil || !strings.Contains(err.Error(), "nope.conf") || strings.Contains(err.Error(), dir) {
		t.Errorf("err = %v, want one naming nope.conf as given", err)
	}
}
