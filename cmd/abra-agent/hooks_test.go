package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/webhook"
)

func TestLoadHooks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hooks_secret"), []byte("shared-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hook_mirror"), []byte("mirror-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOOKS_SECRET_FILE", filepath.Join(dir, "hooks_secret"))
	t.Setenv("HOOKS_LISTEN", "127.0.0.1:0")

	t.Setenv("HOOKS", "")
	if c, err := loadHooks(); c != nil || err != nil {
		t.Fatalf("no HOOKS: %+v, %v; want no listener", c, err)
	}

	t.Setenv("HOOKS", "recipes:gitea, mirror:github:explicit lab:gitlab")
	c, err := loadHooks()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]webhook.Hook{
		"recipes": {Name: "recipes", Scheme: webhook.Gitea, Secret: "shared-secret"},
		"mirror":  {Name: "mirror", Scheme: webhook.GitHub, Secret: "mirror-secret"},
		"lab":     {Name: "lab", Scheme: webhook.GitLab, Secret: "shared-secret"},
	}
	if len(c.hooks) != len(want) || c.listen != "127.0.0.1:0" {
		t.Fatalf("hooks %+v on %s", c.hooks, c.listen)
	}
	for n, h := range want {
		if c.hooks[n] != h {
			t.Errorf("hook %s = %+v, want %+v", n, c.hooks[n], h)
		}
	}
	if !c.explicit["mirror"] || c.explicit["recipes"] {
		t.Errorf("explicit = %v", c.explicit)
	}
	if got := hookList(c); got != "/hooks/lab (gitlab), /hooks/mirror (github, explicit), /hooks/recipes (gitea)" {
		t.Errorf("hookList = %q", got)
	}

	for spec, msg := range map[string]string{
		"recipes":                      "want <name>:<scheme>",
		"recipes:gitea:always":         "want <name>:<scheme>",
		"../x:gitea":                   "hook name",
		"Recipes:gitea":                "hook name",
		"recipes:gitea recipes:github": "named twice",
		"recipes:bitbucket":            "bitbucket",
	} {
		t.Setenv("HOOKS", spec)
		if _, err := loadHooks(); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("HOOKS=%q: %v, want an error mentioning %q", spec, err, msg)
		}
	}
	t.Setenv("HOOKS", "recipes:gitea")
	t.Setenv("HOOKS_SECRET_FILE", filepath.Join(dir, "missing"))
	if _, err := loadHooks(); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("missing secret: %v", err)
	}
}
