package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookyCompose is the "hooky" recipe: the demo web server, quick to update.
const hookyCompose = `version: "3.8"
services:
  app:
    image: IMAGE
    environment:
      - MARK=MARKV
    ports:
      - target: 8080
        published: ${PORT}
        protocol: tcp
        mode: host
    healthcheck:
      test: ["CMD", "/demo-web", "-healthcheck"]
      interval: 1s
      timeout: 2s
      retries: 3
      start_period: 2s
    deploy:
      update_config:
        failure_action: rollback
        order: stop-first
      labels:
        - "coop-cloud.${STACK_NAME}.version=VERSION"
        - "coop-cloud.${STACK_NAME}.timeout=60"
`

// forgeDelivery is one signed delivery as Gitea, Forgejo or GitHub sends it.
type forgeDelivery struct {
	scheme, id, event string
	body              []byte
	badSignature      bool
}

func (d forgeDelivery) send(t *testing.T, url, secret string) (int, string) {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(d.body)
	sig := hex.EncodeToString(mac.Sum(nil))
	if d.badSignature {
		sig = strings.Repeat("0", len(sig))
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch d.scheme {
	case "gitea":
		req.Header.Set("X-Gitea-Event", d.event)
		req.Header.Set("X-Gitea-Delivery", d.id)
		req.Header.Set("X-Gitea-Signature", sig)
	case "forgejo":
		req.Header.Set("X-Forgejo-Event", d.event)
		req.Header.Set("X-Forgejo-Delivery", d.id)
		req.Header.Set("X-Forgejo-Signature", sig)
	case "github":
		req.Header.Set("X-GitHub-Event", d.event)
		req.Header.Set("X-GitHub-Delivery", d.id)
		req.Header.Set("X-Hub-Signature-256", "sha256="+sig)
	default:
		t.Fatalf("scheme %s", d.scheme)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("deliver %s: %v", d.id, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func pushBody(ref, commit, repo string) []byte {
	return fmt.Appendf(nil, `{"ref":%q,"before":"%s","after":%q,"repository":{"full_name":"e2e/hooky","clone_url":%q}}`,
		ref, strings.Repeat("0", 40), commit, repo)
}

// TestForgeWebhooks: the agent receives signed forge deliveries. Each tag
// push upgrades the app that follows the recipe exactly once; replays, bad
// signatures, oversized bodies and refs nobody follows change nothing; a
// branch push redeploys the staging app at the pushed commit; forty
// concurrent deliveries give one deploy at a time and end on the newest tag.
func TestForgeWebhooks(t *testing.T) {
	img := map[string]string{"1.0.0": registryImage(t, "1.0.0"), "1.1.0": registryImage(t, "1.1.0")}
	ensureNetwork(t, "proxy")

	remote := filepath.Join(t.TempDir(), "hooky")
	writeFile(t, filepath.Join(remote, ".env.sample"), "TYPE=hooky\nDOMAIN=hooky.example.com\nPORT=18300\n")
	run(t, remote, "git", "init", "-q", "-b", "main")
	commit := func(msg, image, version, mark string) string {
		t.Helper()
		c := strings.NewReplacer("IMAGE", image, "VERSION", version, "MARKV", mark).Replace(hookyCompose)
		writeFile(t, filepath.Join(remote, "compose.yml"), c)
		run(t, remote, "git", "add", "-A")
		run(t, remote, "git", "commit", "-qm", msg)
		return strings.TrimSpace(run(t, remote, "git", "rev-parse", "HEAD"))
	}
	publish := func(version, image string) string {
		t.Helper()
		c := commit("hooky "+version, image, version, "release")
		run(t, remote, "git", "tag", "-a", version, "-m", version)
		return c
	}
	publish("1.0.0+1.0.0", img["1.0.0"])

	agentRepo := agentRecipeRepo(t, map[string]string{"compose.e2e-port.yml": `version: "3.8"
services:
  app:
    ports:
      - target: 8080
        published: 18310
        protocol: tcp
        mode: host
`})

	e := newEnv(t)
	const appA, stackA, portA = "hook1.e2e.localhost", "hook1_e2e_localhost", "18311"
	const appS, stackS, portS = "hook2.e2e.localhost", "hook2_e2e_localhost", "18312"
	const agentDomain, agentStack = "agent.hk.localhost", "agent_hk_localhost"
	t.Cleanup(func() {
		// The apps first: an undeploy waits for a job the agent is running.
		for _, d := range []string{appA, appS, agentDomain} {
			e.abra("app", "undeploy", d)
		}
		for _, st := range []string{agentStack, stackA, stackS} {
			waitStackGone(t, st)
		}
		for _, d := range []string{agentDomain, appA, appS} {
			e.abra("app", "remove", d, "--force")
		}
	})
	t.Cleanup(func() { // runs before the undeploys above
		if t.Failed() {
			out, _ := runOutput("service", "logs", "--no-task-ids", "--tail", "150", agentStack+"_app")
			t.Logf("the agent's log:\n%s", out)
			for _, st := range []string{stackA, stackS} {
				out, _ := runOutput("service", "ps", "--no-trunc", st+"_app")
				t.Logf("%s:\n%s", st, out)
			}
		}
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "hooky", "--url", remote)
	e.mustAbra("recipe", "fetch", "abra-agent", "--url", agentRepo)
	for _, a := range []struct{ domain, port, extra string }{
		{appA, portA, "ENABLE_AUTO_UPDATE=true\nAUTO_UPDATE_VERIFY=1s\n"},
		{appS, portS, "AUTO_UPDATE_BRANCH=main\nAUTO_UPDATE_VERIFY=1s\n"},
	} {
		e.mustAbra("app", "new", "hooky", "--server", "default", "--domain", a.domain, "-n")
		replaceInFile(t, filepath.Join(e.abraDir, "servers", "default", a.domain+".env"), "PORT=18300", "PORT="+a.port+"\n"+a.extra)
	}
	e.mustAbra("app", "deploy", appA, "1.0.0+1.0.0", "-D", "-n")
	e.mustAbra("app", "deploy", appS, "--chaos", "-D", "-n")

	secret := hex.EncodeToString(randomBytes(t, 24))
	e.mustAbra("app", "new", "abra-agent", "--server", "default", "--domain", agentDomain, "-n")
	agentEnv := filepath.Join(e.abraDir, "servers", "default", agentDomain+".env")
	replaceInFile(t, agentEnv, `COMPOSE_FILE="compose.yml"`, `COMPOSE_FILE="compose.yml:compose.hooks.yml:compose.local-remotes.yml:compose.e2e-port.yml"`)
	replaceInFile(t, agentEnv, `SCHEDULE="@every 1h"`, fmt.Sprintf("SCHEDULE=\"@every 1h\"\nSERVER_NAME=default\nHOOKS=\"gitea:gitea forgejo:forgejo github:github\"\nSECRET_HOOKS_SECRET_VERSION=v1\nRECIPE_REMOTES_DIR=%s", filepath.Dir(filepath.Dir(remote))))
	e.mustAbra("app", "secret", "insert", agentDomain, "hooks_secret", "v1", secret)
	e.mustAbra("app", "deploy", agentDomain, "-D", "-n")

	base := "http://127.0.0.1:18310/hooks/"
	waitFor(t, "the agent's webhook listener", 60*time.Second, func() bool {
		resp, err := http.Get(base + "gitea")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusMethodNotAllowed
	})
	label := func(stack, key string) string { return serviceLabel(t, stack+"_app", "coop-cloud."+stack+"."+key) }
	webhookOps := func(domain string) []opView {
		var out []opView
		for _, op := range history(t, e, domain) {
			if op.Trigger == "webhook" {
				out = append(out, op)
			}
		}
		return out
	}
	upgradedOnce := func(to string) {
		t.Helper()
		waitFor(t, appA+" at "+to+", verified", 120*time.Second, func() bool {
			return label(stackA, "version") == to && slices.ContainsFunc(webhookOps(appA), func(op opView) bool { return op.To == to && finished(op) })
		})
		var n int
		for _, op := range webhookOps(appA) {
			if op.To == to {
				n++
				if op.State != "succeeded" {
					t.Fatalf("operation to %s: %+v", to, op)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d operations to %s, want exactly one: %+v", n, to, webhookOps(appA))
		}
	}
	tagPush := func(scheme, id, tag, sha string) forgeDelivery {
		return forgeDelivery{scheme: scheme, id: id, event: "push", body: pushBody("refs/tags/"+tag, sha, remote)}
	}

	// Gitea: a tag push upgrades the app that follows the recipe.
	sha := publish("1.1.0+1.1.0", img["1.1.0"])
	first := tagPush("gitea", "g-1", "1.1.0+1.1.0", sha)
	if code, body := first.send(t, base+"gitea", secret); code != http.StatusAccepted || !strings.Contains(body, stackA) || strings.Contains(body, stackS) {
		t.Fatalf("gitea tag push: %d %s; want 202 queuing only %s", code, body, stackA)
	}
	upgradedOnce("1.1.0+1.1.0")

	// Refused or ignored, each with its status; nothing runs.
	oversized := tagPush("gitea", "g-big", "1.1.0+1.1.0", sha)
	oversized.body = append(oversized.body[:len(oversized.body)-1], []byte(`,"pad":"`+strings.Repeat("x", 1<<20)+`"}`)...)
	for _, c := range []struct {
		name string
		hook string
		d    forgeDelivery
		code int
	}{
		{"replayed delivery", "gitea", first, http.StatusOK},
		{"replayed body under a new id", "gitea", tagPush("gitea", "g-2", "1.1.0+1.1.0", sha), http.StatusOK},
		{"bad signature", "gitea", forgeDelivery{scheme: "gitea", id: "g-3", event: "push", body: pushBody("refs/tags/1.1.0+1.1.0", sha, remote), badSignature: true}, http.StatusUnauthorized},
		{"another scheme's signature", "github", tagPush("gitea", "g-4", "1.1.0+1.1.0", sha), http.StatusUnauthorized},
		{"oversized body", "gitea", oversized, http.StatusRequestEntityTooLarge},
		{"tag that is no version", "gitea", tagPush("gitea", "g-5", "latest", sha), http.StatusAccepted},
		{"branch nobody follows", "gitea", forgeDelivery{scheme: "gitea", id: "g-6", event: "push", body: pushBody("refs/heads/feature", sha, remote)}, http.StatusAccepted},
		{"another repository", "gitea", forgeDelivery{scheme: "gitea", id: "g-7", event: "push", body: pushBody("refs/tags/1.1.0+1.1.0", sha, "https://git.example.org/someone/hooky.git")}, http.StatusAccepted},
		{"unsupported event", "github", forgeDelivery{scheme: "github", id: "h-1", event: "issues", body: []byte(`{}`)}, http.StatusAccepted},
		{"unknown hook", "gitlab", tagPush("gitea", "g-8", "1.1.0+1.1.0", sha), http.StatusNotFound},
	} {
		if code, body := c.d.send(t, base+c.hook, secret); code != c.code {
			t.Errorf("%s: %d %q, want %d", c.name, code, body, c.code)
		}
	}
	if ops := webhookOps(appA); len(ops) != 1 {
		t.Fatalf("after refused and ignored deliveries: %+v, want the one upgrade", ops)
	}

	// Forgejo and GitHub, one upgrade each.
	sha = publish("1.2.0+1.1.0", img["1.1.0"])
	if code, body := tagPush("forgejo", "f-1", "1.2.0+1.1.0", sha).send(t, base+"forgejo", secret); code != http.StatusAccepted {
		t.Fatalf("forgejo tag push: %d %s", code, body)
	}
	upgradedOnce("1.2.0+1.1.0")
	sha = publish("1.3.0+1.1.0", img["1.1.0"])
	if code, body := tagPush("github", "h-2", "1.3.0+1.1.0", sha).send(t, base+"github", secret); code != http.StatusAccepted {
		t.Fatalf("github tag push: %d %s", code, body)
	}
	upgradedOnce("1.3.0+1.1.0")
	if label(stackS, "chaos") != "true" {
		t.Fatalf("the staging app was moved by a tag push")
	}

	// A branch push redeploys the staging app at that commit.
	staged := commit("staging change", img["1.1.0"], "1.3.0+1.1.0", "staged")
	if code, body := (forgeDelivery{scheme: "gitea", id: "g-9", event: "push", body: pushBody("refs/heads/main", staged, remote)}).send(t, base+"gitea", secret); code != http.StatusAccepted || !strings.Contains(body, stackS) {
		t.Fatalf("branch push: %d %s; want 202 queuing %s", code, body, stackS)
	}
	waitFor(t, appS+" at the pushed commit, verified", 120*time.Second, func() bool {
		return label(stackS, "chaos-version") == staged[:8] && slices.ContainsFunc(webhookOps(appS), finished)
	})
	if env := docker(t, "service", "inspect", stackS+"_app", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}"); !strings.Contains(env, "MARK=staged") {
		t.Fatalf("staging app's env after the push: %s", env)
	}
	if ops := webhookOps(appS); len(ops) != 1 || ops[0].To != staged || ops[0].State != "succeeded" {
		t.Fatalf("staging app's operations: %+v", ops)
	}

	// Forty concurrent deliveries of four new tags, through all three hooks.
	tags := []string{"1.4.0+1.1.0", "1.4.1+1.1.0", "1.4.2+1.1.0", "1.4.3+1.1.0"}
	shas := map[string]string{}
	for _, v := range tags {
		shas[v] = publish(v, img["1.1.0"])
	}
	before := len(webhookOps(appA))
	var wg sync.WaitGroup
	codes := make([]int, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			scheme := []string{"gitea", "forgejo", "github"}[i%3]
			tag := tags[i%len(tags)]
			codes[i], _ = tagPush(scheme, fmt.Sprintf("c-%d", i), tag, shas[tag]).send(t, base+scheme, secret)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusAccepted && c != http.StatusOK {
			t.Errorf("concurrent delivery %d: status %d", i, c)
		}
	}
	waitFor(t, appA+" on the newest tag", 180*time.Second, func() bool { return label(stackA, "version") == tags[len(tags)-1] })
	var ops []opView
	waitFor(t, "the webhook jobs to finish", 60*time.Second, func() bool {
		all := webhookOps(appA) // newest first
		ops = all[:len(all)-before]
		return !slices.ContainsFunc(ops, func(op opView) bool { return !finished(op) })
	})
	recs := history(t, e, appA)
	slices.SortFunc(recs, func(a, b opView) int { return a.Started.Compare(b.Started) })
	for i := 1; i < len(recs); i++ {
		if recs[i].Started.Before(recs[i-1].Updated.Truncate(time.Second)) {
			t.Errorf("operations overlap: %+v then %+v", recs[i-1], recs[i])
		}
	}
	for _, op := range ops {
		if op.State != "succeeded" || strings.Contains(op.Error, "locked") {
			t.Errorf("concurrent deliveries: operation %+v", op)
		}
	}
	if len(ops) < 1 || len(ops) > len(tags) {
		t.Errorf("forty deliveries of %d tags gave %d operations: %+v", len(tags), len(ops), ops)
	}
	t.Logf("forty deliveries: %d operation(s), %v", len(ops), ops)
}

// finished: the operation ended (succeeded, rolled back, failed, abandoned).
func finished(op opView) bool {
	return op.State != "planned" && op.State != "backing-up" && op.State != "deploying" && op.State != "verifying" && op.State != "rolling-back"
}
