package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/agent"
	"coopcloud.tech/abra/internal/notify"
)

// autoCompose is the "auto" recipe: the demo web server (image from the local
// registry) and a db service whose volume is backed up and which appends its
// release to /data/marks on every start, so a restore is visible.
const autoCompose = `version: "3.8"
services:
  app:
    image: IMAGE
    ports:
      - target: 8080
        published: ${PORT}
        protocol: tcp
        mode: host
    healthcheck:
      test: ["CMD", "/demo-web", "-healthcheck"]
      interval: 2s
      timeout: 2s
      retries: 3
      start_period: START
    deploy:
      update_config:
        failure_action: rollback
        order: stop-first
      rollback_config:
        order: stop-first
      restart_policy:
        condition: on-failure
      labels:
        - "coop-cloud.${STACK_NAME}.version=VERSION"
        - "coop-cloud.${STACK_NAME}.timeout=90"
  db:
    image: abra-test/busybox:1
    command: ["sh", "-c", "echo VERSION >> /data/marks; exec sleep 86400"]
    volumes:
      - data:/data
    deploy:
      labels:
        - "backupbot.backup=true"
volumes:
  data:
`

// autoRecipe is a recipe repository that releases are published to.
type autoRecipe struct {
	t   *testing.T
	dir string
}

func (r autoRecipe) publish(version, image, notes string) {
	r.t.Helper()
	start := "3s"
	if version == "1.2.1+1.2.1" {
		start = "30s" // the slow starter
	}
	c := strings.ReplaceAll(strings.Replace(strings.Replace(autoCompose, "IMAGE", image, 1), "START", start, 1), "VERSION", version)
	writeFile(r.t, filepath.Join(r.dir, "compose.yml"), c)
	if notes != "" {
		writeFile(r.t, filepath.Join(r.dir, "release", version), notes)
	}
	run(r.t, r.dir, "git", "add", "-A")
	run(r.t, r.dir, "git", "commit", "-qm", "auto "+version)
	run(r.t, r.dir, "git", "tag", "-a", version, "-m", version)
}

// registryImage builds the demo image of version and pushes it to the local registry.
func registryImage(t *testing.T, version string, extra ...string) string {
	t.Helper()
	local := "abra-demo/web:" + version + "-auto"
	buildDemoImage(t, version, append([]string{"--tag", local}, extra...)...)
	ref := "127.0.0.1:5000/abra-e2e/web:" + version
	docker(t, "tag", local, ref)
	docker(t, "push", "-q", ref)
	return ref
}

// hookSink receives the agent's webhook deliveries.
type hookSink struct {
	mu     sync.Mutex
	events []notify.Event
	bad    int
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request, secret string) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := notify.Verify(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		h.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var e notify.Event
	if err := json.Unmarshal(body, &e); err != nil {
		h.bad++
		return
	}
	h.events = append(h.events, e)
}

func (h *hookSink) find(typ, app, to string) (notify.Event, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Type == typ && e.App == app && (to == "" || e.To == to) {
			return e, true
		}
	}
	return notify.Event{}, false
}

type opView struct {
	ID, From, To, State, Actor, Trigger, Snapshot, Error string
	Started, Updated                                     time.Time
}

func history(t *testing.T, e *env, domain string) []opView {
	t.Helper()
	r := e.mustAbra("app", "history", domain, "--json")
	var ops []opView
	if err := json.Unmarshal([]byte(r.stdout), &ops); err != nil {
		t.Fatalf("history --json: %v\n%s", err, r.stdout)
	}
	return ops
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(time.Second)
	}
}

func opTo(t *testing.T, e *env, domain, to string) (opView, bool) {
	for _, op := range history(t, e, domain) {
		if op.To == to {
			return op, true
		}
	}
	return opView{}, false
}

