package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// catalogueFile is recipes.json as the tests read it.
type catalogueFile map[string]struct {
	Name     string `json:"name"`
	Category string `json:"category"`
	Versions []map[string]map[string]struct {
		Image  string `json:"image"`
		Tag    string `json:"tag"`
		Digest string `json:"digest"`
	} `json:"versions"`
}

func readCatalogue(t *testing.T, path string) (catalogueFile, string) {
	t.Helper()
	raw := readFile(t, path)
	var c catalogueFile
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, raw)
	}
	return c, raw
}

// catalogueRecipe writes a recipe release into the git repository dir: an
// app service running image, labelled with version, and tags it.
func catalogueRecipe(t *testing.T, dir, image, version string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "compose.yml"), `version: "3.8"
services:
  app:
    image: `+image+`
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=`+version+`"
`)
	writeFile(t, filepath.Join(dir, "README.md"), "# Catweb\n\n> A web page for the catalogue test\n\n<!-- metadata -->\n* **Category**: Apps\n* **Status**: 2\n* **Image**: [`e2e/catalogue-app`](http://127.0.0.1:5000), 1, own\n* **Healthcheck**: No\n* **Backups**: No\n* **Email**: N/A\n* **Tests**: No\n* **SSO**: N/A\n<!-- endmetadata -->\n")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-q", "-m", "release "+version)
	run(t, dir, "git", "tag", "-a", version, "-m", "release "+version)
}

