package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The three-node test swarm (scripts/testswarm.sh): manager abra-mgr
// (10.211.0.11, sshd) and workers abra-w1 (.12) and abra-w2 (.13), each its
// own dockerd in its own network namespace. It starts once per test binary,
// when a test first calls startSwarm3, and is torn down when the binary ends
// (TestMain calls stopSwarm3). Use it like this:
//
//	sw := startSwarm3(t)
//	sw.load(t, "abra-demo/web:0.1.0")              // images the test deploys, on every node
//	e := sw.env(t)                                 // an ABRA_DIR whose ssh reaches the manager
//	e.mustAbra("server", "add", swarm3Server, "-n") // the swarm as abra's server "abra-mgr"
//	sw.docker(t, 1, "node", "ls")                  // docker against node 1's (the manager's) socket
//
// The swarm is shared by the tests of the binary: remove the stacks a test
// deploys, and put back what a test changes (drained nodes: sw.docker(t, 1,
// "node", "update", "--availability", "active", "abra-w1"); a killed node:
// sw.startNode(t, n), which waits until the manager sees it ready again).
// A file lock keeps test binaries of other checkouts on this machine from
// using the same bridge and namespaces at once: the second waits.
type swarm3 struct {
	dir    string // testswarm.sh's DIR; node n's socket is dir/node<n>/docker.sock
	sshDir string // the client key, known_hosts and ssh_config
	path   string // PATH=… with an ssh wrapper that reads ssh_config first
	loaded map[string]string
	mu     sync.Mutex
}

// swarm3Server is the ssh alias, and abra's server name, of the swarm's manager.
const swarm3Server = "abra-mgr"

// swarm3Nodes are the nodes' hostnames, node n at index n-1.
var swarm3Nodes = [3]string{"abra-mgr", "abra-w1", "abra-w2"}

var swarm3State struct {
	once sync.Once
	sw   *swarm3
	err  error
	lock *os.File
}

// startSwarm3 returns the test swarm, starting it on first use.
func startSwarm3(t *testing.T) *swarm3 {
	t.Helper()
	swarm3State.once.Do(func() { swarm3State.sw, swarm3State.err = upSwarm3(t) })
	if swarm3State.err != nil {
		t.Fatalf("three-node test swarm: %v", swarm3State.err)
	}
	sw := swarm3State.sw
	for n := 1; n <= 3; n++ {
		// A node an earlier test killed and left off is started again.
		if runQuiet(dockerBin(), "-H", sw.sock(n), "info") != nil {
			t.Logf("node %d (%s) was off: starting it", n, swarm3Nodes[n-1])
			run(t, repoRoot, sw.script(), "start-node", sw.dir, fmt.Sprint(n))
		}
	}
	sw.waitNodes(t)
	return sw
}

func upSwarm3(t *testing.T) (*swarm3, error) {
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "abra-testswarm.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		t.Logf("another test binary uses the three-node swarm; waiting for it")
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return nil, fmt.Errorf("lock %s: %w", lock.Name(), err)
		}
	}
	swarm3State.lock = lock // held until the process ends
	// Not t.TempDir(): it outlives the test, and containerd's socket paths
	// under it must stay within 104 bytes.
	dir, err := os.MkdirTemp("", "abrasw")
	if err != nil {
		return nil, err
	}
	sw := &swarm3{dir: dir, sshDir: filepath.Join(dir, "ssh"), loaded: map[string]string{}}
	if err := os.MkdirAll(filepath.Join(sw.sshDir, "bin"), 0o700); err != nil {
		return nil, err
	}
	for _, key := range []string{"host_key", "id"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(sw.sshDir, key)).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(sw.sshDir, "id.pub"))
	if err != nil {
		return nil, err
	}
	hostPub, err := os.ReadFile(filepath.Join(sw.sshDir, "host_key.pub"))
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"authorized_keys": string(pub),
		"known_hosts":     "10.211.0.11 " + string(hostPub),
		"ssh_config": fmt.Sprintf(`Host %s
  HostName 10.211.0.11
  User root
  IdentityFile %[2]s/id
  IdentitiesOnly yes
  UserKnownHostsFile %[2]s/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
`, swarm3Server, sw.sshDir),
		"bin/ssh": fmt.Sprintf("#!/bin/sh\nexec /usr/bin/ssh -F %s/ssh_config \"$@\"\n", sw.sshDir),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(sw.sshDir, name), []byte(content), 0o755); err != nil {
			return nil, err
		}
	}
	sw.path = "PATH=" + filepath.Join(sw.sshDir, "bin") + ":" + os.Getenv("PATH")
	out, err := exec.Command(sw.script(), "up", dir, filepath.Join(sw.sshDir, "authorized_keys"), filepath.Join(sw.sshDir, "host_key")).CombinedOutput()
	if err != nil {
		_ = exec.Command(sw.script(), "down", dir).Run()
		return nil, fmt.Errorf("testswarm.sh up: %v\n%s", err, out)
	}
	t.Logf("three-node swarm up in %s", dir)
	return sw, nil
}

