// Package e2e drives the real abra binary against a real dockerd in swarm mode,
// real git repositories and images built locally. The tests run when ABRA_E2E
// or CI is set (make test sets it); then a missing daemon is a failure, not a skip.
package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	abraBin  string
	repoRoot string
)

func TestMain(m *testing.M) {
	if os.Getenv("ABRA_E2E") == "" && os.Getenv("CI") == "" {
		fmt.Println("e2e: skipped (set ABRA_E2E=1, or run 'make test')")
		os.Exit(0)
	}
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	tmp, err := os.MkdirTemp("", "abra-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	abraBin = filepath.Join(tmp, "abra")
	build := exec.Command("go", "build", "-trimpath", "-o", abraBin, "./cmd/abra") // -trimpath: the compile cache make snapshot uses too
	build.Dir = repoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build abra: %v\n%s", err, out)
		os.Exit(1)
	}
	if out, err := exec.Command(dockerBin(), "info", "--format", "{{.Swarm.LocalNodeState}}").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "active" {
		fmt.Fprintf(os.Stderr, "e2e: no dockerd in swarm mode (%v: %s); run scripts/docker-up.sh\n", err, out)
		os.Exit(1)
	}
	flag.Parse()
	if runs(flag.Lookup("test.run").Value.String(), "TestSnapshotRelease") {
		startSnapshots(tmp)
	}
	code := m.Run()
	stopSwarm3() // the three-node test swarm, if a test started it (swarm3_test.go)
	if snapshotBuilds.done != nil {
		<-snapshotBuilds.done
	}
	_ = os.RemoveAll(tmp)
	os.Exit(code)
}

// runs reports whether -test.run pattern selects the top-level test name.
func runs(pattern, name string) bool {
	top, _, _ := strings.Cut(pattern, "/")
	ok, err := regexp.MatchString(top, name)
	return pattern == "" || err != nil || ok
}

// dockerBin prefers Debian's client, which matches the daemon.
func dockerBin() string {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	return "docker"
}

// result of one abra run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// env is one isolated abra installation: its own ABRA_DIR.
type env struct {
	t       testing.TB
	abraDir string
	extra   []string // more environment for abra, e.g. PATH with an ssh wrapper
	wrap    []string // a command abra runs under, e.g. unshare with its own /etc/hosts
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return &env{t: t, abraDir: t.TempDir()}
}

func (e *env) abra(args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, abraBin, args...)
	if len(e.wrap) > 0 {
		cmd = exec.CommandContext(ctx, e.wrap[0], append(append(e.wrap[1:len(e.wrap):len(e.wrap)], abraBin), args...)...)
	}
	cmd.Env = append(append(os.Environ(), "ABRA_DIR="+e.abraDir, "NO_COLOR=1"), e.extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run abra %v: %v", args, err)
	}
	e.t.Logf("abra %s → %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// mustAbra runs abra and fails the test unless it exits 0.
func (e *env) mustAbra(args ...string) result {
	e.t.Helper()
	r := e.abra(args...)
	if r.code != 0 {
		e.t.Fatalf("abra %s failed: %s", strings.Join(args, " "), r)
	}
	return r
}

func docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(dockerBin(), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func run(t testing.TB, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.org",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// buildDemoImage builds abra-demo/web:<version> with the project's script.
func buildDemoImage(t *testing.T, version string, extra ...string) string {
	t.Helper()
	args := append([]string{"--version", version}, extra...)
	return run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-demo-image.sh"), args...)
}

// copyDir copies the files of src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	run(t, "", "cp", "-a", src+"/.", dst)
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// replaceInFile rewrites old to new in a file, failing if old is absent.
func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	s := readFile(t, path)
	if !strings.Contains(s, old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	writeFile(t, path, strings.ReplaceAll(s, old, new))
}

// httpGet fetches a URL with curl-like retries until it answers or time runs out.
func httpGet(t *testing.T, url string, within time.Duration) (string, error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var lastErr error
	for time.Now().Before(deadline) {
		body, err := get(url)
		if err == nil {
			return body, nil
		}
		lastErr = err
		time.Sleep(300 * time.Millisecond)
	}
	return "", lastErr
}

// waitStackGone waits until no container or network of the stack is left.
func waitStackGone(t *testing.T, stack string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		c := docker(t, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+stack)
		n := docker(t, "network", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack)
		if c == "" && n == "" {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("stack %s did not go away", stack)
}

// waitListening waits until something accepts TCP connections on addr,
// failing with the log file of the server that should have.
func waitListening(t testing.TB, addr, logFile string) {
	t.Helper()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if i > 100 {
			t.Fatalf("nothing listens on %s: %s", addr, readFile(t, logFile))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runQuiet runs a command for cleanup, ignoring its output.
func runQuiet(name string, args ...string) error {
	return exec.Command(name, args...).Run()
}
