package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// nodeIP is the second test server's address (scripts/testnode.sh), and
// bridgeIP this machine's address on its bridge.
const nodeIP, bridgeIP = "10.210.0.11", "10.210.0.1"

// webappCompose is a web app as Co-op Cloud recipes write them: on the proxy
// network, with traefik labels and the EXTRA_DOMAINS convention
// (Host(`a`, `b`), which Traefik v3 routes only with the v2 rule syntax).
const webappCompose = `version: "3.8"
services:
  app:
    image: abra-demo/web:0.1.0
    environment:
      - DEMO_MESSAGE=${DEMO_MESSAGE:-hello over https}
    networks:
      - proxy
    healthcheck:
      test: ["CMD", "/demo-web", "-healthcheck"]
      interval: 2s
      timeout: 2s
      retries: 5
    deploy:
      update_config:
        failure_action: rollback
      labels:
        - "coop-cloud.${STACK_NAME}.version=VERSION"
        - "traefik.enable=true"
        - "traefik.http.services.${STACK_NAME}.loadbalancer.server.port=8080"
        - "traefik.http.routers.${STACK_NAME}.rule=Host(` + "`${DOMAIN}`${EXTRA_DOMAINS}" + `)"
        - "traefik.http.routers.${STACK_NAME}.entrypoints=web-secure"
        - "traefik.http.routers.${STACK_NAME}.tls.certresolver=${LETS_ENCRYPT_ENV}"
networks:
  proxy:
    external: true
`

// webappRecipeRepo makes the "webapp" recipe with releases 0.1.0+1 and 0.2.0+1
// (the second says another message).
func webappRecipeRepo(t *testing.T) string {
	t.Helper()
	return twoReleaseRecipe(t, "webapp", "TYPE=webapp\nDOMAIN=webapp.example.com\n#EXTRA_DOMAINS=', `www.webapp.example.com`'\nLETS_ENCRYPT_ENV=production\n",
		webappCompose, "hello over https", "upgraded over https")
}

