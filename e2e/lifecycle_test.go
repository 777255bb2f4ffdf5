package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// demoRecipeRepo makes a git repo of the demo recipe with two annotated
// releases: 0.1.0+0.1.0 (image 0.1.0) and 0.2.0+0.2.0 (image 0.2.0).
func demoRecipeRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(repoRoot, "recipes", "demo"), dir)
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", "demo 0.1.0")
	run(t, dir, "git", "tag", "-a", "0.1.0+0.1.0", "-m", "0.1.0+0.1.0")
	compose := filepath.Join(dir, "compose.yml")
	replaceInFile(t, compose, "abra-demo/web:0.1.0", "abra-demo/web:0.2.0")
	replaceInFile(t, compose, "0.1.0+0.1.0", "0.2.0+0.2.0")
	writeFile(t, filepath.Join(dir, "release", "0.2.0+0.2.0"), "Serves version 0.2.0.\n")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", "demo 0.2.0")
	run(t, dir, "git", "tag", "-a", "0.2.0+0.2.0", "-m", "0.2.0+0.2.0")
	return dir
}

func serviceLabel(t *testing.T, service, label string) string {
	t.Helper()
	return docker(t, "service", "inspect", service, "--format", `{{index .Spec.Labels "`+label+`"}}`)
}

func TestAppLifecycle(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	buildDemoImage(t, "0.2.0")
	recipeRepo := demoRecipeRepo(t)
	e := newEnv(t)
	const domain = "lifecycle.e2e.localhost"
	const stack = "lifecycle_e2e_localhost"
	const port = "18091"
	t.Cleanup(func() {
		if t.Failed() {
			e.abra("app", "undeploy", domain)
		}
	})

	// server add --local registers the local daemon as "default".
	e.mustAbra("server", "add", "--local")
	if _, err := os.Stat(filepath.Join(e.abraDir, "servers", "default")); err != nil {
		t.Fatalf("server dir: %v", err)
	}
	var servers []map[string]any
	if err := json.Unmarshal([]byte(e.mustAbra("server", "ls", "--json").stdout), &servers); err != nil || len(servers) != 1 || servers[0]["name"] != "default" {
		t.Fatalf("server ls --json = %v (%v)", servers, err)
	}

	// recipe fetch from a local git repo with two annotated tags.
	e.mustAbra("recipe", "fetch", "demo", "--url", recipeRepo)
	var versions []map[string]any
	if err := json.Unmarshal([]byte(e.mustAbra("recipe", "versions", "demo", "-m").stdout), &versions); err != nil {
		t.Fatal(err)
	}
	if len(versions) != 2 || versions[0]["version"] != "0.1.0+0.1.0" || versions[1]["version"] != "0.2.0+0.2.0" {
		t.Fatalf("recipe versions = %v", versions)
	}
	if svcs, _ := versions[1]["services"].([]any); len(svcs) != 1 || svcs[0].(map[string]any)["image"] != "abra-demo/web" || svcs[0].(map[string]any)["tag"] != "0.2.0" {
		t.Fatalf("recipe versions: services of 0.2.0 = %v", versions[1]["services"])
	}

	// app new writes the env file from .env.sample.
	e.mustAbra("app", "new", "demo", "--server", "default", "--domain", domain, "-n")
	envPath := filepath.Join(e.abraDir, "servers", "default", domain+".env")
	envText := readFile(t, envPath)
	if !strings.Contains(envText, "TYPE=demo\n") || !strings.Contains(envText, "DOMAIN="+domain) {
		t.Fatalf("env file:\n%s", envText)
	}
	replaceInFile(t, envPath, "DEMO_PORT=8080", "DEMO_PORT="+port)
	if r := e.abra("app", "new", "demo", "--server", "default", "--domain", domain, "-n"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("second app new must be refused: %s", r)
	}
	// abra's -m shape, as scripts read it: jq '.[].apps[].appName'.
	var byServer map[string]struct {
		Apps []map[string]any `json:"apps"`
	}
	if err := json.Unmarshal([]byte(e.mustAbra("app", "ls", "-m").stdout), &byServer); err != nil || len(byServer["default"].Apps) != 1 || byServer["default"].Apps[0]["appName"] != domain {
		t.Fatalf("app ls -m = %v (%v)", byServer, err)
	}
	if jq, err := exec.LookPath("jq"); err == nil {
		out, err := exec.Command("sh", "-c", "ABRA_DIR="+e.abraDir+" "+abraBin+" app ls -m | "+jq+" -r '.[].apps[].appName'").Output()
		if err != nil || strings.TrimSpace(string(out)) != domain {
			t.Fatalf("app ls -m | jq '.[].apps[].appName' = %q, %v", out, err)
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("jq not installed (scripts/test.sh installs it)")
	}

	// deploy: the latest release, converged, answering HTTP, version pinned.
	r := e.mustAbra("app", "deploy", domain, "-n")
	if !strings.Contains(r.stderr, "converged") {
		t.Fatalf("deploy did not report convergence: %s", r)
	}
	if got := docker(t, "service", "inspect", stack+"_app", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"); !strings.HasPrefix(got, "abra-demo/web:0.2.0") {
		t.Fatalf("image = %s, want abra-demo/web:0.2.0", got)
	}
	if got := serviceLabel(t, stack+"_app", "coop-cloud."+stack+".version"); got != "0.2.0+0.2.0" {
		t.Fatalf("version label = %q", got)
	}
	if got := docker(t, "service", "ls", "--filter", "label=com.docker.stack.namespace="+stack, "--format", "{{.Replicas}}"); got != "1/1" {
		t.Fatalf("replicas = %q, want 1/1", got)
	}
	body, err := httpGet(t, "http://127.0.0.1:"+port+"/version", 10*time.Second)
	if err != nil || strings.TrimSpace(body) != "0.2.0" {
		t.Fatalf("GET /version = %q, %v", body, err)
	}
	if env := readFile(t, envPath); !strings.Contains(env, "TYPE=demo:0.2.0+0.2.0") || !strings.Contains(env, "DEMO_PORT="+port) {
		t.Fatalf("env file after deploy:\n%s", env)
	}

	// --dry-run against the real daemon: nothing for the running version, the
	// image and label for another; and nothing changes.
	if r := e.mustAbra("app", "deploy", domain, "--dry-run", "--force", "-n"); r.stdout != "no changes\n" {
		t.Fatalf("dry run of the running version: %q", r.stdout)
	}
	if r := e.mustAbra("app", "deploy", domain, "0.1.0+0.1.0", "--dry-run", "-n"); !strings.Contains(r.stdout, "~ service app") ||
		!strings.Contains(r.stdout, `TaskTemplate.ContainerSpec.Image: "abra-demo/web:0.2.0" → "abra-demo/web:0.1.0"`) {
		t.Fatalf("dry run of another version: %s", r.stdout)
	}
	if got := serviceLabel(t, stack+"_app", "coop-cloud."+stack+".version"); got != "0.2.0+0.2.0" {
		t.Fatalf("a dry run changed the service: version label %q", got)
	}

	// the same version again is refused without --force.
	r = e.abra("app", "deploy", domain, "-n")
	if r.code == 0 || !strings.Contains(r.stderr, "already deployed") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("redeploy must be refused with a hint: %s", r)
	}

	// an older version deploys, and is what answers afterwards.
	e.mustAbra("app", "deploy", domain, "0.1.0+0.1.0", "-n")
	if got := serviceLabel(t, stack+"_app", "coop-cloud."+stack+".version"); got != "0.1.0+0.1.0" {
		t.Fatalf("version label after deploying 0.1.0 = %q", got)
	}
	body, err = httpGet(t, "http://127.0.0.1:"+port+"/version", 10*time.Second)
	if err != nil || strings.TrimSpace(body) != "0.1.0" {
		t.Fatalf("GET /version after deploying 0.1.0 = %q, %v", body, err)
	}
	if env := readFile(t, envPath); !strings.Contains(env, "TYPE=demo:0.1.0+0.1.0") {
		t.Fatalf("env file after deploying 0.1.0:\n%s", env)
	}

	// upgrade shows the release notes in between and goes to the newest.
	r = e.mustAbra("app", "upgrade", domain, "-n")
	if !strings.Contains(r.stderr, "available: 0.2.0+0.2.0") || !strings.Contains(r.stderr, "0.1.0+0.1.0 → 0.2.0+0.2.0") || !strings.Contains(r.stderr, "Serves version 0.2.0.") {
		t.Fatalf("upgrade output lacks the plan or the release notes: %s", r)
	}
	if body, err := httpGet(t, "http://127.0.0.1:"+port+"/version", 10*time.Second); err != nil || strings.TrimSpace(body) != "0.2.0" {
		t.Fatalf("GET /version after upgrade = %q, %v", body, err)
	}
	if r := e.abra("app", "upgrade", domain, "-n"); r.code == 0 || !strings.Contains(r.stderr, "newest") {
		t.Fatalf("upgrade past the newest version must fail: %s", r)
	}
	// rollback goes back to the previous release.
	e.mustAbra("app", "rollback", domain, "-n")
	if body, err := httpGet(t, "http://127.0.0.1:"+port+"/version", 10*time.Second); err != nil || strings.TrimSpace(body) != "0.1.0" {
		t.Fatalf("GET /version after rollback = %q, %v", body, err)
	}
	if env := readFile(t, envPath); !strings.Contains(env, "TYPE=demo:0.1.0+0.1.0") {
		t.Fatalf("env file after rollback:\n%s", env)
	}

	// ps and logs.
	var tasks []map[string]any
	if err := json.Unmarshal([]byte(e.mustAbra("app", "ps", domain, "--json").stdout), &tasks); err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, task := range tasks {
		if task["state"] == "running" && task["service"] == "app" && strings.HasPrefix(task["image"].(string), "abra-demo/web:0.1.0") {
			running++
		}
	}
	if running != 1 {
		t.Fatalf("app ps: want 1 running app task of 0.1.0, got %v", tasks)
	}
	logs := e.mustAbra("app", "logs", domain, "app")
	if !strings.Contains(logs.stdout, "/version") {
		t.Fatalf("app logs lack the request line: %s", logs)
	}

	// undeploy removes services and networks and waits until they are gone.
	e.mustAbra("app", "undeploy", domain)
	if got := docker(t, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack); got != "" {
		t.Fatalf("services left after undeploy: %s", got)
	}
	if got := docker(t, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+stack); got != "" {
		t.Fatalf("containers left after undeploy: %s", got)
	}
	if got := docker(t, "network", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack); got != "" {
		t.Fatalf("networks left after undeploy: %s", got)
	}
	if r := e.abra("app", "ps", domain); r.code == 0 || !strings.Contains(r.stderr, "not deployed") {
		t.Fatalf("ps of an undeployed app: %s", r)
	}

	// remove without a terminal and without --force refuses, naming --force.
	if r := e.abra("app", "remove", domain, "-n"); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("remove without --force: %s", r)
	}
	e.mustAbra("app", "remove", domain, "--force")
	if _, err := os.Stat(envPath); !os.IsNotExist(err) {
		t.Fatalf("env file still there after remove: %v", err)
	}
}
