// Package badinput drives the real abra binary with a corpus of bad inputs —
// names, env files, recipes, arguments and concurrent writers — and checks,
// for each, the exit code, a message that names the file, field or value and
// says what to do, no panic, nothing on stdout, and that no file changed under
// $ABRA_DIR or in the operator's home (a victim directory with a git repository
// holding uncommitted work and a file standing for /etc/shadow).
//
// No Docker is needed: every case must be refused before abra reaches a server.
// The "default" server's DOCKER_HOST is a socket that does not exist and the
// other registered server is ssh to a closed port, so a case that does reach
// for a server fails fast with a connection error, which the test reports as
// "not refused before connecting". That is why the package is not gated by
// ABRA_E2E: it runs in plain 'go test ./...' too.
package badinput

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"coopcloud.tech/abra/e2e/internal/abrabin"
)

var abraBin string

func TestMain(m *testing.M) {
	os.Exit(abrabin.Main(m.Run, &abraBin))
}

// Names of the fixture.
const (
	// farServer is registered but unreachable: ssh to a closed port fails at once.
	farServer = "root@127.0.0.1:1"
	release   = "1.0.0+1.25"
	evilTag   = "1.1.0+evil"
	sample    = "TYPE=web\nDOMAIN=web.example.com\nGREETING=hi\n"
)

// foxLabel is 43 characters: <foxLabel>.example.org and <foxLabel>.example.net
// share their first 45 characters, so the same stack name.
var (
	foxLabel = "the-quick-brown-fox-jumps-over-the-lazy-dog"
	catLabel = "the-quick-brown-fox-jumps-over-the-lazy-cat"
)

const webCompose = `version: "3.8"
services:
  app:
    image: nginx:1.25
    environment:
      - GREETING=${GREETING:-hello}
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.25"
`

const webAbraSh = `export GREETING_VERSION=v1

hello() {
  echo hello
}
`

// fixture is one case's world under root: $ABRA_DIR (root/abra) and the
// operator's home (root/home), the victim, which is also abra's working
// directory.
type fixture struct {
	root, abra, home string
}

func (fx *fixture) expand(s string) string {
	return strings.NewReplacer("{ROOT}", fx.root, "{ABRA}", fx.abra, "{HOME}", fx.home).Replace(s)
}

func (fx *fixture) recipe() string { return filepath.Join(fx.abra, "recipes", "web") }

func (fx *fixture) envPath(server, domain string) string {
	return filepath.Join(fx.abra, "servers", server, domain+".env")
}

// buildTemplate makes the world every case starts from (copied per case).
func buildTemplate(t *testing.T) string {
	root := t.TempDir()
	fx := &fixture{root: root, abra: filepath.Join(root, "abra"), home: filepath.Join(root, "home")}
	write(t, fx.envPath("default", "app.example.org"), "TYPE=web\nDOMAIN=app.example.org\nGREETING=hi\n")
	write(t, fx.envPath("default", "blog.example.org"), "# the blog\nTYPE=web:1.0.0+1.25\nDOMAIN=blog.example.org\nGREETING=hello # keep\n")
	write(t, fx.envPath("default", foxLabel+".example.org"), "TYPE=web\nDOMAIN="+foxLabel+".example.org\n")
	write(t, fx.envPath(farServer, "shop.example.net"), "TYPE=web\nDOMAIN=shop.example.net\n")

	repo := fx.recipe()
	write(t, filepath.Join(repo, "compose.yml"), webCompose)
	write(t, filepath.Join(repo, ".env.sample"), sample)
	write(t, filepath.Join(repo, "abra.sh"), webAbraSh)
	git(t, repo, "init", "-q", "--template=", "-b", "main")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-qm", "web")
	git(t, repo, "tag", "-a", release, "-m", release)

	write(t, filepath.Join(fx.home, "shadow"), "root:$6$salt$0123456789abcdef:19000:0:99999:7:::\n")
	write(t, filepath.Join(fx.home, "x"), "STOLEN=1\n")
	victim := filepath.Join(fx.home, "repo")
	write(t, filepath.Join(victim, "work.txt"), "committed\n")
	git(t, victim, "init", "-q", "--template=", "-b", "main")
	git(t, victim, "add", "-A")
	git(t, victim, "commit", "-qm", "work")
	write(t, filepath.Join(victim, "work.txt"), "uncommitted work the operator has not saved anywhere else\n")
	return root
}

