package recipecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/ui"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{
		"-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "init.defaultBranch=main",
		"-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false",
	}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_DATE=2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// copyTree copies src into dst, leaving out the corpus's own bookkeeping
// (_tags/, _history/: older versions kept beside the recipe).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && (d.Name() == "_tags" || d.Name() == "_history") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// corpusRecipe makes a git clone of a corpus recipe under abraDir/recipes.
// Versions the corpus keeps under _tags/<tag>/ become annotated tags of
// earlier commits, oldest first; the recipe as it is now is the last commit.
func corpusRecipe(t *testing.T, src, abraDir string) {
	t.Helper()
	dir := filepath.Join(abraDir, "recipes", filepath.Base(src))
	copyTree(t, src, dir)
	git(t, dir, "init", "-q")
	if url := corpusSource(t, filepath.Dir(src), filepath.Base(src)); url != "" {
		git(t, dir, "remote", "add", "origin", url)
	}

	entries, _ := os.ReadDir(filepath.Join(src, "_tags"))
	var tags []string
	for _, e := range entries {
		if e.IsDir() {
			tags = append(tags, e.Name())
		}
	}
	slices.SortFunc(tags, func(a, b string) int {
		va, errA := recipe.ParseVersion(a)
		vb, errB := recipe.ParseVersion(b)
		if errA != nil || errB != nil {
			return strings.Compare(a, b)
		}
		return va.Compare(vb)
	})
	for _, tag := range tags {
		copyTree(t, filepath.Join(src, "_tags", tag), dir)
		git(t, dir, "add", "-A")
		git(t, dir, "commit", "-q", "--allow-empty", "-m", "release "+tag)
		git(t, dir, "tag", "-a", "-m", tag, tag)
	}
	if len(tags) > 0 {
		copyTree(t, src, dir) // back to the recipe as it is now
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", "current")
}

// corpusSource is the public repository a corpus recipe was copied from,
// as the corpus README's table names it (R013 checks the clone has one).
func corpusSource(t *testing.T, corpus, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		cells := strings.Split(line, "|")
		if len(cells) > 3 && strings.TrimSpace(cells[1]) == name {
			return "https://" + strings.TrimSpace(cells[2]) + ".git"
		}
	}
	return ""
}

func corpusDir(t *testing.T) string {
	t.Helper()
	// internal/cli/recipecmd → repository root → its sibling shared/corpus.
	dir := filepath.Join("..", "..", "..", "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("recipe corpus missing in CI: %v", err)
		}
		t.Skipf("recipe corpus not found: %v", err)
	}
	return dir
}

// runLintCmd runs `abra recipe lint` with the real runLint.
func runLintCmd(t *testing.T, abraDir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: abraDir}
	cmd := newLintCmd(f, nil)
	cmd.SetArgs(args)
	cmd.SetOut(&errb)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "lint", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// mustFind are findings the corpus exists to show.
var mustFind = map[string][]lintView{
	"nodex-next":     {{ID: "R008", Severity: "critical", Status: "fail", Detail: "no .env.sample"}},
	"docs-coopcloud": {{ID: "R102", Severity: "critical", Status: "fail", Detail: "not a Co-op Cloud recipe"}},
	"gaseous":        {{ID: "R003", Severity: "critical", Status: "fail", Detail: "db: mariadb"}},
	"agora":          {{ID: "R106", Severity: "warn", Status: "fail", Detail: "empty version label"}},
	"bonfire-deploy": {{ID: "R101", Severity: "critical", Status: "pass", Detail: "compose.meilisearch.yml"}},
	"traefik":        {{ID: "R013", Severity: "warn", Status: "pass", Detail: "github.com/ahdinosaur/coop-cloud-traefik"}},
}

// neverFail are rules no real recipe of the corpus breaks: a failure would be
// a false positive.
var neverFail = []string{"R013", "R107", "R108", "R109"}

