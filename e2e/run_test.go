package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A recipe whose app runs busybox, so there is a shell to run commands in.
func shellRecipeRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "shell")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "compose.yml"), `version: "3.8"
services:
  app:
    image: abra-test/busybox:1
    command: ["sleep", "3600"]
    environment:
      - GREETING=${GREETING:-hello}
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=0.1.0+1"
`)
	writeFile(t, filepath.Join(dir, ".env.sample"), "TYPE=shell\nDOMAIN=shell.example.com\nGREETING=hello\n")
	writeFile(t, filepath.Join(dir, "abra.sh"), "#!/bin/sh\n\ngreet() {\n  echo \"$GREETING $1\"\n}\n\nfail() {\n  return 5\n}\n")
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", "shell")
	run(t, dir, "git", "tag", "-a", "0.1.0+1", "-m", "0.1.0+1")
	return dir
}

func TestRunAndCmdInContainers(t *testing.T) {
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	repo := shellRecipeRepo(t)
	e := newEnv(t)
	const domain = "run.e2e.localhost"
	t.Cleanup(func() {
		e.abra("app", "undeploy", domain)
		waitStackGone(t, "run_e2e_localhost")
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "shell", "--url", repo)
	e.mustAbra("app", "new", "shell", "--server", "default", "--domain", domain, "-n")
	e.mustAbra("app", "deploy", domain, "-n")

	if r := e.mustAbra("app", "run", domain, "app", "--", "sh", "-c", "echo $GREETING from the container"); strings.TrimSpace(r.stdout) != "hello from the container" {
		t.Fatalf("app run output = %q", r.stdout)
	}
	if r := e.abra("app", "run", domain, "app", "--", "sh", "-c", "exit 7"); r.code != 7 {
		t.Fatalf("app run must exit with the command's code 7: %s", r)
	}
	if r := e.mustAbra("app", "cmd", domain, "app", "greet", "--", "world"); strings.TrimSpace(r.stdout) != "hello world" {
		t.Fatalf("app cmd output = %q", r.stdout)
	}
	if r := e.abra("app", "cmd", domain, "app", "fail"); r.code != 5 {
		t.Fatalf("app cmd must exit with the function's code 5: %s", r)
	}
	if r := e.mustAbra("app", "cmd", domain, "--list"); r.stdout != "greet\nfail\n" {
		t.Fatalf("app cmd --list = %q", r.stdout)
	}
	if r := e.mustAbra("app", "cmd", domain, "--local", "greet", "--", "laptop"); strings.TrimSpace(r.stdout) != "hello laptop" {
		t.Fatalf("app cmd --local output = %q", r.stdout)
	}
	// cp into and out of the container, a directory with a nested file.
	local := filepath.Join(t.TempDir(), "payload")
	writeFile(t, filepath.Join(local, "a.txt"), "alpha\n")
	writeFile(t, filepath.Join(local, "sub", "b.txt"), "beta\n")
	e.mustAbra("app", "cp", domain, local, "app:/tmp")
	if r := e.mustAbra("app", "run", domain, "app", "--", "cat", "/tmp/payload/sub/b.txt"); r.stdout != "beta\n" {
		t.Fatalf("file copied in reads %q", r.stdout)
	}
	// As docker cp: a folder copied to a path that does not exist gets that name.
	out := filepath.Join(t.TempDir(), "out")
	e.mustAbra("app", "cp", domain, "app:/tmp/payload", out)
	if got := readFile(t, filepath.Join(out, "a.txt")); got != "alpha\n" {
		t.Fatalf("file copied out reads %q", got)
	}
	if r := e.abra("app", "cp", domain, local, out); r.code != 2 {
		t.Fatalf("cp without a service side must be a usage error: %s", r)
	}

	// POST_DEPLOY_CMDS run after a successful deploy, in the service's container.
	envPath := filepath.Join(e.abraDir, "servers", "default", domain+".env")
	writeFile(t, envPath, readFile(t, envPath)+"POST_DEPLOY_CMDS=\"app greet deployed|app greet again\"\n")
	if r := e.mustAbra("app", "deploy", domain, "--force", "-n"); !strings.Contains(r.stderr, "app greet: hello deployed") || !strings.Contains(r.stderr, "app greet: hello again") {
		t.Fatalf("post-deploy commands did not run: %s", r)
	}
	writeFile(t, envPath, strings.Replace(readFile(t, envPath), "app greet again", "app fail", 1))
	if r := e.abra("app", "deploy", domain, "--force", "-n"); r.code == 0 || !strings.Contains(r.stderr, "app fail exited with 5") {
		t.Fatalf("a failing post-deploy command must fail the command: %s", r)
	}

	// services, labels, restart.
	if r := e.mustAbra("app", "labels", domain, "--json"); !strings.Contains(r.stdout, `"coop-cloud.run_e2e_localhost.version": "0.1.0+1"`) {
		t.Fatalf("app labels = %s", r.stdout)
	}
	before := docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name=run_e2e_localhost_app")
	e.mustAbra("app", "restart", domain, "app")
	after := docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name=run_e2e_localhost_app")
	if before == "" || after == "" || before == after {
		t.Fatalf("restart did not replace the container: before %q after %q", before, after)
	}
}
