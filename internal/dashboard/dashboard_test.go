package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/journal"
	"coopcloud.tech/abra/internal/secret"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// harness is a dashboard on a loopback listener over an ABRA_DIR with two
// apps on two servers (one unreachable), the web recipe's clone with two
// releases, a fake swarm holding the app's secret, and an operations journal.
type harness struct {
	t      *testing.T
	srv    *Server
	base   string
	client *http.Client
	j      *journal.Journal
	fake   *swarmtest.Cluster
	store  app.Store
	bodies []string // every response body, scanned for secrets
}

// noSecrets fails when a value of the fixture's env file or secret store is
// in any response the test read.
func (h *harness) noSecrets() {
	h.t.Helper()
	for _, b := range h.bodies {
		for _, v := range fixtureSecrets {
			if strings.Contains(b, v) {
				h.t.Fatalf("a response shows the secret %q:\n%s", v, b)
			}
		}
	}
}

func newJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}

// Values of the fixture that no page, event or log line may show: the env
// file's password, token and URL credentials, and the secret store's value.
const (
	secretValue  = "hunter2-never-shown"
	tokenValue   = "tok-9f8e7d6c5b4a"
	urlPassword  = "urlpass-1a2b3c"
	storedSecret = "stored-secret-5e6f7a"
)

var fixtureSecrets = []string{secretValue, tokenValue, urlPassword, storedSecret, newPassword}

const webCompose = `version: "3.8"
services:
  app:
    image: nginx:1.25.3
    environment:
      - DOMAIN
      - DB_PASSWORD
    secrets:
      - db_password
secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}
`

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	for path, content := range map[string]string{
		"servers/one/blog.example.org.env": "TYPE=web:1.0.0+1.25\nDOMAIN=blog.example.org\nDB_PASSWORD=" + secretValue + "\nAPI_TOKEN=" + tokenValue +
			"\nS3_URL=https://backup:" + urlPassword + "@s3.example.org/bucket\nSECRET_DB_PASSWORD_VERSION=v1\n",
		"servers/two/wiki.example.org.env": "TYPE=wiki\nDOMAIN=wiki.example.org\n",
		"recipes/web/compose.yml":          webCompose,
		"recipes/web/.env.sample":          "TYPE=web\nDOMAIN=web.example.com\nSECRET_DB_PASSWORD_VERSION=v1\n",
	} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	recipeDir := filepath.Join(dir, "recipes", "web")
	runGit(t, recipeDir, "init", "-q")
	runGit(t, recipeDir, "add", "-A")
	runGit(t, recipeDir, "commit", "-q", "-m", "first")
	runGit(t, recipeDir, "tag", "-a", "-m", "1.0.0+1.25", "1.0.0+1.25")
	if err := os.WriteFile(filepath.Join(recipeDir, ".env.sample"), []byte("TYPE=web\nDOMAIN=web.example.com\nSECRET_DB_PASSWORD_VERSION=v1\nMAIL_FROM=x@example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(recipeDir, "compose.yml"), []byte(strings.Replace(webCompose, "nginx:1.25.3", "nginx:1.25.4", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, recipeDir, "commit", "-q", "-am", "second")
	runGit(t, recipeDir, "tag", "-a", "-m", "1.1.0+1.25", "1.1.0+1.25")

	fake := swarmtest.New()
	if err := secret.Create(context.Background(), fake, "blog_example_org", secret.Secret{Name: "db_password", Version: "v1", DockerName: "blog_example_org_db_password_v1"}, storedSecret); err != nil {
		t.Fatal(err)
	}
	connect := func(_ context.Context, server string) (swarm.Cluster, error) {
		if server == "two" {
			return nil, &swarm.ConnectError{Server: "two", Reason: "connection refused"}
		}
		return fake, nil
	}
	j := &journal.Journal{Dir: t.TempDir()}
	store := app.Store{Root: dir}
	s, err := New(store, connect, j)
	if err != nil {
		t.Fatal(err)
	}
	s.Offline, s.NoCerts = true, true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	jar, _ := cookiejar.New(nil)
	return &harness{t: t, srv: s, base: "http://" + ln.Addr().String(), j: j, fake: fake, store: store,
		client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func runGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func (h *harness) get(path string, header ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.base+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h.bodies = append(h.bodies, string(b))
	return resp, html.UnescapeString(string(b))
}

func (h *harness) signIn() {
	h.t.Helper()
	resp, body := h.get("/login?token=" + h.srv.Token())
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		h.t.Fatalf("sign in: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
}

func TestSignInOnceAndOnlyOnTheLoopbackHost(t *testing.T) {
	h := newHarness(t)
	if resp, body := h.get("/"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "abra dashboard") {
		t.Fatalf("without a session: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := h.get("/login?token=" + strings.Repeat("0", 64)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d", resp.StatusCode)
	}
	h.signIn()
	var session *http.Cookie
	for _, c := range h.client.Jar.Cookies(mustURL(t, h.base)) {
		if c.Name == cookieName {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	// The token signs in once: another browser cannot use it again.
	other := &http.Client{Timeout: 10 * time.Second}
	resp, err := other.Get(h.base + "/login?token=" + h.srv.Token())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second use of the token: %d", resp.StatusCode)
	}
	// DNS rebinding: a page of another name resolving to 127.0.0.1.
	if resp, _ := h.get("/", "Host", "evil.example:"+mustURL(t, h.base).Port()); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("another Host: %d", resp.StatusCode)
	}
	// localhost is the same server (a cookie set for 127.0.0.1 is not sent
	// to it, as in a browser: it answers, and asks to sign in).
	if resp, _ := h.get("/", "Host", "localhost:"+mustURL(t, h.base).Port()); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("localhost: %d, want the sign-in page", resp.StatusCode)
	}
}

// A page of another origin that submits a form to the dashboard gets 403
// and changes nothing (here: the session survives a forged sign-out).
func TestCrossOriginStateChangesAreRefused(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	req, _ := http.NewRequest(http.MethodPost, h.base+"/logout", strings.NewReader(""))
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d, want 403", resp.StatusCode)
	}
	if resp, _ := h.get("/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the forged sign-out signed out: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, h.base+"/logout", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if resp, err = h.client.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, _ := h.get("/"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after a same-origin sign-out: %d", resp.StatusCode)
	}
}

var inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)

