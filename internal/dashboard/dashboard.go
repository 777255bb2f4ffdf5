// Package dashboard is abra's web front end, run on the operator's machine
// by 'abra dashboard': the same ABRA_DIR, SSH config and agent as the CLI,
// nothing installed on servers. It listens on loopback only and is a front
// end like the CLI: handlers call the core packages (app.Fleet, the
// operations journal, the deployer, the update pipeline, the backup
// client), never the CLI's output.
//
// Actions are a plan and a run: the plan makes the CLI's dry-run calls and
// hands out a single-use token bound to the session, app, action and target;
// the run happens in this process, journalled as the CLI journals it, and
// ends with the result verified against the server (actions.go).
//
// Safe by default: a one-time token in the address abra prints becomes an
// HttpOnly, SameSite=Strict session cookie; the Host header must name the
// loopback address it listens on (DNS rebinding); every state change passes
// Go's cross-origin protection (Sec-Fetch-Site / Origin); a strict Content
// Security Policy allows no inline script; pages are server-rendered and work
// without JavaScript, which only streams new operations in (Server-Sent
// Events, resumable with Last-Event-ID) and follows logs. Interface text
// comes from the message catalogues of internal/i18n (English and German).
package dashboard

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/i18n"
	"coopcloud.tech/abra/internal/journal"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/update"
)

//go:embed web
var webFS embed.FS

// cookieName is the session cookie.
const cookieName = "abra_dashboard"

// csp allows only the dashboard's own files: no inline script or style, no
// framing, forms only to itself.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Server is one dashboard.
type Server struct {
	Store   app.Store
	Connect app.Connector
	Journal *journal.Journal // nil: no operations, and no actions
	Timeout time.Duration    // per server for the fleet's status (default 10s)
	// Resolver checks that a deploy's domain points at its server (nil:
	// DNS); Offline deploys without asking registries, as 'abra -o'.
	Resolver app.Resolver
	Offline  bool
	// PlanTTL is how long a plan's confirm form stays valid (default 10m).
	PlanTTL time.Duration
	// CertTimeout bounds the TLS dial to each app's domain (default 3s);
	// CertTTL is how long its answer is kept (default 10m); NoCerts skips
	// the dial (tests without a network).
	CertTimeout, CertTTL time.Duration
	NoCerts              bool
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time

	token     string
	mu        sync.Mutex
	tokenUsed bool
	sessions  map[string]bool
	hosts     map[string]bool
	pages     map[string]*template.Template
	catalogue i18n.Catalogues
	plans     map[string]planToken
	certs     kept[string, certInfo]
	certAddr  func(domain string) string // where a certificate is dialled (tests); nil: DOMAIN:443
	missing   kept[missingKey, []string]
	snapshots kept[string, []app.Snapshot] // each server's snapshots, as its backup service listed them
	clusters  map[string]serverState
	// base is the context of operations started here: Serve's, so they
	// end with the dashboard, and ops waits for them to write their end.
	base context.Context
	ops  sync.WaitGroup
}

// pageNames are the templates in web/, each rendered inside layout.html.
var pageNames = []string{"fleet", "operations", "login", "app", "plan", "operation", "logs", "server", "catalogue", "error"}

