package recipe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/hint"
)

// runGit runs the git CLI in dir, isolated from the user's and system config.
func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{
		"-c", "user.name=Test", "-c", "user.email=test@example.org",
		"-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false",
	}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.org",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.org",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile leaves an existing file's mode
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fixture is a recipe repository:
//
//	commit 1: compose.yml "v1", abra.sh (executable), current.yml -> compose.yml,
//	          release/1.0.0+1.0; tagged v0.1.0 and 1.0.0+1.0 (annotated),
//	          1.0.1+1.0 (lightweight) and "experiment" (not a version)
//	commit 2: compose.yml "v2", abra.sh not executable, new.env; tagged 1.1.0+1.1
//	odd tags: 1.0.2+1.0 (a tag of 1.0.0+1.0), 9.0.0+blob and 9.1.0+tree
type fixture struct {
	dir           string
	commit1, head string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	runGit(t, dir, "init", "-q")
	writeFile(t, filepath.Join(dir, "compose.yml"), "v1\n", 0o644)
	writeFile(t, filepath.Join(dir, "abra.sh"), "#!/bin/sh\nexport CONF_VERSION=v1\n", 0o755)
	writeFile(t, filepath.Join(dir, "release", "1.0.0+1.0"), "first release\n", 0o644)
	writeFile(t, filepath.Join(dir, ".gitignore"), "*.log\n", 0o644)
	if err := os.Symlink("compose.yml", filepath.Join(dir, "current.yml")); err != nil {
		t.Fatal(err)
	}
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "first")
	runGit(t, dir, "tag", "-a", "-m", "old style", "v0.1.0")
	runGit(t, dir, "tag", "-a", "-m", "first release", "1.0.0+1.0")
	runGit(t, dir, "tag", "1.0.1+1.0")
	runGit(t, dir, "tag", "-a", "-m", "not a release", "experiment")
	commit1 := runGit(t, dir, "rev-parse", "HEAD")

	writeFile(t, filepath.Join(dir, "compose.yml"), "v2\n", 0o644)
	writeFile(t, filepath.Join(dir, "abra.sh"), "export CONF_VERSION=v2\n", 0o644)
	writeFile(t, filepath.Join(dir, "new.env"), "NEW=1\n", 0o644)
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "second")
	runGit(t, dir, "tag", "-a", "-m", "second release", "1.1.0+1.1")
	// Odd tags: a tag of a tag still names a commit; tags of a blob or a
	// tree are not releases.
	runGit(t, dir, "tag", "-a", "-m", "retag", "1.0.2+1.0", "1.0.0+1.0")
	runGit(t, dir, "tag", "9.0.0+blob", "HEAD:compose.yml")
	runGit(t, dir, "tag", "-a", "-m", "a tree", "9.1.0+tree", "HEAD^{tree}")
	return fixture{dir: dir, commit1: commit1, head: runGit(t, dir, "rev-parse", "HEAD")}
}

func open(t *testing.T, dir string) *Repo {
	t.Helper()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOpenNotFound(t *testing.T) {
	tmp := t.TempDir()
	plain := filepath.Join(tmp, "plain")
	if err := os.Mkdir(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	// A directory inside a repository is not a recipe of its own.
	outer := filepath.Join(tmp, "outer")
	if err := os.MkdirAll(filepath.Join(outer, "recipes", "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	runGit(t, outer, "init", "-q")
	file := filepath.Join(tmp, "file")
	writeFile(t, file, "x", 0o644)

	tests := []struct {
		name string
		dir  string
	}{
		{"missing", filepath.Join(tmp, "wordpress")},
		{"not a repository", plain},
		{"inside another repository", filepath.Join(outer, "recipes", "inner")},
		{"a file", file},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.dir)
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Open: %v, want ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), tt.dir) {
				t.Errorf("error %q does not name %s", err, tt.dir)
			}
			if want := "abra recipe fetch " + filepath.Base(tt.dir); !strings.Contains(hint.Of(err), want) {
				t.Errorf("hint %q does not mention %q", hint.Of(err), want)
			}
		})
	}
}

