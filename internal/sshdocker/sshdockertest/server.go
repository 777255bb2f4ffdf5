// Package sshdockertest is an in-process SSH server for tests of
// sshdocker's callers: it has an ed25519 host key, accepts the keys it is
// told to for any user, and hands the Docker socket connections it is asked
// for (direct-streamlocal channels, or `docker system dial-stdio` sessions)
// to a handler.
package sshdockertest

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Server is a running test server.
type Server struct {
	Host    string
	Port    int
	HostKey ssh.PublicKey

	mu         sync.Mutex
	authorized []ssh.PublicKey
	// NoStreamLocal makes the server refuse direct-streamlocal channels, as
	// sshd with AllowStreamLocalForwarding no does.
	noStreamLocal bool
	handler       func(net.Conn)
	logins        int
	sockets       []string
	execs         []string
}

// Start starts a server on 127.0.0.1 that passes each Docker socket
// connection to handler (nil: the connection is closed at once).
func Start(t testing.TB, handler func(net.Conn)) *Server {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, HostKey: signer.PublicKey(), handler: handler}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, k := range s.authorized {
				if string(k.Marshal()) == string(key.Marshal()) {
					s.logins++
					return &ssh.Permissions{}, nil
				}
			}
			return nil, fmt.Errorf("key not authorized for %s", meta.User())
		},
	}
	cfg.AddHostKey(signer)
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

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// KnownHostsLine is the server's known_hosts line, as ssh-keyscan prints it.
func (s *Server) KnownHostsLine() string {
	return "[" + s.Host + "]:" + strconv.Itoa(s.Port) + " " + string(ssh.MarshalAuthorizedKey(s.HostKey))
}

// Authorize lets the key log in.
func (s *Server) Authorize(k ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorized = append(s.authorized, k)
}

// RefuseStreamLocal makes the server refuse direct-streamlocal channels.
func (s *Server) RefuseStreamLocal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noStreamLocal = true
}

// Logins counts the successful authentications.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Sockets lists the socket paths asked for with direct-streamlocal.
func (s *Server) Sockets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sockets...)
}

// Execs lists the commands run in sessions.
func (s *Server) Execs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.execs...)
}

func (s *Server) serve(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		switch nc.ChannelType() {
		case "direct-streamlocal@openssh.com":
			var msg struct {
				SocketPath string
				Reserved0  string
				Reserved1  uint32
			}
			s.mu.Lock()
			refuse := s.noStreamLocal
			s.mu.Unlock()
			if refuse {
				_ = nc.Reject(ssh.Prohibited, "stream local forwarding is disabled")
				continue
			}
			if err := ssh.Unmarshal(nc.ExtraData(), &msg); err != nil {
				_ = nc.Reject(ssh.ConnectionFailed, "bad request")
				continue
			}
			s.mu.Lock()
			s.sockets = append(s.sockets, msg.SocketPath)
			s.mu.Unlock()
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
			}
			go ssh.DiscardRequests(creqs)
			go s.handle(ch)
		case "session":
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
			}
			go s.session(ch, creqs)
		default:
			_ = nc.Reject(ssh.UnknownChannelType, "not here")
		}
	}
}

// handle gives the handler one end of a pipe whose other end is copied to
// and from the channel (a pipe has the deadlines net/http's server needs),
// and returns when both directions are done.
func (s *Server) handle(ch ssh.Channel) {
	if s.handler == nil {
		ch.Close()
		return
	}
	mine, theirs := net.Pipe()
	go s.handler(theirs)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(mine, ch) // until the client's EOF
		mine.Close()
		close(done)
	}()
	_, _ = io.Copy(ch, mine) // until the handler closes its end
	_ = ch.CloseWrite()
	mine.Close()
	<-done
}

func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var arg struct{ Value string }
		if ssh.Unmarshal(req.Payload, &arg) != nil {
			_ = req.Reply(false, nil)
			continue
		}
		_ = req.Reply(true, nil)
		s.mu.Lock()
		s.execs = append(s.execs, arg.Value)
		s.mu.Unlock()
		status := 0
		if arg.Value == "docker system dial-stdio" {
			s.handle(ch)
		} else {
			fmt.Fprintf(ch.Stderr(), "sh: %s: not found\n", arg.Value)
			status = 127
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
		ch.Close()
		return
	}
}

// HTTP serves each connection with h, as a Docker daemon's socket would.
func HTTP(t testing.TB, h http.Handler) func(net.Conn) {
	l := &connListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return func(c net.Conn) {
		select {
		case l.conns <- c:
		case <-l.closed:
			c.Close()
		}
	}
}

// connListener is a net.Listener that accepts the connections handed to it.
type connListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.UnixAddr{Name: "docker.sock", Net: "unix"} }
