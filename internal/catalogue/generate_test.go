package catalogue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// world is a set of recipe remotes and an ABRA_DIR/recipes to clone into.
type world struct {
	remotes, clones string
}

func newWorld(t testing.TB) world {
	root := t.TempDir()
	return world{remotes: filepath.Join(root, "remotes"), clones: filepath.Join(root, "recipes")}
}

func (w world) source(name string) Source {
	return Source{Name: name, URL: filepath.Join(w.remotes, name), Dir: filepath.Join(w.clones, name)}
}

func (w world) recipe(t testing.TB, name, readme string, rels ...release) Source {
	newRecipeRepo(t, filepath.Join(w.remotes, name), readme, rels...)
	return w.source(name)
}

func TestGenerateClonesAndReadsVersions(t *testing.T) {
	w := newWorld(t)
	wp := w.recipe(t, "wordpress", wordpressREADME,
		release{"1.0.0+6.4.1", []string{"app=wordpress:6.4.1", "db=mariadb:10.6"}},
		release{"1.1.0+6.5.0", []string{"app=wordpress:6.5.0", "db=mariadb:10.6"}},
		release{"1.0.1+6.4.2", []string{"app=wordpress:6.4.2", "db=mariadb:10.6"}},
	)
	res := &fakeResolver{}
	g := Generator{Resolver: res, Cache: LoadDigestCache(filepath.Join(t.TempDir(), "d.json")), Concurrency: 4}
	out, err := g.Generate(context.Background(), []Source{wp})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Failed) != 0 {
		t.Fatalf("failed: %v", out.Failed)
	}
	r := out.Catalogue["wordpress"]
	var names []string
	for _, v := range r.Versions {
		names = append(names, v.Name)
	}
	if got, want := strings.Join(names, " "), "1.0.0+6.4.1 1.0.1+6.4.2 1.1.0+6.5.0"; got != want {
		t.Errorf("versions %q, want ascending %q", got, want)
	}
	app := r.Versions[2].Services["app"]
	if app.Image != "wordpress" || app.Tag != "6.5.0" || app.Digest != fakeDigest("wordpress:6.5.0") {
		t.Errorf("app of 1.1.0 = %+v", app)
	}
	if r.Category != "Apps" || r.Description != "The most popular blogging software" || r.Features.Status != 3 ||
		r.Features.Image.Image != "wordpress" || r.DefaultBranch != "main" || r.Repository != wp.URL {
		t.Errorf("metadata = %+v", r)
	}
	// mariadb:10.6 appears in three versions: asked once with a cache.
	if n := res.asked["mariadb:10.6"]; n != 1 {
		t.Errorf("mariadb:10.6 asked %d times, want 1", n)
	}
	if out.Requests != 4 || res.requests() != 4 {
		t.Errorf("requests = %d (resolver saw %d), want 4", out.Requests, res.requests())
	}
}

func TestGenerateWithoutCacheAsksForEveryService(t *testing.T) {
	w := newWorld(t)
	wp := w.recipe(t, "wordpress", wordpressREADME,
		release{"1.0.0+6.4.1", []string{"app=wordpress:6.4.1", "db=mariadb:10.6"}},
		release{"1.1.0+6.5.0", []string{"app=wordpress:6.5.0", "db=mariadb:10.6"}},
	)
	res := &fakeResolver{}
	out, err := (&Generator{Resolver: res, Concurrency: 1}).Generate(context.Background(), []Source{wp})
	if err != nil {
		t.Fatal(err)
	}
	if res.requests() != 4 || res.asked["mariadb:10.6"] != 2 {
		t.Errorf("asked %v, want every service of every version", res.asked)
	}
	if d := out.Catalogue["wordpress"].Versions[0].Services["db"].Digest; d != fakeDigest("mariadb:10.6") {
		t.Errorf("digest %q", d)
	}
}

