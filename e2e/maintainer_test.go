package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestMaintainerWorkflow: a maintainer creates a recipe, releases it, moves
// its image to a newer tag found in a real registry, computes the version and
// releases again, with git and the registry on this machine.
func TestMaintainerWorkflow(t *testing.T) {
	addr := startRegistry(t)
	image := addr + "/e2e/maintainer-app"
	pushImage(t, "e2e/maintainer-app", "1.2.0", "1.2.1", "1.3.0", "2.0.0", "1.3.0-rc1")

	e := newEnv(t)
	e.mustAbra("recipe", "new", "myapp")
	dir := filepath.Join(e.abraDir, "recipes", "myapp")
	compose := filepath.Join(dir, "compose.yml")
	replaceInFile(t, compose, "image: nginx:1.27.3", "image: "+image+":1.2.0 # the app itself")

	// The first release: 0.1.0+<the app's tag>.
	if r := e.mustAbra("recipe", "sync", "myapp"); strings.TrimSpace(r.stdout) != "0.1.0+1.2.0" {
		t.Fatalf("first sync printed %q, want 0.1.0+1.2.0", r.stdout)
	}
	e.mustAbra("recipe", "release", "myapp", "--note", "First release.")
	if got := run(t, dir, "git", "cat-file", "-t", "0.1.0+1.2.0"); got != "tag" {
		t.Fatalf("0.1.0+1.2.0 is a %q, want an annotated tag", got)
	}

	// upgrade --minor -n: 1.3.0, not the patch 1.2.1, the major 2.0.0 or the
	// release candidate.
	r := e.mustAbra("recipe", "upgrade", "myapp", "--minor", "-n")
	if !strings.Contains(r.stdout, "1.2.1 1.3.0 2.0.0") {
		t.Errorf("upgrade does not list the newer tags of the same shape: %s", r)
	}
	if got := readFile(t, compose); !strings.Contains(got, "image: "+image+":1.3.0 # the app itself") {
		t.Fatalf("compose.yml after upgrade:\n%s", got)
	}
	if d := e.mustAbra("recipe", "diff", "myapp"); !strings.Contains(d.stdout, "+    image: "+image+":1.3.0") {
		t.Errorf("diff does not show the upgrade: %s", d)
	}

	// sync: a minor image step is a minor recipe step.
	r = e.mustAbra("recipe", "sync", "myapp")
	if strings.TrimSpace(r.stdout) != "0.2.0+1.3.0" {
		t.Fatalf("sync printed %q, want 0.2.0+1.3.0", r.stdout)
	}
	if got := readFile(t, compose); !strings.Contains(got, `coop-cloud.${STACK_NAME}.version=0.2.0+1.3.0"`) {
		t.Fatalf("compose.yml has no version label 0.2.0+1.3.0:\n%s", got)
	}

	// release: notes from release/next, an annotated tag carrying them.
	writeFile(t, filepath.Join(dir, "release", "next"), "The app moves to 1.3.0.\n")
	plan := e.mustAbra("recipe", "release", "myapp", "--dry-run")
	if !strings.Contains(plan.stdout, "create the annotated tag 0.2.0+1.3.0") {
		t.Errorf("dry run plan: %s", plan)
	}
	if tags := run(t, dir, "git", "tag"); strings.Contains(tags, "0.2.0+1.3.0") {
		t.Fatal("the dry run tagged")
	}
	e.mustAbra("recipe", "release", "myapp")
	if got := run(t, dir, "git", "cat-file", "-t", "0.2.0+1.3.0"); got != "tag" {
		t.Fatalf("0.2.0+1.3.0 is a %q, want an annotated tag", got)
	}
	if got := run(t, dir, "git", "tag", "-l", "--format=%(contents)", "0.2.0+1.3.0"); got != "The app moves to 1.3.0." {
		t.Errorf("tag message %q", got)
	}
	if got := run(t, dir, "git", "show", "0.2.0+1.3.0:release/0.2.0+1.3.0"); got != "The app moves to 1.3.0." {
		t.Errorf("release notes in the release: %q", got)
	}
	if st := run(t, dir, "git", "status", "--porcelain"); st != "" {
		t.Errorf("work tree not clean after the release:\n%s", st)
	}
	if v := e.mustAbra("recipe", "versions", "myapp"); !strings.Contains(v.stdout, "0.2.0+1.3.0") || !strings.Contains(v.stdout, "1.3.0") {
		t.Errorf("versions: %s", v)
	}
	e.mustAbra("recipe", "lint", "myapp")

	// Publishing pushes the branch and the annotated tag to origin.
	origin := filepath.Join(t.TempDir(), "myapp.git")
	run(t, "", "git", "init", "-q", "--bare", origin)
	run(t, dir, "git", "remote", "add", "origin", origin)
	writeFile(t, filepath.Join(dir, ".env.sample"), readFile(t, filepath.Join(dir, ".env.sample"))+"# a comment\n")
	if r := e.mustAbra("recipe", "sync", "myapp"); strings.TrimSpace(r.stdout) != "0.2.1+1.3.0" {
		t.Fatalf("config-only sync printed %q, want 0.2.1+1.3.0", r.stdout)
	}
	e.mustAbra("recipe", "release", "myapp", "--publish", "--note", "Document a setting.")
	if got := run(t, origin, "git", "cat-file", "-t", "0.2.1+1.3.0"); got != "tag" {
		t.Errorf("origin has %q for 0.2.1+1.3.0, want an annotated tag", got)
	}
}

