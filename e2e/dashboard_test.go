package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// dashClient is a running 'abra dashboard' of an env, signed in.
type dashClient struct {
	t      *testing.T
	base   string
	client *http.Client
	bodies []string      // every body read, scanned for secrets at the end
	signIn time.Duration // the sign-in's redirect to the fleet page included
}

// signInDashboard runs the built binary's dashboard (startDashboard) and
// signs in with the one-time address it prints.
func signInDashboard(t *testing.T, e *env) *dashClient {
	t.Helper()
	login := startDashboard(t, e)
	jar, _ := cookiejar.New(nil)
	d := &dashClient{t: t, client: &http.Client{Jar: jar, Timeout: 2 * time.Minute}}
	u, _ := url.Parse(login)
	d.base = "http://" + u.Host
	start := time.Now()
	if code, body := d.get(strings.TrimPrefix(login, d.base)); code != http.StatusOK {
		t.Fatalf("sign in: %d\n%s", code, body)
	}
	d.signIn = time.Since(start)
	return d
}

func (d *dashClient) get(path string) (int, string) {
	d.t.Helper()
	resp, err := d.client.Get(d.base + path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	d.bodies = append(d.bodies, string(b))
	return resp.StatusCode, html.UnescapeString(string(b))
}

// post submits a form as the dashboard's page does; redirects are not followed.
func (d *dashClient) post(path string, form url.Values) *http.Response {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	c := *d.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	d.bodies = append(d.bodies, string(b))
	if m := regexp.MustCompile(`name="token" value="([0-9a-f]+)"`).FindStringSubmatch(string(b)); m != nil {
		resp.Header.Set("X-Test-Token", m[1])
	}
	return resp
}

type dashboardOp struct {
	Ended   bool   `json:"ended"`
	Outcome string `json:"outcome"`
	Version string `json:"version"`
	Error   string `json:"error"`
	Hint    string `json:"hint"`
	Message string `json:"message"`
}

// TestDashboard drives 'abra dashboard' against the real daemon: a broken
// upgrade started from its plan and confirm forms ends rolled back with the
// old version serving and the CLI's error and remedy on the operation page;
// a deploy started with the CLI streams to /operations/events while it runs;
// a server whose ssh target does not answer is shown unreachable within the
// dashboard's timeout while the other server's apps render; no secret value
// of the env file appears in anything it answered.
func TestDashboard(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	buildDemoImage(t, "0.3.0", "--tag", "abra-demo/web:0.3.0-broken", "--broken-healthcheck")
	const domain, port = "dashboard.e2e.localhost", "18313"
	const password, token = "e2e-dash-password-4711", "e2e-dash-token-0815"
	e := deployedApp(t, convergeRecipeRepo(t, "abra-demo/web:0.3.0-broken", "stop-first"), domain, port, "60")
	envPath := filepath.Join(e.abraDir, "servers", "default", domain+".env")
	writeFile(t, envPath, readFile(t, envPath)+"ADMIN_PASSWORD="+password+"\nAPI_TOKEN="+token+"\n")
	// A dead server: its ssh target accepts the connection and never says a
	// word, so only the dashboard's own timeout ends the wait.
	dead := "root@" + silentListener(t)
	writeFile(t, filepath.Join(e.abraDir, "servers", dead, "dead.e2e.localhost.env"), "TYPE=demo:0.1.0+0.1.0\nDOMAIN=dead.e2e.localhost\n")
	e.extra = append(e.extra, "ABRA_JOURNAL_DIR="+t.TempDir())
	d := signInDashboard(t, e)

	t.Run("a dead server is unreachable while the other's apps render", func(t *testing.T) {
		start := time.Now()
		code, body := d.get("/")
		took := time.Since(start)
		if code != http.StatusOK || !strings.Contains(body, domain) || !strings.Contains(body, "dead.e2e.localhost") {
			t.Fatalf("fleet: %d\n%s", code, body)
		}
		if !strings.Contains(body, "Some servers did not answer: "+dead) {
			t.Errorf("the fleet page does not name the dead server")
		}
		// The sign-in's fleet page waited the 10s timeout for the dead
		// server; the dashboard then does not wait for it again for 30s.
		t.Logf("fleet page with a dead server, after the sign-in's: %s (sign-in took %s)", took, d.signIn)
		var fleet map[string]struct {
			Apps []struct {
				Domain, Status, Version string
			} `json:"apps"`
		}
		_, js := d.get("/?format=json")
		if err := json.Unmarshal([]byte(js), &fleet); err != nil {
			t.Fatal(err)
		}
		if a := fleet["default"].Apps; len(a) != 1 || a[0].Status != "deployed" || a[0].Version != "0.1.0+0.1.0" {
			t.Errorf("the live server's app: %+v", a)
		}
		if a := fleet[dead].Apps; len(a) != 1 || a[0].Status != "unknown" {
			t.Errorf("the dead server's app: %+v", a)
		}
		if code, body := d.get("/servers/" + dead); code != http.StatusOK || !strings.Contains(body, "unreachable: ") || !strings.Contains(body, "no answer within 10s") {
			t.Errorf("the dead server's page: %d\n%s", code, body)
		}
		if code, body := d.get("/apps/" + domain); code != http.StatusOK || !strings.Contains(body, "0.1.0+0.1.0") || !strings.Contains(body, "ADMIN_PASSWORD") {
			t.Errorf("the app page: %d", code)
		}
	})

	t.Run("a deploy started with the CLI streams while it runs", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		_, ops := d.get("/operations")
		after := regexp.MustCompile(`data-after="([^"]*)"`).FindStringSubmatch(ops)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/operations/events?after="+url.QueryEscape(after[1]), nil)
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		// A changed message updates the service (stop-first, a healthcheck
		// start period): the deploy waits for seconds, the stream is polled
		// every 250ms.
		replaceInFile(t, envPath, `DEMO_MESSAGE="Hello from Co-op Cloud"`, `DEMO_MESSAGE="Hello from the dashboard test"`)
		_, wait := startDeploy(t, e, domain, "0.1.0+0.1.0", "--force", "-n")
		exited := make(chan int, 1)
		go func() { code, _ := wait(); exited <- code }()
		sc := bufio.NewScanner(resp.Body)
		var seen []string
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			d.bodies = append(d.bodies, data)
			var ev struct{ Kind, Command, App, Step string }
			_ = json.Unmarshal([]byte(data), &ev)
			if ev.App != domain || ev.Command != "deploy" {
				continue
			}
			seen = append(seen, ev.Kind+":"+ev.Step)
			if ev.Kind == "started" && ev.Step == "wait for convergence" {
				select {
				case code := <-exited:
					t.Fatalf("the deploy's events arrived only after it ended (exit %d)", code)
				default:
				}
				break
			}
		}
		if code := <-exited; code != 0 {
			t.Fatalf("the CLI's deploy: exit %d", code)
		}
		if len(seen) == 0 || seen[0] != "begin:" {
			t.Fatalf("events of the CLI's deploy on the stream: %v", seen)
		}
	})

	t.Run("a broken upgrade from the dashboard ends rolled back", func(t *testing.T) {
		resp := d.post("/apps/"+domain+"/upgrade/plan", url.Values{"no_domain_checks": {"1"}})
		tok := resp.Header.Get("X-Test-Token")
		if resp.StatusCode != http.StatusOK || tok == "" || !strings.Contains(html.UnescapeString(d.bodies[len(d.bodies)-1]), "0.2.0+0.2.0") {
			t.Fatalf("upgrade plan: %d, token %q\n%s", resp.StatusCode, tok, d.bodies[len(d.bodies)-1])
		}
		resp = d.post("/apps/"+domain+"/upgrade/run", url.Values{"token": {tok}})
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/operations/") {
			t.Fatalf("confirm: %d %q", resp.StatusCode, loc)
		}
		var op dashboardOp
		deadline := time.Now().Add(5 * time.Minute)
		for !op.Ended {
			if time.Now().After(deadline) {
				t.Fatalf("the upgrade did not end: %+v", op)
			}
			time.Sleep(time.Second)
			_, js := d.get(loc + "?format=json")
			if err := json.Unmarshal([]byte(js), &op); err != nil {
				t.Fatalf("%v\n%s", err, js)
			}
		}
		// The CLI's texts: the pipeline's RolledBackError and its remedy.
		if op.Outcome != "rolled-back" || op.Version != "0.1.0+0.1.0" || !strings.Contains(op.Error, "the previous version is back and 0.2.0+0.2.0 is quarantined") ||
			!strings.Contains(op.Hint, "abra app logs "+domain) {
			t.Fatalf("operation result %+v", op)
		}
		_, page := d.get(loc)
		for _, want := range []string{"↺ rolled back", "The server runs 0.1.0+0.1.0 now.", "abra app history " + domain} {
			if !strings.Contains(page, want) {
				t.Errorf("the operation page lacks %q", want)
			}
		}
		assertStillOld(t, e, domain, port)
		if _, hist := d.get("/apps/" + domain + "?format=json"); !strings.Contains(hist, `"origin": "dashboard"`) || !strings.Contains(hist, `"state": "rolled-back"`) {
			t.Errorf("the app's history lacks the dashboard's rolled-back record")
		}
	})

	t.Run("no secret value in anything the dashboard answered", func(t *testing.T) {
		for _, p := range []string{"/", "/?format=json", "/apps/" + domain, "/apps/" + domain + "?format=json", "/apps/" + domain + "/logs", "/operations", "/operations?format=json"} {
			d.get(p)
		}
		for _, b := range d.bodies {
			if strings.Contains(b, password) || strings.Contains(b, token) {
				t.Fatalf("a response shows a secret value:\n%s", b)
			}
		}
	})
}