// New prepares a dashboard with a fresh one-time token.
func New(store app.Store, connect app.Connector, j *journal.Journal) (*Server, error) {
	s := &Server{Store: store, Connect: connect, Journal: j, sessions: map[string]bool{}, hosts: map[string]bool{},
		plans: map[string]planToken{}, clusters: map[string]serverState{}, base: context.Background(), catalogue: i18n.Default}
	var err error
	if s.token, err = randomHex(32); err != nil {
		return nil, err
	}
	s.pages = map[string]*template.Template{}
	funcs := template.FuncMap{"t": s.text, "when": when, "short": shortID, "join": strings.Join, "deref": deref,
		"args": func(lang string, op opView) map[string]any { return map[string]any{"Lang": lang, "Op": op} }}
	for _, page := range pageNames {
		t, err := template.New(page).Funcs(funcs).ParseFS(webFS, "web/layout.html", "web/"+page+".html")
		if err != nil {
			return nil, err
		}
		s.pages[page] = t
	}
	return s, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Languages are the catalogues' languages, sorted.
func (s *Server) Languages() []string { return s.catalogue.Languages() }

// text is the template function t: the key's text in lang, with {0}, {1}, …
// replaced by args.
func (s *Server) text(lang, key string, args ...any) string {
	return s.catalogue.Text(lang, key, args...)
}

// language is ?lang=, else the first Accept-Language with a catalogue.
func (s *Server) language(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); s.catalogue.Has(l) {
		return l
	}
	return s.catalogue.FromAcceptLanguage(r.Header.Get("Accept-Language"))
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Token is the one-time sign-in token; URL is the address to open.
func (s *Server) Token() string { return s.token }

// URL is the address that signs the browser in, once.
func (s *Server) URL(addr net.Addr) string {
	return "http://" + addr.String() + "/login?token=" + s.token
}

// Allow accepts requests whose Host names addr (as listened on) by its IP
// or as localhost; everything else is refused (DNS rebinding).
func (s *Server) Allow(addr net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return
	}
	port := strconv.Itoa(tcp.Port)
	s.hosts[net.JoinHostPort(tcp.IP.String(), port)] = true
	s.hosts["localhost:"+port] = true
}

func (s *Server) allowedHost(host string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hosts[strings.ToLower(host)]
}

// Handler is the dashboard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", s.login)
	mux.HandleFunc("POST /logout", s.signedIn(s.logout))
	mux.HandleFunc("GET /{$}", s.signedIn(s.fleet))
	mux.HandleFunc("GET /operations", s.signedIn(s.operations))
	mux.HandleFunc("GET /operations/events", s.signedIn(s.events))
	mux.HandleFunc("GET /operations/{id}", s.signedIn(s.operation))
	mux.HandleFunc("GET /servers/{server}", s.signedIn(s.serverPage))
	mux.HandleFunc("GET /apps/{domain}", s.signedIn(s.appPage))
	mux.HandleFunc("GET /apps/{domain}/logs", s.signedIn(s.logs))
	mux.HandleFunc("GET /apps/{domain}/logs/events", s.signedIn(s.logEvents))
	mux.HandleFunc("POST /apps/{domain}/{action}/plan", s.signedIn(s.plan))
	mux.HandleFunc("POST /apps/{domain}/{action}/run", s.signedIn(s.run))
	mux.HandleFunc("GET /catalogue", s.signedIn(s.cataloguePage))
	assets, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(assets)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", onlyAssets(files)))
	return s.secure(http.NewCrossOriginProtection().Handler(mux))
}

