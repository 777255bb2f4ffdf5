package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sshServer is a real sshd on a loopback port that lets a test key log in as
// root; "remote" docker commands then reach this machine's daemon. The client
// side is a wrapper `ssh` (first in PATH) that reads a generated config, since
// OpenSSH reads ~/.ssh of the passwd entry, not $HOME.
type sshServer struct {
	dir, alias, port string
	hostPub          string
	path             string // PATH with the wrapper first
}

func startSSH(t testing.TB) *sshServer {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		t.Fatalf("sshd not installed (scripts/test.sh installs openssh-server): %v", err)
	}
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	run(t, dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host_key"))
	run(t, dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "id"))
	writeFile(t, filepath.Join(dir, "authorized_keys"), readFile(t, filepath.Join(dir, "id.pub")))
	writeFile(t, filepath.Join(dir, "sshd_config"), fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
HostKey %s/host_key
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
# bash run by sshd sources ~/.bashrc only as a top-level shell: this machine's
# root .bashrc (pyenv) costs seconds per command under load, which a server's
# root does not pay; SHLVL=1 makes the remote shell a second level.
SetEnv SHLVL=1
# Tests reach this one sshd as many servers at once (the far fleet: 11
# handshakes at a time); real servers each have their own sshd.
MaxStartups 100
`, port, dir, dir, dir))
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sshd, "-D", "-f", filepath.Join(dir, "sshd_config"), "-E", filepath.Join(dir, "sshd.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListening(t, "127.0.0.1:"+port, filepath.Join(dir, "sshd.log"))
	s := &sshServer{dir: dir, alias: "abra-ssh-test", port: port}
	s.hostPub = strings.TrimSpace(readFile(t, filepath.Join(dir, "host_key.pub")))
	writeFile(t, filepath.Join(dir, "ssh_config"), fmt.Sprintf(`Host %s
  HostName 127.0.0.1
  Port %s
  User root
  IdentityFile %s/id
  IdentitiesOnly yes
  UserKnownHostsFile %s/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
`, s.alias, port, dir, dir))
	writeFile(t, filepath.Join(dir, "bin", "ssh"), fmt.Sprintf("#!/bin/sh\nexec /usr/bin/ssh -F %s/ssh_config \"$@\"\n", dir))
	if err := os.Chmod(filepath.Join(dir, "bin", "ssh"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.path = "PATH=" + filepath.Join(dir, "bin") + ":" + os.Getenv("PATH")
	return s
}

// trust writes known_hosts with the given key for the server.
func (s *sshServer) trust(t testing.TB, key string) {
	t.Helper()
	writeFile(t, filepath.Join(s.dir, "known_hosts"), fmt.Sprintf("[127.0.0.1]:%s %s\n", s.port, key))
}

func TestRemoteServerOverSSH(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	buildDemoImage(t, "0.2.0")
	s := startSSH(t)
	e := newEnv(t)
	dockerConfig := t.TempDir()
	e.extra = []string{s.path, "DOCKER_CONFIG=" + dockerConfig}

	// An unknown host key is refused, with the commands to check and trust it.
	s.trust(t, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl") // someone else's key
	r := e.abra("server", "add", s.alias, "-n")
	if r.code == 0 || !strings.Contains(r.stderr, "ssh-keygen") {
		t.Fatalf("a changed host key must be refused with a remedy: %s", r)
	}
	if _, err := os.Stat(filepath.Join(e.abraDir, "servers", s.alias)); !os.IsNotExist(err) {
		t.Fatalf("a refused server must not be registered: %v", err)
	}
	writeFile(t, filepath.Join(s.dir, "known_hosts"), "")
	if r := e.abra("server", "add", s.alias, "-n"); r.code == 0 || !strings.Contains(r.stderr, "ssh-keyscan -p "+s.port+" 127.0.0.1") {
		t.Fatalf("an unknown host key must be refused with the command to trust it: %s", r)
	}

	// With the right key the server is added, and apps deploy to it over SSH.
	s.trust(t, s.hostPub)
	e.mustAbra("server", "add", s.alias, "-n")
	if out, err := exec.Command(dockerBin(), "--config", dockerConfig, "context", "inspect", s.alias, "--format", "{{.Endpoints.docker.Host}}").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ssh://"+s.alias {
		t.Fatalf("docker context for the server: %s %v", out, err)
	}
	e.mustAbra("recipe", "fetch", "demo", "--url", demoRecipeRepo(t))
	const domain, port = "ssh.e2e.localhost", "18097"
	t.Cleanup(func() {
		e.abra("app", "undeploy", domain)
		waitStackGone(t, "ssh_e2e_localhost")
	})
	e.mustAbra("app", "new", "demo", "--server", s.alias, "--domain", domain, "-n")
	replaceInFile(t, filepath.Join(e.abraDir, "servers", s.alias, domain+".env"), "DEMO_PORT=8080", "DEMO_PORT="+port)
	e.mustAbra("app", "deploy", domain, "0.1.0+0.1.0", "--no-domain-checks", "-n")
	if body, err := httpGet(t, "http://127.0.0.1:"+port+"/version", 10*time.Second); err != nil || strings.TrimSpace(body) != "0.1.0" {
		t.Fatalf("app deployed over SSH does not answer: %q %v", body, err)
	}
	e.mustAbra("app", "upgrade", domain, "--no-domain-checks", "-n")
	if r := e.mustAbra("app", "ls", "--status", "--json"); !strings.Contains(r.stdout, `"status": "deployed"`) || !strings.Contains(r.stdout, `"version": "0.2.0+0.2.0"`) {
		t.Fatalf("app ls --status over SSH: %s", r.stdout)
	}
	if r := e.mustAbra("app", "logs", domain, "app"); !strings.Contains(r.stdout, "/version") {
		t.Fatalf("logs over SSH: %s", r)
	}
	if r := e.mustAbra("app", "ps", domain, "--json"); !strings.Contains(r.stdout, `"state": "running"`) || !strings.Contains(r.stdout, "abra-demo/web:0.2.0") {
		t.Fatalf("ps over SSH: %s", r.stdout)
	}
	if r := e.mustAbra("app", "run", domain, "app", "--", "/demo-web", "-version"); strings.TrimSpace(r.stdout) != "0.2.0" {
		t.Fatalf("run over SSH printed %q", r.stdout)
	}
	e.mustAbra("app", "rollback", domain, "--no-domain-checks", "-n")
	if body, err := httpGet(t, "http://127.0.0.1:"+port+"/version", 10*time.Second); err != nil || strings.TrimSpace(body) != "0.1.0" {
		t.Fatalf("after rollback over SSH: %q %v", body, err)
	}
	e.mustAbra("app", "undeploy", domain)
	e.mustAbra("app", "remove", domain, "--force")
}
