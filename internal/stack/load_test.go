package stack

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/guard"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func envOf(t *testing.T, l *Loaded, service string) map[string]string {
	t.Helper()
	for _, s := range l.Config.Services {
		if s.Name == service {
			out := map[string]string{}
			for k, v := range s.Environment {
				if v != nil {
					out[k] = *v
				}
			}
			return out
		}
	}
	t.Fatalf("no service %s", service)
	return nil
}

// TestInterpolation covers every interpolation form docker supports, with the
// same results as `docker stack deploy` (which uses the same loader).
func TestInterpolation(t *testing.T) {
	env := map[string]string{"SET": "value", "EMPTY": ""}
	tests := []struct {
		name, expr, want, wantErr string
	}{
		{name: "braced", expr: "${SET}", want: "value"},
		{name: "bare", expr: "$SET", want: "value"},
		{name: "bare with a dash reads as a default, as docker does", expr: "$SET-x", want: "value"},
		{name: "bare ends at other punctuation", expr: "$SET.x", want: "value.x"},
		{name: "default when unset or empty", expr: "${EMPTY:-dflt}", want: "dflt"},
		{name: "default when unset only, empty kept", expr: "${EMPTY-dflt}", want: ""},
		{name: "default when unset", expr: "${UNSET-dflt}", want: "dflt"},
		{name: "set wins over default", expr: "${SET:-dflt}", want: "value"},
		{name: "dollar escape", expr: "$$SET and $${SET}", want: "$SET and ${SET}"},
		{name: "unset is empty", expr: "a${UNSET}b", want: "ab"},
		{name: "required and set", expr: "${SET:?must be set}", want: "value"},
		{name: "required but empty", expr: "${EMPTY:?must be set}", wantErr: "must be set"},
		{name: "required but unset", expr: "${UNSET?must exist}", wantErr: "must exist"},
		{name: "required, empty allowed", expr: "${EMPTY?must exist}", want: ""},
		{name: "alternative values are not supported by swarm's loader", expr: "${SET:+alt}", wantErr: "invalid interpolation format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"compose.yml": "version: \"3.8\"\nservices:\n  app:\n    image: nginx:1\n    environment:\n      X: '" + tt.expr + "'\n"})
			l, err := Load(LoadOptions{Dir: dir, Files: []string{"compose.yml"}, Env: env})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := envOf(t, l, "app")["X"]; got != tt.want {
				t.Fatalf("X = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOverlaysMergeInOrder(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"compose.yml":               "version: \"3.8\"\nservices:\n  app:\n    image: nginx:1\n    environment:\n      A: base\n      B: base\n",
		"compose.smtp.yml":          "version: \"3.8\"\nservices:\n  app:\n    environment:\n      A: smtp\n",
		"overlays/compose.last.yml": "version: \"3.8\"\nservices:\n  app:\n    image: nginx:2\n    environment:\n      A: last\n  worker:\n    image: busybox:1\n",
	})
	files := ComposeFiles("compose.yml:compose.smtp.yml:overlays/compose.last.yml")
	l, err := Load(LoadOptions{Dir: dir, Files: files, Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	env := envOf(t, l, "app")
	if env["A"] != "last" || env["B"] != "base" {
		t.Fatalf("env = %v, want A from the last overlay and B from the base", env)
	}
	if len(l.Config.Services) != 2 {
		t.Fatalf("services = %d, want the overlay's worker too", len(l.Config.Services))
	}
	for _, s := range l.Config.Services {
		if s.Name == "app" && s.Image != "nginx:2" {
			t.Fatalf("image = %s, want the overlay's", s.Image)
		}
	}
	// The other order gives the other answer: order matters.
	l, err = Load(LoadOptions{Dir: dir, Files: []string{"overlays/compose.last.yml", "compose.smtp.yml", "compose.yml"}, Env: map[string]string{}})
	if err == nil && envOf(t, l, "app")["A"] == "last" {
		t.Fatal("reversed overlays gave the same result")
	}
}

func TestComposeFiles(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty means compose.yml", "", "compose.yml"},
		{"colon separated", "compose.yml:compose.smtp.yml", "compose.yml|compose.smtp.yml"},
		{"spaces and empty parts dropped", " compose.yml: :x.yml ", "compose.yml|x.yml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(ComposeFiles(tt.in), "|"); got != tt.want {
				t.Fatalf("ComposeFiles(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{"compose.yml": "version: \"3.8\"\nservices:\n  app:\n    image: nginx:1\n"})
	_, err := Load(LoadOptions{Dir: dir, Files: []string{"compose.yml", "compose.missing.yml"}, Env: map[string]string{}})
	if err == nil || !strings.Contains(err.Error(), "compose.missing.yml") || !strings.Contains(err.Error(), "COMPOSE_FILE") {
		t.Fatalf("err = %v, want one naming the missing file and COMPOSE_FILE", err)
	}
}

// outsideTree is a recipe directory beside a file standing for /etc/shadow.
func outsideTree(t *testing.T, files map[string]string, links map[string]string) (dir, secret string) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "recipe")
	secret = filepath.Join(base, "shadow")
	if err := os.WriteFile(secret, []byte("SHADOW=root:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(strings.ReplaceAll(target, "SECRET", secret), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, secret
}

const appService = "version: \"3.8\"\nservices:\n  app:\n    image: nginx:1\n"

// TestLoadRefusesFilesOutsideTheRecipe: docker stack deploy reads any path a
// compose file names; a recipe is outside input, so abra refuses to read, and
// ship to a server, a file outside it.
func TestLoadRefusesFilesOutsideTheRecipe(t *testing.T) {
	configFile := func(file string) string {
		return appService + "    configs: [{source: conf, target: /c}]\nconfigs:\n  conf:\n    file: " + file + "\n"
	}
	tests := []struct {
		name  string
		files map[string]string
		links map[string]string
		list  []string // COMPOSE_FILE; nil means compose.yml
		env   map[string]string
		want  string // SECRET stands for the outside file's path
	}{
		{name: "config file absolute", files: map[string]string{"compose.yml": configFile("SECRET")},
			want: "compose.yml: configs.conf.file: SECRET is outside the recipe"},
		{name: "config file climbing out", files: map[string]string{"compose.yml": configFile("../shadow")},
			want: "compose.yml: configs.conf.file: ../shadow is outside the recipe"},
		{name: "config file interpolated", files: map[string]string{"compose.yml": configFile("${CONF}")},
			env:  map[string]string{"CONF": "../../etc/shadow"},
			want: "compose.yml: configs.conf.file: ../../etc/shadow is outside the recipe"},
		{name: "config file a symlink out", files: map[string]string{"compose.yml": configFile("nginx.conf")},
			links: map[string]string{"nginx.conf": "SECRET"},
			want:  "compose.yml: configs.conf.file: nginx.conf is outside the recipe (nginx.conf links to SECRET)"},
		{name: "config file in a symlinked directory out", files: map[string]string{"compose.yml": configFile("conf/x.conf")},
			links: map[string]string{"conf": "../.."},
			want:  "conf links to ../.."},
		{name: "secret file", files: map[string]string{"compose.yml": appService + "secrets:\n  pw:\n    file: ../shadow\n"},
			want: "compose.yml: secrets.pw.file: ../shadow is outside the recipe"},
		{name: "env_file string", files: map[string]string{"compose.yml": appService + "    env_file: ../shadow\n"},
			want: "compose.yml: services.app.env_file: ../shadow is outside the recipe"},
		{name: "env_file list", files: map[string]string{"compose.yml": appService + "    env_file: [.env.ok, SECRET]\n", ".env.ok": "A=1\n"},
			want: "compose.yml: services.app.env_file[1]: SECRET is outside the recipe"},
		{name: "env_file a symlink out", files: map[string]string{"compose.yml": appService + "    env_file: app.env\n"},
			links: map[string]string{"app.env": "../shadow"},
			want:  "services.app.env_file: app.env is outside the recipe (app.env links to ../shadow)"},
		{name: "in an overlay", files: map[string]string{"compose.yml": appService, "compose.x.yml": "version: \"3.8\"\nservices:\n  app:\n    env_file: /etc/shadow\n"},
			list: []string{"compose.yml", "compose.x.yml"},
			want: "compose.x.yml: services.app.env_file: /etc/shadow is outside the recipe"},
		{name: "compose file a symlink out", links: map[string]string{"compose.yml": "SECRET"},
			want: "COMPOSE_FILE: compose.yml is outside the recipe (compose.yml links to SECRET)"},
		{name: "compose file absolute", files: map[string]string{"compose.yml": appService},
			list: []string{"compose.yml", "SECRET"},
			want: "COMPOSE_FILE: SECRET is outside the recipe"},
		{name: "compose file climbing out", files: map[string]string{"compose.yml": appService},
			list: []string{"compose.yml", "../shadow"},
			want: "COMPOSE_FILE: ../shadow is outside the recipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, secret := outsideTree(t, tt.files, tt.links)
			list := tt.list
			if list == nil {
				list = []string{"compose.yml"}
			}
			for i := range list {
				list[i] = strings.ReplaceAll(list[i], "SECRET", secret)
			}
			// Files are written after the temporary directory is known.
			if c, ok := tt.files["compose.yml"]; ok && strings.Contains(c, "SECRET") {
				if err := os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(strings.ReplaceAll(c, "SECRET", secret)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{}
			maps.Copy(env, tt.env)
			l, err := Load(LoadOptions{Dir: dir, Files: list, Env: env})
			if err == nil {
				_, err = Plan("x", l.Config)
			}
			want := strings.ReplaceAll(tt.want, "SECRET", secret)
			if !errors.Is(err, guard.ErrOutside) || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want ErrOutside and %q", err, want)
			}
		})
	}
}

// TestLoadFollowsSymlinksInsideTheRecipe: a recipe may share files by symlink.
func TestLoadFollowsSymlinksInsideTheRecipe(t *testing.T) {
	dir, _ := outsideTree(t, map[string]string{
		"shared/compose.base.yml": appService + "    env_file: app.env\n    configs: [{source: conf, target: /c}]\n" +
			"configs:\n  conf:\n    file: nginx.conf\n",
		"shared/nginx.conf": "server {}\n",
		"shared/app.env":    "FROM_ENV_FILE=1\n",
	}, map[string]string{
		"compose.yml": "shared/compose.base.yml",
		"nginx.conf":  "shared/nginx.conf",
		"app.env":     "shared/../shared/app.env",
	})
	l, err := Load(LoadOptions{Dir: dir, Files: []string{"compose.yml"}, Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if envOf(t, l, "app")["FROM_ENV_FILE"] != "1" {
		t.Error("env_file through a symlink not read")
	}
	spec, err := Plan("x", l.Config)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Configs) != 1 || string(spec.Configs[0].Data) != "server {}\n" {
		t.Errorf("configs = %+v, want nginx.conf's content", spec.Configs)
	}
}

func TestFileRefs(t *testing.T) {
	dict := map[string]any{
		"configs": map[string]any{
			"a":   map[string]any{"file": "${DIR:-conf}/a.conf"},
			"ext": map[string]any{"external": true, "file": "/ignored"},
			"old": map[string]any{"external": map[string]any{"name": "x"}},
		},
		"secrets":  map[string]any{"pw": map[string]any{"file": "pw.txt"}},
		"services": map[string]any{"app": map[string]any{"env_file": []any{"a.env", "${BAD:?x}"}}, "db": map[string]any{"env_file": "db.env"}},
	}
	var got []string
	for _, r := range FileRefs("compose.yml", dict, map[string]string{}) {
		got = append(got, r.Field+"="+r.Path)
	}
	want := "configs.a.file=conf/a.conf secrets.pw.file=pw.txt services.app.env_file[0]=a.env services.db.env_file=db.env"
	if strings.Join(got, " ") != want {
		t.Errorf("FileRefs = %s, want %s", strings.Join(got, " "), want)
	}
}
