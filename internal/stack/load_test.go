package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
