package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// A test ACME CA: Debian's pebble (package "pebble", which ships both
// /usr/bin/pebble and /usr/bin/pebble-challtestsrv), with pebble-challtestsrv
// as its DNS server. Every name resolves (A) to one address, the app server's,
// where pebble's HTTP-01 validation connects on port 80; TXT records for DNS-01
// are set through challtestsrv's management API. Nothing reaches the internet.

const pebbleAptInstall = "apt-get install -y pebble (Debian's package ships pebble and pebble-challtestsrv)"

// The fixed ports, on the listen address given to startPebble.
const (
	pebbleACMEPort       = "14000" // ACME API (HTTPS, listener certificate below)
	pebbleManagementPort = "15000" // pebble's management API: /roots/0 … (HTTPS, same certificate)
	challDNSPort         = "8053"  // mock DNS (UDP and TCP)
	challManagementPort  = "8055"  // challtestsrv's management API (plain HTTP)
)

// pebbleListenerName is a DNS name (besides the listen IP) in pebble's listener
// certificate: an ACME client may verify the API under it (Traefik's
// caServerName).
const pebbleListenerName = "pebble.test"

// pebbleCA is a running pebble and its mock DNS.
type pebbleCA struct {
	IP           string // listen address of every server here
	DirectoryURL string // ACME directory: https://IP:14000/dir
	// ListenerCA is the PEM file of the throwaway CA that issued pebble's own
	// HTTPS certificate: what an ACME client must trust to talk to the API
	// (Traefik: certificatesResolvers.<r>.acme.caCertificates). The certificate
	// names IP and pebbleListenerName (caServerName).
	ListenerCA string
	DNSAddr    string // the mock DNS, IP:8053: pebble resolves every name through it

	logFile  string // pebble's output
	challLog string // challtestsrv's output
	client   *http.Client
	challURL string // http://IP:8055
	mgmtURL  string // https://IP:15000
}

// pebbleBinaries finds pebble and pebble-challtestsrv, failing the test (never
// skipping: the e2e tests run only when asked to) when they are missing.
func pebbleBinaries(t *testing.T) (pebble, chall string) {
	t.Helper()
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if p := "/usr/bin/" + name; func() bool { _, err := os.Stat(p); return err == nil }() {
			return p
		}
		t.Fatalf("%s is not installed: %s", name, pebbleAptInstall)
		return ""
	}
	return find("pebble"), find("pebble-challtestsrv")
}

