package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ciResult is abra ci's --json result.
type ciResult struct {
	App      string   `json:"app"`
	Server   string   `json:"server"`
	Stack    string   `json:"stack"`
	Recipe   string   `json:"recipe"`
	Version  string   `json:"version"`
	Commit   string   `json:"commit"`
	Chaos    string   `json:"chaos_version"`
	Result   string   `json:"result"`
	ExitCode int      `json:"exit_code"`
	Secrets  []string `json:"secrets_generated"`
	Networks []string `json:"networks_created"`
	Purged   bool     `json:"purged"`
	Error    string   `json:"error"`
	Services []struct {
		Name    string `json:"name"`
		Running int    `json:"running"`
		State   string `json:"state"`
	} `json:"services"`
}

// ciRun runs the CI image in a fresh container, as a CI runner runs a step:
// the checkout mounted as the working directory, settings in the
// environment, on the host's network (where the second server's bridge is).
func ciRun(t *testing.T, image, checkout string, env []string, args ...string) (ciResult, result) {
	t.Helper()
	cmdArgs := []string{"run", "--rm", "--network", "host", "-v", checkout + ":/drone/src", "-w", "/drone/src"}
	for _, e := range env {
		cmdArgs = append(cmdArgs, "-e", e)
	}
	cmd := exec.Command(dockerBin(), append(append(cmdArgs, image), args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("docker run %s: %v", image, err)
	}
	t.Logf("abra-ci %s → %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	var res ciResult
	if strings.TrimSpace(r.stdout) != "" {
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("abra-ci's stdout is not its JSON result: %v\n%s", err, r)
		}
	}
	return res, r
}

// TestCIDeploys: the CI image (entry point abra-ci) in fresh containers
// that have only the image, a recipe checkout, a key and a known_hosts line
// deploys to the second server over its sshd and waits for convergence;
// refuses a wrong host key before anything reaches the server; runs a
// stack-ssh-deploy style step from PLUGIN_* settings (secrets generated,
// network created, app purged afterwards); and exits 4 when a deploy did not
// converge and the previous version was put back.
func TestCIDeploys(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	buildDemoImage(t, "0.3.0", "--tag", "abra-demo/web:0.3.0-broken", "--broken-healthcheck")
	const image = "abra-ci-e2e:latest"
	run(t, repoRoot, "go", "run", "./cmd/dist", "image", "abra", "--version", "0.0.0-e2e", "--tag", image, "--load")

	s := startSSH(t)
	s.trust(t, s.hostPub)
	node := startTestNode(t, s)
	nodeSock := "unix://" + filepath.Join(node, "docker.sock")
	for _, img := range []string{"abra-demo/web:0.1.0", "abra-demo/web:0.3.0-broken"} {
		loadImage(t, nodeSock, img)
	}
	onNode := func(args ...string) string { return docker(t, append([]string{"-H", nodeSock}, args...)...) }

	// The deploy key: made here, authorised on the node, given to the
	// container in an environment variable only.
	keys := t.TempDir()
	run(t, keys, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", filepath.Join(keys, "deploy"))
	authorized := filepath.Join(s.dir, "authorized_keys")
	writeFile(t, authorized, readFile(t, authorized)+readFile(t, filepath.Join(keys, "deploy.pub")))
	deployKey := "DEPLOY_KEY=" + readFile(t, filepath.Join(keys, "deploy"))
	knownHosts := "10.210.0.11 " + strings.TrimSpace(readFile(t, filepath.Join(node, "host_key.pub")))

	checkout := filepath.Join(t.TempDir(), "demo")
	copyDir(t, filepath.Join(repoRoot, "recipes", "demo"), checkout)
	run(t, checkout, "git", "init", "-q", "-b", "main")
	run(t, checkout, "git", "add", "-A")
	run(t, checkout, "git", "commit", "-qm", "demo")
	commit := run(t, checkout, "git", "rev-parse", "HEAD")

	const domain, stack = "ci.e2e.localhost", "ci_e2e_localhost"
	deployArgs := []string{"deploy", "--server", "ssh://root@10.210.0.11", "--ssh-key-env", "DEPLOY_KEY", "--domain", domain, "-D", "--json"}

	t.Run("a wrong host key is refused before anything reaches the server", func(t *testing.T) {
		other := strings.TrimSpace(readFile(t, filepath.Join(s.dir, "host_key.pub"))) // another server's key
		res, r := ciRun(t, image, checkout, []string{deployKey}, append(deployArgs, "--known-hosts", "10.210.0.11 "+other)...)
		if r.code != 7 || res.Result != "refused" || res.ExitCode != 7 || !strings.Contains(r.stderr, "host key of 10.210.0.11:22 does not match") {
			t.Fatalf("want exit 7 and a host key refusal: %s", r)
		}
		if out := onNode("config", "ls", "-q") + onNode("service", "ls", "-q"); out != "" {
			t.Fatalf("the node was changed: %s", out)
		}
		_, r = ciRun(t, image, checkout, []string{deployKey}, deployArgs...)
		if r.code != 7 || !strings.Contains(r.stderr, "host key is required") {
			t.Fatalf("no known host key at all must be refused: %s", r)
		}
	})

	t.Run("a recipe checkout is deployed at its commit and converges", func(t *testing.T) {
		res, r := ciRun(t, image, checkout, []string{deployKey}, append(deployArgs, "--known-hosts", knownHosts)...)
		if r.code != 0 || res.Result != "converged" || res.Commit != commit || res.Chaos != commit[:8] || res.Recipe != "demo" ||
			res.Server != "10.210.0.11" || len(res.Services) != 1 || res.Services[0].State != "converged" {
			t.Fatalf("want a converged deploy of %s: %+v\n%s", commit, res, r)
		}
		if got := onNode("service", "inspect", stack+"_app", "--format", `{{index .Spec.Labels "coop-cloud.`+stack+`.chaos-version"}} {{.Spec.TaskTemplate.ContainerSpec.Image}}`); !strings.HasPrefix(got, commit[:8]+" abra-demo/web:0.1.0") {
			t.Fatalf("the node runs %q, want the commit's label and image", got)
		}
		if body, err := httpGet(t, "http://10.210.0.11:8080/version", 15*time.Second); err != nil || strings.TrimSpace(body) != "0.1.0" {
			t.Fatalf("the app on the node does not answer: %q %v", body, err)
		}
	})

	t.Run("a deploy that does not converge is put back: exit 4", func(t *testing.T) {
		replaceInFile(t, filepath.Join(checkout, "compose.yml"), "abra-demo/web:0.1.0", "abra-demo/web:0.3.0-broken")
		run(t, checkout, "git", "commit", "-qam", "broken healthcheck")
		res, r := ciRun(t, image, checkout, []string{deployKey}, append(deployArgs, "--known-hosts", knownHosts, "--timeout", "60s")...)
		if r.code != 4 || res.Result != "rolled_back" || res.ExitCode != 4 {
			t.Fatalf("want exit 4, rolled back: %s", r)
		}
		if got := onNode("service", "inspect", stack+"_app", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}"); !strings.HasPrefix(got, "abra-demo/web:0.1.0") {
			t.Fatalf("after the failed deploy the node runs %q, want 0.1.0 back", got)
		}
	})

	t.Run("a stack-ssh-deploy step deploys from PLUGIN_* settings and purges", func(t *testing.T) {
		run(t, checkout, "git", "reset", "-q", "--hard", "HEAD~1")
		writeFile(t, filepath.Join(checkout, "compose.secret.yml"), `version: "3.8"
services:
  app:
    secrets:
      - db_password
secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}
`)
		const pstack = "plugin_e2e_localhost"
		env := []string{
			"PLUGIN_HOST=10.210.0.11", "PLUGIN_STACK=" + pstack, "PLUGIN_DEPLOY_KEY=" + strings.TrimPrefix(deployKey, "DEPLOY_KEY="),
			"PLUGIN_KNOWN_HOSTS=" + knownHosts, "PLUGIN_COMPOSE=compose.yml,compose.secret.yml", "PLUGIN_GENERATE_SECRETS=true",
			"PLUGIN_NETWORKS=ci_e2e_net", "PLUGIN_PURGE=true", "PLUGIN_JSON=true",
			// The step's environment is the app env; the runner's is not.
			"DOMAIN=plugin.e2e.localhost", "STACK_NAME=" + pstack, "DEMO_PORT=8081", "SECRET_DB_PASSWORD_VERSION=v1",
			"DRONE_COMMIT_SHA=" + commit, "CI=woodpecker", "CI_REPO_NAME=demo",
		}
		res, r := ciRun(t, image, checkout, env)
		if r.code != 0 || res.Result != "converged" || !res.Purged || res.Recipe != "demo" || strings.Join(res.Secrets, ",") != "db_password" ||
			strings.Join(res.Networks, ",") != "ci_e2e_net" || len(res.Services) != 1 || res.Services[0].Running != 1 {
			t.Fatalf("want a converged, purged deploy with the secret and network made: %+v\n%s", res, r)
		}
		if !strings.Contains(res.Chaos, "+U") {
			t.Errorf("the work tree with an uncommitted file deployed as %q, want commit+U", res.Chaos)
		}
		if services := onNode("service", "ls", "--format", "{{.Name}}"); services != stack+"_app" {
			t.Fatalf("services on the node after the purge: %q, want only the first app's", services)
		}
		if secrets := onNode("secret", "ls", "--format", "{{.Name}}"); strings.Contains(secrets, pstack) {
			t.Fatalf("the purged app's secrets are left: %q", secrets)
		}
		if onNode("network", "ls", "-q", "--filter", "name=ci_e2e_net") == "" {
			t.Fatal("the network the step asked for is not on the node")
		}
	})
	if err := os.RemoveAll(keys); err != nil {
		t.Fatal(err)
	}
}