func TestGenerateRegenerationCostsOnlyTheNewTag(t *testing.T) {
	w := newWorld(t)
	var sources []Source
	for _, name := range []string{"a", "b", "c"} {
		sources = append(sources, w.recipe(t, name, wordpressREADME,
			release{"1.0.0+1.0.0", []string{"app=example.org/" + name + ":1.0.0"}},
			release{"1.1.0+1.1.0", []string{"app=example.org/" + name + ":1.1.0"}},
		))
	}
	cachePath := filepath.Join(t.TempDir(), ".digests.json")
	first := &fakeResolver{}
	g := Generator{Resolver: first, Cache: LoadDigestCache(cachePath), Concurrency: 4}
	out1, err := g.Generate(context.Background(), sources)
	if err != nil {
		t.Fatal(err)
	}
	if first.requests() != 6 {
		t.Fatalf("first run asked %d, want 6", first.requests())
	}
	if err := g.Cache.Save(); err != nil {
		t.Fatal(err)
	}

	addReleaseAt(t, filepath.Join(w.remotes, "b"), release{"1.2.0+1.2.0", []string{"app=example.org/b:1.2.0"}})
	second := &fakeResolver{}
	g2 := Generator{Resolver: second, Cache: LoadDigestCache(cachePath), Previous: out1.Catalogue, Concurrency: 4}
	out2, err := g2.Generate(context.Background(), sources)
	if err != nil {
		t.Fatal(err)
	}
	if got := second.asked; len(got) != 1 || got["example.org/b:1.2.0"] != 1 {
		t.Errorf("second run asked %v, want only the new tag", got)
	}
	if out2.Reused != 6 {
		t.Errorf("reused %d versions, want 6", out2.Reused)
	}
	if v := out2.Catalogue["b"].Latest(); v != "1.2.0+1.2.0" {
		t.Errorf("b latest %q", v)
	}

	// Without the previous catalogue, the persisted cache alone saves every request.
	third := &fakeResolver{}
	g3 := Generator{Resolver: third, Cache: LoadDigestCache(cachePath), Concurrency: 4, SkipUpdates: true}
	if _, err := g3.Generate(context.Background(), sources); err != nil {
		t.Fatal(err)
	}
	if n := third.requests(); n != 1 {
		t.Errorf("with the cache file: %d requests, want 1 (the tag not cached yet by the second, unsaved run)", n)
	}
}

func TestGenerateDigestFailureIsUnknownWithWarning(t *testing.T) {
	w := newWorld(t)
	src := w.recipe(t, "app", wordpressREADME,
		release{"1.0.0+1.0.0", []string{"app=registry.example.org/app:1.0.0", "db=mariadb:10.6", "x=${IMAGE}"}})
	res := &fakeResolver{fail: map[string]error{"registry.example.org": errors.New("connection refused")}}
	out, err := (&Generator{Resolver: res, Cache: LoadDigestCache(filepath.Join(t.TempDir(), "c")), Concurrency: 2}).Generate(context.Background(), []Source{src})
	if err != nil {
		t.Fatal(err)
	}
	v := out.Catalogue["app"].Versions[0]
	if v.Services["app"].Digest != UnknownDigest || v.Services["db"].Digest != fakeDigest("mariadb:10.6") || v.Services["x"].Digest != UnknownDigest {
		t.Errorf("services %+v", v.Services)
	}
	var msgs []string
	for _, w := range out.Warnings {
		msgs = append(msgs, w.String())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"registry registry.example.org: connection refused", "app: image ${IMAGE} is set from variables"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings %q lack %q", all, want)
		}
	}
}

func TestGenerateFetchFailureUsesLocalClone(t *testing.T) {
	w := newWorld(t)
	src := w.recipe(t, "app", wordpressREADME, release{"1.0.0+1.0.0", []string{"app=nginx:1.27"}})
	g := Generator{Resolver: &fakeResolver{}, Concurrency: 2}
	if _, err := g.Generate(context.Background(), []Source{src}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(w.remotes, "app"), filepath.Join(w.remotes, "gone")); err != nil {
		t.Fatal(err)
	}
	out, err := g.Generate(context.Background(), []Source{src})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Failed) != 0 || len(out.Catalogue["app"].Versions) != 1 {
		t.Fatalf("failed %v, catalogue %+v", out.Failed, out.Catalogue)
	}
	if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0].Message, src.URL) || !strings.Contains(out.Warnings[0].Message, "using the local clone") {
		t.Errorf("warnings %v, want one naming %s", out.Warnings, src.URL)
	}

	// A recipe never cloned, whose remote is gone, fails naming the remote; the others go on.
	missing := w.source("never")
	out, err = g.Generate(context.Background(), []Source{src, missing})
	if err != nil {
		t.Fatal(err)
	}
	if e := out.Failed["never"]; e == nil || !strings.Contains(e.Error(), missing.URL) {
		t.Errorf("failed = %v, want an error naming %s", out.Failed, missing.URL)
	}
	if _, ok := out.Catalogue["app"]; !ok {
		t.Error("app missing after another recipe failed")
	}
}

