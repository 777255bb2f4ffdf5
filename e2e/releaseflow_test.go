package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flowCompose is what the maintainer makes of the template's compose.yml: the
// image from the local registry, a command and healthcheck that busybox has,
// no proxy network (this machine has no traefik), the template's version label.
func flowCompose(image string) string {
	return `---
version: "3.8"

services:
  app:
    image: ` + image + ` # the app
    command: ["sleep", "3600"]
    environment:
      - DOMAIN
    healthcheck:
      test: ["CMD", "sh", "-c", "exit 0"]
      interval: 2s
      timeout: 2s
      retries: 3
      start_period: 2s
    deploy:
      update_config:
        failure_action: rollback
        order: start-first
      labels:
        - "coop-cloud.${STACK_NAME}.version="
        - "coop-cloud.${STACK_NAME}.timeout=${TIMEOUT:-120}"
`
}

// TestReleaseToUpgrade follows a release from the maintainer to the operator:
// recipe new → edit → upgrade --minor picks a tag from a real registry → sync
// writes the label → release publishes an annotated tag with notes → catalogue
// generate lists the new version with the registry's digests → an operator's
// deployed app is offered it by app upgrade. Then, with the registry and the
// git remotes gone, recipe ls, app new and app deploy of the fetched recipe
// still work, and the commands that need the network name the remote that failed.
func TestReleaseToUpgrade(t *testing.T) {
	reg := startRegistry(t)
	digests := pushImage(t, "e2e/flow-app", "1.2.0", "1.2.1", "1.3.0", "2.0.0")
	image := reg + "/e2e/flow-app"

	gitDir := t.TempDir()
	origin := filepath.Join(gitDir, "flowapp.git")
	catalogueRemote := filepath.Join(gitDir, "catalogue.git")
	run(t, "", "git", "init", "-q", "--bare", "-b", "main", origin)
	run(t, "", "git", "init", "-q", "--bare", "-b", "main", catalogueRemote)
	remotes := []string{"ABRA_RECIPE_BASE_URL=" + gitDir, "ABRA_CATALOGUE_URL=" + catalogueRemote}

	// The maintainer: a new recipe, edited, released as 0.1.0+1.2.0.
	m := newEnv(t)
	m.extra = remotes
	m.mustAbra("recipe", "new", "flowapp")
	dir := filepath.Join(m.abraDir, "recipes", "flowapp")
	writeFile(t, filepath.Join(dir, "compose.yml"), flowCompose(image+":1.2.0"))
	run(t, dir, "git", "remote", "add", "origin", origin)
	if r := m.mustAbra("recipe", "sync", "flowapp"); strings.TrimSpace(r.stdout) != "0.1.0+1.2.0" {
		t.Fatalf("first sync: %q, want 0.1.0+1.2.0", r.stdout)
	}
	m.mustAbra("recipe", "release", "flowapp", "--publish", "--note", "First release.")

	// The operator fetches it from the published remote and deploys it.
	const domain = "flow.e2e.localhost"
	const stack = "flow_e2e_localhost"
	op := newEnv(t)
	op.extra = remotes
	t.Cleanup(func() {
		op.abra("app", "undeploy", domain, "-n")
		op.abra("app", "undeploy", "flow2.e2e.localhost", "-n")
	})
	op.mustAbra("server", "add", "--local")
	op.mustAbra("recipe", "fetch", "flowapp")
	op.mustAbra("app", "new", "flowapp", "--server", "default", "--domain", domain, "-n")
	op.mustAbra("app", "deploy", domain, "-n")
	if got := serviceLabel(t, stack+"_app", "coop-cloud."+stack+".version"); got != "0.1.0+1.2.0" {
		t.Fatalf("deployed version label %q, want 0.1.0+1.2.0", got)
	}
	if r := op.abra("app", "upgrade", domain, "-n"); r.code == 0 || !strings.Contains(r.stderr, "newest") {
		t.Fatalf("upgrade before a new release must find nothing: %s", r)
	}

	// The maintainer moves to the newest minor tag and releases 0.2.0+1.3.0.
	if r := m.mustAbra("recipe", "upgrade", "flowapp", "--minor", "-n"); !strings.Contains(r.stderr+r.stdout, "1.3.0") {
		t.Fatalf("upgrade --minor: %s", r)
	}
	compose := readFile(t, filepath.Join(dir, "compose.yml"))
	if !strings.Contains(compose, "image: "+image+":1.3.0 # the app") {
		t.Fatalf("upgrade --minor did not pick 1.3.0 (or lost the comment):\n%s", compose)
	}
	if r := m.mustAbra("recipe", "sync", "flowapp"); strings.TrimSpace(r.stdout) != "0.2.0+1.3.0" {
		t.Fatalf("sync: %q, want 0.2.0+1.3.0", r.stdout)
	}
	if got := readFile(t, filepath.Join(dir, "compose.yml")); !strings.Contains(got, `coop-cloud.${STACK_NAME}.version=0.2.0+1.3.0"`) {
		t.Fatalf("sync did not write the version label:\n%s", got)
	}
	writeFile(t, filepath.Join(dir, "release", "next"), "The app moves to 1.3.0.\n")
	m.mustAbra("recipe", "release", "flowapp", "--publish")
	if got := run(t, origin, "git", "cat-file", "-t", "0.2.0+1.3.0"); got != "tag" {
		t.Fatalf("published 0.2.0+1.3.0 is a %q, want an annotated tag", got)
	}

	// The catalogue lists both versions with the registry's digests.
	m.mustAbra("catalogue", "generate", "flowapp", "--publish")
	c, raw := readCatalogue(t, filepath.Join(m.abraDir, "catalogue", "recipes.json"))
	vs := c["flowapp"].Versions
	if len(vs) != 2 || vs[0]["0.1.0+1.2.0"] == nil || vs[1]["0.2.0+1.3.0"] == nil {
		t.Fatalf("catalogue versions %v", vs)
	}
	if app := vs[1]["0.2.0+1.3.0"]["app"]; app.Image != image || app.Tag != "1.3.0" || app.Digest != digests["1.3.0"] {
		t.Fatalf("catalogue 0.2.0+1.3.0 app = %+v, want digest %s", app, digests["1.3.0"])
	}
	if r := op.mustAbra("recipe", "ls", "--json"); r.stdout != raw {
		t.Fatalf("the operator's recipe ls --json differs from the published recipes.json:\n%s", r.stdout)
	}

	// The operator's app upgrade offers the new version (fetched from origin) with its notes.
	r := op.mustAbra("app", "upgrade", domain, "-n")
	if !strings.Contains(r.stderr, "available: 0.2.0+1.3.0") || !strings.Contains(r.stderr, "The app moves to 1.3.0.") {
		t.Fatalf("upgrade does not offer 0.2.0+1.3.0 with its notes: %s", r)
	}
	if got := serviceLabel(t, stack+"_app", "coop-cloud."+stack+".version"); got != "0.2.0+1.3.0" {
		t.Fatalf("version label after upgrade %q", got)
	}

	// Offline: registry stopped, git remotes gone.
	stopRegistry(t)
	for _, d := range []string{origin, catalogueRemote} {
		if err := os.Rename(d, d+".away"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Rename(d+".away", d) })
	}
	if r := op.mustAbra("recipe", "ls"); !strings.Contains(r.stdout, "flowapp") || !strings.Contains(r.stderr, catalogueRemote) {
		t.Errorf("recipe ls with the catalogue remote gone: want the list and a warning naming %s: %s", catalogueRemote, r)
	}
	if r := op.mustAbra("-o", "recipe", "ls"); !strings.Contains(r.stdout, "flowapp") {
		t.Errorf("recipe ls --offline: %s", r)
	}
	const domain2 = "flow2.e2e.localhost"
	op.mustAbra("app", "new", "flowapp", "--server", "default", "--domain", domain2, "-n")
	op.mustAbra("app", "deploy", domain2, "-n")
	if got := serviceLabel(t, "flow2_e2e_localhost_app", "coop-cloud.flow2_e2e_localhost.version"); got != "0.2.0+1.3.0" {
		t.Errorf("offline deploy: version label %q", got)
	}
	if r := op.abra("recipe", "fetch", "flowapp"); r.code == 0 || !strings.Contains(r.stderr, origin) {
		t.Errorf("recipe fetch with the remote gone must fail naming %s: %s", origin, r)
	}
	if r := m.abra("recipe", "upgrade", "flowapp", "--patch", "-n"); r.code == 0 || !strings.Contains(r.stderr, "registry "+reg) {
		t.Errorf("recipe upgrade with the registry stopped must fail naming it: %s", r)
	}
	if r := m.abra("catalogue", "generate", "flowapp"); !strings.Contains(r.stderr, origin) {
		t.Errorf("catalogue generate with the recipe remote gone must name it: %s", r)
	}
}
