package latency

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// fakeClock moves only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	t       time.Time
	waiters int
	moved   *sync.Cond
}

func newFakeClock() *fakeClock {
	c := &fakeClock{t: time.Unix(1_000_000, 0)}
	c.moved = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) waitUntil(t time.Time, stop <-chan struct{}) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiters++
	defer func() { c.waiters-- }()
	for c.t.Before(t) {
		select {
		case <-stop:
			return false
		default:
		}
		c.moved.Wait()
	}
	return true
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	c.moved.Broadcast()
}

// eventually polls cond (real time only bounds a hang).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

func (c *fakeClock) waitForWaiters(t *testing.T, n int) {
	t.Helper()
	eventually(t, "clock waiters", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.waiters >= n
	})
}

// serverListener returns a listener and a channel of its first accepted connection.
func serverListener(t *testing.T) (net.Listener, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			t.Cleanup(func() { c.Close() })
			ch <- c
		}
	}()
	return ln, ch
}

// startFake is a proxy on a fake clock in front of a fresh listener, with a
// client connected through it and the server's end once the one round trip
// of the connection's set-up has passed.
func startFake(t *testing.T, delay time.Duration) (p *Proxy, clk *fakeClock, client, server net.Conn) {
	t.Helper()
	ln, accepted := serverListener(t)
	clk = newFakeClock()
	p, err := listen(&Proxy{target: ln.Addr().String(), delay: delay, clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	client, err = net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	clk.waitForWaiters(t, 1)
	select {
	case <-accepted:
		t.Fatal("the proxy reached the server before one round trip")
	case <-time.After(20 * time.Millisecond):
	}
	clk.advance(2 * delay)
	select {
	case server = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy never reached the server")
	}
	return p, clk, client, server
}

// nothingArrives fails if c has bytes to read now.
func nothingArrives(t *testing.T, c net.Conn, when string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	var b [1]byte
	if n, err := c.Read(b[:]); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: read %d bytes, %v; want nothing yet", when, n, err)
	}
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func TestDelayAppliesPerDirectionWithoutAddingUpPerChunk(t *testing.T) {
	const delay = 50 * time.Millisecond
	for _, dir := range []struct {
		name string
		from func(client, server net.Conn) (net.Conn, net.Conn)
	}{
		{"client to server", func(c, s net.Conn) (net.Conn, net.Conn) { return c, s }},
		{"server to client", func(c, s net.Conn) (net.Conn, net.Conn) { return s, c }},
	} {
		t.Run(dir.name, func(t *testing.T) {
			p, clk, client, server := startFake(t, delay)
			src, dst := dir.from(client, server)
			queuedBefore := p.queued.Load()
			var sent []byte
			for i := range 10 {
				chunk := bytes.Repeat([]byte{byte('a' + i)}, 100)
				if _, err := src.Write(chunk); err != nil {
					t.Fatal(err)
				}
				sent = append(sent, chunk...)
				time.Sleep(2 * time.Millisecond) // separate reads, separate chunks
			}
			eventually(t, "the proxy read every chunk", func() bool { return p.queued.Load()-queuedBefore == int64(len(sent)) })
			nothingArrives(t, dst, "before the delay")
			clk.advance(delay - time.Nanosecond)
			nothingArrives(t, dst, "a nanosecond before the delay")
			clk.advance(time.Nanosecond)
			// All chunks were read at the same (fake) instant: all are due
			// now. A proxy that waits the delay before each write would
			// deliver one and wait for the clock again.
			if got := readN(t, dst, len(sent)); !bytes.Equal(got, sent) {
				t.Fatalf("got %q, want %q", got, sent)
			}
		})
	}
}

func TestBytesArriveUnchangedBothWays(t *testing.T) {
	ln, accepted := serverListener(t)
	p, err := Start(ln.Addr().String(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	client, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	up, down := make([]byte, 1<<20), make([]byte, 1<<20)
	rand.Read(up)
	rand.Read(down)
	var wg sync.WaitGroup
	var gotUp, gotDown []byte
	var errUp, errDown error
	wg.Add(4)
	go func() { defer wg.Done(); _, _ = client.Write(up); client.(*net.TCPConn).CloseWrite() }()
	go func() { defer wg.Done(); _, _ = server.Write(down); server.(*net.TCPConn).CloseWrite() }()
	go func() { defer wg.Done(); gotUp, errUp = io.ReadAll(server) }()
	go func() { defer wg.Done(); gotDown, errDown = io.ReadAll(client) }()
	wg.Wait()
	if errUp != nil || errDown != nil {
		t.Fatalf("read: %v, %v", errUp, errDown)
	}
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		t.Fatalf("bytes changed: up %d of %d equal=%v, down %d of %d equal=%v",
			len(gotUp), len(up), bytes.Equal(gotUp, up), len(gotDown), len(down), bytes.Equal(gotDown, down))
	}
	if p.Accepted() != 1 {
		t.Fatalf("accepted %d connections, want 1", p.Accepted())
	}
}

func TestCloseTravelsWithTheDelay(t *testing.T) {
	const delay = 50 * time.Millisecond
	_, clk, client, server := startFake(t, delay)
	lastWords(t, clk, delay, client, server, "last words", func() error { return client.(*net.TCPConn).CloseWrite() })
	// The other direction is still open (a half-close), and its close
	// travels too.
	lastWords(t, clk, delay, server, client, "reply", server.Close)
}

// lastWords writes words from src, ends src with end, and checks that dst
// reads the words and then EOF, neither before the delay.
func lastWords(t *testing.T, clk *fakeClock, delay time.Duration, src, dst net.Conn, words string, end func() error) {
	t.Helper()
	if _, err := src.Write([]byte(words)); err != nil {
		t.Fatal(err)
	}
	if err := end(); err != nil {
		t.Fatal(err)
	}
	clk.waitForWaiters(t, 1)
	nothingArrives(t, dst, "before the delay")
	clk.advance(delay)
	if got := readN(t, dst, len(words)); string(got) != words {
		t.Fatalf("got %q, want %q", got, words)
	}
	_ = dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := dst.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after the close the other end reads %d, %v; want EOF", n, err)
	}
}

func TestCloseEndsOpenConnections(t *testing.T) {
	p, _, client, server := startFake(t, time.Hour)
	p.Close()
	for name, c := range map[string]net.Conn{"client": client, "server": server} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the %s's connection is still open after Close", name)
		}
	}
	if _, err := net.Dial("tcp", p.Addr); err == nil {
		t.Fatal("the proxy still accepts after Close")
	}
}

func TestBlackHoleAcceptsAndNeverAnswers(t *testing.T) {
	p, err := BlackHole()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatalf("a black hole accepts connections: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")); err != nil {
		t.Fatal(err)
	}
	nothingArrives(t, c, "from a black hole")
	eventually(t, "the black hole counts the connection", func() bool { return p.Accepted() == 1 })
	p.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("Close leaves the black hole's connection open")
	}
}

func TestAcceptedCountsConnections(t *testing.T) {
	ln, _ := serverListener(t)
	p, err := Start(ln.Addr().String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 3 {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	eventually(t, "three connections counted", func() bool { return p.Accepted() == 3 })
}
