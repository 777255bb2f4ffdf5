package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// convergeRecipeRepo makes a demo recipe repo with 0.1.0+0.1.0 (good image)
// and 0.2.0+<upstream> running image, with update order as given.
func convergeRecipeRepo(t *testing.T, image2, order string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(repoRoot, "recipes", "demo"), dir)
	compose := filepath.Join(dir, "compose.yml")
	replaceInFile(t, compose, "order: stop-first\n      rollback_config", "order: "+order+"\n      rollback_config")
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", "0.1.0")
	run(t, dir, "git", "tag", "-a", "0.1.0+0.1.0", "-m", "0.1.0+0.1.0")
	replaceInFile(t, compose, "abra-demo/web:0.1.0", image2)
	replaceInFile(t, compose, "0.1.0+0.1.0", "0.2.0+0.2.0")
	run(t, dir, "git", "commit", "-qam", "0.2.0")
	run(t, dir, "git", "tag", "-a", "0.2.0+0.2.0", "-m", "0.2.0+0.2.0")
	return dir
}

// deployedApp sets up an app of the repo on the local server, deployed at 0.1.0+0.1.0.
func deployedApp(t *testing.T, repo, domain, port, timeout string) *env {
	t.Helper()
	e := newEnv(t)
	t.Cleanup(func() {
		e.abra("app", "undeploy", domain)
		waitStackGone(t, strings.ReplaceAll(domain, ".", "_"))
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "demo", "--url", repo)
	e.mustAbra("app", "new", "demo", "--server", "default", "--domain", domain, "-n")
	envPath := filepath.Join(e.abraDir, "servers", "default", domain+".env")
	replaceInFile(t, envPath, "DEMO_PORT=8080", "DEMO_PORT="+port)
	replaceInFile(t, envPath, "#TIMEOUT=120", "TIMEOUT="+timeout)
	e.mustAbra("app", "deploy", domain, "0.1.0+0.1.0", "-n")
	if body, err := httpGet(t, "http://127.0.0.1:"+port+"/version", 10*time.Second); err != nil || strings.TrimSpace(body) != "0.1.0" {
		t.Fatalf("0.1.0 does not answer: %q %v", body, err)
	}
	return e
}

// assertStillOld checks that the failed upgrade left 0.1.0 serving and pinned.
func assertStillOld(t *testing.T, e *env, domain, port string) {
	t.Helper()
	stack := strings.ReplaceAll(domain, ".", "_")
	if got := docker(t, "service", "inspect", stack+"_app", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"); !strings.HasPrefix(got, "abra-demo/web:0.1.0") {
		t.Fatalf("image after the failed upgrade = %s, want 0.1.0 back", got)
	}
	if got := serviceLabel(t, stack+"_app", "coop-cloud."+stack+".version"); got != "0.1.0+0.1.0" {
		t.Fatalf("version label after the failed upgrade = %q", got)
	}
	body, err := httpGet(t, "http://127.0.0.1:"+port+"/version", 30*time.Second)
	if err != nil || strings.TrimSpace(body) != "0.1.0" {
		t.Fatalf("0.1.0 does not answer after the failed upgrade: %q %v", body, err)
	}
	envText := readFile(t, filepath.Join(e.abraDir, "servers", "default", domain+".env"))
	if !strings.Contains(envText, "TYPE=demo:0.1.0+0.1.0") {
		t.Fatalf("env file must keep 0.1.0:\n%s", envText)
	}
}

// A v2 whose healthcheck fails: swarm rolls back by itself (failure_action:
// rollback) and `docker stack deploy` would exit 0; abra exits 4 and says so.
func TestUpgradeToUnhealthyVersionIsRolledBack(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	buildDemoImage(t, "0.3.0", "--tag", "abra-demo/web:0.3.0-broken", "--broken-healthcheck")
	const domain, port = "unhealthy.e2e.localhost", "18092"
	e := deployedApp(t, convergeRecipeRepo(t, "abra-demo/web:0.3.0-broken", "stop-first"), domain, port, "60")

	r := e.abra("app", "deploy", domain, "0.2.0+0.2.0", "-n")
	if r.code != 4 {
		t.Fatalf("upgrade to an unhealthy version: want exit 4, got %s", r)
	}
	for _, want := range []string{"did not converge", "rolled the update back", "previous version was put back"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	assertStillOld(t, e, domain, port)
}

// start-first with a host-mode port on one node: the new task can never be
// placed and the update stays "updating" forever; abra must not call it done.
func TestStartFirstBlockedByHostPortIsDetected(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	buildDemoImage(t, "0.2.0")
	const domain, port = "startfirst.e2e.localhost", "18094"
	e := deployedApp(t, convergeRecipeRepo(t, "abra-demo/web:0.2.0", "start-first"), domain, port, "15")

	r := e.abra("app", "deploy", domain, "0.2.0+0.2.0", "-n")
	if r.code != 4 {
		t.Fatalf("blocked start-first update: want exit 4, got %s", r)
	}
	if !strings.Contains(r.stderr, "timed out") || !strings.Contains(r.stderr, "host-mode port") && !strings.Contains(r.stderr, "updating") {
		t.Errorf("stderr does not say what is stuck:\n%s", r.stderr)
	}
	assertStillOld(t, e, domain, port)
}

// A service whose healthcheck fails for its first seconds, within the
// healthcheck's start_period, converges: it must not be called a failure.
func TestSlowHealthcheckWithinStartPeriodConverges(t *testing.T) {
	buildDemoImage(t, "0.4.0", "--tag", "abra-demo/web:0.4.0-slow", "--ready-after", "8s")
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(repoRoot, "recipes", "demo"), dir)
	compose := filepath.Join(dir, "compose.yml")
	replaceInFile(t, compose, "abra-demo/web:0.1.0", "abra-demo/web:0.4.0-slow")
	replaceInFile(t, compose, "retries: 5\n      start_period: 5s", "retries: 1\n      start_period: 30s")
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", "slow")
	run(t, dir, "git", "tag", "-a", "0.1.0+0.1.0", "-m", "0.1.0+0.1.0")

	const domain, port = "slow.e2e.localhost", "18096"
	e := newEnv(t)
	t.Cleanup(func() {
		e.abra("app", "undeploy", domain)
		waitStackGone(t, "slow_e2e_localhost")
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "demo", "--url", dir)
	e.mustAbra("app", "new", "demo", "--server", "default", "--domain", domain, "-n")
	replaceInFile(t, filepath.Join(e.abraDir, "servers", "default", domain+".env"), "DEMO_PORT=8080", "DEMO_PORT="+port)
	start := time.Now()
	r := e.mustAbra("app", "deploy", domain, "-n")
	if !strings.Contains(r.stderr, "app 1/1 converged") {
		t.Fatalf("slow starter did not converge: %s", r)
	}
	if time.Since(start) < 8*time.Second {
		t.Fatalf("converged after %s, before the service was ready: the wait did not honour the healthcheck", time.Since(start))
	}
	if got := docker(t, "service", "ps", "slow_e2e_localhost_app", "--format", "{{.CurrentState}}", "--filter", "desired-state=shutdown"); got != "" {
		t.Fatalf("tasks were restarted during the start period: %s", got)
	}
	// Undeploy waits until the stack is gone, so deploying straight after works
	// (after a bare `docker stack rm` it fails with "network … not found").
	e.mustAbra("app", "undeploy", domain)
	e.mustAbra("app", "deploy", domain, "--force", "-n", "--no-converge-checks")
}
