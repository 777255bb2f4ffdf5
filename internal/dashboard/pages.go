package dashboard

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/catalogue"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/server"
)

// serverView is a server's page: whether it answers, and its apps.
type serverView struct {
	Status server.Status  `json:"status"` // as 'abra server ls --status --json'
	Nodes  []nodeView     `json:"nodes"`
	Apps   []app.FleetApp `json:"apps"`
}

// nodeView is a node of the server's swarm.
type nodeView struct {
	Hostname     string `json:"hostname"`
	Role         string `json:"role"`
	Leader       bool   `json:"leader"`
	Availability string `json:"availability"`
	State        string `json:"state"`
	Addr         string `json:"addr"`
	Usable       bool   `json:"usable"`
}

// serverPage shows one server: reachable (Docker, role, nodes) or
// "unreachable: reason" within the page timeout, and its apps' status.
func (s *Server) serverPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("server")
	if err := s.Store.Servers().Check(name); err != nil {
		s.fail(w, r, http.StatusNotFound, err)
		return
	}
	var v serverView
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.Status = server.Statuses(r.Context(), []string{name}, s.connect, s.timeout())[0]
	}()
	apps, _, _, err := app.Fleet(r.Context(), s.Store, app.FleetOptions{Server: name, Status: true, Connect: s.connect, Timeout: s.timeout()})
	wg.Wait()
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	v.Apps, v.Nodes = apps, []nodeView{}
	if v.Status.Reachable && v.Status.Role == "manager" {
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout())
		if c, err := s.connect(ctx, name); err == nil {
			nodes, _ := c.Nodes(ctx)
			for _, n := range nodes {
				v.Nodes = append(v.Nodes, nodeView{Hostname: n.Hostname, Role: n.Role, Leader: n.Leader, Availability: n.Availability, State: n.State, Addr: n.Addr, Usable: n.Usable()})
			}
		}
		cancel()
	}
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, v)
		return
	}
	s.renderTitled(w, r, http.StatusOK, "server", s.text(s.language(r), "fleet.server", name), true, v)
}

// catalogueView is the catalogue page: the local recipes.json, no network.
type catalogueView struct {
	Recipes []catalogue.RecipeMeta
	Error   string
	Hint    string
}

// cataloguePage lists the local copy of the catalogue ($ABRA_DIR/catalogue,
// as 'abra recipe ls --offline'); ?format=json is 'abra recipe ls --json'.
func (s *Server) cataloguePage(w http.ResponseWriter, r *http.Request) {
	local := catalogue.Local{Dir: filepath.Join(s.Store.Root, "catalogue")}
	c, err := local.Read()
	if r.URL.Query().Get("format") == "json" {
		if err != nil {
			s.fail(w, r, http.StatusNotFound, err)
			return
		}
		b, err := c.Encode()
		if err != nil {
			s.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	v := catalogueView{}
	if err != nil {
		v.Error, v.Hint = err.Error(), hint.Of(err)
	}
	for _, name := range c.Names() {
		m := c[name]
		if m.Name == "" {
			m.Name = name
		}
		v.Recipes = append(v.Recipes, m)
	}
	s.render(w, r, http.StatusOK, "catalogue", "catalogue", true, v)
}

// certInfo is what a TLS dial to an app's domain said about its certificate.
type certInfo struct {
	Expires time.Time
	Days    int    // whole days left
	State   string // ok, expiring (< 14 days), expired, unknown (no answer)
	Reason  string // why unknown
}

// certWarnDays is when a certificate counts as about to expire.
const certWarnDays = 14

// certificates dials DOMAIN:443 of every domain at once (bounded by
// CertTimeout, answers kept CertTTL) and reads the certificate's expiry.
// The certificate is read, not trusted: a self-signed or test CA's expiry
// counts as well; nothing but the handshake is sent.
func (s *Server) certificates(ctx context.Context, domains []string) map[string]certInfo {
	out := map[string]certInfo{}
	if s.NoCerts {
		return out
	}
	ttl, timeout := s.CertTTL, s.CertTimeout
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	now := s.now()
	for _, d := range domains {
		if ci, ok := s.certs.get(d, ttl, now); ok {
			out[d] = ci
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := net.JoinHostPort(d, "443")
			if s.certAddr != nil {
				addr = s.certAddr(d)
			}
			ci := dialCert(ctx, d, addr, timeout, now)
			mu.Lock()
			out[d] = ci
			mu.Unlock()
			s.certs.put(d, ci, now)
		}()
	}
	wg.Wait()
	return out
}

func dialCert(ctx context.Context, domain, addr string, timeout time.Duration, now time.Time) certInfo {
	ci := certInfo{State: "unknown"}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: &tls.Config{ServerName: domain, InsecureSkipVerify: true}} //nolint:gosec // the expiry is read, nothing is trusted or sent
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		ci.Reason = err.Error()
		return ci
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		ci.Reason = "no certificate"
		return ci
	}
	ci.Expires = certs[0].NotAfter
	ci.Days = int(ci.Expires.Sub(now).Hours() / 24)
	switch {
	case now.After(ci.Expires):
		ci.State = "expired"
	case ci.Days < certWarnDays:
		ci.State = "expiring"
	default:
		ci.State = "ok"
	}
	return ci
}

// missingCache keeps 'abra app check' answers against the newest release
// per env file and release (an export of the recipe per app is not free).
type missingKey struct{ path, version string }

// missingKeys are the keys of newest's .env.sample (the recipe's newest
// release) the app's env file lacks (nil when unknown), from the local
// recipe clone.
func (s *Server) missingKeys(ctx context.Context, a *app.App, newest string) []string {
	if newest == "" {
		return nil
	}
	k := missingKey{a.Path + "\x00" + string(a.Env.Bytes()), newest}
	if m, ok := s.missing.get(k, 0, s.now()); ok {
		return m
	}
	m, err := s.Store.MissingKeys(ctx, a, newest, false)
	if err != nil {
		return nil
	}
	s.missing.put(k, m, s.now())
	return m
}
