package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
	"coopcloud.tech/abra/internal/update"
	"coopcloud.tech/abra/internal/webhook"
)

const compose = `version: "3.8"
services:
  app:
    image: nginx:VERSION
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=RELEASE"
`

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func release(t *testing.T, remote, version, image, notes string) {
	t.Helper()
	write(t, filepath.Join(remote, "compose.yml"), strings.NewReplacer("VERSION", image, "RELEASE", version).Replace(compose))
	if notes != "" {
		write(t, filepath.Join(remote, "release", version), notes)
	}
	git(t, remote, "add", "-A")
	git(t, remote, "commit", "-qm", version)
	git(t, remote, "tag", "-a", version, "-m", version)
}

// fixture: an operator's ABRA_DIR with two apps of the "web" recipe (cloned
// from a remote), deployed to a fake swarm at 1.0.0 — one opted in.
func fixture(t *testing.T) (*swarmtest.Cluster, string) {
	t.Helper()
	remote := filepath.Join(t.TempDir(), "web")
	write(t, filepath.Join(remote, ".env.sample"), "TYPE=web\nDOMAIN=web.example.com\n")
	git(t, remote, "init", "-q", "-b", "main")
	release(t, remote, "1.0.0+1.25", "1.25", "")
	abraDir := t.TempDir()
	git(t, abraDir, "clone", "-q", remote, filepath.Join(abraDir, "recipes", "web"))
	write(t, filepath.Join(abraDir, "servers", "srv", "a.example.org.env"), "TYPE=web\nDOMAIN=a.example.org\nENABLE_AUTO_UPDATE=true\nAUTO_UPDATE_VERIFY=50ms\n")
	write(t, filepath.Join(abraDir, "servers", "srv", "b.example.org.env"), "TYPE=web\nDOMAIN=b.example.org\n")
	c := swarmtest.New()
	store := app.Store{Root: abraDir}
	for _, d := range []string{"a.example.org", "b.example.org"} {
		a, err := store.Get(d)
		if err != nil {
			t.Fatal(err)
		}
		dep := &app.Deployer{Store: store, Cluster: c, Actor: "alice@laptop"}
		if _, err := dep.Deploy(context.Background(), a, app.DeployOptions{NoDomainChecks: true, Offline: true}); err != nil {
			t.Fatalf("deploy %s: %v", d, err)
		}
	}
	return c, remote
}

func byApp(reps []Report) map[string]Report {
	m := map[string]Report{}
	for _, r := range reps {
		m[r.App] = r
	}
	return m
}

