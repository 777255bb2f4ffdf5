package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startTestNode starts a second, independent Docker server (own network
// namespace, dockerd and sshd: scripts/testnode.sh) reachable as ssh alias
// "abra-node1", using the client key and known_hosts of s. It has no images.
func startTestNode(t *testing.T, s *sshServer) string {
	t.Helper()
	// Not t.TempDir(): containerd's sockets live under it, and a unix socket
	// path has at most 104 bytes, which a long test name exceeds.
	dir, err := os.MkdirTemp("", "abranode")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	run(t, dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host_key"))
	script := filepath.Join(repoRoot, "scripts", "testnode.sh")
	run(t, repoRoot, script, "up", dir, filepath.Join(s.dir, "authorized_keys"), filepath.Join(dir, "host_key"))
	t.Cleanup(func() { _ = exec.Command(script, "down", dir).Run() })
	hostPub := strings.TrimSpace(readFile(t, filepath.Join(dir, "host_key.pub")))
	known := readFile(t, filepath.Join(s.dir, "known_hosts"))
	writeFile(t, filepath.Join(s.dir, "known_hosts"), known+"10.210.0.11 "+hostPub+"\n")
	writeFile(t, filepath.Join(s.dir, "ssh_config"), readFile(t, filepath.Join(s.dir, "ssh_config"))+fmt.Sprintf(`Host abra-node1
  HostName 10.210.0.11
  User root
  IdentityFile %s/id
  IdentitiesOnly yes
  UserKnownHostsFile %s/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
`, s.dir, s.dir))
	return dir
}

func TestTwoServers(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	s := startSSH(t)
	s.trust(t, s.hostPub)
	node := startTestNode(t, s)
	// The node has no registry: give it the demo image.
	loadImage(t, "unix://"+filepath.Join(node, "docker.sock"), "abra-demo/web:0.1.0")
	e := newEnv(t)
	e.extra = []string{s.path, "DOCKER_CONFIG=" + t.TempDir()}
	repo := demoRecipeRepo(t)

	e.mustAbra("server", "add", s.alias, "-n")
	e.mustAbra("server", "add", "abra-node1", "--init", "-n")
	e.mustAbra("recipe", "fetch", "demo", "--url", repo)
	apps := map[string]struct{ server, port, stack string }{
		"one.two.localhost": {s.alias, "18098", "one_two_localhost"},
		"two.two.localhost": {"abra-node1", "18099", "two_two_localhost"},
	}
	for domain, a := range apps {
		e.mustAbra("app", "new", "demo", "--server", a.server, "--domain", domain, "-n")
		replaceInFile(t, filepath.Join(e.abraDir, "servers", a.server, domain+".env"), "DEMO_PORT=8080", "DEMO_PORT="+a.port)
		e.mustAbra("app", "deploy", domain, "0.1.0+0.1.0", "-D", "-n")
	}
	t.Cleanup(func() {
		e.abra("app", "undeploy", "one.two.localhost")
		waitStackGone(t, "one_two_localhost")
	})
	// Each app runs on its own swarm.
	if out := docker(t, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace=two_two_localhost"); out != "" {
		t.Fatalf("the node's app is on the local swarm: %s", out)
	}
	if out := docker(t, "-H", "unix://"+filepath.Join(node, "docker.sock"), "service", "ls", "--format", "{{.Name}}"); out != "two_two_localhost_app" {
		t.Fatalf("services on the node = %q", out)
	}
	if body, err := httpGet(t, "http://10.210.0.11:18099/version", 15*time.Second); err != nil || strings.TrimSpace(body) != "0.1.0" {
		t.Fatalf("app on the node does not answer: %q %v", body, err)
	}

	status := func(timeout string) (map[string]map[string]any, result) {
		r := e.abra("app", "ls", "--status", "--timeout", timeout, "--json")
		var servers map[string]struct {
			Apps []map[string]any `json:"apps"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &servers); err != nil {
			t.Fatalf("app ls --status: %v\n%s", err, r)
		}
		out := map[string]map[string]any{}
		for _, s := range servers {
			for _, row := range s.Apps {
				out[row["appName"].(string)] = row
			}
		}
		return out, r
	}
	rows, r := status("15s")
	if r.code != 0 || rows["one.two.localhost"]["status"] != "deployed" || rows["two.two.localhost"]["status"] != "deployed" ||
		rows["two.two.localhost"]["server"] != "abra-node1" {
		t.Fatalf("both servers' apps must be deployed: %s", r)
	}

	// With the node's sshd stopped, its apps are unknown, the other server's
	// rows still come back, and the exit code says some servers failed.
	run(t, node, "sh", "-c", "kill $(cat sshd.pid)")
	rows, r = status("5s")
	if r.code != 3 {
		t.Fatalf("exit code with an unreachable server = %d, want 3: %s", r.code, r)
	}
	if rows["one.two.localhost"]["status"] != "deployed" || rows["two.two.localhost"]["status"] != "unknown" || rows["two.two.localhost"]["reason"] == nil {
		t.Fatalf("rows with one server down: %v", rows)
	}
}