func TestLintCorpus(t *testing.T) {
	corpus := corpusDir(t)
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			abraDir := t.TempDir()
			corpusRecipe(t, filepath.Join(corpus, name), abraDir)
			stdout, stderr, err := runLintCmd(t, abraDir, name, "--json")
			golden(t, name+".golden", []byte(stdout))

			var views []lintView
			if jerr := json.Unmarshal([]byte(stdout), &views); jerr != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", jerr, stdout)
			}
			var critical []string
			for _, v := range views {
				if slices.Contains(neverFail, v.ID) && v.Status != "pass" {
					t.Errorf("%s %s: %s", v.ID, v.Status, v.Detail)
				}
				if v.Status == "fail" && v.Severity == "critical" {
					critical = append(critical, v.ID)
				}
			}
			switch {
			case len(critical) == 0 && err != nil:
				t.Errorf("no critical failures, but an error: %v", err)
			case len(critical) > 0 && (err == nil || !strings.Contains(err.Error(), strings.Join(critical, ", "))):
				t.Errorf("critical failures %v, error %v: want an error naming them", critical, err)
			}
			if !strings.Contains(stderr, "recipe "+name+": ") {
				t.Errorf("stderr lacks the summary line:\n%s", stderr)
			}
			for _, want := range mustFind[name] {
				i := slices.IndexFunc(views, func(v lintView) bool { return v.ID == want.ID })
				if i < 0 {
					t.Errorf("no %s finding", want.ID)
					continue
				}
				got := views[i]
				if got.Status != want.Status || got.Severity != want.Severity || !strings.Contains(got.Detail, want.Detail) {
					t.Errorf("%s = %s/%s %q, want %s/%s containing %q", want.ID, got.Severity, got.Status, got.Detail, want.Severity, want.Status, want.Detail)
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("the corpus holds no recipes")
	}
}

func TestLintTable(t *testing.T) {
	corpus := corpusDir(t)
	abraDir := t.TempDir()
	corpusRecipe(t, filepath.Join(corpus, "gaseous"), abraDir)
	stdout, stderr, err := runLintCmd(t, abraDir, "gaseous")
	golden(t, "gaseous.table.golden", []byte(stdout))
	if err == nil || !strings.Contains(err.Error(), "critical lint rules failed: R003") {
		t.Errorf("error = %v, want one naming R003", err)
	}
	if want := "recipe gaseous: 33 rules,"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q lacks %q", stderr, want)
	}
}

const lintCompose = `version: "3.8"
services:
  app:
    image: nginx:1.25.3
    healthcheck:
      test: ["CMD", "true"]
`

func TestLintChaos(t *testing.T) {
	abraDir := t.TempDir()
	dir := filepath.Join(abraDir, "recipes", "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"compose.yml": lintCompose, ".env.sample": "TYPE=web\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "init", "-q")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "web")
	// An uncommitted change that breaks a critical rule.
	untagged := strings.Replace(lintCompose, "nginx:1.25.3", "nginx", 1)
	if err := os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(untagged), 0o644); err != nil {
		t.Fatal(err)
	}

	_, stderr, err := runLintCmd(t, abraDir, "web", "--json")
	if err != nil {
		t.Errorf("last commit: %v", err)
	}
	if !strings.Contains(stderr, "uncommitted changes") || !strings.Contains(stderr, "--chaos") {
		t.Errorf("stderr does not say the work tree was left out:\n%s", stderr)
	}

	_, _, err = runLintCmd(t, abraDir, "web", "--chaos", "--json")
	if err == nil || !strings.Contains(err.Error(), "R003") {
		t.Errorf("work tree: %v, want R003 to fail", err)
	}
}

func TestLintErrors(t *testing.T) {
	abraDir := t.TempDir()
	_, _, err := runLintCmd(t, abraDir, "nope")
	if !errors.Is(err, recipe.ErrNotFound) {
		t.Errorf("missing recipe: %v, want ErrNotFound", err)
	}

	dir := filepath.Join(abraDir, "recipes", "empty")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "-q")
	_, _, err = runLintCmd(t, abraDir, "empty")
	if err == nil || !strings.Contains(err.Error(), "no commits yet") {
		t.Errorf("recipe without commits: %v", err)
	}
}

func TestLintFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want lintOptions
	}{
		{"defaults", []string{"web"}, lintOptions{name: "web"}},
		{"json", []string{"web", "--json"}, lintOptions{name: "web", json: true}},
		{"machine alias", []string{"web", "-m"}, lintOptions{name: "web", json: true}},
		{"chaos", []string{"-C", "web"}, lintOptions{name: "web", chaos: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *lintOptions
			cmd := newLintCmd(&command.Factory{}, func(_ context.Context, o *lintOptions) error {
				got = o
				return nil
			})
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if got.name != tt.want.name || got.json != tt.want.json || got.chaos != tt.want.chaos {
				t.Errorf("options = %+v, want %+v", *got, tt.want)
			}
		})
	}

	cmd := newLintCmd(&command.Factory{}, func(context.Context, *lintOptions) error { return nil })
	cmd.SetArgs([]string{})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	var usage *command.UsageError
	if err := cmd.Execute(); !errors.As(err, &usage) {
		t.Errorf("no recipe named: %v, want a usage error", err)
	}
}