// stopSwarm3 tears the swarm down if a test started it (TestMain, at the end).
func stopSwarm3() {
	sw := swarm3State.sw
	if sw == nil {
		return
	}
	if out, err := exec.Command(sw.script(), "down", sw.dir).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: testswarm.sh down: %v\n%s", err, out)
		return
	}
	_ = os.RemoveAll(sw.dir)
}

func (sw *swarm3) script() string { return filepath.Join(repoRoot, "scripts", "testswarm.sh") }

// sock is node n's (1..3) docker socket as a -H value.
func (sw *swarm3) sock(n int) string {
	return "unix://" + filepath.Join(sw.dir, fmt.Sprintf("node%d", n), "docker.sock")
}

// docker runs the docker CLI against node n (1 is the manager) and returns its output.
func (sw *swarm3) docker(t testing.TB, n int, args ...string) string {
	t.Helper()
	return docker(t, append([]string{"-H", sw.sock(n)}, args...)...)
}

// env is an abra installation whose ssh reaches the manager as swarm3Server.
func (sw *swarm3) env(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.extra = []string{sw.path, "DOCKER_CONFIG=" + t.TempDir()}
	return e
}

// load copies images from this machine's daemon to every node, skipping those
// already there with the same ID.
func (sw *swarm3) load(t *testing.T, images ...string) {
	t.Helper()
	sw.mu.Lock()
	defer sw.mu.Unlock()
	var todo []string
	ids := map[string]string{}
	for _, img := range images {
		id := docker(t, "image", "inspect", "--format", "{{.Id}}", img)
		if sw.loaded[img] != id {
			todo = append(todo, img)
			ids[img] = id
		}
	}
	if len(todo) == 0 {
		return
	}
	run(t, repoRoot, sw.script(), append([]string{"load", sw.dir}, todo...)...)
	for img, id := range ids {
		sw.loaded[img] = id
	}
}

// killNode powers node n off (every process of its namespace SIGKILLed).
func (sw *swarm3) killNode(t *testing.T, n int) {
	t.Helper()
	run(t, repoRoot, sw.script(), "kill-node", sw.dir, fmt.Sprint(n))
}

// startNode starts node n's dockerd again and waits until the swarm has all nodes ready.
func (sw *swarm3) startNode(t *testing.T, n int) {
	t.Helper()
	run(t, repoRoot, sw.script(), "start-node", sw.dir, fmt.Sprint(n))
	sw.waitNodes(t)
}

// nodeStatus is the manager's view: hostname → "Ready Active", "Down Drain", ….
func (sw *swarm3) nodeStatus(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(sw.docker(t, 1, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.Availability}}"), "\n") {
		if host, rest, ok := strings.Cut(line, " "); ok {
			out[host] = rest
		}
	}
	return out
}

// waitNodes waits until the manager sees all three nodes ready (a node
// restarted by an earlier test rejoins within a few heartbeats).
func (sw *swarm3) waitNodes(t testing.TB) {
	t.Helper()
	var status map[string]string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		status = sw.nodeStatus(t)
		ready := 0
		for _, h := range swarm3Nodes {
			if strings.HasPrefix(status[h], "Ready ") {
				ready++
			}
		}
		if ready == len(swarm3Nodes) {
			return
		}
	}
	t.Fatalf("the test swarm's nodes are not all ready: %v", status)
}