func TestGenerateOffline(t *testing.T) {
	w := newWorld(t)
	src := w.recipe(t, "app", wordpressREADME, release{"1.0.0+1.0.0", []string{"app=nginx:1.27"}})
	cache := LoadDigestCache(filepath.Join(t.TempDir(), "c"))
	cache.Put("nginx:1.27", fakeDigest("nginx:1.27"))
	res := &fakeResolver{}
	g := Generator{Resolver: res, Cache: cache, Offline: true}
	out, _ := g.Generate(context.Background(), []Source{src})
	if e := out.Failed["app"]; e == nil || !strings.Contains(e.Error(), "offline") {
		t.Fatalf("not cloned + offline: failed = %v", out.Failed)
	}
	g.Offline = false
	g.SkipUpdates = true
	g.Resolver = nil // no registry either: the cache answers
	out, _ = g.Generate(context.Background(), []Source{src})
	if d := out.Catalogue["app"].Versions[0].Services["app"].Digest; d != fakeDigest("nginx:1.27") {
		t.Errorf("digest from cache = %q", d)
	}
	if res.requests() != 0 {
		t.Errorf("offline asked the registry %d times", res.requests())
	}
}

func TestGenerateBoundsConcurrency(t *testing.T) {
	w := newWorld(t)
	var sources []Source
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		sources = append(sources, w.recipe(t, name, "", release{"1.0.0+1", []string{"app=x/" + name + ":1", "db=y/" + name + ":1"}}))
	}
	for _, n := range []int{1, 3} {
		res := &fakeResolver{delay: 20 * time.Millisecond}
		out, err := (&Generator{Resolver: res, Concurrency: n}).Generate(context.Background(), sources)
		if err != nil || len(out.Catalogue) != 6 {
			t.Fatalf("concurrency %d: %v, %d recipes", n, err, len(out.Catalogue))
		}
		if got := int(res.maxSeen.Load()); got > n || (n > 1 && got < 2) {
			t.Errorf("concurrency %d: %d registry requests at once", n, got)
		}
	}
}

func TestGenerateInPlaceWorkTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	writeTestFile(t, filepath.Join(dir, "compose.yml"), composeFile(release{"0.1.0+0.1.0", []string{"app=abra-demo/web:0.1.0"}}))
	writeTestFile(t, filepath.Join(dir, "README.md"), wordpressREADME)
	res := &fakeResolver{fail: map[string]error{"docker.io": errors.New("no such image")}}
	out, err := (&Generator{Resolver: res}).Generate(context.Background(), []Source{{Name: "demo", Dir: dir, InPlace: true}})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Catalogue["demo"]
	if len(r.Versions) != 1 || r.Versions[0].Name != "0.1.0+0.1.0" {
		t.Fatalf("versions %+v", r.Versions)
	}
	if s := r.Versions[0].Services["app"]; s.Image != "abra-demo/web" || s.Tag != "0.1.0" || s.Digest != UnknownDigest {
		t.Errorf("app %+v", s)
	}
	if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0].Message, "registry docker.io") {
		t.Errorf("warnings %v", out.Warnings)
	}
}

func TestVersionLabel(t *testing.T) {
	tests := []struct {
		name, compose, want string
	}{
		{"list", "services:\n  app:\n    deploy:\n      labels:\n        - coop-cloud.${STACK_NAME}.version=1.0.0+2\n", "1.0.0+2"},
		{"map", "services:\n  app:\n    deploy:\n      labels:\n        coop-cloud.${STACK_NAME}.version: 1.0.0+3\n", "1.0.0+3"},
		{"other service", "services:\n  db:\n    image: x\n  web:\n    deploy:\n      labels: [\"coop-cloud.${STACK_NAME}.version=2.0.0+1\"]\n", "2.0.0+1"},
		{"none", "services:\n  app:\n    image: x\n", ""},
		{"not yaml", "{{", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionLabel([]byte(tt.compose)); got != tt.want {
				t.Errorf("versionLabel = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSSHURL(t *testing.T) {
	tests := map[string]string{
		"https://git.coopcloud.tech/coop-cloud/wordpress.git": "ssh://git@git.coopcloud.tech:2222/coop-cloud/wordpress.git",
		"ssh://git@example.org/r.git":                         "ssh://git@example.org/r.git",
		"git@example.org:r.git":                               "git@example.org:r.git",
		"/srv/git/r.git":                                      "",
	}
	for in, want := range tests {
		if got := sshURL(in); got != want {
			t.Errorf("sshURL(%q) = %q, want %q", in, got, want)
		}
	}
}
