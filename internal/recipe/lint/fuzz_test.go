package lint

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// fuzzReadme is a README with the metadata block the catalogue reads.
const fuzzReadme = `# web

<!-- metadata -->
* **Category**: Apps
* **Status**: 3, stable
* **Image**: [nginx](https://hub.docker.com/_/nginx), 4, upstream
* **Healthcheck**: Yes
* **Backups**: No
* **Email**: N/A
* **Tests**: No
* **SSO**: N/A
<!-- endmetadata -->
`

var ruleID = regexp.MustCompile(`^R[0-9]{3}$`)

// FuzzLint builds a recipe from fuzzed compose.yml, overlay, .env.sample and
// abra.sh, loads it as `abra recipe lint` does and runs every rule. Nothing
// may panic; only an unreadable directory is a load error; every rule gives
// one finding, in rule order, with a known status and severity, a reason for
// a skip, and the same report on a second check.
func FuzzLint(f *testing.F) {
	good := map[string]string{}
	for _, file := range txtar.Parse([]byte(goodRecipe)).Files {
		good[file.Name] = string(file.Data)
	}
	f.Add(good["compose.yml"], "", good[".env.sample"], good["abra.sh"])
	f.Add(good["compose.yml"], "version: \"3.8\"\nservices:\n  app:\n    environment:\n      - SMTP_HOST=${SMTP_HOST}\n",
		good[".env.sample"]+"COMPOSE_FILE=compose.yml:compose.smtp.yml\nSMTP_HOST=mail\n", good["abra.sh"])
	f.Add(good["compose.yml"], "", "", "")
	f.Add(good["compose.yml"], "", "TYPE=web\nNOT A LINE\n", "export NGINX_CONF_VERSION='v1\n")
	f.Add(strings.ReplaceAll(good["compose.yml"], "nginx:1.25.3", "${IMAGE}"), "", "IMAGE=nginx:latest\n", "")
	f.Add(strings.ReplaceAll(good["compose.yml"], "  app:\n", "  web:\n"), "", good[".env.sample"], good["abra.sh"])
	f.Add("services:\n  app:\n    image: nginx\n    deploy:\n      labels: {a: 1, b: [x], c: null}\n", "", "", "")
	f.Add("services:\n  app:\n    image: nginx\n    deploy:\n      labels: [\"=x\", 3, null, \"k\"]\n", "", "", "")
	f.Add("services:\n  app: null\nconfigs:\n  c: null\nsecrets:\n  s: [1]\n", "services: []\n", "", "")
	f.Add("services: {}\n", "", "", "")
	f.Add("", "", "", "")
	f.Add("[", "{", "=", "export =")
	f.Add("version: 3\nservices:\n  app:\n    image: \"${A:?}\"\n    secrets: [\"\"]\nsecrets:\n  \"\": {external: true, name: \"${STACK_NAME}_\"}\n", "", "", "")
	for _, r := range corpusRecipes(f) {
		f.Add(r.compose, r.overlay, r.envSample, r.abraSh)
	}
	f.Fuzz(func(t *testing.T, compose, overlay, envSample, abraSh string) {
		dir := t.TempDir()
		files := map[string]string{
			"compose.yml": compose,
			".env.sample": envSample,
			"abra.sh":     abraSh,
			"nginx.conf":  "server {}\n",
			"README.md":   fuzzReadme,
		}
		if overlay != "" {
			files["compose.smtp.yml"] = overlay
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ctx := context.Background()
		r, err := Load(ctx, dir, nil)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		rules := Rules()
		rep := Check(r, rules)
		if len(rep.Findings) != len(rules) {
			t.Fatalf("%d findings for %d rules", len(rep.Findings), len(rules))
		}
		for i, fd := range rep.Findings {
			if fd.ID != rules[i].ID || !ruleID.MatchString(fd.ID) {
				t.Fatalf("finding %d is %q, rule %q", i, fd.ID, rules[i].ID)
			}
			if fd.Status != Pass && fd.Status != Fail && fd.Status != Skip {
				t.Fatalf("%s: status %q", fd.ID, fd.Status)
			}
			if fd.Severity != Warn && fd.Severity != Critical || fd.Severity == Critical && rules[i].Severity != Critical {
				t.Fatalf("%s: severity %q, the rule's %q", fd.ID, fd.Severity, rules[i].Severity)
			}
			if fd.Status == Skip && fd.Detail == "" {
				t.Fatalf("%s skipped without saying why", fd.ID)
			}
		}
		// The loader's own determinism is FuzzLoad's (internal/stack): it
		// reports one of several faults, picked in map order.
		rep2 := Check(r, rules)
		for i := range rep.Findings {
			if a, b := rep.Findings[i], rep2.Findings[i]; a != b {
				t.Fatalf("%s differs between two runs: %+v, then %+v", a.ID, a, b)
			}
		}
	})
}

type corpusRecipe struct{ compose, overlay, envSample, abraSh string }

// corpusRecipes returns the recipes of the shared corpus (../shared/corpus
// beside the checkout, or $ABRA_CORPUS), which is not part of the
// repository: none when it is absent.
func corpusRecipes(tb testing.TB) []corpusRecipe {
	tb.Helper()
	dir := os.Getenv("ABRA_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "corpus")
	}
	composes, _ := filepath.Glob(filepath.Join(dir, "*", "compose.yml"))
	var out []corpusRecipe
	for _, c := range composes {
		recipe := filepath.Dir(c)
		read := func(name string) string {
			b, _ := os.ReadFile(filepath.Join(recipe, name))
			return string(b)
		}
		var overlay string
		if overlays, _ := filepath.Glob(filepath.Join(recipe, "compose.*.yml")); len(overlays) > 0 {
			overlay = read(filepath.Base(overlays[0]))
		}
		out = append(out, corpusRecipe{read("compose.yml"), overlay, read(".env.sample"), read("abra.sh")})
	}
	return out
}
