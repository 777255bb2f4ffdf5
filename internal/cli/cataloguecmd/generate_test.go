package cataloguecmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"coopcloud.tech/abra/internal/catalogue"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type countingResolver struct {
	mu    sync.Mutex
	asked []string
	fail  bool
}

func (r *countingResolver) Digest(_ context.Context, ref string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, ref)
	if r.fail {
		return "", errors.New("connection refused")
	}
	return "sha256:" + strings.Repeat("ab", 32), nil
}

var sig = &object.Signature{Name: "t", Email: "t@example.org", When: time.Unix(1700000000, 0)}

// gitRepo creates a repository at dir with files committed; tags are
// annotated tags of that commit.
func gitRepo(t *testing.T, dir string, files map[string]string, tags ...string) {
	t.Helper()
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wt, _ := r.Worktree()
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit("init", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if _, err := r.CreateTag(tag, h, &git.CreateTagOptions{Tagger: sig, Message: tag}); err != nil {
			t.Fatal(err)
		}
	}
}

type setup struct {
	f      *command.Factory
	out    *bytes.Buffer
	errb   *bytes.Buffer
	env    map[string]string
	remote string // the catalogue's bare remote
	gitDir string // recipe remotes
}

func newSetup(t *testing.T) *setup {
	root := t.TempDir()
	s := &setup{out: &bytes.Buffer{}, errb: &bytes.Buffer{}, gitDir: filepath.Join(root, "git")}
	s.f = &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: s.out, Err: s.errb}, AbraDir: filepath.Join(root, "abra")}
	s.remote = filepath.Join(root, "catalogue.git")
	// A forge's new repository: HEAD names main, which has no commit yet.
	if _, err := git.PlainInitWithOptions(s.remote, &git.PlainInitOptions{Bare: true,
		InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}}); err != nil {
		t.Fatal(err)
	}
	s.env = map[string]string{"ABRA_CATALOGUE_URL": s.remote, "ABRA_RECIPE_BASE_URL": s.gitDir}
	return s
}

