package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestDashboardCommand(t *testing.T) {
	fx := newFixture(t)
	if code, _, stderr := fx.run(t, "dashboard", "--listen", "0.0.0.0:0"); code != ExitUsage || !strings.Contains(stderr, "loopback") {
		t.Fatalf("a non-loopback address: %d %s", code, stderr)
	}
	errb := &lockedBuffer{}
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: io.Discard, Err: errb}, AbraDir: fx.dir, JournalDir: t.TempDir(),
		Connect: func(context.Context, string) (swarm.Cluster, error) { return fx.cluster, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Run(ctx, f, []string{"dashboard"}) }()
	addr := regexp.MustCompile(`open (http://127\.0\.0\.1:\d+/login\?token=[0-9a-f]{64})`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addr.FindStringSubmatch(errb.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("no address printed: %s", errb.String())
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "app.example.org") {
		t.Fatalf("fleet page: %d\n%s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after Ctrl-C: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dashboard did not stop")
	}
}
