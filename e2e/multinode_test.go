package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// multiCompose is an app for the three-node swarm: "app" pinned by hostname
// (abra-w1 in release 0.1.0+1, a node that does not exist in 0.2.0+1), and
// "free" on any node labelled multinode=yes (tests label workers only, never
// the manager). free counts as healthy READY_AFTER seconds after it starts,
// so a deploy can be caught while it waits for it.
const multiCompose = `version: "3.8"
services:
  app:
    image: abra-test/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; echo > /tmp/ready; while :; do sleep 1; done"]
    stop_grace_period: 1s
    deploy:
      placement:
        constraints: ["node.hostname == %s"]
      labels:
        - "coop-cloud.${STACK_NAME}.version=%s"
        - "coop-cloud.${STACK_NAME}.timeout=${TIMEOUT:-120}"
  free:
    image: abra-test/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep ${READY_AFTER:-0}; echo > /tmp/ready; while :; do sleep 1; done"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "cat", "/tmp/ready"]
      interval: 1s
      timeout: 2s
      retries: 3
      start_period: 120s
    deploy:
      placement:
        constraints: ["node.labels.multinode == yes"]
`

// multiRecipeRepo makes the "multi" recipe: 0.1.0+1 pins app to abra-w1,
// 0.2.0+1 pins it to a hostname no node has.
func multiRecipeRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "multi")
	writeFile(t, filepath.Join(dir, ".env.sample"), "TYPE=multi\nDOMAIN=multi.example.com\n")
	run(t, dir, "git", "init", "-q", "-b", "main")
	for _, r := range []struct{ version, node string }{{"0.1.0+1", "abra-w1"}, {"0.2.0+1", "abra-nowhere"}} {
		writeFile(t, filepath.Join(dir, "compose.yml"), fmt.Sprintf(multiCompose, r.node, r.version))
		run(t, dir, "git", "add", "-A")
		run(t, dir, "git", "commit", "-qm", "multi "+r.version)
		run(t, dir, "git", "tag", "-a", r.version, "-m", r.version)
	}
	return dir
}

// psRow is a task of 'abra app ps --json'.
type psRow struct {
	Service  string `json:"service"`
	State    string `json:"state"`
	Hostname string `json:"hostname"`
	Trouble  string `json:"node_trouble"`
	Error    string `json:"error"`
}