func TestAutomaticUpdates(t *testing.T) {
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	botRepo, _ := backupBotRecipeRepo(t)
	img := map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		img[v] = registryImage(t, v)
	}
	img["1.2.0"] = registryImage(t, "1.2.0", "--broken-healthcheck")
	img["1.2.1"] = registryImage(t, "1.2.1", "--ready-after", "15s")

	remotes := t.TempDir()
	rec := autoRecipe{t: t, dir: filepath.Join(remotes, "auto")}
	writeFile(t, filepath.Join(rec.dir, ".env.sample"), "TYPE=auto\nDOMAIN=auto.example.com\nPORT=18200\n")
	run(t, rec.dir, "git", "init", "-q", "-b", "main")
	rec.publish("1.0.0+1.0.0", img["1.0.0"], "")

	agentRepo := agentRecipeRepo(t, nil)

	// The webhook receiver, reached from the agent's container through the
	// host's side of docker_gwbridge.
	secret := "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(t, 32))
	sink := &hookSink{}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sink.ServeHTTP(w, r, secret) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	gw := docker(t, "network", "inspect", "docker_gwbridge", "--format", "{{(index .IPAM.Config 0).Gateway}}")
	hookURL := fmt.Sprintf("http://%s:%d/hook", gw, ln.Addr().(*net.TCPAddr).Port)

	e := newEnv(t)
	s := localBackupServer(e)
	const app1, stack1, port1 = "auto1.e2e.localhost", "auto1_e2e_localhost", "18201"
	const app2, stack2, port2 = "auto2.e2e.localhost", "auto2_e2e_localhost", "18202"
	const botDomain, botStack = "backups.au.localhost", "backups_au_localhost"
	const agentDomain, agentStack = "agent.au.localhost", "agent_au_localhost"
	t.Cleanup(func() {
		for _, d := range []string{agentDomain, app1, app2, botDomain} {
			e.abra("app", "undeploy", d)
		}
		for _, st := range []string{agentStack, stack1, stack2, botStack} {
			waitStackGone(t, st)
		}
		for _, d := range []string{agentDomain, app1, app2, botDomain} {
			e.abra("app", "remove", d, "--force")
		}
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "backup-bot", "--url", botRepo)
	e.mustAbra("recipe", "fetch", "auto", "--url", rec.dir)
	e.mustAbra("recipe", "fetch", "abra-agent", "--url", agentRepo)
	deployBackupBot(t, s, botDomain)
	for _, a := range []struct{ domain, port, policy string }{
		{app1, port1, "ENABLE_AUTO_UPDATE=true\nAUTO_UPDATE_POLICY=minor\nAUTO_UPDATE_WINDOW=00:00-23:59\nAUTO_UPDATE_VERIFY=5s\n"},
		{app2, port2, "AUTO_UPDATE_VERIFY=5s\n"},
	} {
		e.mustAbra("app", "new", "auto", "--server", "default", "--domain", a.domain, "-n")
		envPath := filepath.Join(e.abraDir, "servers", "default", a.domain+".env")
		replaceInFile(t, envPath, "PORT=18200", "PORT="+a.port+"\n"+a.policy)
		e.mustAbra("app", "deploy", a.domain, "1.0.0+1.0.0", "-D", "-n")
	}
	if got := serviceLabel(t, stack1+"_app", "coop-cloud."+stack1+".autoupdate.window"); got != "00:00-23:59" {
		t.Fatalf("the policy is not mirrored to labels: window label %q", got)
	}

	// A policy value the agent would not understand is refused at deploy.
	bad := filepath.Join(e.abraDir, "servers", "default", app2+".env")
	replaceInFile(t, bad, "AUTO_UPDATE_VERIFY=5s", "AUTO_UPDATE_VERIFY=5s\nAUTO_UPDATE_POLICY=sometimes")
	if r := e.abra("app", "deploy", app2, "-D", "-n", "--force"); r.code == 0 || !strings.Contains(r.stderr, "AUTO_UPDATE_POLICY") || !strings.Contains(r.stderr, app2+".env:") {
		t.Fatalf("an unknown policy value must be refused naming the file, line and key: %s", r)
	}
	replaceInFile(t, bad, "\nAUTO_UPDATE_POLICY=sometimes", "")

	// The agent, every 10 s.
	e.mustAbra("app", "new", "abra-agent", "--server", "default", "--domain", agentDomain, "-n")
	agentEnv := filepath.Join(e.abraDir, "servers", "default", agentDomain+".env")
	replaceInFile(t, agentEnv, `COMPOSE_FILE="compose.yml"`, `COMPOSE_FILE="compose.yml:compose.webhook.yml:compose.local-remotes.yml"`)
	// Every recipe remote of the test (auto, backup-bot, abra-agent) lies under the temp dir.
	replaceInFile(t, agentEnv, `SCHEDULE="@every 1h"`, fmt.Sprintf("SCHEDULE=\"@every 10s\"\nSERVER_NAME=default\nWEBHOOK_URL=%s\nSECRET_WEBHOOK_SECRET_VERSION=v1\nRECIPE_REMOTES_DIR=%s", hookURL, os.TempDir()))
	e.mustAbra("app", "secret", "insert", agentDomain, "webhook_secret", "v1", secret)
	e.mustAbra("app", "deploy", agentDomain, "-D", "-n")

	version := func(stack string) string { return serviceLabel(t, stack+"_app", "coop-cloud."+stack+".version") }
	serves := func(port, want string) {
		t.Helper()
		body, err := httpGet(t, "http://127.0.0.1:"+port+"/version", 30*time.Second)
		if err != nil || strings.TrimSpace(body) != want {
			t.Fatalf("127.0.0.1:%s serves %q (%v), want %s", port, body, err, want)
		}
	}
	marks := func() string {
		return readFile(t, filepath.Join(s.volumeData(stack1, "data"), "marks"))
	}

	t.Run("a new minor release is installed with a backup", func(t *testing.T) {
		rec.publish("1.1.0+1.1.0", img["1.1.0"], "Faster.\n")
		waitFor(t, "the agent to upgrade auto1 to 1.1.0", 4*time.Minute, func() bool {
			op, ok := opTo(t, e, app1, "1.1.0+1.1.0")
			return ok && op.State == "succeeded"
		})
		op, _ := opTo(t, e, app1, "1.1.0+1.1.0")
		if op.Snapshot == "" || !strings.HasPrefix(op.Actor, "abra-agent@") || op.Trigger != "agent" || op.From != "1.0.0+1.0.0" {
			t.Fatalf("the audit record lacks the snapshot, actor or versions: %+v", op)
		}
		if v := version(stack1); v != "1.1.0+1.1.0" {
			t.Fatalf("auto1 runs %s", v)
		}
		serves(port1, "1.1.0")
		if _, ok := sink.find(notify.Succeeded, app1, "1.1.0+1.1.0"); !ok {
			t.Errorf("no signed update.succeeded webhook for auto1 (bad deliveries: %d)", sink.bad)
		}
	})

	t.Run("the operator's stale pin does not downgrade", func(t *testing.T) {
		r := e.abra("app", "deploy", app1, "-D", "-n")
		if r.code == 0 || !strings.Contains(r.stderr, "downgrade") || !strings.Contains(r.stderr, "abra-agent@") || !strings.Contains(r.stderr, "abra app sync "+app1) {
			t.Fatalf("deploying the stale pin must be refused, naming who upgraded and the fix: %s", r)
		}
		if v := version(stack1); v != "1.1.0+1.1.0" {
			t.Fatalf("the refused deploy changed auto1: %s", v)
		}
		e.mustAbra("app", "sync", app1)
		if env := readFile(t, filepath.Join(e.abraDir, "servers", "default", app1+".env")); !strings.Contains(env, "TYPE=auto:1.1.0+1.1.0") {
			t.Fatalf("sync did not pin 1.1.0:\n%s", env)
		}
	})

	t.Run("a release whose healthcheck fails is rolled back with the data and quarantined", func(t *testing.T) {
		rec.publish("1.2.0+1.2.0", img["1.2.0"], "")
		waitFor(t, "the agent to roll back 1.2.0", 5*time.Minute, func() bool {
			op, ok := opTo(t, e, app1, "1.2.0+1.2.0")
			return ok && (op.State == "rolled-back" || op.State == "failed")
		})
		op, _ := opTo(t, e, app1, "1.2.0+1.2.0")
		if op.State != "rolled-back" {
			t.Fatalf("1.2.0: %+v", op)
		}
		if v := version(stack1); v != "1.1.0+1.1.0" {
			t.Fatalf("auto1 runs %s after the rollback", v)
		}
		serves(port1, "1.1.0")
		if m := marks(); strings.Contains(m, "1.2.0") || !strings.Contains(m, "1.1.0") {
			t.Fatalf("the data of before the update is not back (marks written by each release's db):\n%s", m)
		}
		if r := e.mustAbra("app", "quarantine", app1, "--json"); !strings.Contains(r.stdout, "1.2.0+1.2.0") {
			t.Fatalf("1.2.0 is not quarantined: %s", r)
		}
		waitFor(t, "a signed update.rolled_back webhook", 30*time.Second, func() bool {
			_, ok := sink.find(notify.RolledBack, app1, "1.2.0+1.2.0")
			return ok
		})
	})

	t.Run("an agent killed mid-deploy finishes on a verified version", func(t *testing.T) {
		rec.publish("1.2.1+1.2.1", img["1.2.1"], "Slow to start.\n")
		waitFor(t, "the agent to deploy 1.2.1", 4*time.Minute, func() bool {
			op, ok := opTo(t, e, app1, "1.2.1+1.2.1")
			return ok && op.State == "deploying"
		})
		time.Sleep(3 * time.Second) // inside the 15 s the new version takes to become healthy
		ct := docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+agentStack+"_app")
		docker(t, "kill", "--signal", "KILL", ct)
		waitFor(t, "the restarted agent to finish 1.2.1", 4*time.Minute, func() bool {
			op, ok := opTo(t, e, app1, "1.2.1+1.2.1")
			return ok && (op.State == "succeeded" || op.State == "rolled-back" || op.State == "failed")
		})
		op, _ := opTo(t, e, app1, "1.2.1+1.2.1")
		if op.State != "succeeded" {
			t.Fatalf("after the kill: %+v", op)
		}
		if v := version(stack1); v != "1.2.1+1.2.1" {
			t.Fatalf("auto1 runs %s", v)
		}
		serves(port1, "1.2.1")
		if now := docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+agentStack+"_app"); now == ct {
			t.Fatalf("the agent container was not replaced")
		}
	})

	// kadabra's reports of this test's apps. Other tests deploy apps on this
	// daemon at the same time (the second test process): kadabra reports on
	// them too, and exits 2 when one of them gives an error (say its recipe's
	// temporary remote is already gone), so its exit code says nothing here.
	kadabra := func(args ...string) map[string]agent.Report {
		t.Helper()
		ct := docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+agentStack+"_app")
		cmd := exec.Command(dockerBin(), append([]string{"exec", ct, "kadabra", "--json"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		t.Logf("kadabra %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
		var reps []agent.Report
		if jerr := json.Unmarshal(out, &reps); jerr != nil {
			t.Fatalf("kadabra %s printed no reports (%v): %v", strings.Join(args, " "), err, jerr)
		}
		mine := map[string]agent.Report{}
		for _, r := range reps {
			if r.App == app1 || r.App == app2 {
				mine[r.App] = r
			}
		}
		return mine
	}

	t.Run("a manual step and a major release are held and reported", func(t *testing.T) {
		rec.publish("1.3.0+1.3.0", img["1.1.0"], "Manual step: run 'abra app cmd auto1 app migrate' after upgrading.\n")
		waitFor(t, "a held event for the manual step", 2*time.Minute, func() bool {
			ev, ok := sink.find(notify.Held, app1, "")
			return ok && ev.Reason == "manual-step"
		})
		rec.publish("2.0.0+2.0.0", img["1.1.0"], "")
		reps := kadabra("notify", "--major")
		// auto1's policy is minor: 2.0.0 is outside it, 1.3.0 held by its manual step.
		if r, ok := reps[app1]; !ok || r.Result != "held" || r.Gate == nil {
			t.Fatalf("kadabra notify --major: auto1 is not held: %+v", r)
		}
		if r, ok := reps[app2]; !ok || r.Result == "error" {
			t.Fatalf("kadabra notify --major: no report of auto2: %+v", r)
		}
		time.Sleep(15 * time.Second) // a scheduled pass
		if v := version(stack1); v != "1.2.1+1.2.1" {
			t.Fatalf("a held release was installed: auto1 runs %s", v)
		}
	})

	t.Run("kadabra upgrade --all leaves the app that did not opt in; naming it upgrades it", func(t *testing.T) {
		reps := kadabra("upgrade", "--all")
		if r := reps[app2]; r.Result != "held" || r.Gate == nil || r.Gate.Code != "not-opted-in" {
			t.Fatalf("kadabra upgrade --all: auto2 is not held as not opted in: %+v", r)
		}
		if v := version(stack2); v != "1.0.0+1.0.0" {
			t.Fatalf("auto2 did not opt in but runs %s", v)
		}
		if r := kadabra("upgrade", stack2, "auto")[app2]; r.Result != "succeeded" {
			t.Fatalf("kadabra upgrade %s auto: %+v", stack2, r)
		}
		if v := version(stack2); v != "1.2.1+1.2.1" {
			t.Fatalf("auto2 after kadabra upgrade runs %s, want 1.2.1 (the newest minor without a manual step)", v)
		}
		serves(port2, "1.2.1")
	})
}

// agentRecipeRepo is recipes/abra-agent as a recipe remote with its release
// 0.1.0+0.1.0 tagged, extra files (name → content) added to it, and the
// agent's image that release names loaded into the local daemon.
func agentRecipeRepo(t *testing.T, extra map[string]string) string {
	t.Helper()
	run(t, repoRoot, "go", "run", "./cmd/dist", "image", "abra-agent", "--version", "0.1.0", "--tag", "git.coopcloud.tech/coop-cloud/abra-agent:0.1.0", "--load")
	agentRepo := filepath.Join(t.TempDir(), "abra-agent")
	copyDir(t, filepath.Join(repoRoot, "recipes", "abra-agent"), agentRepo)
	for name, content := range extra {
		writeFile(t, filepath.Join(agentRepo, name), content)
	}
	run(t, agentRepo, "git", "init", "-q", "-b", "main")
	run(t, agentRepo, "git", "add", "-A")
	run(t, agentRepo, "git", "commit", "-qm", "abra-agent")
	run(t, agentRepo, "git", "tag", "-a", "0.1.0+0.1.0", "-m", "0.1.0+0.1.0")
	return agentRepo
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// runOutput runs docker and returns its combined output.
func runOutput(args ...string) (string, error) {
	cmd := exec.Command(dockerBin(), args...)
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	return string(out), err
}