// silentListener accepts TCP connections on loopback and never answers
// (an ssh server that hangs); its address is host:port.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// run plans action on the app, confirms it (typing the domain when asked)
// and waits for the operation's verified result.
func (d *dashClient) run(domain, action string) dashboardOp {
	d.t.Helper()
	resp := d.post("/apps/"+domain+"/"+action+"/plan", url.Values{"no_domain_checks": {"1"}})
	tok := resp.Header.Get("X-Test-Token")
	if resp.StatusCode != http.StatusOK || tok == "" {
		d.t.Fatalf("%s plan: %d\n%s", action, resp.StatusCode, d.bodies[len(d.bodies)-1])
	}
	resp = d.post("/apps/"+domain+"/"+action+"/run", url.Values{"token": {tok}, "confirm_domain": {domain}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther {
		d.t.Fatalf("%s confirm: %d\n%s", action, resp.StatusCode, d.bodies[len(d.bodies)-1])
	}
	var op dashboardOp
	deadline := time.Now().Add(5 * time.Minute)
	for !op.Ended {
		if time.Now().After(deadline) {
			d.t.Fatalf("%s did not end: %+v", action, op)
		}
		time.Sleep(500 * time.Millisecond)
		_, js := d.get(loc + "?format=json")
		if err := json.Unmarshal([]byte(js), &op); err != nil {
			d.t.Fatalf("%v\n%s", err, js)
		}
	}
	return op
}

// TestDashboardBackupAndRestore: a backup and a restore started from the
// dashboard go through the server's backup service (backup-bot): the
// snapshot is listed on the app's page, and the restore puts the data back
// byte for byte, with the hooks run.
func TestDashboardBackupAndRestore(t *testing.T) {
	e, s, domain, stack, botDomain := localVault(t, "dash")
	deployBackupBot(t, s, botDomain)
	e.extra = append(e.extra, "ABRA_JOURNAL_DIR="+t.TempDir())
	data := newKnownData(t)
	data.write(t, e, domain)
	dataDir := s.volumeData(stack, "data")
	d := signInDashboard(t, e)

	op := d.run(domain, "backup")
	if op.Outcome != "done" || !strings.Contains(op.Message, domain+": snapshot ") {
		t.Fatalf("backup from the dashboard: %+v", op)
	}
	var page struct {
		Backups []struct {
			ShortID string `json:"short_id"`
		} `json:"backups"`
	}
	_, js := d.get("/apps/" + domain + "?format=json")
	if err := json.Unmarshal([]byte(js), &page); err != nil || len(page.Backups) != 1 || !strings.Contains(op.Message, page.Backups[0].ShortID) {
		t.Fatalf("the app page's snapshots %+v (%v), want the one the backup made (%s)", page.Backups, err, op.Message)
	}

	// Change and delete data, then restore it from the dashboard.
	knownData{"files/db.txt": []byte("DROP TABLE notes;\n")}.write(t, e, domain)
	if err := os.Remove(filepath.Join(dataDir, "files/blob.bin")); err != nil {
		t.Fatal(err)
	}
	op = d.run(domain, "restore")
	if op.Outcome != "done" || !strings.Contains(op.Message, "restored") || !strings.Contains(op.Message, page.Backups[0].ShortID) {
		t.Fatalf("restore from the dashboard: %+v", op)
	}
	data.check(t, dataDir)
	if hooks := hookLog(t, s, stack); !slices.Contains(hooks, "restore-pre") || !slices.Contains(hooks, "restore-post") {
		t.Errorf("hooks after the dashboard's restore: %v", hooks)
	}
}