// startPebble starts pebble-challtestsrv (DNS on listenIP:8053 answering every
// A query with dnsAnswer, no AAAA; management on listenIP:8055) and pebble
// (ACME on listenIP:14000, management on listenIP:15000) validating HTTP-01
// on port 80 and TLS-ALPN-01 on 443 of whatever the names resolve to. They are
// stopped when the test ends. pebble runs with no random sleeps, no rejected
// nonces and no authorization reuse, so every order is validated afresh.
func startPebble(t *testing.T, listenIP string, dnsAnswer string) *pebbleCA {
	t.Helper()
	pebbleBin, challBin := pebbleBinaries(t)
	if net.ParseIP(listenIP) == nil || net.ParseIP(dnsAnswer).To4() == nil {
		t.Fatalf("startPebble: listen address %q and DNS answer %q must be IP addresses (the answer IPv4)", listenIP, dnsAnswer)
	}
	for _, port := range []string{pebbleACMEPort, pebbleManagementPort, challDNSPort, challManagementPort} {
		if l, err := net.Listen("tcp", net.JoinHostPort(listenIP, port)); err != nil {
			t.Fatalf("startPebble: %s is not free for pebble: %v", net.JoinHostPort(listenIP, port), err)
		} else {
			l.Close()
		}
	}
	// Its processes are stopped (cleanups run last first) before this goes.
	dir := t.TempDir()

	ca := &pebbleCA{
		IP:           listenIP,
		DirectoryURL: "https://" + net.JoinHostPort(listenIP, pebbleACMEPort) + "/dir",
		ListenerCA:   filepath.Join(dir, "listener-ca.pem"),
		DNSAddr:      net.JoinHostPort(listenIP, challDNSPort),
		logFile:      filepath.Join(dir, "pebble.log"),
		challLog:     filepath.Join(dir, "challtestsrv.log"),
		challURL:     "http://" + net.JoinHostPort(listenIP, challManagementPort),
		mgmtURL:      "https://" + net.JoinHostPort(listenIP, pebbleManagementPort),
	}
	certFile, keyFile := filepath.Join(dir, "listener.pem"), filepath.Join(dir, "listener-key.pem")
	pool := writePebbleListenerCert(t, listenIP, ca.ListenerCA, certFile, keyFile)
	ca.client = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Proxy: nil},
	}

	config := map[string]any{"pebble": map[string]any{
		"listenAddress":                  net.JoinHostPort(listenIP, pebbleACMEPort),
		"managementListenAddress":        net.JoinHostPort(listenIP, pebbleManagementPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       80,
		"tlsPort":                        443,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	b, _ := json.MarshalIndent(config, "", "  ")
	configFile := filepath.Join(dir, "pebble-config.json")
	writeFile(t, configFile, string(b))

	chall := startPebbleProc(t, ca.challLog, nil, challBin,
		"-dns01", ca.DNSAddr,
		"-management", net.JoinHostPort(listenIP, challManagementPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "",
		"-defaultIPv4", dnsAnswer,
		"-defaultIPv6", "", // no AAAA: validation must not wander to ::1
	)
	waitPebbleUp(t, chall, ca.challLog, func() error {
		c, err := net.DialTimeout("tcp", ca.DNSAddr, time.Second)
		if err != nil {
			return err
		}
		c.Close()
		if c, err = net.DialTimeout("tcp", net.JoinHostPort(listenIP, challManagementPort), time.Second); err != nil {
			return err
		}
		return c.Close()
	})
	peb := startPebbleProc(t, ca.logFile, []string{
		"PEBBLE_VA_NOSLEEP=1",      // validate at once
		"PEBBLE_WFE_NONCEREJECT=0", // reject no good nonce
		"PEBBLE_AUTHZREUSE=0",      // every order validates its names afresh
	}, pebbleBin, "-config", configFile, "-dnsserver", ca.DNSAddr, "-strict=false")
	waitPebbleUp(t, peb, ca.logFile, func() error {
		if _, err := ca.get(ca.DirectoryURL); err != nil {
			return err
		}
		_, err := ca.get(ca.mgmtURL + "/roots/0")
		return err
	})
	return ca
}

// pebbleProc is a process started for the test, stopped by its cleanup.
type pebbleProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // its exit, valid after done
}

// startPebbleProc starts name with its output in logFile; it is killed and waited
// for when the test ends, and dies with the test binary (SIGKILL on the
// parent's death) should the test binary die first.
func startPebbleProc(t *testing.T, logFile string, env []string, name string, args ...string) *pebbleProc {
	t.Helper()
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	d := &pebbleProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		log.Close()
		close(d.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-d.done
	})
	return d
}

// waitPebbleUp polls ready until it succeeds, failing with the process's log if
// the process exits or 15 s pass.
func waitPebbleUp(t *testing.T, d *pebbleProc, logFile string, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited (%v) before it was ready:\n%s", filepath.Base(d.cmd.Path), d.err, readFile(t, logFile))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 15 s (%v):\n%s", filepath.Base(d.cmd.Path), err, readFile(t, logFile))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writePebbleListenerCert makes a throwaway CA and a certificate for ip (and
// pebbleListenerName) signed by it, writes the CA to caFile and the
// certificate and its key to certFile and keyFile, and returns a pool with the CA.
func writePebbleListenerCert(t *testing.T, ip, caFile, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "abra e2e pebble listener CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: pebbleListenerName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{pebbleListenerName},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}

// HTTPClient trusts pebble's listener certificate (for an ACME client).
func (ca *pebbleCA) HTTPClient() *http.Client { return ca.client }

func (ca *pebbleCA) get(url string) ([]byte, error) {
	resp, err := ca.client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// challtestsrv POSTs a JSON body to challtestsrv's management API.
func (ca *pebbleCA) challtestsrv(path string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	resp, err := ca.client.Post(ca.challURL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s%s %s: %s: %s", ca.challURL, path, b, resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

// RootPEM is the root that the certificates pebble issues chain to, as PEM.
// Pebble makes a new one at each start.
func (ca *pebbleCA) RootPEM(t testing.TB) string {
	t.Helper()
	b, err := ca.get(ca.mgmtURL + "/roots/0")
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	return string(b)
}

// RootPool is a pool with RootPEM.
func (ca *pebbleCA) RootPool(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(ca.RootPEM(t))) {
		t.Fatal("pebble's /roots/0 holds no PEM certificate")
	}
	return pool
}

// pebbleFQDN adds the root dot that challtestsrv's records are keyed by.
func pebbleFQDN(host string) string { return strings.TrimSuffix(host, ".") + "." }

// SetTXT adds value to the TXT records of host (e.g. "_acme-challenge.app.test")
// in the mock DNS, for DNS-01.
func (ca *pebbleCA) SetTXT(t testing.TB, host, value string) {
	t.Helper()
	if _, err := ca.challtestsrv("/set-txt", map[string]string{"host": pebbleFQDN(host), "value": value}); err != nil {
		t.Fatal(err)
	}
}

// ClearTXT removes every TXT record of host from the mock DNS.
func (ca *pebbleCA) ClearTXT(t testing.TB, host string) {
	t.Helper()
	if _, err := ca.challtestsrv("/clear-txt", map[string]string{"host": pebbleFQDN(host)}); err != nil {
		t.Fatal(err)
	}
}

// Resolver asks the mock DNS, as pebble does.
func (ca *pebbleCA) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, ca.DNSAddr)
	}}
}

// The lines pebble (2.4) logs once per new order and once per issued
// certificate, e.g.
//
//	Pebble 2026/12/06 06:25:20 Added order "zO1_KJY4…" to the db
//	Pebble 2026/12/06 06:25:21 Issued certificate serial 49daa09d65fca8eb for order zO1_KJY4…
const (
	pebbleOrderLog  = `Added order "`
	pebbleIssuedLog = "Issued certificate serial "
)

func (ca *pebbleCA) countLog(t testing.TB, marker string) int {
	t.Helper()
	b, err := os.ReadFile(ca.logFile)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, marker) {
			n++
		}
	}
	return n
}