// tcase is one bad input. Strings in args, stdin, env and want may use
// {ROOT}, {ABRA} and {HOME}.
type tcase struct {
	name  string
	args  []string
	stdin string
	env   []string // more environment, e.g. EDITOR=…
	setup func(t *testing.T, fx *fixture)
	code  int
	want  []string // substrings of stderr
	// stdout: substrings wanted on stdout (a partial failure lists what it
	// could, lint prints its table); without it stdout must be empty.
	stdout []string

	// concurrent: command lines run at once; exactly one must succeed, the
	// others exit with code and say want.
	concurrent [][]string
	// changes are paths under ROOT the case may change (what the one
	// successful concurrent writer creates); check verifies them.
	changes []string
	check   func(t *testing.T, fx *fixture, runs []result)
}

type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("abra %s → exit %d\nstdout: %q\nstderr:\n%s", quoteArgs(r.args), r.code, r.stdout, r.stderr)
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$;()*~\\") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

func TestBadInput(t *testing.T) {
	cases := corpus()
	if len(cases) < 150 {
		t.Fatalf("the corpus has %d cases, want at least 150", len(cases))
	}
	t.Logf("%d cases", len(cases))
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("two cases named %q", tc.name)
		}
		seen[tc.name] = true
	}
	template := buildTemplate(t)
	tmpdir := t.TempDir() // abra's TMPDIR: checkouts and edited copies go there, outside the snapshot
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			copyTree(t, template, root)
			fx := &fixture{root: root, abra: filepath.Join(root, "abra"), home: filepath.Join(root, "home")}
			if tc.setup != nil {
				tc.setup(t, fx)
			}
			before := snapshot(t, root)

			var runs []result
			if tc.concurrent != nil {
				runs = runConcurrently(t, fx, tmpdir, tc)
				checkConcurrent(t, tc, fx, runs)
			} else {
				r := run(t, fx, tmpdir, tc.args, tc.stdin, tc.env)
				runs = []result{r}
				if r.code != tc.code {
					t.Errorf("exit code %d, want %d", r.code, tc.code)
				}
				checkMessage(t, tc, fx, r)
			}

			after := snapshot(t, root)
			for _, p := range tc.changes {
				p = fx.expand(p)
				delete(before, p)
				delete(after, p)
			}
			if d := diffSnapshots(before, after); d != "" {
				t.Errorf("files changed (under $ABRA_DIR or the operator's home):\n%s", d)
			}
			if tc.check != nil {
				tc.check(t, fx, runs)
			}
			if t.Failed() {
				for _, r := range runs {
					t.Log(r)
				}
			}
		})
	}
}

// remedy finds where a message says what to do: a hint line, what is wanted,
// what to use, pass, run or see, a suggestion, or an imperative after ':'/';'.
var remedy = regexp.MustCompile(`(?im)^hint: |\bwant |\buse |\bpass |did you mean|\bsee '|\brun '|\bmust |[:;,]\s*(write|add|set|remove|choose|fix|quote|drop|list|name|give|try|check)\b`)

// reached finds signs that abra tried to reach a server: the refusal came too late.
var reached = regexp.MustCompile(`(?i)docker API|error during connect|connect to server|no-docker\.sock|connection refused|ssh: `)

func checkMessage(t *testing.T, tc tcase, fx *fixture, r result) {
	t.Helper()
	if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("abra panicked")
	}
	if tc.stdout == nil && r.stdout != "" {
		t.Errorf("stdout must be empty on failure, got %q", r.stdout)
	}
	for _, w := range tc.stdout {
		if w = fx.expand(w); !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q", w)
		}
	}
	for _, w := range tc.want {
		if w = fx.expand(w); !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q", w)
		}
	}
	if !remedy.MatchString(r.stderr) {
		t.Errorf("stderr does not say what to do (no hint: line, want/use/pass/run/see …)")
	}
	if reached.MatchString(r.stderr) {
		t.Errorf("abra reached for a server instead of refusing the input first")
	}
}

