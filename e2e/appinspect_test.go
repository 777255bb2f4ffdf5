package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// storeCompose is an app with two volumes, a host-mode port and a second
// service of two replicas.
const storeCompose = `version: "3.8"
services:
  app:
    image: abra-test/busybox:1
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    environment:
      - MOTTO=${MOTTO}
    volumes:
      - data:/data
      - cache:/cache
    ports:
      - target: 8080
        published: 18420
        protocol: tcp
        mode: host
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=0.1.0+1"
  worker:
    image: abra-test/busybox:1
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    deploy:
      replicas: 2
volumes:
  data:
  cache:
`

// storeRecipeRepo makes the "store" recipe: release 0.1.0+1, and after it an
// unreleased commit whose .env.sample has a new key, NEW_SETTING.
func storeRecipeRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	writeFile(t, filepath.Join(dir, "compose.yml"), storeCompose)
	writeFile(t, filepath.Join(dir, ".env.sample"), "TYPE=store\nDOMAIN=store.example.com\nMOTTO=keep\n")
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", "store 0.1.0+1")
	run(t, dir, "git", "tag", "-a", "0.1.0+1", "-m", "0.1.0+1")
	writeFile(t, filepath.Join(dir, ".env.sample"), "TYPE=store\nDOMAIN=store.example.com\nMOTTO=keep\nNEW_SETTING=1\n")
	run(t, dir, "git", "commit", "-qam", "store: NEW_SETTING")
	return dir
}

// TestAppServicesVolumesAndCheck: abra app check against the pinned release
// and the work tree, abra app services of a deployed app, abra app volume ls
// and rm (refused while the app runs, one volume, then the rest).
func TestAppServicesVolumesAndCheck(t *testing.T) {
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	repo := storeRecipeRepo(t)
	e := newEnv(t)
	const domain, stack = "store.e2e.localhost", "store_e2e_localhost"
	data, cache := stack+"_data", stack+"_cache"
	t.Cleanup(func() {
		e.abra("app", "undeploy", domain)
		waitStackGone(t, stack)
		_ = runQuiet(dockerBin(), "volume", "rm", data, cache)
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "store", "--url", repo)
	e.mustAbra("app", "new", "store", "--server", "default", "--domain", domain, "-n")
	envPath := filepath.Join(e.abraDir, "servers", "default", domain+".env")

	t.Run("check", func(t *testing.T) {
		if r := e.mustAbra("app", "check", domain); r.stdout != "" || !strings.Contains(r.stderr, "all keys of the recipe's .env.sample are set") {
			t.Errorf("check of a complete env file: %s", r)
		}
		// The work tree's .env.sample has a key the release's lacks.
		r := e.abra("app", "check", domain, "--chaos")
		if r.code != 1 || r.stdout != "NEW_SETTING\n" || !strings.Contains(r.stderr, "1 keys of store's .env.sample are missing") {
			t.Errorf("check --chaos: %s", r)
		}
		env := readFile(t, envPath)
		replaceInFile(t, envPath, "MOTTO=keep\n", "")
		r = e.abra("app", "check", domain, "--json")
		var view struct {
			App     string   `json:"app"`
			Recipe  string   `json:"recipe"`
			Missing []string `json:"missing"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &view); err != nil || r.code != 1 || view.App != domain || view.Recipe != "store" || !slices.Equal(view.Missing, []string{"MOTTO"}) {
			t.Errorf("check --json without MOTTO: %+v (%v)\n%s", view, err, r)
		}
		if err := os.WriteFile(envPath, []byte(env), 0o600); err != nil {
			t.Fatal(err)
		}
	})

	e.mustAbra("app", "deploy", domain, "-n")

	t.Run("services", func(t *testing.T) {
		var services []struct {
			Name    string   `json:"name"`
			Image   string   `json:"image"`
			Running int      `json:"running"`
			Desired int      `json:"desired"`
			Ports   []string `json:"ports"`
		}
		r := e.mustAbra("app", "services", domain, "--json")
		if err := json.Unmarshal([]byte(r.stdout), &services); err != nil || len(services) != 2 {
			t.Fatalf("app services --json: %v\n%s", err, r)
		}
		app, worker := services[0], services[1]
		if app.Name != "app" || app.Image != "abra-test/busybox:1" || app.Running != 1 || app.Desired != 1 || !slices.Equal(app.Ports, []string{"18420->8080/tcp (host)"}) {
			t.Errorf("app service = %+v", app)
		}
		if worker.Name != "worker" || worker.Running != 2 || worker.Desired != 2 || len(worker.Ports) != 0 {
			t.Errorf("worker service = %+v", worker)
		}
		if got := lines(e.mustAbra("app", "services", domain).stdout); !slices.Equal(got, []string{
			"app abra-test/busybox:1 1/1 18420->8080/tcp (host)", "worker abra-test/busybox:1 2/2"}) {
			t.Errorf("app services table = %q", got)
		}
	})

	t.Run("volume", func(t *testing.T) {
		volumes := func() []string {
			t.Helper()
			var vols []string
			r := e.mustAbra("app", "volume", "ls", domain, "--json")
			if err := json.Unmarshal([]byte(r.stdout), &vols); err != nil {
				t.Fatalf("app volume ls --json: %v\n%s", err, r)
			}
			slices.Sort(vols)
			return vols
		}
		if got := volumes(); !slices.Equal(got, []string{cache, data}) {
			t.Fatalf("volumes of the deployed app = %v", got)
		}
		// Refused: without --force and no terminal; a volume the app lacks;
		// volumes the running app uses.
		if r := e.abra("app", "volume", "rm", domain, "-n"); r.code != 2 || !strings.Contains(r.stderr, "--force") {
			t.Errorf("volume rm without --force: %s", r)
		}
		if r := e.abra("app", "volume", "rm", domain, stack+"_nope", "--force"); r.code != 1 || !strings.Contains(r.stderr, "has no volume") {
			t.Errorf("volume rm of a volume the app lacks: %s", r)
		}
		if r := e.abra("app", "volume", "rm", domain, "--force"); r.code != 1 || !strings.Contains(r.stderr, "undeploy it first") {
			t.Errorf("volume rm while deployed: %s", r)
		}
		if got := volumes(); !slices.Equal(got, []string{cache, data}) {
			t.Fatalf("a refused volume rm removed volumes: %v", got)
		}

		e.mustAbra("app", "undeploy", domain)
		if r := e.mustAbra("app", "volume", "rm", domain, cache, "--force"); !strings.Contains(r.stderr, "removed volume "+cache) {
			t.Errorf("volume rm of one volume: %s", r)
		}
		if got := volumes(); !slices.Equal(got, []string{data}) {
			t.Errorf("volumes after removing %s = %v", cache, got)
		}
		e.mustAbra("app", "volume", "rm", domain, "--force")
		if out := docker(t, "volume", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack); out != "" {
			t.Errorf("volumes left on the daemon: %s", out)
		}
		if r := e.mustAbra("app", "volume", "rm", domain, "--force"); !strings.Contains(r.stderr, domain+" has no volumes") {
			t.Errorf("volume rm with none left: %s", r)
		}
		if got := volumes(); len(got) != 0 {
			t.Errorf("volume ls after removing all = %v", got)
		}
	})
	if r := e.abra("app", "services", domain); r.code == 0 || !strings.Contains(r.stderr, "not deployed") {
		t.Errorf("services of an undeployed app: %s", r)
	}
}