func (s *setup) generate(t *testing.T, r catalogue.Resolver, args ...string) error {
	t.Helper()
	s.out.Reset()
	s.errb.Reset()
	var o *generateOptions
	cmd := newGenerateCmd(s.f, func(_ context.Context, opts *generateOptions) error { o = opts; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(s.out)
	cmd.SetErr(s.errb)
	if err := cmd.Execute(); err != nil {
		return err
	}
	o.resolver = r
	o.getenv = func(k string) string { return s.env[k] }
	return runGenerate(context.Background(), o)
}

func (s *setup) catalogue(t *testing.T) catalogue.Catalogue {
	t.Helper()
	c, err := catalogue.Read(filepath.Join(s.f.AbraDir, "catalogue", "recipes.json"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const compose = "services:\n  app:\n    image: nginx:1.27\n  db:\n    image: mariadb:10.6\n"

func TestGenerateRecipesCachedAndPublished(t *testing.T) {
	s := newSetup(t)
	gitRepo(t, filepath.Join(s.gitDir, "web.git"), map[string]string{"compose.yml": compose, "README.md": "# Web\n> A web server\n"}, "1.0.0+1.27", "1.0.1+1.27")
	r := &countingResolver{}
	if err := s.generate(t, r, "web", "--publish"); err != nil {
		t.Fatalf("%v\n%s", err, s.errb)
	}
	c := s.catalogue(t)
	if got := c["web"]; got.Latest() != "1.0.1+1.27" || got.Description != "A web server" || got.Versions[0].Services["db"].Digest != "sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("web = %+v", got)
	}
	if len(r.asked) != 2 {
		t.Errorf("asked %v, want nginx and mariadb once each", r.asked)
	}
	if !strings.Contains(s.errb.String(), "catalogue: published") {
		t.Errorf("stderr: %s", s.errb)
	}
	if s.out.Len() != 0 {
		t.Errorf("stdout not empty: %s", s.out)
	}

	// Regenerating everything: nothing new, no registry request, nothing to publish.
	r2 := &countingResolver{}
	if err := s.generate(t, r2, "--publish"); err != nil {
		t.Fatalf("%v\n%s", err, s.errb)
	}
	if len(r2.asked) != 0 || !strings.Contains(s.errb.String(), "nothing to publish") {
		t.Errorf("second run asked %v; stderr %s", r2.asked, s.errb)
	}

	// Another machine gets the published catalogue.
	other := newSetup(t)
	other.env = s.env
	if err := other.generate(t, &countingResolver{fail: true}, "--skip-updates"); err != nil {
		t.Fatalf("%v\n%s", err, other.errb)
	}
	if other.catalogue(t)["web"].Latest() != "1.0.1+1.27" {
		t.Error("published catalogue not cloned")
	}
}

func TestGenerateFailedRecipeIsPartial(t *testing.T) {
	s := newSetup(t)
	gitRepo(t, filepath.Join(s.gitDir, "web.git"), map[string]string{"compose.yml": compose}, "1.0.0+1.27")
	err := s.generate(t, &countingResolver{fail: true}, "web", "missing")
	if !errors.Is(err, command.ErrPartial) || !strings.Contains(err.Error(), filepath.Join(s.gitDir, "missing.git")) {
		t.Fatalf("err = %v, want a partial failure naming the remote", err)
	}
	c := s.catalogue(t)
	if _, ok := c["missing"]; ok || c["web"].Versions[0].Services["app"].Digest != catalogue.UnknownDigest {
		t.Errorf("catalogue %+v", c)
	}
	if !strings.Contains(s.errb.String(), "registry docker.io: connection refused") {
		t.Errorf("stderr lacks the registry warning:\n%s", s.errb)
	}
}

func TestGenerateFromDirWithHTML(t *testing.T) {
	s := newSetup(t)
	page := filepath.Join(t.TempDir(), "site", "index.html")
	recipes := filepath.Join("..", "..", "..", "recipes")
	if err := s.generate(t, &countingResolver{}, "--from-dir", recipes, "--html", page); err != nil {
		t.Fatalf("%v\n%s", err, s.errb)
	}
	demo := s.catalogue(t)["demo"]
	if demo.Category != "Development" || len(demo.Versions) != 1 || demo.Versions[0].Services["app"].Image != "abra-demo/web" {
		t.Errorf("demo = %+v", demo)
	}
	b, err := os.ReadFile(page)
	if err != nil || !strings.Contains(string(b), `data-name="demo"`) {
		t.Errorf("page: %v", err)
	}
}

func TestGenerateUsage(t *testing.T) {
	s := newSetup(t)
	var usage *command.UsageError
	if err := s.generate(t, &countingResolver{}); !errors.As(err, &usage) {
		t.Errorf("empty catalogue, no recipe: %v", err)
	}
	if err := s.generate(t, &countingResolver{}, "--from-dir", t.TempDir()); !errors.As(err, &usage) {
		t.Errorf("empty --from-dir: %v", err)
	}
	s.f.Offline = true
	if err := s.generate(t, &countingResolver{}, "x", "--publish"); !errors.As(err, &usage) {
		t.Errorf("--publish --offline: %v", err)
	}
}

func TestGenerateDryRunWritesNothing(t *testing.T) {
	s := newSetup(t)
	gitRepo(t, filepath.Join(s.gitDir, "web.git"), map[string]string{"compose.yml": compose}, "1.0.0+1.27")
	if err := s.generate(t, &countingResolver{}, "web", "-r"); err != nil {
		t.Fatalf("%v\n%s", err, s.errb)
	}
	if strings.TrimSpace(s.out.String()) != "web\tnew" || !strings.Contains(s.errb.String(), "nothing written") {
		t.Fatalf("stdout %q, stderr %s", s.out, s.errb)
	}
	if c, err := catalogue.Read(filepath.Join(s.f.AbraDir, "catalogue", "recipes.json")); err == nil && len(c) != 0 {
		t.Fatalf("a dry run wrote recipes.json: %v", c)
	}
	if err := s.generate(t, &countingResolver{}, "web", "--dry-run", "--publish"); err == nil {
		t.Fatal("--dry-run with --publish accepted")
	}
}
