package e2e

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDeploy starts 'abra app deploy' and returns once it waits for
// convergence; wait returns its exit code and stderr.
func startDeploy(t *testing.T, e *env, args ...string) (cmd *exec.Cmd, wait func() (int, string)) {
	t.Helper()
	cmd = exec.Command(abraBin, append([]string{"app", "deploy"}, args...)...)
	cmd.Env = append(append(os.Environ(), "ABRA_DIR="+e.abraDir, "NO_COLOR=1"), e.extra...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	sc := bufio.NewScanner(io.TeeReader(pipe, &stderr))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "wait for convergence") {
			break
		}
	}
	rest := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, io.TeeReader(pipe, &stderr)); close(rest) }()
	return cmd, func() (int, string) {
		<-rest
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("abra app deploy %s → %d\n%s", strings.Join(args, " "), code, stderr.String())
		return code, stderr.String()
	}
}

// The infrastructure fails under a deploy: the server's dockerd restarts,
// then the SSH connection drops. abra waits through both, reports what
// happened, ends on the truth (the new version converged), and leaves no
// lock behind.
func TestDeployThroughServerFaults(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	buildDemoImage(t, "0.2.0")
	s := startSSH(t)
	s.trust(t, s.hostPub)
	node := startTestNode(t, s)
	sock := "unix://" + filepath.Join(node, "docker.sock")
	loadImage(t, sock, "abra-demo/web:0.1.0")
	loadImage(t, sock, "abra-demo/web:0.2.0")
	e := newEnv(t)
	e.extra = []string{s.path, "DOCKER_CONFIG=" + t.TempDir()}
	const domain, port = "fault.two.localhost", "18093"
	e.mustAbra("server", "add", "abra-node1", "--init", "-n")
	e.mustAbra("recipe", "fetch", "demo", "--url", demoRecipeRepo(t))
	e.mustAbra("app", "new", "demo", "--server", "abra-node1", "--domain", domain, "-n")
	replaceInFile(t, filepath.Join(e.abraDir, "servers", "abra-node1", domain+".env"), "DEMO_PORT=8080", "DEMO_PORT="+port)
	e.mustAbra("app", "deploy", domain, "0.1.0+0.1.0", "-D", "-n")
	serves := func(want string) {
		t.Helper()
		if body, err := httpGet(t, "http://10.210.0.11:"+port+"/version", 60*time.Second); err != nil || strings.TrimSpace(body) != want {
			t.Fatalf("the app serves %q (%v), want %s", body, err, want)
		}
	}
	unlocked := func() {
		t.Helper()
		if r := e.mustAbra("app", "lock", domain); !strings.Contains(r.stdout, "not locked") {
			t.Fatalf("a lock was left behind: %s", r)
		}
	}

	// dockerd restarts while abra waits for convergence.
	_, wait := startDeploy(t, e, domain, "0.2.0+0.2.0", "-D", "-n")
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "testnode.sh"), "restart-dockerd", node)
	code, stderr := wait()
	if code != 0 || !strings.Contains(stderr, "lost contact with the server") || !strings.Contains(stderr, "the server answers again") {
		t.Fatalf("deploy through a dockerd restart: exit %d, want 0 with the lost contact reported", code)
	}
	serves("0.2.0")
	unlocked()

	// The SSH connection carrying the Docker API is cut.
	_, wait = startDeploy(t, e, domain, "0.1.0+0.1.0", "-D", "-n")
	if n := killChildren(t, strings.TrimSpace(readFile(t, filepath.Join(node, "sshd.pid")))); n == 0 {
		t.Fatal("no SSH session to cut: the deploy's connection was not found")
	}
	code, _ = wait()
	if code != 0 {
		t.Fatalf("deploy through a cut SSH connection: exit %d, want 0", code)
	}
	serves("0.1.0")
	unlocked()
	if env := readFile(t, filepath.Join(e.abraDir, "servers", "abra-node1", domain+".env")); !strings.Contains(env, "0.1.0+0.1.0") {
		t.Fatalf("the env file does not pin what runs:\n%s", env)
	}
}

// killChildren SIGKILLs the processes whose parent is pid (sshd's sessions),
// read from /proc, and returns how many it killed.
func killChildren(t *testing.T, pid string) int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	n := 0
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid …: comm may hold spaces, so split after ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == pid {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(st)))
			if syscall.Kill(child, syscall.SIGKILL) == nil {
				n++
			}
		}
	}
	return n
}