func TestPassPlansFromTheEnvRecord(t *testing.T) {
	c, remote := fixture(t)
	g := &Agent{Cluster: c, Dir: t.TempDir(), Server: "srv", Actor: "abra-agent@srv"}
	ctx := context.Background()

	reps, err := g.Pass(ctx, Options{Trigger: "kadabra", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := byApp(reps)["a.example.org"]; r.Result != "up-to-date" || r.Current != "1.0.0+1.25" {
		t.Fatalf("a before a release: %+v", r)
	}
	// The env file the agent rebuilt is the operator's, in the agent's own dir.
	if b, err := os.ReadFile(filepath.Join(g.Dir, "servers", "srv", "a.example.org.env")); err != nil || !strings.Contains(string(b), "ENABLE_AUTO_UPDATE=true") {
		t.Fatalf("rebuilt env file: %v\n%s", err, b)
	}

	release(t, remote, "1.1.0+1.26", "1.26", "")
	release(t, remote, "1.2.0+1.27", "1.27", "Manual step: migrate the database by hand.\n")
	release(t, remote, "2.0.0+2.0", "2.0", "")
	reps, err = g.Pass(ctx, Options{Trigger: "kadabra", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	m := byApp(reps)
	if r := m["a.example.org"]; r.Result != "available" || r.Target != "1.1.0+1.26" {
		t.Errorf("a: %+v, want 1.1.0 available (1.2.0 asks for a manual step, 2.0.0 is major)", r)
	}
	if r := m["b.example.org"]; r.Result != "available" && (r.Gate == nil || r.Gate.Code != update.GateNotOptedIn) {
		t.Errorf("b (not opted in) in a dry run: %+v", r)
	}

	// Not a dry run: b is held before any clone or deploy; a would upgrade,
	// but the fake's app has backups off, so the pipeline runs (the fake
	// converges instantly).
	reps, err = g.Pass(ctx, Options{Trigger: "agent"})
	if err != nil {
		t.Fatal(err)
	}
	m = byApp(reps)
	if r := m["b.example.org"]; r.Result != "held" || r.Gate == nil || r.Gate.Code != update.GateNotOptedIn {
		t.Errorf("b: %+v, want held not-opted-in", r)
	}
	if r := m["a.example.org"]; r.Result != "succeeded" || r.Record == nil || r.Record.To != "1.1.0+1.26" {
		t.Fatalf("a: %+v", r)
	}
	st, _ := app.DeployedState(ctx, c, "a_example_org")
	if st.Version != "1.1.0+1.26" {
		t.Fatalf("a runs %s", st.Version)
	}
	rec, ok, err := app.LoadEnvRecord(ctx, c, "a_example_org")
	if err != nil || !ok || rec.DeployedBy != "abra-agent@srv" || !strings.Contains(rec.Env, "TYPE=web:1.1.0+1.26") {
		t.Fatalf("env record after the agent's upgrade: %+v %v %v", rec, ok, err)
	}
}

func TestUnfinishedOperationIsResumed(t *testing.T) {
	c, remote := fixture(t)
	ctx := context.Background()
	release(t, remote, "1.1.0+1.26", "1.26", "")
	g := &Agent{Cluster: c, Dir: t.TempDir(), Server: "srv", Actor: "abra-agent@srv"}
	// An agent died while deploying 1.1.0: its spec is in place, its lock held.
	if _, err := g.Pass(ctx, Options{Trigger: "agent", DryRun: true}); err != nil {
		t.Fatal(err)
	}
	store := app.Store{Root: g.Dir}
	a, err := store.Get("a.example.org")
	if err != nil {
		t.Fatal(err)
	}
	dep := &app.Deployer{Store: store, Cluster: c, Actor: "abra-agent@srv"}
	if _, err := dep.Deploy(ctx, a, app.DeployOptions{Version: "1.1.0+1.26", Force: true, NoDomainChecks: true, Offline: true}); err != nil {
		t.Fatal(err)
	}
	rec := update.Record{ID: "op1", App: "a.example.org", Stack: "a_example_org", Recipe: "web", From: "1.0.0+1.25", To: "1.1.0+1.26",
		Actor: "abra-agent@srv", Trigger: "agent", State: update.Deploying, Holder: "abra-agent@old op op1"}
	if err := (update.Records{Cluster: c}).Save(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	unlock, err := app.Lock(ctx, c, "a_example_org", rec.Holder, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = unlock // the dead agent never releases it

	reps, err := g.Resume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 || reps[0].Result != string(update.Succeeded) {
		t.Fatalf("resume: %+v", reps)
	}
	recs, _ := update.Records{Cluster: c}.List(ctx, "a_example_org")
	if len(recs) == 0 || recs[0].ID != "op1" || recs[0].State != update.Succeeded {
		t.Fatalf("record after resume: %+v", recs)
	}
	if _, err := app.Lock(ctx, c, "a_example_org", "someone", 0, nil); err != nil {
		t.Fatalf("the dead agent's lock was not released: %v", err)
	}
}

// TestBranchPushRedeploysTheStagingApp: b follows branch main; a tag goes
// to a (which follows releases), a push of main to b, at that commit.
func TestBranchPushRedeploysTheStagingApp(t *testing.T) {
	c, remote := fixture(t)
	ctx := context.Background()
	// The operator's ABRA_DIR is gone by now; b's env record is what counts.
	opDir := t.TempDir()
	git(t, opDir, "clone", "-q", remote, filepath.Join(opDir, "recipes", "web"))
	write(t, filepath.Join(opDir, "servers", "srv", "b.example.org.env"), "TYPE=web\nDOMAIN=b.example.org\nAUTO_UPDATE_BRANCH=main\nAUTO_UPDATE_VERIFY=50ms\n")
	store := app.Store{Root: opDir}
	b, err := store.Get("b.example.org")
	if err != nil {
		t.Fatal(err)
	}
	head := strings.TrimSpace(gitOut(t, remote, "rev-parse", "HEAD"))
	dep := &app.Deployer{Store: store, Cluster: c, Actor: "alice@laptop"}
	if _, err := dep.Deploy(ctx, b, app.DeployOptions{Commit: head[:10], NoDomainChecks: true, Offline: true}); err != nil {
		t.Fatal(err)
	}
	st, _ := app.DeployedState(ctx, c, "b_example_org")
	if !st.Chaos || st.ChaosVersion != head[:8] {
		t.Fatalf("deployed at a commit: %+v, want chaos version %s", st, head[:8])
	}

	g := &Agent{Cluster: c, Dir: t.TempDir(), Server: "srv", Actor: "abra-agent@srv"}
	tag, err := g.MatchRecipe(ctx, webhook.Delivery{Event: webhook.Tag, Tag: "1.1.0+1.26", Repo: remote})
	if err != nil || !slices.Equal(tag, []string{"a_example_org"}) {
		t.Fatalf("a tag matches %v (%v), want only the app that follows releases", tag, err)
	}
	for _, br := range []string{"main", "other"} {
		got, err := g.MatchRecipe(ctx, webhook.Delivery{Event: webhook.Push, Branch: br, Ref: "refs/heads/" + br, Repo: remote})
		want := []string{"b_example_org"}
		if br != "main" {
			want = nil
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("a push of %s matches %v (%v), want %v", br, got, err, want)
		}
	}
	// A scheduled pass leaves the staging app alone.
	reps, err := g.Pass(ctx, Options{Trigger: "agent", Stack: "b_example_org"})
	if err != nil || len(reps) != 1 || reps[0].Gate == nil || reps[0].Gate.Code != update.GateFollowsBranch {
		t.Fatalf("pass over the staging app: %+v, %v", reps, err)
	}

	// A push to main.
	write(t, filepath.Join(remote, "compose.yml"), strings.NewReplacer("VERSION", "1.27", "RELEASE", "1.1.0+1.26").Replace(compose))
	git(t, remote, "commit", "-qam", "staging change")
	pushed := strings.TrimSpace(gitOut(t, remote, "rev-parse", "HEAD"))
	if err := g.WebhookJob(ctx, "b_example_org", Ref{Commit: pushed}); err != nil {
		t.Fatal(err)
	}
	st, _ = app.DeployedState(ctx, c, "b_example_org")
	if st.ChaosVersion != pushed[:8] {
		t.Fatalf("after the push b runs %+v, want %s", st, pushed[:8])
	}
	svcs, _ := c.Services(ctx, "b_example_org")
	if len(svcs) != 1 || !strings.HasPrefix(svcs[0].Spec.TaskTemplate.ContainerSpec.Image, "nginx:1.27") {
		t.Fatalf("b's image after the push: %+v", svcs)
	}
	recs, _ := update.Records{Cluster: c}.List(ctx, "b_example_org")
	if len(recs) != 1 || recs[0].State != update.Succeeded || recs[0].To != pushed || recs[0].From != head[:8] || recs[0].Trigger != "webhook" {
		t.Fatalf("records: %+v", recs)
	}
	// The same commit again changes nothing; an unknown commit is an error.
	if err := g.WebhookJob(ctx, "b_example_org", Ref{Commit: pushed}); err != nil {
		t.Fatal(err)
	}
	if err := g.WebhookJob(ctx, "b_example_org", Ref{Commit: strings.Repeat("e", 40)}); err == nil || !strings.Contains(err.Error(), "no commit") {
		t.Fatalf("unknown commit: %v", err)
	}
	if recs, _ := (update.Records{Cluster: c}).List(ctx, "b_example_org"); len(recs) != 1 {
		t.Fatalf("records after the no-ops: %+v", recs)
	}
	// A branch job for an app that follows no branch is refused.
	if err := g.BranchJob(ctx, "a_example_org", pushed); err == nil || !strings.Contains(err.Error(), "AUTO_UPDATE_BRANCH") {
		t.Fatalf("branch job for a release app: %v", err)
	}
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}