func TestFleetPage(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	resp, body := h.get("/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fleet: %d", resp.StatusCode)
	}
	for _, want := range []string{"blog.example.org", "wiki.example.org", "Server one", "Server two", "not deployed", "unknown", "connection refused",
		"Some servers did not answer: two", `<main id="main"`, `lang="en"`, `aria-current="page"`} {
		if !strings.Contains(body, want) {
			t.Errorf("fleet page lacks %q", want)
		}
	}
	if strings.Contains(body, secretValue) {
		t.Fatal("an env value is on the page")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	if inlineScript.MatchString(body) || strings.Contains(body, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
		t.Fatal("inline script or event handler attribute on the page")
	}
	// ?format=json is the CLI's 'app ls --status --json'.
	_, js := h.get("/?format=json")
	var servers map[string]app.FleetServer
	if err := json.Unmarshal([]byte(js), &servers); err != nil {
		t.Fatalf("json: %v\n%s", err, js)
	}
	if servers["one"].Apps[0].AppName != "blog.example.org" || servers["one"].Apps[0].Status != "undeployed" || servers["two"].Apps[0].Status != "unknown" {
		t.Fatalf("json: %+v", servers)
	}
	if strings.Contains(js, secretValue) {
		t.Fatal("an env value is in the JSON")
	}
	// German, complete.
	_, de := h.get("/", "Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
	if !strings.Contains(de, `lang="de"`) || !strings.Contains(de, "Flotte") || !strings.Contains(de, "nicht bereitgestellt") {
		t.Fatal("the German page is not German")
	}
}

func TestOperationsStreamLiveAndResume(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	op := h.j.Begin("deploy", "blog.example.org", "one", "alice@laptop pid 1")
	op.Started("apply stack")
	_, body := h.get("/operations")
	if !strings.Contains(body, "blog.example.org") || !strings.Contains(body, "running") || !strings.Contains(body, "apply stack") {
		t.Fatalf("operations page:\n%s", body)
	}
	_, after, _ := h.j.Read("", 0)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/operations/events", nil)
	req.Header.Set("Last-Event-ID", after)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	op.End(nil) // a deploy in a terminal ends while the browser watches
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), `"kind":"end"`) {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("stream ended: %v\n%s", err, got.String())
		}
	}
	if strings.Contains(got.String(), `"kind":"begin"`) || !strings.HasPrefix(got.String(), "id: ") {
		t.Fatalf("resumed stream repeats events before Last-Event-ID or lacks ids:\n%s", got.String())
	}
	if resp, _ := h.get("/operations/events?after=x"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad id: %d", resp.StatusCode)
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The log stream starts with the next line; a browser that reconnects with
// the id of the last line it got gets every line logged after it, once.
func TestLogStreamFollowsAndResumes(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	h.deployFirst()
	const svc = "blog_example_org_app"
	h.fake.Log(svc, "before the page\n")

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/apps/blog.example.org/logs/events", nil)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Lines logged while the browser watches: the first of them may be logged
	// before the stream subscribed, so log until one arrives.
	stop := make(chan struct{})
	go func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				h.fake.Log(svc, fmt.Sprintf("live %d\n", i))
			}
		}
	}()
	sc := bufio.NewScanner(resp.Body)
	var lastID string
	var got []string
	for sc.Scan() && len(got) < 2 {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			lastID = id
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var l app.LogLine
			if err := json.Unmarshal([]byte(data), &l); err != nil || l.Time.IsZero() || l.Time.Format(time.RFC3339Nano) != lastID {
				t.Fatalf("event %q (id %q): want a line with its time as the id (%v)", data, lastID, err)
			}
			got = append(got, l.Text)
		}
	}
	close(stop)
	resp.Body.Close()
	if len(got) < 2 || slices.Contains(got, "before the page") {
		t.Fatalf("the stream gave %q: want only lines logged after it started", got)
	}

	// Lines logged while the browser was away, then a reconnect.
	h.fake.Log(svc, "away 1\naway 2\n")
	body := h.readStreamWith("/apps/blog.example.org/logs/events", lastID, time.Second)
	var texts []string
	for line := range strings.Lines(body) {
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			var l app.LogLine
			_ = json.Unmarshal([]byte(data), &l)
			texts = append(texts, l.Text)
		}
	}
	if slices.Contains(texts, got[len(got)-1]) || slices.Contains(texts, "before the page") ||
		!slices.Contains(texts, "away 1") || !slices.Contains(texts, "away 2") {
		t.Fatalf("resumed after %q (%s): got %q; want the lines after it, none before", got[len(got)-1], lastID, texts)
	}
	if resp, _ := h.get("/apps/blog.example.org/logs/events?after=yesterday"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an id that is no time: %d, want 400", resp.StatusCode)
	}
}