// recipeRepo makes a git repository of recipes/<name> tagged with each
// release under its release/ directory (the last one at HEAD).
func recipeRepo(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	copyDir(t, filepath.Join(repoRoot, "recipes", name), dir)
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", name)
	entries, err := os.ReadDir(filepath.Join(dir, "release"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("recipes/%s has no release notes naming its version: %v", name, err)
	}
	v := entries[len(entries)-1].Name()
	run(t, dir, "git", "tag", "-a", v, "-m", v)
	return dir
}

// tlsClient reaches names at the node (like curl --resolve) and trusts roots.
func tlsClient(roots *x509.CertPool, cfg *tls.Config) *http.Client {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.RootCAs = roots
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: cfg,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				return dialer.DialContext(ctx, network, net.JoinHostPort(nodeIP, port))
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// getWithin GETs url until it answers want (or the time is up) and returns
// the last response's status, body, headers and peer certificates.
func getWithin(t *testing.T, c *http.Client, url string, want int, within time.Duration) (int, string, http.Header, []*x509.Certificate) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := c.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var certs []*x509.Certificate
			if resp.TLS != nil {
				certs = resp.TLS.PeerCertificates
			}
			if resp.StatusCode == want || time.Now().After(deadline) {
				return resp.StatusCode, string(body), resp.Header, certs
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(time.Second)
	}
}

// handshake connects to the node's 443 with cfg and reports the error.
func handshake(cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", nodeIP+":443", cfg)
	if err == nil {
		conn.Close()
	}
	return err
}

// TestProxyHTTPS: abra deploys our traefik recipe on a fresh server and an
// app with EXTRA_DOMAINS behind it; pebble (a test ACME CA) issues its
// certificate over HTTP-01; the app is served over HTTPS at both names with
// the security headers and TLS options, through an upgrade, gone after
// undeploy, with the certificate reused after traefik is redeployed; and a
// certificate brought as secrets (a wildcard) is served.
func TestProxyHTTPS(t *testing.T) {
	traefikImage := strings.TrimSpace(lastLine(run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-traefik-image.sh"))))
	buildDemoImage(t, "0.1.0")
	ssh := startSSH(t)
	ssh.trust(t, ssh.hostPub)
	node := startTestNode(t, ssh)
	sock := "unix://" + filepath.Join(node, "docker.sock")
	loadImage(t, sock, traefikImage)
	loadImage(t, sock, "abra-demo/web:0.1.0")
	ca := startPebble(t, bridgeIP, nodeIP)

	e := newEnv(t)
	e.extra = []string{ssh.path, "DOCKER_CONFIG=" + t.TempDir()}
	e.mustAbra("recipe", "fetch", "traefik", "--url", recipeRepo(t, "traefik"))
	e.mustAbra("recipe", "fetch", "webapp", "--url", webappRecipeRepo(t))

	// server add sets up the swarm, the proxy network and the proxy.
	const proxy = "traefik.proxy.test"
	e.mustAbra("server", "add", "abra-node1", "--init", "--traefik", "--traefik-domain", proxy, "--traefik-email", "certs@proxy.test", "-n")
	proxyEnv := filepath.Join(e.abraDir, "servers", "abra-node1", proxy+".env")
	if env := readFile(t, proxyEnv); !regexp.MustCompile(`(?m)^LETS_ENCRYPT_EMAIL=certs@proxy.test$`).MatchString(env) {
		t.Fatalf("server add --traefik did not set the e-mail:\n%s", env)
	}
	if got := docker(t, "-H", sock, "service", "ls", "--format", "{{.Name}} {{.Replicas}}"); got != "traefik_proxy_test_app 1/1" {
		t.Fatalf("services on the node after server add --traefik: %q", got)
	}
	setEnv := func(path string, kv ...string) {
		t.Helper()
		env := readFile(t, path)
		for i := 0; i < len(kv); i += 2 {
			re := regexp.MustCompile(`(?m)^#?\s*` + kv[i] + `=.*$`)
			line := kv[i] + "=" + kv[i+1]
			if re.MatchString(env) {
				env = re.ReplaceAllLiteralString(env, line)
			} else {
				env += line + "\n"
			}
		}
		writeFile(t, path, env)
	}
	// Point the production resolver at pebble, whose certificate the secret acme_ca holds.
	setEnv(proxyEnv, "COMPOSE_FILE", `"compose.yml:compose.host.yml:compose.acme-ca.yml"`,
		"ACME_CA_SERVER", ca.DirectoryURL, "ACME_CA_CERT_ENABLED", "1", "SECRET_ACME_CA_VERSION", "v1", "LOG_LEVEL", "INFO")
	e.mustAbra("app", "secret", "insert", proxy, "acme_ca", "v1", ca.ListenerCA, "-f")
	e.mustAbra("app", "deploy", proxy, "-D", "-n", "--force")

	const domain, www = "app.proxy.test", "www.app.proxy.test"
	e.mustAbra("app", "new", "webapp", "--server", "abra-node1", "--domain", domain, "-n")
	appEnv := filepath.Join(e.abraDir, "servers", "abra-node1", domain+".env")
	setEnv(appEnv, "EXTRA_DOMAINS", "', `"+www+"`'")

	// The domain check before a deploy: the domain must resolve to the
	// address ssh really connects to (abra-node1's HostName). abra runs
	// with its own /etc/hosts here, as DNS would answer.
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeFile(t, hosts, readFile(t, "/etc/hosts")+"\n"+nodeIP+" "+domain+" "+www+"\n10.9.9.9 elsewhere.proxy.test\n")
	dns := *e
	dns.wrap = []string{"unshare", "--mount", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, hosts}
	e.mustAbra("app", "new", "webapp", "--server", "abra-node1", "--domain", "elsewhere.proxy.test", "-n")
	if r := dns.abra("app", "deploy", "elsewhere.proxy.test", "0.1.0+1", "-n"); r.code != 1 ||
		!strings.Contains(r.stderr, "resolves to 10.9.9.9") || !strings.Contains(r.stderr, nodeIP) {
		t.Fatalf("a domain that resolves elsewhere must be refused naming both addresses: %s", r)
	}
	if got := docker(t, "-H", sock, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace=elsewhere_proxy_test"); got != "" {
		t.Fatalf("a refused deploy created services: %s", got)
	}
	dns.mustAbra("app", "deploy", domain, "0.1.0+1", "-n")

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(ca.RootPEM(t))) {
		t.Fatal("pebble's root is not PEM")
	}
	c := tlsClient(roots, nil)

	// HTTP redirects to HTTPS.
	if code, _, h, _ := getWithin(t, c, "http://"+domain+"/", http.StatusMovedPermanently, 60*time.Second); code/100 != 3 || h.Get("Location") != "https://"+domain+"/" {
		t.Fatalf("http://%s/ → %d Location %q, want a redirect to https", domain, code, h.Get("Location"))
	}
	// Both names answer with a certificate from pebble naming exactly them.
	var issued *x509.Certificate
	for _, name := range []string{domain, www} {
		code, body, h, certs := getWithin(t, c, "https://"+name+"/", http.StatusOK, 90*time.Second)
		if code != http.StatusOK || !strings.Contains(body, "hello over https") {
			t.Fatalf("https://%s/ → %d %q", name, code, body)
		}
		if got := certs[0].DNSNames; !slices.Equal(sorted(got), sorted([]string{domain, www})) {
			t.Errorf("https://%s/: certificate names %v, want exactly %s and %s", name, got, domain, www)
		}
		if sts := h.Get("Strict-Transport-Security"); !strings.Contains(sts, "max-age=31536000") || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("https://%s/: security headers HSTS %q, X-Frame-Options %q, X-Content-Type-Options %q", name, sts, h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"))
		}
		issued = certs[0]
	}
	orders := ca.Issued(t)
	if orders < 1 {
		t.Fatalf("pebble issued %d certificates, yet the app answered with one", orders)
	}

	// TLS 1.1 and an unknown name are refused; TLS 1.2 with the name works.
	if err := handshake(&tls.Config{ServerName: domain, RootCAs: roots, MaxVersion: tls.VersionTLS12}); err != nil {
		t.Fatalf("a TLS 1.2 handshake for %s: %v", domain, err)
	}
	if err := handshake(&tls.Config{ServerName: domain, RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Errorf("a TLS 1.1 handshake succeeded")
	}
	if err := handshake(&tls.Config{ServerName: "unknown.proxy.test", InsecureSkipVerify: true}); err == nil {
		t.Errorf("a handshake for an unknown name succeeded (sniStrict)")
	}

	// After an upgrade the app is still routed.
	e.mustAbra("app", "upgrade", domain, "0.2.0+1", "-D", "-n", "--no-backup")
	if code, body, _, _ := getWithin(t, c, "https://"+www+"/", http.StatusOK, 60*time.Second); code != 200 || !strings.Contains(body, "upgraded over https") {
		t.Fatalf("after the upgrade https://%s/ → %d %q", www, code, body)
	}

	// Redeploying traefik reuses the stored certificate: no new order.
	e.mustAbra("app", "undeploy", proxy, "-n")
	e.mustAbra("app", "deploy", proxy, "-D", "-n")
	if code, _, _, certs := getWithin(t, c, "https://"+domain+"/", http.StatusOK, 90*time.Second); code != 200 || !certs[0].Equal(issued) {
		t.Fatalf("after redeploying traefik: %d, same certificate %v", code, code == 200 && certs[0].Equal(issued))
	}
	if got := ca.Issued(t); got != orders {
		t.Errorf("pebble issued %d certificates after traefik was redeployed, %d before: the stored one was not reused", got, orders)
	}

	// Undeployed, the app is 404.
	e.mustAbra("app", "undeploy", domain, "-n")
	if code, _, _, _ := getWithin(t, tlsClient(roots, &tls.Config{InsecureSkipVerify: true}), "https://"+domain+"/", http.StatusNotFound, 60*time.Second); code != http.StatusNotFound {
		t.Fatalf("after undeploy https://%s/ → %d, want 404", domain, code)
	}

	// Wildcard mode: a certificate brought as the secrets ssl_cert/ssl_key.
	wildRoots, certPEM, keyPEM := wildcardCert(t, "*.wild.proxy.test")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cert.pem"), certPEM)
	writeFile(t, filepath.Join(dir, "key.pem"), keyPEM)
	setEnv(proxyEnv, "COMPOSE_FILE", `"compose.yml:compose.host.yml:compose.acme-ca.yml:compose.wildcard.yml"`,
		"WILDCARDS_ENABLED", "1", "SECRET_SSL_CERT_VERSION", "v1", "SECRET_SSL_KEY_VERSION", "v1")
	e.mustAbra("app", "secret", "insert", proxy, "ssl_cert", "v1", filepath.Join(dir, "cert.pem"), "-f")
	e.mustAbra("app", "secret", "insert", proxy, "ssl_key", "v1", filepath.Join(dir, "key.pem"), "-f")
	e.mustAbra("app", "deploy", proxy, "-D", "-n", "--force")
	const wild = "blog.wild.proxy.test"
	e.mustAbra("app", "new", "webapp", "--server", "abra-node1", "--domain", wild, "-n")
	e.mustAbra("app", "deploy", wild, "0.1.0+1", "-D", "-n")
	code, _, _, certs := getWithin(t, tlsClient(wildRoots, nil), "https://"+wild+"/", http.StatusOK, 60*time.Second)
	if code != 200 || !slices.Contains(certs[0].DNSNames, "*.wild.proxy.test") {
		t.Fatalf("https://%s/ with the wildcard: %d, names %v", wild, code, certs[0].DNSNames)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func lastLine(s string) string { return s[strings.LastIndex(s, "\n")+1:] }

// wildcardCert makes a CA and a certificate for name signed by it; it
// returns a pool with the CA, and the certificate and key as PEM.
func wildcardCert(t *testing.T, name string) (*x509.CertPool, string, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "abra test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}
