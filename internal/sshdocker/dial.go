package sshdocker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultSocket is where Docker listens on the server.
const DefaultSocket = "/var/run/docker.sock"

// ErrAuth is matched (errors.Is) by an *AuthError.
var ErrAuth = errors.New("authentication refused")

// AuthError is a server that did not accept the key.
type AuthError struct {
	Target Target
	Key    string // the key's type and SHA256 fingerprint: what to look for in authorized_keys
	Err    error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s: permission denied (publickey): the server did not accept the key %s", e.Target, e.Key)
}

// Is makes errors.Is(err, ErrAuth) true.
func (e *AuthError) Is(target error) bool { return target == ErrAuth }

// Unwrap returns x/crypto's error.
func (e *AuthError) Unwrap() error { return e.Err }

// Dialer makes SSH connections with one key and the host keys it trusts.
type Dialer struct {
	Signer   ssh.Signer
	HostKeys *HostKeys
	// Timeout bounds the TCP connect and the SSH handshake (default 20s).
	Timeout time.Duration
	// Socket is Docker's socket on the server (default DefaultSocket).
	Socket string
	// KeepAlive is the interval of keepalive requests on an idle connection
	// (default 30s), so that NAT between a runner and the server does not
	// drop a connection during a long convergence wait.
	KeepAlive time.Duration
}

// Client is one SSH connection to a server, carrying any number of
// connections to its Docker socket.
type Client struct {
	target Target
	socket string
	ssh    *ssh.Client
	stdio  atomic.Bool // the server refuses streamlocal: use docker system dial-stdio
	done   chan struct{}
	once   sync.Once
}

// Dial connects and authenticates. The host key is checked before the key
// is offered: an unknown or changed host key is a *HostKeyError and nothing
// is sent to the server; a refused key is an *AuthError.
func (d *Dialer) Dial(ctx context.Context, t Target) (*Client, error) {
	if d.Signer == nil {
		return nil, ErrNoKey
	}
	if d.HostKeys == nil {
		return nil, ErrNoHostKey
	}
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	var hostKeyErr error
	check := d.HostKeys.callback(t)
	cfg := &ssh.ClientConfig{
		User: t.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(d.Signer)},
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			hostKeyErr = check(host, remote, key)
			return hostKeyErr
		},
		HostKeyAlgorithms: d.HostKeys.algorithms(t),
		Timeout:           timeout,
		ClientVersion:     "SSH-2.0-abra",
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var nd net.Dialer
	conn, err := nd.DialContext(dctx, "tcp", t.Addr())
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t.Addr(), err)
	}
	// The handshake honours the deadline, not the context.
	if dl, ok := dctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(dctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	c, chans, reqs, err := ssh.NewClientConn(conn, t.Addr(), cfg)
	stop()
	if err != nil {
		conn.Close()
		switch {
		case hostKeyErr != nil:
			return nil, hostKeyErr
		case strings.Contains(err.Error(), "no common algorithm for host key"):
			return nil, &HostKeyError{Host: t.Addr(), Offered: "no key of the known types", Changed: true}
		case strings.Contains(err.Error(), "unable to authenticate"):
			pub := d.Signer.PublicKey()
			return nil, &AuthError{Target: t, Key: pub.Type() + " " + ssh.FingerprintSHA256(pub), Err: err}
		case ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("ssh %s: %w", t, err)
	}
	_ = conn.SetDeadline(time.Time{})
	cl := &Client{target: t, socket: d.Socket, ssh: ssh.NewClient(c, chans, reqs), done: make(chan struct{})}
	if cl.socket == "" {
		cl.socket = DefaultSocket
	}
	every := d.KeepAlive
	if every == 0 {
		every = 30 * time.Second
	}
	go cl.keepAlive(every)
	return cl, nil
}

func (c *Client) keepAlive(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if _, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil); err != nil {
				return
			}
		}
	}
}

// Target is the server this client is connected to.
func (c *Client) Target() Target { return c.target }

// DialDocker opens a connection to the server's Docker socket: a
// direct-streamlocal channel, or, when the server refuses those
// (AllowStreamLocalForwarding no, DisableForwarding yes), `docker system
// dial-stdio` in a session, as Docker's own ssh:// transport does.
func (c *Client) DialDocker(ctx context.Context) (net.Conn, error) {
	if !c.stdio.Load() {
		conn, err := c.ssh.DialContext(ctx, "unix", c.socket)
		if err == nil {
			return conn, nil
		}
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) {
			return nil, fmt.Errorf("%s: docker socket %s: %w", c.target, c.socket, err)
		}
		conn, err2 := c.dialStdio()
		if err2 != nil {
			return nil, fmt.Errorf("%s: docker socket %s: %v; docker system dial-stdio: %w", c.target, c.socket, err, err2)
		}
		c.stdio.Store(true)
		return conn, nil
	}
	return c.dialStdio()
}

func (c *Client) dialStdio() (net.Conn, error) {
	s, err := c.ssh.NewSession()
	if err != nil {
		return nil, err
	}
	in, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	out, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	stderr := &limitedWriter{n: 4096}
	s.Stderr = stderr
	if err := s.Start("docker system dial-stdio"); err != nil {
		s.Close()
		return nil, err
	}
	return &stdioConn{s: s, in: in, out: out, stderr: stderr, target: c.target}, nil
}

// Close ends the connection.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.ssh.Close()
}

// stdioConn is a net.Conn over a `docker system dial-stdio` session.
type stdioConn struct {
	s      *ssh.Session
	in     io.WriteCloser
	out    io.Reader
	stderr *limitedWriter
	target Target
}

func (c *stdioConn) Read(p []byte) (int, error) {
	n, err := c.out.Read(p)
	if errors.Is(err, io.EOF) && n == 0 {
		if msg := strings.TrimSpace(c.stderr.String()); msg != "" {
			return 0, fmt.Errorf("docker system dial-stdio on %s: %s", c.target, msg)
		}
	}
	return n, err
}
func (c *stdioConn) Write(p []byte) (int, error)      { return c.in.Write(p) }
func (c *stdioConn) CloseWrite() error                { return c.in.Close() }
func (c *stdioConn) Close() error                     { return c.s.Close() }
func (c *stdioConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "@", Net: "unix"} }
func (c *stdioConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Name: "dial-stdio", Net: "unix"} }
func (c *stdioConn) SetDeadline(time.Time) error      { return nil }
func (c *stdioConn) SetReadDeadline(time.Time) error  { return nil }
func (c *stdioConn) SetWriteDeadline(time.Time) error { return nil }

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	mu sync.Mutex
	b  strings.Builder
	n  int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
