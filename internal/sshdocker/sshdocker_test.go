package sshdocker_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"coopcloud.tech/abra/internal/sshdocker"
	"coopcloud.tech/abra/internal/sshdocker/sshdockertest"
)

func newKey(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "ci")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

// echo answers each line on the "docker socket" with "docker: <line>".
func echo(c net.Conn) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if _, err := io.WriteString(c, "docker: "+sc.Text()+"\n"); err != nil {
			return
		}
	}
}

func target(s *sshdockertest.Server) sshdocker.Target {
	return sshdocker.Target{User: "root", Host: s.Host, Port: s.Port}
}

func roundTrip(t *testing.T, c *sshdocker.Client) {
	t.Helper()
	conn, err := c.DialDocker(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "docker: ping\n" {
		t.Fatalf("through the docker socket: %q, %v", line, err)
	}
}

func TestDialChecksTheHostKeyBeforeAuthenticating(t *testing.T) {
	srv := sshdockertest.Start(t, echo)
	signer, _ := newKey(t)
	srv.Authorize(signer.PublicKey())
	other, _ := newKey(t)
	fp := ssh.FingerprintSHA256(srv.HostKey)
	bare := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey)))
	tests := []struct {
		name    string
		known   string
		fps     []string
		ok      bool
		changed bool
	}{
		{name: "known_hosts line", known: srv.KnownHostsLine(), ok: true},
		{name: "ssh-keyscan output with comments", known: "# " + srv.Addr() + " SSH-2.0-OpenSSH\n" + srv.KnownHostsLine(), ok: true},
		{name: "bare public key", known: bare, ok: true},
		{name: "fingerprint", fps: []string{fp}, ok: true},
		{name: "fingerprint as ssh-keygen -l prints it", fps: []string{"256 " + fp + " root@host (ED25519)"}, ok: true},
		{name: "another host's line only", known: "other.example.org " + bare, ok: false},
		{name: "changed key in known_hosts", known: "[" + srv.Host + "]:" + strconv.Itoa(srv.Port) + " " + string(ssh.MarshalAuthorizedKey(other.PublicKey())), changed: true},
		{name: "wrong bare key", known: string(ssh.MarshalAuthorizedKey(other.PublicKey())), changed: true},
		{name: "wrong fingerprint", fps: []string{ssh.FingerprintSHA256(other.PublicKey())}, changed: true},
		{name: "revoked", known: srv.KnownHostsLine() + "@revoked * " + bare, changed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hk, err := sshdocker.NewHostKeys(tt.known, tt.fps...)
			if err != nil {
				t.Fatal(err)
			}
			before := srv.Logins()
			d := &sshdocker.Dialer{Signer: signer, HostKeys: hk, Timeout: 5 * time.Second}
			c, err := d.Dial(context.Background(), target(srv))
			if tt.ok {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer c.Close()
				roundTrip(t, c)
				return
			}
			var he *sshdocker.HostKeyError
			if !errors.As(err, &he) || !errors.Is(err, sshdocker.ErrHostKey) {
				t.Fatalf("err = %v, want a host key refusal", err)
			}
			if he.Changed != tt.changed || !strings.Contains(err.Error(), fp) {
				t.Fatalf("err = %v (changed %v), want changed=%v naming the offered key %s", err, he.Changed, tt.changed, fp)
			}
			if srv.Logins() != before {
				t.Fatal("the key was offered to a server whose host key was refused")
			}
		})
	}
}

func TestNewHostKeysRefusesNothingAndGarbage(t *testing.T) {
	if _, err := sshdocker.NewHostKeys("", ""); !errors.Is(err, sshdocker.ErrNoHostKey) {
		t.Fatalf("nothing to trust: err = %v, want ErrNoHostKey", err)
	}
	if _, err := sshdocker.NewHostKeys("# only a comment\n\n"); !errors.Is(err, sshdocker.ErrNoHostKey) {
		t.Fatalf("only comments: err = %v, want ErrNoHostKey", err)
	}
	for _, bad := range []string{"example.org not-a-key", "example.org ssh-ed25519 !!!"} {
		if _, err := sshdocker.NewHostKeys(bad); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err = %v, want one naming line 1", bad, err)
		}
	}
	for _, bad := range []string{"SHA256:short", "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48", "nonsense"} {
		if _, err := sshdocker.NewHostKeys("", bad); err == nil || !strings.Contains(err.Error(), "fingerprint") {
			t.Errorf("%q: err = %v, want a fingerprint error", bad, err)
		}
	}
}

