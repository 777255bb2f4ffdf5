package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coopcloud.tech/abra/e2e/internal/latency"
)

// farServer is one server of a fleet at a distance: its ssh alias, the
// one-way delay of its proxy, or a black hole (accepts, never answers).
type farServer struct {
	name      string
	delay     time.Duration
	blackHole bool
}

// farFleet is servers each reached over real SSH (one sshd of the harness)
// through its own latency proxy. They all share the local dockerd: what
// differs between them is the SSH path, as it does between real servers.
type farFleet struct {
	ssh     *sshServer
	proxies map[string]*latency.Proxy
}

// delayedServers is n servers named <prefix>-1 … <prefix>-n, each delay away.
func delayedServers(prefix string, n int, delay time.Duration) []farServer {
	out := make([]farServer, n)
	for i := range out {
		out[i] = farServer{name: fmt.Sprintf("%s-%d", prefix, i+1), delay: delay}
	}
	return out
}

func startFarFleet(t testing.TB, servers []farServer) *farFleet {
	t.Helper()
	f := &farFleet{ssh: startSSH(t), proxies: map[string]*latency.Proxy{}}
	config := readFile(t, filepath.Join(f.ssh.dir, "ssh_config"))
	knownHosts := ""
	for _, s := range servers {
		var p *latency.Proxy
		var err error
		if s.blackHole {
			p, err = latency.BlackHole()
		} else {
			p, err = latency.Start("127.0.0.1:"+f.ssh.port, s.delay)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		f.proxies[s.name] = p
		config += fmt.Sprintf("Host %s\n  HostName 127.0.0.1\n  Port %s\n  User root\n  IdentityFile %s/id\n  IdentitiesOnly yes\n  UserKnownHostsFile %s/known_hosts\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
			s.name, p.Port(), f.ssh.dir, f.ssh.dir)
		knownHosts += fmt.Sprintf("[127.0.0.1]:%s %s\n", p.Port(), f.ssh.hostPub)
	}
	writeFile(t, filepath.Join(f.ssh.dir, "ssh_config"), config)
	writeFile(t, filepath.Join(f.ssh.dir, "known_hosts"), knownHosts)
	return f
}

// env is an abra installation whose ssh is the fleet's.
func (f *farFleet) env(t testing.TB) *env {
	return &env{t: t, abraDir: t.TempDir(), extra: []string{f.ssh.path}}
}

// handshakes is how many connections (each an SSH handshake) each server's
// proxy has accepted.
func (f *farFleet) handshakes() map[string]int {
	out := map[string]int{}
	for name, p := range f.proxies {
		out[name] = p.Accepted()
	}
	return out
}

// farApp is the domain of an app of the far fleet's tests.
func farApp(i int, server string) string {
	return fmt.Sprintf("app%d.%s.localhost", i, server)
}

// addApps writes n env files of the demo recipe on each server.
func addApps(t testing.TB, abraDir string, servers []farServer, n int) {
	t.Helper()
	for _, s := range servers {
		for i := range n {
			domain := farApp(i, s.name)
			writeFile(t, filepath.Join(abraDir, "servers", s.name, domain+".env"), "TYPE=demo:0.1.0+0.1.0\nDOMAIN="+domain+"\n")
		}
	}
}

// createStackService makes a one-service stack as abra would label it,
// removed when the test ends. A constraint no node meets leaves it pending.
func createStackService(t *testing.T, domain, version string, pending bool) {
	t.Helper()
	stack := strings.ReplaceAll(domain, ".", "_")
	args := []string{"service", "create", "--detach", "--name", stack + "_app",
		"--label", "com.docker.stack.namespace=" + stack, "--label", "coop-cloud." + stack + ".version=" + version}
	if pending {
		args = append(args, "--constraint", "node.labels.abra-e2e-never==true")
	}
	docker(t, append(args, "abra-demo/web:0.1.0")...)
	t.Cleanup(func() {
		_ = runQuiet(dockerBin(), "service", "rm", stack+"_app")
		waitStackGone(t, stack)
	})
	if pending {
		return
	}
	for i := 0; ; i++ {
		if docker(t, "service", "ls", "--filter", "name="+stack+"_app", "--format", "{{.Replicas}}") == "1/1" {
			return
		}
		if i > 300 {
			t.Fatalf("service %s_app never ran: %s", stack, docker(t, "service", "ps", "--no-trunc", stack+"_app"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFleetAtADistance: `abra app ls -S` over ten servers 100 ms away, one
// 600 ms away and one that never answers (its apps wait out --timeout). Every server that answers gives
// its apps' real status; the silent one is named, its apps are unknown and
// abra exits 3; each answering server costs exactly one SSH connection.
func TestFleetAtADistance(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	servers := append(delayedServers(fmt.Sprintf("far%d", os.Getpid()), 10, 50*time.Millisecond),
		farServer{name: fmt.Sprintf("slow%d", os.Getpid()), delay: 300 * time.Millisecond},
		farServer{name: fmt.Sprintf("silent%d", os.Getpid()), blackHole: true})
	fleet := startFarFleet(t, servers)
	e := fleet.env(t)
	addApps(t, e.abraDir, servers, 3)
	// The servers share one dockerd: each app's stack is its own, so what
	// a server reports for its apps is still that app's own truth.
	deployed := map[string]string{
		farApp(0, servers[0].name):  "deployed",
		farApp(1, servers[4].name):  "deployed",
		farApp(0, servers[10].name): "deployed", // the slow one
		farApp(2, servers[7].name):  "degraded", // a task no node takes
	}
	for domain, state := range deployed {
		createStackService(t, domain, "0.1.0+0.1.0", state == "degraded")
	}

	// The timeout leaves the slow server (a handshake of ~10 round trips
	// of 600 ms) room on a loaded machine.
	r := e.abra("app", "ls", "-S", "--json", "--timeout", "30s")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sshd's log:\n%s", readFile(t, filepath.Join(fleet.ssh.dir, "sshd.log")))
		}
	})
	silent := servers[11].name
	if r.code != 3 || !strings.Contains(r.stderr, silent) {
		t.Fatalf("with a server that never answers, app ls -S must exit 3 naming it: %s", r)
	}
	var got map[string]struct {
		Apps []struct {
			Domain, Status, Version, Reason string
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("app ls -S --json: %v\n%s", err, r.stdout)
	}
	for _, s := range servers {
		apps := got[s.name].Apps
		if len(apps) != 3 {
			t.Fatalf("server %s lists %d apps, want 3: %s", s.name, len(apps), r.stdout)
		}
		for _, a := range apps {
			want := "undeployed"
			if st, ok := deployed[a.Domain]; ok {
				want = st
			}
			if s.blackHole {
				want = "unknown"
			}
			if a.Status != want {
				t.Errorf("%s on %s: status %q (%s), want %q", a.Domain, s.name, a.Status, a.Reason, want)
			}
			if want == "deployed" && a.Version != "0.1.0+0.1.0" {
				t.Errorf("%s: version %q, want the deployed 0.1.0+0.1.0", a.Domain, a.Version)
			}
			if want == "unknown" && !strings.Contains(a.Reason, "no answer") {
				t.Errorf("%s on the silent server: reason %q, want 'no answer …'", a.Domain, a.Reason)
			}
		}
	}
	for name, n := range fleet.handshakes() {
		if n != 1 {
			t.Errorf("server %s: %d SSH connections for one app ls -S, want 1", name, n)
		}
	}
}
