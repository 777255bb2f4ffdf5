package dashboard

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"html"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/journal"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
	"coopcloud.tech/abra/internal/ui"
)

// The dashboard's budgets (README, "The dashboard"): a fleet of 3 servers ×
// 50 apps renders in under 100 ms of server time on warm data
// (BenchmarkFleetPage; bench/dashboard.sh records it) and no page type weighs
// more than pageBudget compressed, with its assets (TestPageWeightBudget).
const (
	budgetServers = 3
	budgetApps    = 50
	pageBudget    = 100 << 10 // bytes, gzip-compressed page + its CSS and script
)

// budgetHost is the address the budget tests' requests name; they call the
// handler directly, so only server time is measured.
var budgetHost = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8765}

// fleetFixture is a dashboard over servers × apps: every app of the recipe
// "web" pins 1.0.0+1.25 (the recipe has 1.1.0+1.26, so every row offers an
// upgrade), is deployed on its server's fake swarm with an app and a db
// service and has a few log lines; the journal holds one finished deploy.
type fleetFixture struct {
	srv     *Server
	store   app.Store
	connect app.Connector
	cookie  *http.Cookie
}

func newFleetFixture(tb testing.TB, servers, apps int) *fleetFixture {
	tb.Helper()
	root := tb.TempDir()
	store := app.Store{Root: root}
	webRecipe(tb, store.RecipeDir("web"))
	clusters := map[string]*swarmtest.Cluster{}
	for s := 1; s <= servers; s++ {
		name := fmt.Sprintf("server%d.example.org", s)
		c := swarmtest.New()
		clusters[name] = c
		for a := 1; a <= apps; a++ {
			domain := fmt.Sprintf("app%02d.%s", a, name)
			p := filepath.Join(root, "servers", name, domain+".env")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
			env := "TYPE=web:1.0.0+1.25\nDOMAIN=" + domain + "\nSECRET_DB_PASSWORD_VERSION=v1\n"
			if err := os.WriteFile(p, []byte(env), 0o600); err != nil {
				tb.Fatal(err)
			}
			stack := app.StackName(domain)
			for _, svc := range []string{"app", "db"} {
				labels := map[string]string{swarm.StackLabel: stack}
				if svc == "app" {
					labels["coop-cloud."+stack+".version"] = "1.0.0+1.25"
				}
				spec := mobyswarm.ServiceSpec{
					Annotations:  mobyswarm.Annotations{Name: stack + "_" + svc, Labels: labels},
					TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "example/" + svc + ":1.25", Labels: map[string]string{swarm.StackLabel: stack}}},
				}
				if _, _, err := c.CreateService(context.Background(), spec, false); err != nil {
					tb.Fatal(err)
				}
				c.Log(stack+"_"+svc, strings.Repeat(svc+" | listening on :8080\n", 20))
			}
		}
	}
	connect := func(_ context.Context, server string) (swarm.Cluster, error) {
		if c, ok := clusters[server]; ok {
			return c, nil
		}
		return nil, &swarm.ConnectError{Server: server, Reason: "no such test server"}
	}
	j := &journal.Journal{Dir: tb.TempDir()}
	op := j.Begin("deploy", "app01.server1.example.org", "server1.example.org", "operator@laptop pid 1")
	op.Started("apply stack")
	op.Finished("apply stack", nil, time.Second)
	op.End(nil)
	s, err := New(store, connect, j)
	if err != nil {
		tb.Fatal(err)
	}
	s.Allow(budgetHost)
	// Certificates are dialled on the loopback (refused at once, answers
	// cached as for a real fleet): no test reaches out for app domains.
	s.certAddr = func(string) string { return "127.0.0.1:9" }
	f := &fleetFixture{srv: s, store: store, connect: connect}
	rec := f.do(tb, http.MethodGet, "/login?token="+s.Token(), nil)
	for _, c := range rec.Result().Cookies() {
		if c.Name == cookieName {
			f.cookie = c
		}
	}
	if f.cookie == nil {
		tb.Fatalf("sign in: %d, no session cookie", rec.Code)
	}
	return f
}

