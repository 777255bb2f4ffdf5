package dashboard

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/journal"
	"coopcloud.tech/abra/internal/update"
)

// post submits a form as the dashboard's own page does (same origin), and
// does not follow a redirect: its Location is the answer.
func (h *harness) post(path string, form url.Values, header ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := *h.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h.bodies = append(h.bodies, string(b))
	return resp, html.UnescapeString(string(b))
}

var tokenField = regexp.MustCompile(`name="token" value="([0-9a-f]+)"`)

// planToken plans the action and returns the confirm form's token.
func (h *harness) planToken(domain, action string) string {
	h.t.Helper()
	resp, body := h.post("/apps/"+domain+"/"+action+"/plan", url.Values{"no_domain_checks": {"1"}})
	m := tokenField.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		h.t.Fatalf("plan %s: %d, no confirm form\n%s", action, resp.StatusCode, body)
	}
	return m[1]
}

// waitOperation polls the operation's JSON until it ended.
func (h *harness) waitOperation(path string) operationView {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body := h.get(path + "?format=json")
		var v operationView
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			h.t.Fatalf("operation json: %v\n%s", err, body)
		}
		if v.Ended {
			return v
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("operation did not end: %+v", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) commands() []string {
	events, _, err := h.j.Read("", 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		if e.Kind == journal.Begin {
			out = append(out, e.Command)
		}
	}
	return out
}

// deployFirst deploys the blog's pinned release on the fake, as the CLI would.
func (h *harness) deployFirst() {
	h.t.Helper()
	a, err := h.store.Get("blog.example.org")
	if err != nil {
		h.t.Fatal(err)
	}
	d := &app.Deployer{Store: h.store, Cluster: h.fake}
	if _, err := d.Deploy(context.Background(), a, app.DeployOptions{NoDomainChecks: true, Offline: true}); err != nil {
		h.t.Fatal(err)
	}
}

func TestDeployPlanRunAndItsOperation(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	_, appPage := h.get("/apps/blog.example.org")
	for _, want := range []string{`id="deploy"`, `data-testid="deploy"`, `formaction="/apps/blog.example.org/deploy/plan"`} {
		if !strings.Contains(appPage, want) {
			t.Fatalf("the app page lacks %s", want)
		}
	}
	resp, plan := h.post("/apps/blog.example.org/deploy/plan", url.Values{"no_domain_checks": {"1"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("plan: %d\n%s", resp.StatusCode, plan)
	}
	// The plan is deploy --dry-run's: the release and the services created.
	for _, want := range []string{"1.0.0+1.25", "+ service app", "+ network blog_example_org_default", `id="confirm"`, `data-testid="confirm"`} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q\n%s", want, plan)
		}
	}
	if strings.Contains(plan, `id="confirm_domain"`) {
		t.Error("a deploy asks for the domain to be typed; only destructive actions do")
	}
	if n := len(h.commands()); n != 0 {
		t.Fatalf("planning journalled %d operations", n)
	}
	if svcs, _ := h.fake.Services(context.Background(), "blog_example_org"); len(svcs) != 0 {
		t.Fatal("planning created services")
	}
	tok := tokenField.FindStringSubmatch(plan)[1]
	resp, _ = h.post("/apps/blog.example.org/deploy/run", url.Values{"token": {tok}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/operations/") {
		t.Fatalf("run: %d to %q", resp.StatusCode, loc)
	}
	op := h.waitOperation(loc)
	if op.Outcome != outcomeConverged || op.Version != "1.0.0+1.25" || op.Error != "" ||
		op.Message != "blog.example.org: web 1.0.0+1.25 deployed and converged" {
		t.Fatalf("operation %+v", op)
	}
	var steps []string
	for _, st := range op.Steps {
		steps = append(steps, st.Name+":"+st.State)
	}
	for _, want := range []string{"lock app:ok", "apply stack:ok", "wait for convergence:ok", "record version:ok"} {
		if !strings.Contains(strings.Join(steps, " "), want) {
			t.Errorf("steps %v lack %s", steps, want)
		}
	}
	if got := h.commands(); len(got) != 1 || got[0] != "deploy" {
		t.Fatalf("journal: %v, want one deploy", got)
	}
	_, page := h.get(loc)
	for _, want := range []string{"✓ converged", "blog.example.org: web 1.0.0+1.25 deployed and converged", "The server runs 1.0.0+1.25 now.", `aria-live="polite"`} {
		if !strings.Contains(page, want) {
			t.Errorf("operation page lacks %q", want)
		}
	}
	_, de := h.get(loc, "Accept-Language", "de")
	if !strings.Contains(de, "läuft (konvergiert)") {
		t.Error("the German operation page is not German")
	}
	// The token was used: confirming again starts nothing.
	if resp, _ := h.post("/apps/blog.example.org/deploy/run", url.Values{"token": {tok}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a used token: %d, want 403", resp.StatusCode)
	}
	if n := len(h.commands()); n != 1 {
		t.Fatalf("a reused token journalled another operation (%d)", n)
	}
	h.noSecrets()
}

func TestAWrongNameForUndeployStartsNothing(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	h.deployFirst()
	tok := h.planToken("blog.example.org", "undeploy")
	resp, body := h.post("/apps/blog.example.org/undeploy/run", url.Values{"token": {tok}, "confirm_domain": {"blog.example.com"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="name-error"`) || !strings.Contains(body, `aria-invalid="true"`) {
		t.Fatalf("wrong name: %d\n%s", resp.StatusCode, body)
	}
	if got := h.commands(); len(got) != 0 {
		t.Fatalf("a wrong name started %v", got)
	}
	if svcs, _ := h.fake.Services(context.Background(), "blog_example_org"); len(svcs) != 1 {
		t.Fatal("the app was undeployed")
	}
	// The re-rendered plan carries a new token; the old one is spent.
	if resp, _ := h.post("/apps/blog.example.org/undeploy/run", url.Values{"token": {tok}, "confirm_domain": {"blog.example.org"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the token of a refused confirmation: %d, want 403", resp.StatusCode)
	}
	fresh := tokenField.FindStringSubmatch(body)[1]
	resp, _ = h.post("/apps/blog.example.org/undeploy/run", url.Values{"token": {fresh}, "confirm_domain": {"blog.example.org"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right name: %d", resp.StatusCode)
	}
	if op := h.waitOperation(resp.Header.Get("Location")); op.Outcome != outcomeDone || op.Version != "" ||
		op.Message != "blog.example.org undeployed; volumes and secrets were kept" {
		t.Fatalf("undeploy operation %+v", op)
	}
}

func TestPlanTokensAreSingleUseBoundAndShortLived(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	now := time.Now()
	h.srv.Now = func() time.Time { return now }

	t.Run("expired", func(t *testing.T) {
		tok := h.planToken("blog.example.org", "deploy")
		now = now.Add(h.srv.planTTL() + time.Second)
		if resp, _ := h.post("/apps/blog.example.org/deploy/run", url.Values{"token": {tok}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("expired: %d", resp.StatusCode)
		}
	})
	t.Run("another action or app", func(t *testing.T) {
		tok := h.planToken("blog.example.org", "deploy")
		if resp, _ := h.post("/apps/blog.example.org/backup/run", url.Values{"token": {tok}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("another action: %d", resp.StatusCode)
		}
		// tried where it does not belong, it is spent
		if resp, _ := h.post("/apps/blog.example.org/deploy/run", url.Values{"token": {tok}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("after a misuse: %d", resp.StatusCode)
		}
	})
	t.Run("another session", func(t *testing.T) {
		tok := h.planToken("blog.example.org", "deploy")
		other := &harness{t: t, srv: h.srv, base: h.base, j: h.j, client: &http.Client{Timeout: 10 * time.Second, Jar: newJar()}}
		h.srv.mu.Lock()
		h.srv.sessions["other-session"] = true
		h.srv.mu.Unlock()
		other.client.Jar.SetCookies(mustURL(t, h.base), []*http.Cookie{{Name: cookieName, Value: "other-session", Path: "/"}})
		if resp, _ := other.post("/apps/blog.example.org/deploy/run", url.Values{"token": {tok}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("another session: %d", resp.StatusCode)
		}
	})
	if got := h.commands(); len(got) != 0 {
		t.Fatalf("refused tokens started %v", got)
	}
}

func TestACrossOriginConfirmationGets403AndStartsNothing(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	tok := h.planToken("blog.example.org", "deploy")
	for _, path := range []string{"/apps/blog.example.org/deploy/run", "/apps/blog.example.org/deploy/plan"} {
		resp, _ := h.post(path, url.Values{"token": {tok}}, "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example")
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site POST %s: %d, want 403", path, resp.StatusCode)
		}
	}
	if got := h.commands(); len(got) != 0 {
		t.Fatalf("a cross-site form started %v", got)
	}
	// the token was not touched: the real page can still confirm
	if resp, _ := h.post("/apps/blog.example.org/deploy/run", url.Values{"token": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin after a refused cross-site one: %d", resp.StatusCode)
	}
}

func TestALockedAppShowsItsHolderAndNoConfirmButton(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	h.deployFirst()
	unlock, err := app.Lock(context.Background(), h.fake, "blog_example_org", "bob@elsewhere pid 42", time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	for _, action := range []string{"deploy", "upgrade", "undeploy"} {
		resp, body := h.post("/apps/blog.example.org/"+action+"/plan", url.Values{})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "bob@elsewhere pid 42") || !strings.Contains(body, `id="locked"`) {
			t.Fatalf("%s plan of a locked app: %d\n%s", action, resp.StatusCode, body)
		}
		if strings.Contains(body, `id="confirm"`) || tokenField.MatchString(body) {
			t.Fatalf("%s plan of a locked app has a confirm button", action)
		}
	}
	_, page := h.get("/apps/blog.example.org")
	if !strings.Contains(page, "Locked by bob@elsewhere pid 42") {
		t.Fatal("the app page does not name the lock's holder")
	}
}

func TestUpgradeAndRollbackRunTheCLIsPipelines(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	h.deployFirst()
	if err := (update.Records{Cluster: h.fake}).Quarantine(context.Background(), update.Quarantine{Stack: "blog_example_org", Version: "1.1.0+1.25", Reason: "healthcheck failing"}); err != nil {
		t.Fatal(err)
	}
	resp, plan := h.post("/apps/blog.example.org/upgrade/plan", url.Values{"no_domain_checks": {"1"}})
	for _, want := range []string{"1.0.0+1.25", "1.1.0+1.25", `TaskTemplate.ContainerSpec.Image: "nginx:1.25.3" → "nginx:1.25.4"`,
		"1.1.0+1.25 is quarantined on blog.example.org since"} {
		if !strings.Contains(plan, want) {
			t.Errorf("upgrade plan lacks %q", want)
		}
	}
	resp, _ = h.post("/apps/blog.example.org/upgrade/run", url.Values{"token": {tokenField.FindStringSubmatch(plan)[1]}})
	if op := h.waitOperation(resp.Header.Get("Location")); op.Outcome != outcomeConverged || op.Version != "1.1.0+1.25" ||
		op.Message != "blog.example.org: upgrade to 1.1.0+1.25 done" {
		t.Fatalf("upgrade %+v", op)
	}
	if qs, _ := (update.Records{Cluster: h.fake}).Quarantined(context.Background(), "blog_example_org"); len(qs) != 0 {
		t.Fatalf("a successful upgrade left the release quarantined: %+v", qs)
	}
	recs, err := update.Records{Cluster: h.fake}.List(context.Background(), "blog_example_org")
	if err != nil || len(recs) != 1 || recs[0].Trigger != "dashboard" || recs[0].State != update.Succeeded {
		t.Fatalf("the pipeline's record: %+v %v", recs, err)
	}
	tok := h.planToken("blog.example.org", "rollback")
	resp, _ = h.post("/apps/blog.example.org/rollback/run", url.Values{"token": {tok}, "confirm_domain": {"blog.example.org"}})
	if op := h.waitOperation(resp.Header.Get("Location")); op.Outcome != outcomeConverged || op.Version != "1.0.0+1.25" ||
		op.Message != "blog.example.org: rollback to 1.0.0+1.25 done" {
		t.Fatalf("rollback %+v", op)
	}
	if got := h.commands(); strings.Join(got, ",") != "upgrade,rollback" {
		t.Fatalf("journal: %v", got)
	}
	// Backups need the server's backup service: the plan says so and offers nothing to confirm.
	_, backupPlan := h.post("/apps/blog.example.org/backup/plan", url.Values{})
	if !strings.Contains(backupPlan, app.ErrNoBackupService.Error()) || tokenField.MatchString(backupPlan) {
		t.Fatalf("backup plan without a backup service:\n%s", backupPlan)
	}
	h.noSecrets()
}

func TestOperationsMergeTheUpdateAgentsRecords(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	h.deployFirst()
	now := time.Now().UTC()
	rec := &update.Record{ID: update.NewID(now), App: "blog.example.org", Stack: "blog_example_org", Recipe: "web", From: "1.0.0+1.25", To: "1.1.0+1.25",
		Actor: "abra-agent@node1", Trigger: "webhook", State: update.RolledBack, Error: "healthcheck failing", Started: now, Updated: now,
		Snapshot: "5e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"}
	if err := (update.Records{Cluster: h.fake}).Save(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	h.j.Begin("deploy", "blog.example.org", "one", "alice@laptop pid 1").End(nil)
	_, body := h.get("/operations")
	for _, want := range []string{"update agent (webhook)", "rolled back: healthcheck failing", "1.0.0+1.25 → 1.1.0+1.25", "this machine"} {
		if !strings.Contains(body, want) {
			t.Errorf("operations page lacks %q", want)
		}
	}
	if !strings.Contains(body, "Update records of a server could not be read: two") {
		t.Error("the unreachable server is not named")
	}
	var ops []opView
	_, js := h.get("/operations?format=json")
	if err := json.Unmarshal([]byte(js), &ops); err != nil || len(ops) != 2 {
		t.Fatalf("operations json: %v %s", err, js)
	}
	origins := ops[0].Origin + "," + ops[1].Origin
	if !strings.Contains(origins, "webhook") || !strings.Contains(origins, "journal") {
		t.Fatalf("origins %s", origins)
	}
	_, page := h.get("/apps/blog.example.org")
	if !strings.Contains(page, "update agent (webhook)") || !strings.Contains(page, "Last verified backup: snapshot 5e1f2a3b") {
		t.Error("the app's page lacks the agent's record or its verified backup")
	}
	// The agent's operation has a page of its own, from its record.
	var op operationView
	_, js = h.get("/operations/" + rec.ID + "?format=json")
	if err := json.Unmarshal([]byte(js), &op); err != nil || op.Outcome != outcomeRolledBack || op.Version != "1.0.0+1.25" || op.Origin != "webhook" || op.Error != "healthcheck failing" {
		t.Fatalf("the agent's operation page: %v %+v", err, op)
	}
	if resp, opPage := h.get("/operations/" + rec.ID); resp.StatusCode != http.StatusOK || !strings.Contains(opPage, "↺ rolled back") || !strings.Contains(opPage, "The server runs 1.0.0+1.25 now.") {
		t.Fatalf("the agent's operation page: %d\n%s", resp.StatusCode, opPage)
	}
	// The fleet knows the last verified backup from the same records (one list per server).
	if _, fleet := h.get("/"); !strings.Contains(fleet, "(5e1f2a3b)") {
		t.Error("the fleet page lacks the last verified backup")
	}
}

// A confirmation is refused when the app changed since its plan: the plan
// would not be what happens.
func TestAConfirmationOfAStalePlanStartsNothing(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	tok := h.planToken("blog.example.org", "deploy")
	h.deployFirst() // a terminal deploys meanwhile
	resp, body := h.post("/apps/blog.example.org/deploy/run", url.Values{"token": {tok}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "it ran nothing, it runs 1.0.0+1.25 now") {
		t.Fatalf("stale plan: %d\n%s", resp.StatusCode, body)
	}
	if got := h.commands(); len(got) != 0 {
		t.Fatalf("a stale plan started %v", got)
	}
	// Planned again, the deploy of the running release says it redeploys.
	if _, plan := h.post("/apps/blog.example.org/deploy/plan", url.Values{"no_domain_checks": {"1"}}); !strings.Contains(plan, "1.0.0+1.25 runs already") {
		t.Fatalf("the plan of a redeploy does not say so:\n%s", plan)
	}
}
