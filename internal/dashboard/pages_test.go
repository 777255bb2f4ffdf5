package dashboard

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/catalogue"
	"coopcloud.tech/abra/internal/i18n"
	"coopcloud.tech/abra/internal/swarm"
)

// untranslated is a catalogue key shown instead of its text (the lookup's
// fallback), or a placeholder left in a text.
var untranslated = func() *regexp.Regexp {
	keys := []string{`\{[0-9]\}[^<"]*<`}
	for k := range i18n.Default["en"] {
		if !strings.Contains(k, ".") {
			continue // "yes", "none": the key is its English text
		}
		keys = append(keys, ">"+regexp.QuoteMeta(k)+"<")
	}
	return regexp.MustCompile(strings.Join(keys, "|"))
}()

func TestEveryPageRendersInEnglishAndGerman(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	h.deployFirst()
	h.fake.Log("blog_example_org_app", "ready to serve\nGET / 200\n")
	catDir := filepath.Join(h.store.Root, "catalogue")
	if err := os.MkdirAll(catDir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("..", "catalogue", "testdata", "recipes.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(catDir, "recipes.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// an operation, for its page
	resp, _ := h.post("/apps/blog.example.org/deploy/run", url.Values{"token": {h.planToken("blog.example.org", "deploy")}})
	opPage := resp.Header.Get("Location")
	h.waitOperation(opPage)
	pages := map[string][]string{
		"/":                           {"blog.example.org", "1.1.0+1.25"},
		"/servers/one":                {"blog.example.org", `<th scope="row">fake</th>`},
		"/servers/two":                {"connection refused"},
		"/apps/blog.example.org":      {"1.0.0+1.25", "db_password", "v1", "DB_PASSWORD", app.Mask, "MAIL_FROM"},
		"/apps/blog.example.org/logs": {"ready to serve", `id="log"`, `id="pause"`},
		"/operations":                 {"ops"},
		"/catalogue":                  {"custom-html", "demo"},
		opPage:                        {"blog.example.org", "record version"},
	}
	for path, wants := range pages {
		for _, lang := range []string{"en", "de"} {
			resp, body := h.get(path, "Accept-Language", lang)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s (%s): %d\n%s", path, lang, resp.StatusCode, body)
			}
			if !strings.Contains(body, `lang="`+lang+`"`) || !strings.Contains(body, `<main id="main"`) || !strings.Contains(body, "<h1") {
				t.Errorf("%s (%s): not a %s page with a main landmark and a heading", path, lang, lang)
			}
			if m := untranslated.FindString(body); m != "" {
				t.Errorf("%s (%s): untranslated %q", path, lang, m)
			}
			if inlineScript.MatchString(body) {
				t.Errorf("%s (%s): inline script", path, lang)
			}
			for _, want := range wants {
				if !strings.Contains(body, want) {
					t.Errorf("%s (%s) lacks %q", path, lang, want)
				}
			}
		}
	}
	for _, action := range []string{"deploy", "upgrade", "rollback", "undeploy", "backup", "restore"} {
		for _, lang := range []string{"en", "de"} {
			resp, body := h.post("/apps/blog.example.org/"+action+"/plan", url.Values{"no_domain_checks": {"1"}}, "Accept-Language", lang)
			if resp.StatusCode != http.StatusOK || untranslated.MatchString(body) {
				t.Errorf("%s plan (%s): %d, untranslated %q", action, lang, resp.StatusCode, untranslated.FindString(body))
			}
		}
	}
	_, de := h.get("/apps/blog.example.org", "Accept-Language", "de")
	if !strings.Contains(de, "Geheimnisse") || !strings.Contains(de, "Konfiguration") {
		t.Error("the German app page is not German")
	}
	h.noSecrets()
}

func TestJSONIsTheCLIs(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	h.deployFirst()
	ctx := context.Background()
	a, err := h.store.Get("blog.example.org")
	if err != nil {
		t.Fatal(err)
	}
	_, body := h.get("/apps/blog.example.org?format=json")
	var v struct {
		Tasks   json.RawMessage `json:"tasks"`
		Secrets json.RawMessage `json:"secrets"`
		Lock    json.RawMessage `json:"lock"`
		Missing []string        `json:"missing_keys"`
		Config  []app.EnvVar    `json:"config"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	tasks, _ := app.Tasks(ctx, h.fake, a)
	secrets, _ := app.Secrets(ctx, h.store, h.fake, a, false)
	l, locked, _ := app.ReadLock(ctx, h.fake, a.StackName())
	for name, pair := range map[string][2]any{"tasks (app ps --json)": {v.Tasks, tasks}, "secrets (app secret ls --json)": {v.Secrets, secrets},
		"lock (app lock --json)": {v.Lock, l.View(a.Domain, locked)}} {
		want, _ := json.Marshal(pair[1])
		var got, exp any
		_ = json.Unmarshal(pair[0].(json.RawMessage), &got)
		_ = json.Unmarshal(want, &exp)
		if g, e := mustJSON(got), mustJSON(exp); g != e {
			t.Errorf("%s:\n got %s\nwant %s", name, g, e)
		}
	}
	if len(v.Missing) != 1 || v.Missing[0] != "MAIL_FROM" {
		t.Errorf("missing keys against the newest release: %v, want [MAIL_FROM]", v.Missing)
	}
	// the catalogue's JSON is recipes.json as 'abra recipe ls --json' prints it
	catDir := filepath.Join(h.store.Root, "catalogue")
	_ = os.MkdirAll(catDir, 0o755)
	data, _ := os.ReadFile(filepath.Join("..", "catalogue", "testdata", "recipes.json"))
	_ = os.WriteFile(filepath.Join(catDir, "recipes.json"), data, 0o644)
	c, err := catalogue.Local{Dir: catDir}.Read()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := c.Filter("").Encode()
	if _, got := h.get("/catalogue?format=json"); got != string(want) {
		t.Errorf("catalogue JSON differs from recipe ls --json")
	}
	h.noSecrets()
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// No value of the fixture's env file or secret store appears in any page,
// JSON, event of the operations stream or line of the log stream.
func TestNoSecretValueLeavesTheDashboard(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	before := time.Now().UTC()
	h.fake.Log("blog_example_org_app", "started\n")
	tok := h.planToken("blog.example.org", "deploy")
	resp, _ := h.post("/apps/blog.example.org/deploy/run", url.Values{"token": {tok}})
	h.waitOperation(resp.Header.Get("Location"))
	for _, path := range []string{"/", "/?format=json", "/apps/blog.example.org", "/apps/blog.example.org?format=json", "/apps/blog.example.org/logs",
		"/apps/blog.example.org/logs?format=json", "/operations", "/operations?format=json", resp.Header.Get("Location"), resp.Header.Get("Location") + "?format=json",
		"/servers/one", "/servers/one?format=json"} {
		h.get(path)
	}
	// A changed password is a change of the service's environment: the
	// plan's diff shows the field, never the values.
	envPath := filepath.Join(h.store.Root, "servers", "one", "blog.example.org.env")
	env, _ := os.ReadFile(envPath)
	if err := os.WriteFile(envPath, []byte(strings.Replace(string(env), secretValue, newPassword, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, plan := h.post("/apps/blog.example.org/deploy/plan", url.Values{"no_domain_checks": {"1"}})
	if !strings.Contains(plan, "Env") || !strings.Contains(plan, app.Mask) {
		t.Fatalf("the plan does not show the environment's change, masked:\n%s", plan)
	}
	h.post("/apps/blog.example.org/deploy/plan?format=json", url.Values{"no_domain_checks": {"1"}})
	for _, stream := range []string{"/operations/events", "/apps/blog.example.org/logs/events?after=" + before.Format(time.RFC3339Nano)} {
		h.bodies = append(h.bodies, h.readStream(stream, 2*time.Second))
	}
	all := strings.Join(h.bodies, "")
	if !strings.Contains(all, `"kind":"end"`) || !strings.Contains(all, `data: {"service":"app","text":"started",`) {
		t.Fatal("the operations or the log stream was not read")
	}
	h.noSecrets()
}

const newPassword = "changed-password-31337"

// readStream reads an event stream for a while.
func (h *harness) readStream(path string, d time.Duration) string {
	return h.readStreamWith(path, "", d)
}

// readStreamWith reads an event stream for d, sending lastID as
// Last-Event-ID when it is not empty.
func (h *harness) readStreamWith(path, lastID string, d time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.base+path, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

func TestCertificatesAboutToExpireAreWarnedAndUnreachableIsUnknown(t *testing.T) {
	now := time.Now()
	soon := tlsListener(t, now.Add(5*24*time.Hour))
	later := tlsListener(t, now.Add(60*24*time.Hour))
	s := &Server{CertTimeout: 2 * time.Second, certAddr: func(d string) string {
		return map[string]string{"soon.example.org": soon, "later.example.org": later, "gone.example.org": "127.0.0.1:1"}[d]
	}}
	got := s.certificates(context.Background(), []string{"soon.example.org", "later.example.org", "gone.example.org"})
	if c := got["soon.example.org"]; c.State != "expiring" || c.Days != 4 && c.Days != 5 {
		t.Errorf("soon: %+v, want expiring in 4–5 days", c)
	}
	if c := got["later.example.org"]; c.State != "ok" {
		t.Errorf("later: %+v, want ok", c)
	}
	if c := got["gone.example.org"]; c.State != "unknown" || c.Reason == "" {
		t.Errorf("unreachable: %+v, want unknown with a reason", c)
	}
	// cached: a second look dials nothing
	s.certAddr = func(string) string { t.Error("dialled again within the cache time"); return "" }
	s.certificates(context.Background(), []string{"soon.example.org"})
}

// tlsListener serves TLS with a self-signed certificate expiring at notAfter.
func tlsListener(t *testing.T, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		DNSNames: []string{"soon.example.org", "later.example.org"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}(c)
		}
	}()
	return ln.Addr().String()
}

// A server that does not answer is waited for once (the page timeout), then
// reported without waiting for a while; a page that went away teaches nothing.
func TestADeadServerIsNotWaitedForOnEveryPage(t *testing.T) {
	var calls atomic.Int32
	now := time.Now()
	s := &Server{Timeout: 100 * time.Millisecond, clusters: map[string]serverState{}, Now: func() time.Time { return now },
		Connect: func(ctx context.Context, server string) (swarm.Cluster, error) {
			calls.Add(1)
			<-ctx.Done() // an ssh target that never answers
			return nil, ctx.Err()
		}}
	for i := range 3 {
		_, err := s.connect(context.Background(), "dead")
		if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") {
			t.Fatalf("visit %d: %v", i, err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the dead server was dialled %d times within %s", n, downFor)
	}
	now = now.Add(downFor + time.Second)
	_, _ = s.connect(context.Background(), "dead")
	if n := calls.Load(); n != 2 {
		t.Fatalf("not asked again after %s (%d calls)", downFor, n)
	}
}