// webRecipe is the recipe "web" with two releases.
func webRecipe(tb testing.TB, dir string) {
	tb.Helper()
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		tb.Fatal(err)
	}
	wt, err := r.Worktree()
	if err != nil {
		tb.Fatal(err)
	}
	sig := &object.Signature{Name: "test", Email: "test@example.org", When: time.Unix(1700000000, 0)}
	for _, v := range [][2]string{{"1.0.0+1.25", "1.25"}, {"1.1.0+1.26", "1.26"}} {
		compose := "version: \"3.8\"\nservices:\n  app:\n    image: example/app:" + v[1] + "\n    deploy:\n      labels:\n        - \"coop-cloud.${STACK_NAME}.version=" + v[0] + "\"\n  db:\n    image: example/db:" + v[1] + "\n"
		for name, content := range map[string]string{"compose.yml": compose, ".env.sample": "TYPE=web\nDOMAIN=web.example.org\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
		if err := wt.AddGlob("."); err != nil {
			tb.Fatal(err)
		}
		h, err := wt.Commit("web "+v[0], &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := r.CreateTag(v[0], h, &git.CreateTagOptions{Tagger: sig, Message: v[0]}); err != nil {
			tb.Fatal(err)
		}
	}
}

// do sends one request through the dashboard's handler, signed in once the
// fixture has a session; POSTs come from the dashboard's own pages.
func (f *fleetFixture) do(tb testing.TB, method, target string, form url.Values) *httptest.ResponseRecorder {
	tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	req.Host = budgetHost.String()
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://"+budgetHost.String())
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if f.cookie != nil {
		req.AddCookie(f.cookie)
	}
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// BenchmarkFleetPage is the fleet page of 3 servers × 50 apps on warm data
// (server time: the handler, app.Fleet over the fakes and the template),
// beside the same app.Fleet call rendered as 'abra app ls -S --json' does: the
// ratio is what rendering HTML costs.
func BenchmarkFleetPage(b *testing.B) {
	f := newFleetFixture(b, budgetServers, budgetApps)
	last := fmt.Sprintf("app%02d.server%d.example.org", budgetApps, budgetServers)
	f.do(b, http.MethodGet, "/", nil) // warm: certificates and missing keys cached, files in the page cache
	b.Run("dashboard-html", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			rec := f.do(b, http.MethodGet, "/", nil)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), last) {
				b.Fatalf("fleet page: %d, %d bytes, without %s", rec.Code, rec.Body.Len(), last)
			}
		}
	})
	b.Run("app-ls-json", func(b *testing.B) {
		defer reportCPU(b)()
		var out bytes.Buffer
		for b.Loop() {
			out.Reset()
			apps, _, _, err := app.Fleet(context.Background(), f.store, app.FleetOptions{Status: true, Connect: f.connect, Timeout: 10 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			if err := ui.JSON(ui.IO{Out: &out}, app.ByServer(apps)); err != nil {
				b.Fatal(err)
			}
			if !strings.Contains(out.String(), last) {
				b.Fatalf("app ls --json lacks %s", last)
			}
		}
	})
}

// reportCPU reports the process's CPU time per operation (cpu-ms/op) when
// the returned function runs: on a shared machine wall time counts the
// other tenants' load too.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	hrefAttr  = regexp.MustCompile(`\s(?:href|src)="(/[^"]*)"`)
	postForm  = regexp.MustCompile(`(?s)<form[^>]*\smethod="post"[^>]*\saction="(/[^"]*/plan)"[^>]*>(.*?)</form>`)
	formInput = regexp.MustCompile(`<input[^>]*\stype="(?:hidden|checkbox)"[^>]*>`)
	attrValue = regexp.MustCompile(`\s(name|value)="([^"]*)"`)
)

// pageType is what a page is, from its path: the first segment, "*" for the
// name after it, and the rest ("/apps/a.example.org/logs" → "apps/*/logs").
func pageType(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if segs[0] == "" {
		return "/"
	}
	t := segs[0]
	if len(segs) > 1 {
		t += "/*"
	}
	if len(segs) > 2 {
		t += "/" + strings.Join(segs[2:], "/")
	}
	return t
}