func checkConcurrent(t *testing.T, tc tcase, fx *fixture, runs []result) {
	t.Helper()
	won := 0
	for _, r := range runs {
		if r.code == 0 {
			won++
			continue
		}
		if r.code != tc.code {
			t.Errorf("abra %s: exit code %d, want 0 for one writer and %d for the others", quoteArgs(r.args), r.code, tc.code)
		}
		checkMessage(t, tc, fx, r)
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent writers succeeded, want exactly 1", won, len(runs))
	}
}

func env(fx *fixture, tmpdir string, extra []string) []string {
	e := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + fx.home,
		// The operations journal records attempts too (a refused deploy is an
		// operation that ended with its error); it lives outside the home
		// whose files must stay as they were.
		"XDG_STATE_HOME=" + filepath.Join(tmpdir, "state"),
		"ABRA_DIR=" + fx.abra,
		"TMPDIR=" + tmpdir,
		"DOCKER_HOST=unix://" + filepath.Join(fx.root, "no-docker.sock"),
		"ABRA_RECIPE_BASE_URL=" + filepath.Join(fx.root, "no-git-host"),
		"NO_COLOR=1",
		"EDITOR=false", // an editor opened by mistake fails instead of waiting
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
	}
	for _, x := range extra {
		e = append(e, fx.expand(x))
	}
	return e
}

func run(t *testing.T, fx *fixture, tmpdir string, args []string, stdin string, extra []string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	expanded := make([]string, len(args))
	for i, a := range args {
		expanded[i] = fx.expand(a)
	}
	cmd := exec.CommandContext(ctx, abraBin, expanded...)
	cmd.Dir = fx.home // files abra writes to its working directory land in the snapshot
	cmd.Env = env(fx, tmpdir, extra)
	cmd.Stdin = strings.NewReader(fx.expand(stdin))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{args: expanded, stdout: out.String(), stderr: errb.String()}
	switch ee := err.(type) {
	case nil:
	case *exec.ExitError:
		r.code = ee.ExitCode()
	default: // run from several goroutines at once: no Fatal
		t.Errorf("run abra %s: %v", quoteArgs(expanded), err)
		r.code = -1
	}
	if ctx.Err() != nil {
		t.Errorf("abra %s did not finish within 30s", quoteArgs(expanded))
	}
	return r
}

func runConcurrently(t *testing.T, fx *fixture, tmpdir string, tc tcase) []result {
	runs := make([]result, len(tc.concurrent))
	var wg sync.WaitGroup
	for i, args := range tc.concurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = run(t, fx, tmpdir, args, tc.stdin, tc.env)
		}()
	}
	wg.Wait()
	return runs
}

// entry is what the snapshot keeps of a file.
type entry struct {
	mode fs.FileMode
	sum  string // regular files: sha256 of the content
	link string // symlinks: the target
}

// snapshot records every file, directory and symlink under root. The content
// of .git/index is left out: git refreshes its stat cache on reads (git diff
// after the fixture was copied), which is not a change to anyone's files;
// its presence and mode still count, and a reset shows in the work tree.
func snapshot(t *testing.T, root string) map[string]entry {
	t.Helper()
	snap := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{mode: fi.Mode()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular() && !(filepath.Base(p) == "index" && filepath.Base(filepath.Dir(p)) == ".git"):
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			e.sum = fmt.Sprintf("%x", h.Sum(nil))
		}
		snap[p] = e
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return snap
}

func diffSnapshots(before, after map[string]entry) string {
	var lines []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			lines = append(lines, "  removed "+p)
		case a != b:
			lines = append(lines, fmt.Sprintf("  changed %s (%v %.12s %s → %v %.12s %s)", p, b.mode, b.sum, b.link, a.mode, a.sum, a.link))
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			lines = append(lines, "  added "+p)
		}
	}
	slices.Sort(lines)
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("  … and %d more", len(lines)-20))
	}
	return strings.Join(lines, "\n")
}

// copyTree copies src into dst keeping modes and symlinks as they are.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			return os.MkdirAll(target, fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, fi.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatalf("copy fixture: %v", err)
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	_ = os.Remove(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}