func TestAuthRefusedIsTyped(t *testing.T) {
	srv := sshdockertest.Start(t, echo)
	signer, _ := newKey(t)
	hk, err := sshdocker.NewHostKeys(srv.KnownHostsLine())
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&sshdocker.Dialer{Signer: signer, HostKeys: hk}).Dial(context.Background(), target(srv))
	var ae *sshdocker.AuthError
	if !errors.As(err, &ae) || !errors.Is(err, sshdocker.ErrAuth) || !strings.Contains(err.Error(), ssh.FingerprintSHA256(signer.PublicKey())) {
		t.Fatalf("err = %v, want an AuthError naming the key's fingerprint", err)
	}
}

// connect logs in to srv with a new authorised key.
func connect(t *testing.T, srv *sshdockertest.Server) *sshdocker.Client {
	t.Helper()
	signer, _ := newKey(t)
	srv.Authorize(signer.PublicKey())
	hk, err := sshdocker.NewHostKeys(srv.KnownHostsLine())
	if err != nil {
		t.Fatal(err)
	}
	c, err := (&sshdocker.Dialer{Signer: signer, HostKeys: hk}).Dial(context.Background(), target(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDialStdioWhenStreamLocalIsRefused(t *testing.T) {
	srv := sshdockertest.Start(t, echo)
	srv.RefuseStreamLocal()
	c := connect(t, srv)
	roundTrip(t, c)
	roundTrip(t, c)
	if got := srv.Execs(); !slices.Equal(got, []string{"docker system dial-stdio", "docker system dial-stdio"}) {
		t.Fatalf("execs = %v, want dial-stdio twice", got)
	}
}

func TestStreamLocalReachesTheDockerSocket(t *testing.T) {
	srv := sshdockertest.Start(t, echo)
	roundTrip(t, connect(t, srv))
	if got := srv.Sockets(); !slices.Equal(got, []string{sshdocker.DefaultSocket}) || len(srv.Execs()) != 0 {
		t.Fatalf("sockets %v, execs %v: want one streamlocal channel to %s", got, srv.Execs(), sshdocker.DefaultSocket)
	}
}

func TestParsePrivateKeyAcceptsWhatSecretStoresDoToKeys(t *testing.T) {
	signer, pemKey := newKey(t)
	want := ssh.FingerprintSHA256(signer.PublicKey())
	forms := map[string]string{
		"as written":       string(pemKey),
		"CRLF":             strings.ReplaceAll(string(pemKey), "\n", "\r\n"),
		"literal \\n":      strings.ReplaceAll(strings.TrimSpace(string(pemKey)), "\n", `\n`),
		"quoted, no final": `"` + strings.TrimSpace(string(pemKey)) + `"`,
		"base64":           base64.StdEncoding.EncodeToString(pemKey),
	}
	for name, form := range forms {
		s, err := sshdocker.ParsePrivateKey([]byte(form))
		if err != nil || ssh.FingerprintSHA256(s.PublicKey()) != want {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := sshdocker.ParsePrivateKey([]byte("  \n")); !errors.Is(err, sshdocker.ErrNoKey) {
		t.Errorf("empty: err = %v, want ErrNoKey", err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sshdocker.ParsePrivateKey(pem.EncodeToMemory(block)); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("passphrase-protected key: err = %v", err)
	}
	garbage := "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LXZhbHVlLW5vdC1hLWtleQ==\n-----END OPENSSH PRIVATE KEY-----\n"
	if _, err := sshdocker.ParsePrivateKey([]byte(garbage)); err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("garbage: err = %v, want an error that does not quote the input", err)
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, want, name string
	}{
		{"example.org", "root@example.org:22", "example.org"},
		{"deploy@example.org", "deploy@example.org:22", "deploy@example.org"},
		{"example.org:2222", "root@example.org:2222", "example.org:2222"},
		{"ssh://deploy@10.0.0.1:2222", "deploy@10.0.0.1:2222", "deploy@10.0.0.1:2222"},
		{"ssh://example.org", "root@example.org:22", "example.org"},
		{"[2001:db8::1]:22", "root@[2001:db8::1]:22", "2001:db8::1"},
	}
	for _, tt := range tests {
		got, err := sshdocker.ParseTarget(tt.in)
		if err != nil || got.String() != tt.want || got.Name() != tt.name {
			t.Errorf("ParseTarget(%q) = %v (name %q), %v; want %s (name %s)", tt.in, got, got.Name(), err, tt.want, tt.name)
		}
	}
	for _, bad := range []string{"", "-oProxyCommand=x", "ssh://u:pw@h", "ssh://h/path", "h:99999", "h:port", "bad user@h", "-x@h"} {
		if _, err := sshdocker.ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}