func TestVersions(t *testing.T) {
	fx := newFixture(t)
	rels, err := open(t, fx.dir).Versions()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		tag       string
		commit    string
		annotated bool
		upstream  string
	}
	var got []row
	for _, r := range rels {
		if r.Version.String() != r.Tag {
			t.Errorf("Version %q != Tag %q", r.Version, r.Tag)
		}
		got = append(got, row{r.Tag, r.Commit, r.Annotated, r.Version.Upstream()})
	}
	want := []row{
		{"v0.1.0", fx.commit1, true, ""},
		{"1.0.0+1.0", fx.commit1, true, "1.0"},
		{"1.0.1+1.0", fx.commit1, false, "1.0"},
		{"1.0.2+1.0", fx.commit1, true, "1.0"},
		{"1.1.0+1.1", fx.head, true, "1.1"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Versions:\n got %v\nwant %v", got, want)
	}
}

func TestLatest(t *testing.T) {
	fx := newFixture(t)
	rel, err := open(t, fx.dir).Latest()
	if err != nil {
		t.Fatal(err)
	}
	if rel.Tag != "1.1.0+1.1" || rel.Commit != fx.head {
		t.Errorf("Latest = %s at %s, want 1.1.0+1.1 at %s", rel.Tag, rel.Commit, fx.head)
	}
}

func TestNoReleases(t *testing.T) {
	dir := t.TempDir()
	runGit(t, dir, "init", "-q")
	writeFile(t, filepath.Join(dir, "compose.yml"), "v1\n", 0o644)
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "first")
	runGit(t, dir, "tag", "-a", "-m", "no version", "wip")
	r := open(t, dir)
	rels, err := r.Versions()
	if err != nil || len(rels) != 0 {
		t.Errorf("Versions = %v, %v; want none, no error", rels, err)
	}
	if _, err := r.Latest(); !errors.Is(err, ErrNoReleases) {
		t.Errorf("Latest: %v, want ErrNoReleases", err)
	}
	var uv *UnknownVersionError
	if _, err := r.Find("1.0.0+1.0"); !errors.As(err, &uv) || !strings.Contains(err.Error(), "no published versions") {
		t.Errorf("Find: %v, want an UnknownVersionError saying there are none", err)
	}
}