func TestCatalogueGenerateRealRegistry(t *testing.T) {
	reg := startRegistry(t)
	pushed := pushImage(t, "e2e/catalogue-app", "1.0.0", "1.1.0")
	image := reg + "/e2e/catalogue-app"

	gitDir := t.TempDir()
	recipeRemote := filepath.Join(gitDir, "catweb.git")
	if err := os.MkdirAll(recipeRemote, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, recipeRemote, "git", "init", "-q", "-b", "main")
	catalogueRecipe(t, recipeRemote, image+":1.0.0", "1.0.0+1.0.0")
	catalogueRecipe(t, recipeRemote, image+":1.1.0", "1.1.0+1.1.0")
	catalogueRemote := filepath.Join(gitDir, "catalogue.git")
	run(t, "", "git", "init", "-q", "--bare", "-b", "main", catalogueRemote)

	e := newEnv(t)
	e.extra = []string{"ABRA_RECIPE_BASE_URL=" + gitDir, "ABRA_CATALOGUE_URL=" + catalogueRemote}
	e.mustAbra("catalogue", "generate", "catweb", "--publish")

	local := filepath.Join(e.abraDir, "catalogue", "recipes.json")
	c, raw := readCatalogue(t, local)
	vs := c["catweb"].Versions
	if len(vs) != 2 || vs[0]["1.0.0+1.0.0"] == nil || vs[1]["1.1.0+1.1.0"] == nil {
		t.Fatalf("versions %v, want 1.0.0+1.0.0 then 1.1.0+1.1.0", vs)
	}
	for i, tag := range []string{"1.0.0", "1.1.0"} {
		for _, svc := range vs[i] {
			app := svc["app"]
			repoDigest := docker(t, "inspect", "--format", "{{index .RepoDigests 0}}", image+":"+tag)
			if app.Image != image || app.Tag != tag || image+"@"+app.Digest != repoDigest || app.Digest != pushed[tag] {
				t.Errorf("version %s: app %+v; docker inspect %s, push %s", tag, app, repoDigest, pushed[tag])
			}
		}
	}
	if c["catweb"].Category != "Apps" {
		t.Errorf("category %q", c["catweb"].Category)
	}
	// Published: the remote's main holds the same recipes.json.
	if got := run(t, "", "git", "--git-dir", catalogueRemote, "show", "main:recipes.json"); got != strings.TrimSpace(raw) {
		t.Errorf("published recipes.json differs from the local one:\n%s", got)
	}
	// recipe ls --json round-trips recipes.json.
	if out := e.mustAbra("recipe", "ls", "--json").stdout; out != raw {
		t.Errorf("recipe ls --json differs from recipes.json:\n%s", out)
	}
	if out := e.mustAbra("recipe", "ls").stdout; !strings.Contains(out, "catweb") || !strings.Contains(out, "1.1.0+1.1.0") {
		t.Errorf("recipe ls:\n%s", out)
	}

	// A new release whose image tag the registry does not have: one recipe's
	// new version is read, its digest is unknown and the warning names the registry.
	catalogueRecipe(t, recipeRemote, image+":9.9.9", "1.2.0+9.9.9")
	r := e.mustAbra("catalogue", "generate")
	if !strings.Contains(r.stderr, "registry "+reg) || !strings.Contains(r.stderr, "2 versions reused") {
		t.Errorf("stderr lacks the registry warning or the reuse:\n%s", r.stderr)
	}
	c, raw = readCatalogue(t, local)
	if d := c["catweb"].Versions[2]["1.2.0+9.9.9"]["app"].Digest; d != "unknown" {
		t.Errorf("digest of a missing tag = %q, want unknown", d)
	}

	// Remotes gone: offline, ls and generate work from the local copies.
	for _, dir := range []string{recipeRemote, catalogueRemote} {
		if err := os.Rename(dir, dir+".away"); err != nil {
			t.Fatal(err)
		}
	}
	if r := e.mustAbra("-o", "recipe", "ls", "--json"); r.stdout != raw || strings.Contains(r.stderr, "warning") {
		t.Errorf("offline ls: stdout differs or warns:\n%s", r)
	}
	e.mustAbra("-o", "catalogue", "generate")
	// Online, each command names the remote that failed, and goes on.
	if r := e.mustAbra("recipe", "ls"); !strings.Contains(r.stderr, catalogueRemote) {
		t.Errorf("ls does not name the catalogue remote:\n%s", r.stderr)
	}
	r = e.mustAbra("catalogue", "generate")
	if !strings.Contains(r.stderr, catalogueRemote) || !strings.Contains(r.stderr, recipeRemote) {
		t.Errorf("generate does not name both remotes:\n%s", r.stderr)
	}
	// A recipe never fetched, whose remote does not exist: exit 3, naming it.
	r = e.abra("catalogue", "generate", "nothere")
	if r.code != 3 || !strings.Contains(r.stderr, filepath.Join(gitDir, "nothere.git")) {
		t.Errorf("generate of an unreachable new recipe: %s", r)
	}
}

func TestCatalogueFromRecipesDir(t *testing.T) {
	catalogueRemote := filepath.Join(t.TempDir(), "catalogue.git")
	run(t, "", "git", "init", "-q", "--bare", "-b", "main", catalogueRemote)
	e := newEnv(t)
	e.extra = []string{"ABRA_CATALOGUE_URL=" + catalogueRemote}
	page := filepath.Join(t.TempDir(), "index.html")
	// The demo image is on no registry: its digest is unknown; -o asks none.
	e.mustAbra("-o", "catalogue", "generate", "--from-dir", filepath.Join(repoRoot, "recipes"), "--html", page)
	c, _ := readCatalogue(t, filepath.Join(e.abraDir, "catalogue", "recipes.json"))
	demo := c["demo"]
	if demo.Category != "Development" || len(demo.Versions) != 1 {
		t.Fatalf("demo %+v", demo)
	}
	for version, services := range demo.Versions[0] {
		if services["app"].Image != "abra-demo/web" || !strings.HasPrefix(version, "0.") {
			t.Errorf("demo %s: %+v", version, services)
		}
	}
	if html := readFile(t, page); !strings.Contains(html, `data-name="demo"`) || !strings.Contains(html, "<option>Development</option>") {
		t.Errorf("page lacks the demo recipe")
	}
}