// onlyAssets serves the CSS and script, not the templates.
func onlyAssets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "style.css" && r.URL.Path != "app.js" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// secure refuses other hosts and sets the security headers on every answer.
func (s *Server) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !s.allowedHost(r.Host) {
			http.Error(w, "this dashboard answers only on the address abra printed", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// login turns the one-time token into a session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	s.mu.Lock()
	ok := !s.tokenUsed && token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.token)) == 1
	if ok {
		s.tokenUsed = true
	}
	s.mu.Unlock()
	if !ok {
		s.render(w, r, http.StatusUnauthorized, "login", "login", false, nil)
		return
	}
	id, err := randomHex(32)
	if err != nil {
		http.Error(w, "no randomness", http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	s.sessions[id] = true
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) session(r *http.Request) (string, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.Value, s.sessions[c.Value]
}

func (s *Server) signedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.session(r); !ok {
			s.render(w, r, http.StatusUnauthorized, "login", "login", false, nil)
			return
		}
		h(w, r)
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if id, ok := s.session(r); ok {
		s.mu.Lock()
		delete(s.sessions, id)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.render(w, r, http.StatusOK, "login", "login", false, nil)
}

// page is what every template gets.
type page struct {
	Lang, Page, Title string
	SignedIn          bool
	Data              any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name, title string, signedIn bool, data any) {
	s.renderTitled(w, r, code, name, s.text(s.language(r), title+".heading"), signedIn, data)
}

// renderTitled renders a page whose title is given (an app's domain).
func (s *Server) renderTitled(w http.ResponseWriter, r *http.Request, code int, name, title string, signedIn bool, data any) {
	lang := s.language(r)
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, name+".html", page{Lang: lang, Page: name, Title: title, SignedIn: signedIn, Data: data}); err != nil {
		http.Error(w, "template: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", lang)
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// fleetServer is one server's section of the fleet page.
type fleetServer struct {
	ID, Name string
	Apps     []fleetRow
}

// fleetRow is an app of the fleet page: Fleet's row, its certificate and
// the keys its env file lacks against the newest release.
type fleetRow struct {
	app.FleetApp
	Cert     certInfo
	Missing  []string
	Verified *update.Record // the last backup an upgrade verified by restoring it
	Backup   *app.Snapshot  // the newest backup
}

type fleetData struct {
	Servers     []fleetServer
	Unreachable string
	Broken      string
}

// fleet is every app with its server's view of it; ?format=json is
// 'abra app ls --status --json'.
func (s *Server) fleet(w http.ResponseWriter, r *http.Request) {
	apps, broken, statusErr, err := app.Fleet(r.Context(), s.Store, app.FleetOptions{Status: true, Connect: s.connect, Timeout: s.timeout()})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, app.ByServer(apps))
		return
	}
	domains := make([]string, len(apps))
	for i, a := range apps {
		domains[i] = a.Domain
	}
	var certs map[string]certInfo
	var records map[string][]update.Record
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		records, _ = s.serverRecords(r.Context())
	}()
	var snaps map[string]app.Snapshot
	wg.Add(1)
	go func() {
		defer wg.Done()
		snaps = s.lastBackups(r.Context(), slices.Sorted(maps.Keys(app.ByServer(apps))))
	}()
	certs = s.certificates(r.Context(), domains)
	wg.Wait()
	d := fleetData{}
	newest := map[string]string{} // recipe → newest release, read once per page
	byServer := app.ByServer(apps)
	for i, name := range slices.Sorted(maps.Keys(byServer)) {
		fs := fleetServer{ID: "s" + strconv.Itoa(i), Name: name}
		for _, fa := range byServer[name].Apps {
			row := fleetRow{FleetApp: fa, Cert: certs[fa.Domain], Verified: lastVerified(records[name], app.StackName(fa.Domain))}
			if sn, ok := snaps[app.StackName(fa.Domain)]; ok {
				row.Backup = &sn
			}
			// The env file Fleet listed, read again by its path (Store.Get would list every server's files per app).
			if a, err := (app.Ref{Domain: fa.Domain, Server: fa.Server, Path: fa.Path}).Load(); err == nil {
				n, ok := newest[a.Recipe()]
				if !ok {
					n = s.newestRelease(a)
					newest[a.Recipe()] = n
				}
				row.Missing = s.missingKeys(r.Context(), a, n)
			}
			fs.Apps = append(fs.Apps, row)
		}
		d.Servers = append(d.Servers, fs)
	}
	if statusErr != nil {
		var names []string
		for _, a := range apps {
			if a.Status == "unknown" && !slices.Contains(names, a.Server) {
				names = append(names, a.Server)
			}
		}
		d.Unreachable = strings.Join(names, ", ")
	}
	for i, b := range broken {
		if i > 0 {
			d.Broken += ", "
		}
		d.Broken += b.Path
	}
	s.render(w, r, http.StatusOK, "fleet", "fleet", true, d)
}

// opView is one operation on the operations page: journalled on this
// machine (Origin "journal"), or an update operation record of a server,
// labelled by its trigger (agent, webhook, kadabra, …).
type opView struct {
	ID      string    `json:"id"`
	Command string    `json:"command"`
	App     string    `json:"app"`
	Server  string    `json:"server"`
	Actor   string    `json:"actor"`
	Started time.Time `json:"started"`
	Running bool      `json:"running"`
	Step    string    `json:"step,omitempty"`
	Error   string    `json:"error,omitempty"`
	Origin  string    `json:"origin"`
	From    string    `json:"from,omitempty"`
	To      string    `json:"to,omitempty"`
	State   string    `json:"state,omitempty"` // a record's state (succeeded, rolled-back, …)
}

type opsData struct {
	Ops         []opView
	After       string
	Unreachable []string // servers whose records could not be read
}

// maxOps is how many operations the page lists.
const maxOps = 200