// TestMaintainerErrors: bad inputs fail with a clear message and the right
// exit code, and change nothing.
func TestMaintainerErrors(t *testing.T) {
	startRegistry(t)
	pushImage(t, "e2e/maintainer-app", "1.2.0", "1.3.0")
	e := newEnv(t)
	e.mustAbra("recipe", "new", "myapp")
	dir := filepath.Join(e.abraDir, "recipes", "myapp")
	compose := filepath.Join(dir, "compose.yml")
	replaceInFile(t, compose, "image: nginx:1.27.3", "image: "+registryAddr+"/e2e/maintainer-app:1.2.0")
	e.mustAbra("recipe", "release", "myapp", "0.1.0+1.2.0", "--note", "First.")

	tests := []struct {
		name string
		args []string
		code int
		want []string // in stderr
	}{
		{"unknown recipe", []string{"recipe", "upgrade", "nope", "-n"}, 1, []string{"recipe nope", "abra recipe fetch nope"}},
		{"unknown recipe sync", []string{"recipe", "sync", "nope"}, 1, []string{"recipe nope"}},
		{"offline", []string{"recipe", "upgrade", "myapp", "-n", "--offline"}, 1, []string{"--offline"}},
		{"offline publish", []string{"recipe", "release", "myapp", "--publish", "-o"}, 1, []string{"--offline"}},
		{"two policies", []string{"recipe", "upgrade", "myapp", "--minor", "--major"}, 2, []string{"--minor and --major"}},
		{"existing version", []string{"recipe", "release", "myapp", "0.1.0+1.2.0"}, 1, []string{"already", "abra recipe sync"}},
		{"older version", []string{"recipe", "release", "myapp", "0.0.9+1.2.0"}, 1, []string{"not newer than the latest release 0.1.0+1.2.0"}},
		{"nothing to sync", []string{"recipe", "sync", "myapp"}, 1, []string{"nothing changed"}},
		{"reset without a terminal", []string{"recipe", "reset", "myapp", "-n"}, 0, []string{"no changes"}},
		{"fetch without a name", []string{"recipe", "fetch"}, 2, []string{"--all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.abra(tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tt.code, r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r)
				}
			}
		})
	}
	if tags := run(t, dir, "git", "tag"); tags != "0.1.0+1.2.0" {
		t.Errorf("tags after refused commands: %s", tags)
	}

	// An unreachable registry is named.
	replaceInFile(t, compose, registryAddr+"/e2e/maintainer-app:1.2.0", "127.0.0.1:5999/e2e/gone:1.0.0")
	r := e.abra("recipe", "upgrade", "myapp", "--patch", "-n")
	if r.code != 1 || !strings.Contains(r.stderr, "registry 127.0.0.1:5999") {
		t.Errorf("unreachable registry: %s", r)
	}
	// reset asks; without a terminal it names --force, and --force discards.
	if r := e.abra("recipe", "reset", "myapp", "-n"); r.code != 2 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("reset -n: %s", r)
	}
	e.mustAbra("recipe", "reset", "myapp", "--force")
	if got := readFile(t, compose); !strings.Contains(got, "e2e/maintainer-app:1.2.0") {
		t.Errorf("reset did not restore compose.yml:\n%s", got)
	}

	// fetch --all: a recipe whose origin is gone makes a partial failure
	// naming it; the others are fetched.
	origin := filepath.Join(t.TempDir(), "other.git")
	run(t, "", "git", "clone", "-q", "--bare", dir, origin)
	e.mustAbra("recipe", "fetch", "other", "--url", origin)
	run(t, dir, "git", "remote", "add", "origin", filepath.Join(t.TempDir(), "missing.git"))
	r = e.abra("recipe", "fetch", "--all")
	if r.code != 3 || !strings.Contains(r.stderr, "recipe other: fetched") || !strings.Contains(r.stderr, "missing.git") {
		t.Errorf("fetch --all with one remote gone: %s", r)
	}
}