// Orders is how many orders (for new certificates) pebble has accepted so far.
func (ca *pebbleCA) Orders(t testing.TB) int { t.Helper(); return ca.countLog(t, pebbleOrderLog) }

// Issued is how many certificates pebble has issued so far: a client that
// reuses a stored certificate leaves it unchanged.
func (ca *pebbleCA) Issued(t testing.TB) int { t.Helper(); return ca.countLog(t, pebbleIssuedLog) }

// Log is pebble's output so far, for failure messages.
func (ca *pebbleCA) Log() string {
	b, _ := os.ReadFile(ca.logFile)
	c, _ := os.ReadFile(ca.challLog)
	return fmt.Sprintf("pebble:\n%s\npebble-challtestsrv:\n%s", b, c)
}

// TestPebbleHarness proves the harness end to end with Go's own ACME client:
// an account, HTTP-01 orders for harness.test answered by a server of the test
// on 127.0.0.1:80 (where the mock DNS sends pebble), certificates chaining to
// pebble's root, the issued-certificate count, and TXT records for DNS-01.
func TestPebbleHarness(t *testing.T) {
	const ip, name = "127.0.0.1", "harness.test"
	challenge := startPebbleHTTP01Server(t, net.JoinHostPort(ip, "80"))
	ca := startPebble(t, ip, ip)
	if o, i := ca.Orders(t), ca.Issued(t); o != 0 || i != 0 {
		t.Fatalf("a fresh pebble counts %d orders, %d issued:\n%s", o, i, ca.Log())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	accountKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	client := &acme.Client{Key: accountKey, DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	if _, err := client.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatalf("register an ACME account: %v\n%s", err, ca.Log())
	}

	roots := ca.RootPool(t)
	validations := 0
	for n := 1; n <= 2; n++ {
		leaf := pebbleOrderHTTP01(ctx, t, ca, client, challenge, name)
		if _, err := leaf[0].Verify(x509.VerifyOptions{
			DNSName:       name,
			Roots:         roots,
			Intermediates: pebbleCertPool(leaf[1:]),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			t.Fatalf("certificate %d for %s does not verify against pebble's root: %v", n, name, err)
		}
		if got := leaf[0].DNSNames; len(got) != 1 || got[0] != name {
			t.Fatalf("certificate %d names %v, want [%s]", n, got, name)
		}
		if o, i := ca.Orders(t), ca.Issued(t); o != n || i != n {
			t.Fatalf("after %d certificates pebble counts %d orders, %d issued:\n%s", n, o, i, ca.Log())
		}
		// No authorization reuse: each order was validated on port 80 (pebble
		// may ask more than once per validation).
		got := challenge.hits()
		if got <= validations {
			t.Fatalf("order %d: pebble did not validate HTTP-01 on port 80 (%d requests before, %d after)", n, validations, got)
		}
		validations = got
	}

	// DNS-01: TXT records through the management API, as pebble sees them.
	txtHost := "_acme-challenge." + name
	ca.SetTXT(t, txtHost, "one")
	ca.SetTXT(t, txtHost, "two")
	if got, err := ca.Resolver().LookupTXT(ctx, txtHost); err != nil || strings.Join(slices.Sorted(slices.Values(got)), ",") != "one,two" {
		t.Fatalf("TXT %s = %q, %v; want one,two", txtHost, got, err)
	}
	ca.ClearTXT(t, txtHost)
	if got, err := ca.Resolver().LookupTXT(ctx, txtHost); err == nil && len(got) > 0 {
		t.Fatalf("TXT %s = %q after ClearTXT", txtHost, got)
	}
	if addrs, err := ca.Resolver().LookupHost(ctx, "anything.else.test"); err != nil || strings.Join(addrs, ",") != ip {
		t.Fatalf("the mock DNS answers %q, %v for any name; want %s only", addrs, err, ip)
	}
}

// pebbleOrderHTTP01 orders a certificate for name, answering its HTTP-01 challenges
// through srv, and returns the chain pebble issued.
func pebbleOrderHTTP01(ctx context.Context, t *testing.T, ca *pebbleCA, client *acme.Client, srv *pebbleHTTP01Server, name string) []*x509.Certificate {
	t.Helper()
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		t.Fatalf("order %s: %v\n%s", name, err, ca.Log())
	}
	for _, u := range order.AuthzURLs {
		z, err := client.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if z.Status == acme.StatusValid {
			continue
		}
		var chal *acme.Challenge
		for _, c := range z.Challenges {
			if c.Type == "http-01" {
				chal = c
			}
		}
		if chal == nil {
			t.Fatalf("pebble offers no http-01 challenge for %s", name)
		}
		body, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			t.Fatal(err)
		}
		srv.set(name, client.HTTP01ChallengePath(chal.Token), body)
		if _, err := client.Accept(ctx, chal); err != nil {
			t.Fatalf("accept the challenge: %v\n%s", err, ca.Log())
		}
		if _, err := client.WaitAuthorization(ctx, z.URI); err != nil {
			t.Fatalf("%s not validated: %v\n%s", name, err, ca.Log())
		}
	}
	if order, err = client.WaitOrder(ctx, order.URI); err != nil {
		t.Fatalf("order for %s not ready: %v\n%s", name, err, ca.Log())
	}
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, certKey)
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := client.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err != nil {
		t.Fatalf("finalize the order for %s: %v\n%s", name, err, ca.Log())
	}
	var chain []*x509.Certificate
	for _, d := range der {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) < 2 {
		t.Fatalf("pebble sent %d certificates, want the leaf and its intermediate", len(chain))
	}
	return chain
}

func pebbleCertPool(certs []*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

// pebbleHTTP01Server answers HTTP-01 challenges on port 80, as an app server's
// proxy would, and counts the validation requests it answered.
type pebbleHTTP01Server struct {
	mu       sync.Mutex
	host     string
	path     string
	body     string
	answered int
}

// startPebbleHTTP01Server listens on addr (port 80: pebble validates there), failing
// the test with who holds the port if it is taken.
func startPebbleHTTP01Server(t *testing.T, addr string) *pebbleHTTP01Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		holder, _ := exec.Command("ss", "-Hltnp", "sport = :80").CombinedOutput()
		t.Fatalf("the HTTP-01 check needs %s, where pebble validates (httpPort 80), and it is taken: %v\n%s", addr, err, holder)
	}
	s := &pebbleHTTP01Server{}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *pebbleHTTP01Server) set(host, path, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.host, s.path, s.body = host, path, body
}

func (s *pebbleHTTP01Server) hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answered
}

func (s *pebbleHTTP01Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if host != s.host || r.URL.Path != s.path {
		http.NotFound(w, r)
		return
	}
	s.answered++
	_, _ = io.WriteString(w, s.body)
}
