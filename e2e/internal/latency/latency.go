// Package latency is a TCP proxy for tests that puts a server at a distance
// (this machine's kernel has no netem): every chunk read from one side is
// written to the other a fixed one-way delay after it was read. Each
// direction has a timestamped queue, so chunks in flight overlap and the
// delay never adds up per chunk. A black hole accepts connections and never
// answers, as a server behind a firewall that drops packets.
package latency

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy listens on a loopback port. Its methods are safe for concurrent use.
type Proxy struct {
	// Addr is the host:port clients dial.
	Addr string

	target string
	delay  time.Duration
	hole   bool
	clock  clock
	ln     net.Listener

	accepted atomic.Int64
	queued   atomic.Int64 // bytes read and waiting or written (tests wait on it)

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	done   chan struct{}
}

// Start listens on 127.0.0.1 and forwards every connection to target, each
// direction delayed by delay (the round trip is twice that). A new
// connection waits one round trip before any byte moves, as TCP's handshake
// makes a client wait; the kernel has already completed the client's
// connect, so the client's early bytes wait in the proxy.
func Start(target string, delay time.Duration) (*Proxy, error) {
	return listen(&Proxy{target: target, delay: delay, clock: realClock{}})
}

// BlackHole listens on 127.0.0.1, accepts every connection and never
// answers nor closes it (until Close): an unreachable server.
func BlackHole() (*Proxy, error) {
	return listen(&Proxy{hole: true, clock: realClock{}})
}

func listen(p *Proxy) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.ln, p.Addr = ln, ln.Addr().String()
	p.conns = map[net.Conn]struct{}{}
	p.done = make(chan struct{})
	go p.serve()
	return p, nil
}

// Port is the port of Addr.
func (p *Proxy) Port() string {
	_, port, _ := net.SplitHostPort(p.Addr)
	return port
}

// Accepted is how many connections the proxy has accepted: each SSH
// handshake through it is one.
func (p *Proxy) Accepted() int { return int(p.accepted.Load()) }

// Close stops listening and closes every connection still open (both ends).
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	return p.ln.Close()
}

// track remembers an open connection so Close can end it; false when the
// proxy is closed already (the caller closes c).
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if !p.track(c) {
			c.Close()
			return
		}
		if !p.hole {
			go p.forward(c)
		}
	}
}

func (p *Proxy) forward(client net.Conn) {
	defer p.untrack(client)
	if !p.clock.waitUntil(p.clock.now().Add(2*p.delay), p.done) {
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client) }()
	go func() { defer wg.Done(); p.pipe(client, server) }()
	wg.Wait()
}

// chunk is bytes read at one time, or the end of the stream (err set).
type chunk struct {
	data []byte
	due  time.Time
	err  error
}

// pipe copies src to dst, each chunk written delay after it was read. The
// reader keeps reading while the writer waits, so throughput is src's.
func (p *Proxy) pipe(dst, src net.Conn) {
	q := make(chan chunk, 4096)
	stop := make(chan struct{})
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			due := p.clock.now().Add(p.delay)
			if n > 0 {
				p.queued.Add(int64(n))
				select {
				case q <- chunk{data: buf[:n], due: due}:
				case <-stop:
					return
				}
			}
			if err != nil {
				select {
				case q <- chunk{due: due, err: err}:
				case <-stop:
				}
				return
			}
		}
	}()
	defer close(stop)
	for c := range q {
		if !p.clock.waitUntil(c.due, p.done) {
			return
		}
		if c.err != nil {
			// The end travels too: a clean end half-closes, so the other
			// direction goes on; a reset closes the other side entirely.
			if tcp, ok := dst.(*net.TCPConn); ok && errors.Is(c.err, io.EOF) {
				_ = tcp.CloseWrite()
			} else {
				dst.Close()
			}
			return
		}
		if _, err := dst.Write(c.data); err != nil {
			src.Close() // nobody to deliver to: stop the reader
			return
		}
	}
}

// clock is time as the proxy sees it; tests drive a fake one.
type clock interface {
	now() time.Time
	// waitUntil blocks until t, or returns false once stop is closed.
	waitUntil(t time.Time, stop <-chan struct{}) bool
}

type realClock struct{}

func (realClock) now() time.Time { return time.Now() }

func (realClock) waitUntil(t time.Time, stop <-chan struct{}) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-stop:
		return false
	}
}