// collectOps folds journal events into operations, newest first.
func collectOps(events []journal.Event) []opView {
	byID := map[string]*opView{}
	var order []string
	for _, e := range events {
		o := byID[e.Op]
		if o == nil {
			o = &opView{ID: e.Op, Command: e.Command, App: e.App, Server: e.Server, Actor: e.Actor, Started: e.Time, Running: true, Origin: "journal"}
			byID[e.Op] = o
			order = append(order, e.Op)
		}
		switch e.Kind {
		case journal.Started:
			o.Step = e.Step
		case journal.End:
			o.Running, o.Step, o.Error, o.State = false, "", e.Error, e.Outcome
		}
	}
	out := make([]opView, 0, len(order))
	for i := len(order) - 1; i >= 0; i-- {
		out = append(out, *byID[order[i]])
	}
	return out
}

// operations lists this machine's journal and the servers' update records
// made by the update agent (trigger agent, webhook, kadabra), newest first.
func (s *Server) operations(w http.ResponseWriter, r *http.Request) {
	d := opsData{Ops: []opView{}}
	if s.Journal != nil {
		events, after, err := s.Journal.Read("", 0)
		if err != nil {
			s.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		d.After = after
		d.Ops = append(d.Ops, collectOps(events)...)
	}
	recs, unreachable := s.agentRecords(r.Context())
	d.Ops, d.Unreachable = append(d.Ops, recs...), unreachable
	slices.SortStableFunc(d.Ops, func(x, y opView) int { return y.Started.Compare(x.Started) })
	if len(d.Ops) > maxOps {
		d.Ops = d.Ops[:maxOps]
	}
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, d.Ops)
		return
	}
	s.render(w, r, http.StatusOK, "operations", "ops", true, d)
}

// agentRecords are the update records of every server with apps that the
// update agent made (not this machine's CLI or dashboard, journalled
// already).
func (s *Server) agentRecords(ctx context.Context) ([]opView, []string) {
	byServer, unreachable := s.serverRecords(ctx)
	var ops []opView
	for _, name := range slices.Sorted(maps.Keys(byServer)) {
		for _, rec := range byServer[name] {
			if rec.Trigger == "cli" || rec.Trigger == "fleet" || rec.Trigger == "dashboard" {
				continue
			}
			o := recordOp(rec)
			o.Server = name
			ops = append(ops, o)
		}
	}
	return ops, unreachable
}

// serverRecords reads the update operation records of every server with
// apps, concurrently within the page timeout (labels only: one list per
// server); unreachable names the servers that did not answer.
func (s *Server) serverRecords(ctx context.Context) (map[string][]update.Record, []string) {
	refs, err := s.Store.Refs()
	if err != nil {
		return nil, nil
	}
	var servers []string
	for _, ref := range refs {
		if !slices.Contains(servers, ref.Server) {
			servers = append(servers, ref.Server)
		}
	}
	slices.Sort(servers)
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	recs := make([][]update.Record, len(servers))
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, name := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.connect(ctx, name)
			if err == nil {
				recs[i], err = update.Records{Cluster: c}.List(ctx, "")
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	out := map[string][]update.Record{}
	var unreachable []string
	for i, name := range servers {
		if errs[i] != nil {
			unreachable = append(unreachable, name+": "+swarm.Describe(errs[i]))
			continue
		}
		out[name] = recs[i]
	}
	return out, unreachable
}

// events streams the journal as Server-Sent Events from after ?after= or
// the Last-Event-ID a reconnecting browser sends, until the client leaves.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if s.Journal == nil {
		http.Error(w, "no operations journal", http.StatusNotFound)
		return
	}
	after := cmp.Or(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after"))
	if err := journal.CheckID(after); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	err := s.Journal.Follow(r.Context(), after, 250*time.Millisecond, func(e journal.Event) error {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", e.ID, data); err != nil {
			return err
		}
		return rc.Flush()
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return
	}
}

// Serve serves the dashboard on ln until ctx ends; operations it started
// are interrupted then, and Serve returns when they have ended.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.ops.Wait()
	s.mu.Lock()
	s.base = ctx
	s.mu.Unlock()
	s.Allow(ln.Addr())
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
