package sshsftp

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// testServer is an in-process ssh server on 127.0.0.1:0. It accepts the
// authorized keys for any user, and in a session:
//   - subsystem "sftp" echoes stdin to stdout until EOF, then exits 0;
//   - exec "whoami" prints the login name;
//   - exec "exit N MESSAGE…" writes MESSAGE to stderr and exits N;
//   - exec "signal NAME" ends with exit-signal NAME.
type testServer struct {
	port int

	mu         sync.Mutex
	authorized []ssh.PublicKey
}

func startServer(t *testing.T, hostKeys ...ssh.Signer) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{port: l.Addr().(*net.TCPAddr).Port}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, k := range s.authorized {
				if string(k.Marshal()) == string(key.Marshal()) {
					return &ssh.Permissions{}, nil
				}
			}
			return nil, fmt.Errorf("key not authorized for %s", meta.User())
		},
	}
	for _, k := range hostKeys {
		cfg.AddHostKey(k)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c, cfg)
			}()
		}
	}()
	return s
}

func (s *testServer) authorize(k ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorized = append(s.authorized, k)
}

func (s *testServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go session(sc.User(), ch, creqs)
	}
}

func session(user string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	exit := func(status int) {
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
	}
	for req := range reqs {
		var arg struct{ Value string }
		switch req.Type {
		case "subsystem":
			if ssh.Unmarshal(req.Payload, &arg) != nil || arg.Value != "sftp" {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			_, _ = io.Copy(ch, ch) // until the client's EOF
			_ = ch.CloseWrite()
			exit(0)
			return
		case "exec":
			if ssh.Unmarshal(req.Payload, &arg) != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			f := strings.Fields(arg.Value)
			switch {
			case len(f) == 1 && f[0] == "whoami":
				fmt.Fprintln(ch, user)
				exit(0)
			case len(f) >= 2 && f[0] == "exit":
				n, _ := strconv.Atoi(f[1])
				fmt.Fprintln(ch.Stderr(), strings.Join(f[2:], " "))
				exit(n)
			case len(f) == 2 && f[0] == "signal":
				_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
					Signal     string
					CoreDumped bool
					Error      string
					Lang       string
				}{f[1], false, "", ""}))
			default:
				fmt.Fprintf(ch.Stderr(), "unknown command %q\n", arg.Value)
				exit(127)
			}
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// newEd25519 returns a key pair's signer and its private key.
func newEd25519(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

func newRSA(t *testing.T) ssh.Signer {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeKey writes priv in OpenSSH's format, encrypted when passphrase is set.
func writeKey(t *testing.T, path string, priv ed25519.PrivateKey, passphrase string) {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(pem.EncodeToMemory(block)))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fixture is a server, a client home with ~/.ssh/id_ed25519 authorized on
// it, and an Env that reads nothing outside the home.
type fixture struct {
	t       *testing.T
	srv     *testServer
	hostKey ssh.Signer
	home    string
	env     Env
	port    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	hostKey, _ := newEd25519(t)
	f := &fixture{t: t, hostKey: hostKey, srv: startServer(t, hostKey), home: t.TempDir()}
	f.port = strconv.Itoa(f.srv.port)
	f.env = Env{Home: f.home, User: "tester", ConfigFiles: []string{filepath.Join(f.home, ".ssh", "config")}}
	client, priv := newEd25519(t)
	writeKey(t, filepath.Join(f.home, ".ssh", "id_ed25519"), priv, "")
	f.srv.authorize(client.PublicKey())
	return f
}

func (f *fixture) path(name string) string { return filepath.Join(f.home, ".ssh", name) }

// knowHost writes ~/.ssh/known_hosts with the server's key as [127.0.0.1]:PORT.
func (f *fixture) knowHost() {
	writeFile(f.t, f.path("known_hosts"), knownhosts.Line([]string{"127.0.0.1:" + f.port}, f.hostKey.PublicKey())+"\n")
}

// run runs the client with stdin and returns its exit status, stdout and
// stderr.
func (f *fixture) run(stdin string, args ...string) (int, string, string) {
	f.t.Helper()
	var out, errb strings.Builder
	code := Run(f.env, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// ok runs the client and fails the test unless it exits 0.
func (f *fixture) ok(stdin string, args ...string) string {
	f.t.Helper()
	code, out, errs := f.run(stdin, args...)
	if code != 0 {
		f.t.Fatalf("ssh %s: exit %d, stderr:\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// fails runs the client, wants exit 255 and returns stderr.
func (f *fixture) fails(args ...string) string {
	f.t.Helper()
	code, _, errs := f.run("", args...)
	if code != 255 {
		f.t.Fatalf("ssh %s: exit %d, want 255; stderr:\n%s", strings.Join(args, " "), code, errs)
	}
	return errs
}