// crawlable reports whether a link is a page for a person: not an asset,
// not a machine format, not an event stream.
func crawlable(link string) bool {
	u, err := url.Parse(link)
	return err == nil && u.RawQuery == "" && !strings.HasPrefix(u.Path, "/assets/") && !strings.HasSuffix(u.Path, "/events") && u.Path != "/login"
}

// TestPageWeightBudget follows the dashboard's own links from the fleet
// page, one page of each type (and the plan page of the first plan form it
// finds, its hidden fields and checkboxes set: no domain checks here), and fails when a page with its CSS and script weighs more than
// pageBudget gzip-compressed. The largest fleet (3 × 50 apps) is the
// fixture, so the fleet page is at its heaviest.
func TestPageWeightBudget(t *testing.T) {
	f := newFleetFixture(t, budgetServers, budgetApps)
	seen := map[string]bool{}
	queue := []string{"/"}
	planned := false
	var report []string
	for len(queue) > 0 && len(seen) < 40 {
		p := queue[0]
		queue = queue[1:]
		typ := pageType(p)
		if seen[typ] {
			continue
		}
		seen[typ] = true
		rec := f.do(t, http.MethodGet, p, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s (%s): %d\n%s", p, typ, rec.Code, rec.Body.String())
			continue
		}
		body := rec.Body.String()
		report = append(report, f.weigh(t, typ, p, body))
		for _, m := range hrefAttr.FindAllStringSubmatch(body, -1) {
			if link := html.UnescapeString(m[1]); crawlable(link) && !seen[pageType(link)] {
				queue = append(queue, link)
			}
		}
		if m := postForm.FindStringSubmatch(body); m != nil && !planned {
			planned = true
			form := url.Values{}
			for _, in := range formInput.FindAllString(m[2], -1) {
				kv := map[string]string{}
				for _, a := range attrValue.FindAllStringSubmatch(in, -1) {
					kv[a[1]] = html.UnescapeString(a[2])
				}
				form.Set(kv["name"], kv["value"])
			}
			action := html.UnescapeString(m[1])
			rec := f.do(t, http.MethodPost, action, form)
			if rec.Code != http.StatusOK {
				t.Errorf("POST %s: %d\n%s", action, rec.Code, rec.Body.String())
			} else {
				report = append(report, f.weigh(t, "plan "+pageType(action), action, rec.Body.String()))
			}
		}
	}
	t.Logf("page weight, gzip-compressed, with assets (budget %d KB):\n%s", pageBudget>>10, strings.Join(report, "\n"))
	for _, want := range []string{"/", "operations", "operations/*", "servers/*", "apps/*", "apps/*/logs", "catalogue"} {
		if !seen[want] {
			t.Errorf("no %s page reached by following links from the fleet page (found %v)", want, slices.Sorted(maps.Keys(seen)))
		}
	}
	if !planned {
		t.Error("no page had a plan form")
	}
}

// weigh is one page's report line; over budget is an error.
func (f *fleetFixture) weigh(t *testing.T, typ, p, body string) string {
	t.Helper()
	page := gzipSize(body)
	total := page
	var assets []string
	for _, m := range hrefAttr.FindAllStringSubmatch(body, -1) {
		if a := html.UnescapeString(m[1]); strings.HasPrefix(a, "/assets/") && !slices.Contains(assets, a) {
			assets = append(assets, a)
			rec := f.do(t, http.MethodGet, a, nil)
			if rec.Code != http.StatusOK {
				t.Errorf("%s: asset %s: %d", p, a, rec.Code)
			}
			total += gzipSize(rec.Body.String())
		}
	}
	line := fmt.Sprintf("  %-22s %-45s html %6d B  html+%s %6d B", typ, p, page, strings.Join(assetNames(assets), "+"), total)
	if total > pageBudget {
		t.Errorf("%s (%s) weighs %d bytes compressed with its assets, over the budget of %d", p, typ, total, pageBudget)
	}
	return line
}

func assetNames(assets []string) []string {
	out := make([]string, len(assets))
	for i, a := range assets {
		out[i] = path.Base(a)
	}
	return out
}

func gzipSize(s string) int {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = io.WriteString(w, s)
	_ = w.Close()
	return buf.Len()
}