func TestFind(t *testing.T) {
	fx := newFixture(t)
	r := open(t, fx.dir)
	rel, err := r.Find("1.0.0+1.0")
	if err != nil {
		t.Fatal(err)
	}
	if rel.Commit != fx.commit1 || !rel.Annotated {
		t.Errorf("Find(1.0.0+1.0) = %+v", rel)
	}

	tests := []struct {
		name    string
		version string
		is      error
		msg     string
	}{
		{"unknown", "9.9.9+9", ErrUnknownVersion, `unknown version "9.9.9+9"; available: v0.1.0, 1.0.0+1.0, 1.0.1+1.0, 1.0.2+1.0, 1.1.0+1.1`},
		{"missing upstream", "1.1.0", ErrUnknownVersion, `unknown version "1.1.0"; did you mean 1.1.0+1.1?`},
		{"other upstream", "1.0.0+2.0", ErrUnknownVersion, `unknown version "1.0.0+2.0"; did you mean 1.0.0+1.0?`},
		{"not a version", "experiment", ErrInvalidVersion, `invalid version "experiment"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Find(tt.version)
			if !errors.Is(err, tt.is) {
				t.Fatalf("Find(%q): %v, want %v", tt.version, err, tt.is)
			}
			if !strings.HasPrefix(err.Error(), tt.msg) {
				t.Errorf("error %q, want it to start with %q", err, tt.msg)
			}
		})
	}
}

func TestUnknownVersionListsLatestFew(t *testing.T) {
	err := &UnknownVersionError{Version: "9.0.0+1", Available: []string{
		"1.0.0+1", "2.0.0+1", "3.0.0+1", "4.0.0+1", "5.0.0+1", "6.0.0+1", "7.0.0+1",
	}}
	want := `unknown version "9.0.0+1"; latest 5 of 7: 3.0.0+1, 4.0.0+1, 5.0.0+1, 6.0.0+1, 7.0.0+1`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}

func TestExportOldTagLeavesCloneAlone(t *testing.T) {
	fx := newFixture(t)
	indexBefore := readFile(t, filepath.Join(fx.dir, ".git", "index"))
	r := open(t, fx.dir)
	dest := filepath.Join(t.TempDir(), "out", "demo") // parents are created
	if err := r.Export(context.Background(), "1.0.0+1.0", dest); err != nil {
		t.Fatal(err)
	}

	if got := readFile(t, filepath.Join(dest, "compose.yml")); got != "v1\n" {
		t.Errorf("exported compose.yml = %q, want the old contents", got)
	}
	if got := readFile(t, filepath.Join(dest, "release", "1.0.0+1.0")); got != "first release\n" {
		t.Errorf("exported release notes = %q", got)
	}
	if st, err := os.Stat(filepath.Join(dest, "abra.sh")); err != nil || st.Mode().Perm()&0o111 == 0 {
		t.Errorf("exported abra.sh is not executable: %v %v", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Join(dest, "compose.yml")); err != nil || st.Mode().Perm()&0o111 != 0 {
		t.Errorf("exported compose.yml is executable: %v %v", st.Mode(), err)
	}
	if target, err := os.Readlink(filepath.Join(dest, "current.yml")); err != nil || target != "compose.yml" {
		t.Errorf("exported symlink: %q, %v", target, err)
	}
	if _, err := os.Lstat(filepath.Join(dest, "new.env")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("new.env from the later commit was exported: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dest, ".git")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("export has a .git: %v", err)
	}

	// The clone is untouched.
	if got := readFile(t, filepath.Join(fx.dir, "compose.yml")); got != "v2\n" {
		t.Errorf("work tree compose.yml = %q, want v2", got)
	}
	if got := runGit(t, fx.dir, "rev-parse", "HEAD"); got != fx.head {
		t.Errorf("HEAD moved to %s", got)
	}
	if got := runGit(t, fx.dir, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
		t.Errorf("HEAD is %s, want refs/heads/main", got)
	}
	if readFile(t, filepath.Join(fx.dir, ".git", "index")) != indexBefore {
		t.Error("the index was rewritten")
	}
	if got := runGit(t, fx.dir, "status", "--porcelain"); got != "" {
		t.Errorf("git status not clean:\n%s", got)
	}
}

func TestExportRevisions(t *testing.T) {
	fx := newFixture(t)
	r := open(t, fx.dir)
	tests := []struct {
		name string
		rev  string
		want string
	}{
		{"lightweight tag", "1.0.1+1.0", "v1\n"},
		{"commit hash", fx.commit1, "v1\n"},
		{"branch", "main", "v2\n"},
		{"relative", "HEAD~1", "v1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := t.TempDir() // exists and is empty
			if err := r.Export(context.Background(), tt.rev, dest); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(dest, "compose.yml")); got != tt.want {
				t.Errorf("compose.yml = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	fx := newFixture(t)
	r := open(t, fx.dir)

	t.Run("unknown revision", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "out")
		err := r.Export(context.Background(), "9.9.9+9", dest)
		if err == nil || !strings.Contains(err.Error(), `"9.9.9+9"`) {
			t.Fatalf("Export: %v, want an error naming the revision", err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dest was created: %v", err)
		}
	})
	t.Run("dest not empty", func(t *testing.T) {
		dest := t.TempDir()
		writeFile(t, filepath.Join(dest, "keep"), "mine", 0o644)
		err := r.Export(context.Background(), "1.0.0+1.0", dest)
		if err == nil || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("Export: %v, want a not-empty error", err)
		}
		if readFile(t, filepath.Join(dest, "keep")) != "mine" {
			t.Error("existing file was touched")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		dest := filepath.Join(t.TempDir(), "out")
		if err := r.Export(ctx, "1.0.0+1.0", dest); !errors.Is(err, context.Canceled) {
			t.Fatalf("Export: %v, want context.Canceled", err)
		}
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("partial export left behind: %v", err)
		}
	})
}

func TestHead(t *testing.T) {
	fx := newFixture(t)
	r := open(t, fx.dir)
	steps := []struct {
		name   string
		change func()
		dirty  bool
	}{
		{"clean", func() {}, false},
		{"modified tracked file", func() { writeFile(t, filepath.Join(fx.dir, "compose.yml"), "edited\n", 0o644) }, true},
		{"restored", func() { runGit(t, fx.dir, "checkout", "--", "compose.yml") }, false},
		{"ignored file", func() { writeFile(t, filepath.Join(fx.dir, "debug.log"), "x", 0o644) }, false},
		{"excluded via info/exclude", func() {
			writeFile(t, filepath.Join(fx.dir, ".git", "info", "exclude"), "scratch/\n", 0o644)
			writeFile(t, filepath.Join(fx.dir, "scratch", "notes"), "x", 0o644)
		}, false},
		{"untracked file", func() { writeFile(t, filepath.Join(fx.dir, "extra.yml"), "x", 0o644) }, true},
		{"untracked removed", func() { os.Remove(filepath.Join(fx.dir, "extra.yml")) }, false},
		{"untracked file in new directory", func() { writeFile(t, filepath.Join(fx.dir, "nginx", "site.conf"), "x", 0o644) }, true},
		{"directory removed", func() { os.RemoveAll(filepath.Join(fx.dir, "nginx")) }, false},
		{"deleted tracked file", func() { os.Remove(filepath.Join(fx.dir, "new.env")) }, true},
		{"deletion staged", func() { runGit(t, fx.dir, "rm", "-q", "--cached", "new.env") }, true},
		{"restored again", func() { runGit(t, fx.dir, "reset", "-q", "--hard") }, false},
		{"mode change", func() { os.Chmod(filepath.Join(fx.dir, "compose.yml"), 0o755) }, true},
	}
	for _, s := range steps {
		s.change()
		commit, dirty, err := r.Head()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if commit != fx.head {
			t.Errorf("%s: commit = %s, want %s", s.name, commit, fx.head)
		}
		if dirty != s.dirty {
			t.Errorf("%s: dirty = %v, want %v (git status: %q)", s.name, dirty, s.dirty, runGit(t, fx.dir, "status", "--porcelain"))
		}
	}
}

func TestHeadNoCommits(t *testing.T) {
	dir := t.TempDir()
	runGit(t, dir, "init", "-q")
	if _, _, err := open(t, dir).Head(); err == nil || !strings.Contains(err.Error(), "no commits") {
		t.Errorf("Head: %v, want a no-commits error", err)
	}
}

func tags(t *testing.T, r *Repo) []string {
	t.Helper()
	rels, err := r.Versions()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rel := range rels {
		out = append(out, rel.Tag+"@"+rel.Commit[:7])
	}
	return out
}

func TestCloneAndFetch(t *testing.T) {
	for _, scheme := range []string{"path", "file://"} {
		t.Run(scheme, func(t *testing.T) {
			fx := newFixture(t)
			src := fx.dir
			if scheme == "file://" {
				src = "file://" + fx.dir
			}
			dir := filepath.Join(t.TempDir(), "demo")
			ctx := context.Background()
			r, err := Clone(ctx, src, dir)
			if err != nil {
				t.Fatal(err)
			}
			want := tags(t, open(t, fx.dir))
			if got := tags(t, r); !slices.Equal(got, want) {
				t.Errorf("cloned versions %v, want %v", got, want)
			}
			// The default branch is checked out for chaos deploys.
			if got := readFile(t, filepath.Join(dir, "compose.yml")); got != "v2\n" {
				t.Errorf("cloned work tree compose.yml = %q", got)
			}
			if commit, dirty, err := r.Head(); err != nil || dirty || commit != fx.head {
				t.Errorf("Head = %s %v %v, want %s clean", commit, dirty, err, fx.head)
			}

			if err := r.Fetch(ctx); err != nil {
				t.Fatalf("Fetch with nothing new: %v", err)
			}

			// Upstream releases 1.2.0, and moves 1.1.0+1.1 to a fixed commit.
			writeFile(t, filepath.Join(fx.dir, "compose.yml"), "v3\n", 0o644)
			runGit(t, fx.dir, "commit", "-q", "-am", "third")
			runGit(t, fx.dir, "tag", "-a", "-m", "third release", "1.2.0+1.2")
			runGit(t, fx.dir, "tag", "-f", "-a", "-m", "fixed", "1.1.0+1.1")
			// A tag being prepared locally survives the fetch.
			runGit(t, dir, "tag", "-a", "-m", "wip", "1.3.0+1.3")

			if err := r.Fetch(ctx); err != nil {
				t.Fatal(err)
			}
			want = append(tags(t, open(t, fx.dir)), "1.3.0+1.3@"+fx.head[:7])
			if got := tags(t, r); !slices.Equal(got, want) {
				t.Errorf("fetched versions\n got %v\nwant %v", got, want)
			}
			dest := filepath.Join(t.TempDir(), "out")
			if err := r.Export(ctx, "1.2.0+1.2", dest); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(dest, "compose.yml")); got != "v3\n" {
				t.Errorf("fetched release compose.yml = %q", got)
			}
			// Fetch leaves the work tree alone.
			if got := readFile(t, filepath.Join(dir, "compose.yml")); got != "v2\n" {
				t.Errorf("work tree compose.yml = %q after fetch", got)
			}
		})
	}
}

func TestRemoteErrorsNameURL(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere.git")
	_, err := Clone(context.Background(), missing, filepath.Join(t.TempDir(), "demo"))
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Clone: %v, want an error naming %s", err, missing)
	}

	fx := newFixture(t)
	dir := filepath.Join(t.TempDir(), "demo")
	r, err := Clone(context.Background(), fx.dir, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(fx.dir); err != nil {
		t.Fatal(err)
	}
	if err := r.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), fx.dir) {
		t.Errorf("Fetch: %v, want an error naming %s", err, fx.dir)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:s3cret@git.example.org/r.git", "https://user:xxxxx@git.example.org/r.git"},
		{"https://git.example.org/r.git", "https://git.example.org/r.git"},
		{"git@git.example.org:r.git", "git@git.example.org:r.git"},
		{"/srv/git/r.git", "/srv/git/r.git"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestResolveCommit(t *testing.T) {
	fx := newFixture(t)
	r := open(t, fx.dir)
	for _, id := range []string{fx.commit1, fx.commit1[:7], fx.commit1[:12]} {
		got, err := r.ResolveCommit(id)
		if err != nil || got != fx.commit1 {
			t.Errorf("ResolveCommit(%q) = %q, %v; want %s", id, got, err, fx.commit1)
		}
	}
	blob := runGit(t, fx.dir, "rev-parse", "HEAD:compose.yml")
	for _, id := range []string{"main", "1.1.0+1.1", "HEAD", fx.commit1[:6], strings.ToUpper(fx.commit1), "--upload-pack=x", blob, "0000000000000000000000000000000000000000"} {
		if got, err := r.ResolveCommit(id); err == nil {
			t.Errorf("ResolveCommit(%q) = %q, want an error: only commits of the clone, by hash", id, got)
		}
	}
}
