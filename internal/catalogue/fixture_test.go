package catalogue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

var testSig = &object.Signature{Name: "test", Email: "test@example.org", When: time.Unix(1700000000, 0)}

// release is a version of a fixture recipe: its tag and "service=image:tag"
// pairs.
type release struct {
	tag      string
	services []string
}

// newRecipeRepo creates a recipe git repository at dir (branch main) with
// one commit and one annotated tag per release, and a README.
func newRecipeRepo(tb testing.TB, dir, readme string, releases ...release) {
	tb.Helper()
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		tb.Fatal(err)
	}
	if readme != "" {
		writeTestFile(tb, filepath.Join(dir, "README.md"), readme)
	}
	for _, rel := range releases {
		addRelease(tb, r, dir, rel)
	}
}

func addRelease(tb testing.TB, r *git.Repository, dir string, rel release) {
	tb.Helper()
	writeTestFile(tb, filepath.Join(dir, "compose.yml"), composeFile(rel))
	wt, err := r.Worktree()
	if err != nil {
		tb.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		tb.Fatal(err)
	}
	h, err := wt.Commit("release "+rel.tag, &git.CommitOptions{Author: testSig, Committer: testSig})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := r.CreateTag(rel.tag, h, &git.CreateTagOptions{Tagger: testSig, Message: "release " + rel.tag}); err != nil {
		tb.Fatal(err)
	}
}

// addReleaseAt adds a release to an existing fixture repository.
func addReleaseAt(tb testing.TB, dir string, rel release) {
	tb.Helper()
	r, err := git.PlainOpen(dir)
	if err != nil {
		tb.Fatal(err)
	}
	addRelease(tb, r, dir, rel)
}

func composeFile(rel release) string {
	var b strings.Builder
	b.WriteString("version: \"3.8\"\nservices:\n")
	for _, s := range rel.services {
		name, image, _ := strings.Cut(s, "=")
		fmt.Fprintf(&b, "  %s:\n    image: %s\n", name, image)
		if name == "app" {
			fmt.Fprintf(&b, "    deploy:\n      labels:\n        - \"coop-cloud.${STACK_NAME}.version=%s\"\n", rel.tag)
		}
	}
	return b.String()
}

func writeTestFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// fakeResolver answers digests from a function of the reference, counts
// requests per reference and the most requests in flight at once.
type fakeResolver struct {
	fail  map[string]error // by registry host
	delay time.Duration

	mu       sync.Mutex
	asked    map[string]int
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

func (f *fakeResolver) Digest(ctx context.Context, ref string) (string, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	if f.asked == nil {
		f.asked = map[string]int{}
	}
	f.asked[ref]++
	f.mu.Unlock()
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if err := f.fail[registryOf(ref)]; err != nil {
		return "", err
	}
	return fakeDigest(ref), nil
}

func (f *fakeResolver) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.asked {
		n += c
	}
	return n
}

// fakeDigest is a stable sha256-shaped digest of ref.
func fakeDigest(ref string) string {
	h := uint64(14695981039346656037)
	for _, c := range []byte(ref) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return fmt.Sprintf("sha256:%016x%016x%016x%016x", h, h^1, h^2, h^3)
}

const wordpressREADME = `# Wordpress

> The most popular blogging software

<!-- metadata -->

* **Category**: Apps
* **Status**: 3, stable
* **Image**: [` + "`wordpress`" + `](https://hub.docker.com/_/wordpress), 4, upstream
* **Healthcheck**: Yes
* **Backups**: Yes
* **Email**: 3
* **Tests**: 2
* **SSO**: No

<!-- endmetadata -->

## Quick start
`