// TestMultiNode runs an app on the three-node swarm: a service pinned to
// abra-w1 and one on any labelled worker. app ps names the nodes; draining
// abra-w1 makes the app degraded (naming service and node) and moves the free
// service off it, undraining makes it whole again; a release no node can run
// fails with swarm's reason and leaves the previous one running; a worker
// lost while abra waits for a task on it is reported and the deploy converges
// once swarm has rescheduled the task, or, when no other node may run it,
// fails after its timeout naming the down node.
func TestMultiNode(t *testing.T) {
	busybox := run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	sw := startSwarm3(t)
	sw.load(t, busybox)
	e := sw.env(t)
	const domain, stack = "multi.swarm.localhost", "multi_swarm_localhost"
	envPath := filepath.Join(e.abraDir, "servers", swarm3Server, domain+".env")
	t.Cleanup(func() {
		if sw.nodeStatus(t)["abra-w2"] == "" || !strings.HasPrefix(sw.nodeStatus(t)["abra-w2"], "Ready") {
			sw.startNode(t, 3)
		}
		e.abra("app", "undeploy", domain)
		for _, n := range []string{"abra-w1", "abra-w2"} {
			_ = runQuiet(dockerBin(), "-H", sw.sock(1), "node", "update", "--availability", "active", "--label-rm", "multinode", n)
		}
	})
	sw.docker(t, 1, "node", "update", "--label-add", "multinode=yes", "abra-w1")

	// server add lists the swarm's nodes.
	r := e.mustAbra("server", "add", swarm3Server, "-n")
	for _, want := range []string{"abra-mgr manager active ready 10.211.0.11 leader", "abra-w1 worker active ready 10.211.0.12 -", "abra-w2 worker active ready 10.211.0.13 -"} {
		if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), want) {
			t.Errorf("server add does not list %q: %s", want, r)
		}
	}

	e.mustAbra("recipe", "fetch", "multi", "--url", multiRecipeRepo(t))
	e.mustAbra("app", "new", "multi", "--server", swarm3Server, "--domain", domain, "-n")
	e.mustAbra("app", "deploy", domain, "0.1.0+1", "-D", "-n")
	// Both run on abra-w1, the only labelled node; now abra-w2 may take free too.
	sw.docker(t, 1, "node", "update", "--label-add", "multinode=yes", "abra-w2")
	ps := func() map[string][]psRow {
		t.Helper()
		var rows []psRow
		r := e.mustAbra("app", "ps", domain, "--json")
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
			t.Fatalf("app ps --json: %v\n%s", err, r)
		}
		out := map[string][]psRow{}
		for _, row := range rows {
			out[row.Service] = append(out[row.Service], row)
		}
		return out
	}
	runsOn := func(rows []psRow) string {
		for _, row := range rows {
			if row.State == "running" {
				return row.Hostname
			}
		}
		return ""
	}
	if tasks := ps(); runsOn(tasks["app"]) != "abra-w1" || runsOn(tasks["free"]) != "abra-w1" {
		t.Fatalf("app ps: want app and free running on abra-w1: %+v", tasks)
	}
	if r := e.mustAbra("app", "ps", domain); !strings.Contains(r.stdout, "abra-w1") {
		t.Errorf("app ps has no node column: %s", r)
	}
	status := func() (string, string) {
		t.Helper()
		r := e.abra("app", "ls", "-S", "--json")
		var servers map[string]struct {
			Apps []struct {
				Status string `json:"status"`
				Reason string `json:"reason"`
				Ver    string `json:"version"`
			} `json:"apps"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &servers); err != nil || len(servers[swarm3Server].Apps) != 1 {
			t.Fatalf("app ls -S --json: %v\n%s", err, r)
		}
		a := servers[swarm3Server].Apps[0]
		return a.Status, a.Reason
	}
	// eventually polls until check says "" (swarm acts on its own time).
	eventually := func(within time.Duration, check func() string) {
		t.Helper()
		why := ""
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(time.Second) {
			if why = check(); why == "" {
				return
			}
		}
		t.Fatalf("after %s: %s", within, why)
	}
	if st, reason := status(); st != "deployed" {
		t.Fatalf("app ls -S: %s (%s), want deployed", st, reason)
	}

	// Drain abra-w1: app has nowhere to go, free moves to abra-w2.
	sw.docker(t, 1, "node", "update", "--availability", "drain", "abra-w1")
	eventually(time.Minute, func() string {
		st, reason := status()
		tasks := ps()
		if st != "degraded" || !strings.Contains(reason, stack+"_app: 0/1 running, node abra-w1 is drained") || runsOn(tasks["free"]) != "abra-w2" {
			return fmt.Sprintf("want degraded naming app and abra-w1, free on abra-w2: %s (%s), tasks %+v", st, reason, tasks)
		}
		return ""
	})
	if r := e.mustAbra("app", "ls", "-S"); !strings.Contains(r.stdout, "degraded ("+stack+"_app: 0/1 running, node abra-w1 is drained)") {
		t.Errorf("app ls -S table: %s", r)
	}
	if tasks := ps(); len(tasks["app"]) == 0 || !strings.HasPrefix(tasks["app"][0].Error, "no suitable node") {
		t.Errorf("app ps: the app's task should wait for a node with swarm's reason: %+v", tasks["app"])
	}
	sw.docker(t, 1, "node", "update", "--availability", "active", "abra-w1")
	eventually(time.Minute, func() string {
		if st, reason := status(); st != "deployed" || runsOn(ps()["app"]) != "abra-w1" {
			return fmt.Sprintf("after the undrain: %s (%s), want deployed with app on abra-w1", st, reason)
		}
		return ""
	})

	// A release no node can run fails with swarm's reason, rolls back, and
	// leaves the previous release running.
	start := time.Now()
	r = e.abra("app", "deploy", domain, "0.2.0+1", "-D", "-n")
	t.Logf("the deploy no node can run ended after %s", time.Since(start).Round(time.Second))
	for _, want := range []string{"no suitable node (scheduling constraints not satisfied on 3 nodes)", "constraints: node.hostname == abra-nowhere",
		"no node satisfies the placement constraints", "the previous version was put back", "docker node update --label-add"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("deploy of a release no node can run: stderr lacks %q", want)
		}
	}
	if r.code != 4 {
		t.Errorf("deploy of a release no node can run: exit %d, want 4 (rolled back)", r.code)
	}
	if env := readFile(t, envPath); !strings.Contains(env, "TYPE=multi:0.1.0+1") {
		t.Errorf("the env file no longer pins 0.1.0+1:\n%s", env)
	}
	eventually(time.Minute, func() string {
		if st, reason := status(); st != "deployed" || runsOn(ps()["app"]) != "abra-w1" {
			return fmt.Sprintf("after the failed deploy: %s (%s), want deployed with app on abra-w1", st, reason)
		}
		return ""
	})
	if got := sw.docker(t, 1, "service", "inspect", stack+"_app", "--format", "{{.Spec.TaskTemplate.Placement.Constraints}}"); got != "[node.hostname == abra-w1]" {
		t.Errorf("app's constraints after the rollback = %s, want the previous release's", got)
	}
	unlocked := func() {
		t.Helper()
		if r := e.mustAbra("app", "lock", domain); !strings.Contains(r.stdout, "not locked") {
			t.Fatalf("a lock was left behind: %s", r)
		}
	}
	unlocked()

	// Fault: abra-w2 is lost while abra waits for free's new task there.
	// Only abra-w2 is labelled while the task is placed; abra-w1 again once
	// it is, so swarm has somewhere to reschedule it.
	sw.docker(t, 1, "node", "update", "--label-rm", "multinode", "abra-w1")
	replaceInFile(t, envPath, "DOMAIN=", "READY_AFTER=20\nDOMAIN=")
	cmd, wait := startDeploy(t, e, domain, "0.1.0+1", "-f", "-D", "-n")
	defer func() { _ = cmd.Process.Kill() }()
	var placed string
	eventually(time.Minute, func() string {
		placed = sw.docker(t, 1, "service", "ps", stack+"_free", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}")
		if !strings.HasPrefix(placed, "abra-w2 ") || strings.Contains(placed, "\n") {
			return "free's new task is not (only) on abra-w2: " + placed
		}
		return ""
	})
	if strings.HasPrefix(strings.TrimPrefix(placed, "abra-w2 "), "Running") {
		t.Fatalf("free's task on abra-w2 is running already (%s): the deploy would converge before the node is lost", placed)
	}
	sw.docker(t, 1, "node", "update", "--label-add", "multinode=yes", "abra-w1")
	killed := time.Now()
	sw.killNode(t, 3)
	code, stderr := wait()
	t.Logf("the deploy ended %s after abra-w2 was killed", time.Since(killed).Round(time.Second))
	if code != 0 || !strings.Contains(stderr, "node abra-w2 is down") {
		t.Fatalf("deploy through a lost worker: exit %d, want 0 with the down node reported", code)
	}
	if tasks := ps(); runsOn(tasks["free"]) != "abra-w1" || runsOn(tasks["app"]) != "abra-w1" {
		t.Errorf("after the lost worker: want app and free on abra-w1: %+v", tasks)
	}
	if st, reason := status(); st != "deployed" {
		t.Errorf("app ls -S after the reschedule: %s (%s), want deployed", st, reason)
	}
	if env := readFile(t, envPath); !strings.Contains(env, "TYPE=multi:0.1.0+1") {
		t.Errorf("the env file does not pin what runs:\n%s", env)
	}
	unlocked()

	// Fault: abra-w2 is lost while abra waits for a task that only abra-w2
	// may run. The deploy fails when its timeout passes, naming the down
	// node, and puts back what it can.
	sw.startNode(t, 3)
	sw.docker(t, 1, "node", "update", "--label-rm", "multinode", "abra-w1")
	replaceInFile(t, envPath, "READY_AFTER=20\n", "READY_AFTER=21\nTIMEOUT=40\n")
	cmd2, wait2 := startDeploy(t, e, domain, "0.1.0+1", "-f", "-D", "-n")
	defer func() { _ = cmd2.Process.Kill() }()
	eventually(time.Minute, func() string {
		placed = sw.docker(t, 1, "service", "ps", stack+"_free", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}")
		if !strings.HasPrefix(placed, "abra-w2 ") || strings.Contains(placed, "\n") {
			return "free's new task is not (only) on abra-w2: " + placed
		}
		return ""
	})
	sw.killNode(t, 3)
	code, stderr = wait2()
	if code != 4 || !strings.Contains(stderr, "no suitable node") || !strings.Contains(stderr, "abra-w2 (down)") {
		t.Fatalf("deploy with its only node lost: exit %d, want 4 naming the down node abra-w2", code)
	}
	if !strings.Contains(stderr, "tasks waited on nodes that take no new tasks: abra-w2 (down)") || !strings.Contains(stderr, "start a down node's dockerd again") {
		t.Errorf("the hint of a deploy whose only node was lost does not say which node and what to do:\n%s", stderr)
	}
	if env := readFile(t, envPath); !strings.Contains(env, "TYPE=multi:0.1.0+1") {
		t.Errorf("the env file does not pin the release:\n%s", env)
	}
	unlocked()
}
