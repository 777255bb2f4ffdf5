package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, string(body)
}

func discard() *log.Logger { return log.New(io.Discard, "", 0) }

// env is a getenv over a fixed map.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestHandler(t *testing.T) {
	var logs bytes.Buffer
	h := handler("", "<b>hi</b>", log.New(&logs, "", 0))
	tests := []struct {
		name, path string
		code       int
		contains   string
	}{
		{"health", "/healthz", 200, "ok"},
		{"version", "/version", 200, version},
		{"page escapes the message", "/", 200, "&lt;b&gt;hi&lt;/b&gt;"},
		{"page shows the version", "/", 200, "demo-web " + version},
		{"unknown path", "/nope", 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, h, tt.path)
			if code != tt.code || !strings.Contains(body, tt.contains) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.code, tt.contains)
			}
		})
	}
	for _, want := range []string{"GET /version 200", "GET /nope 404"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("request log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestPageWithoutMessageHasDefault(t *testing.T) {
	if _, body := get(t, handler("", "", discard()), "/"); !strings.Contains(body, "Hello from Co-op Cloud") {
		t.Fatalf("page without DEMO_MESSAGE: %q", body)
	}
}

func TestUnhealthyBuild(t *testing.T) {
	unhealthy = "true"
	defer func() { unhealthy = "false" }()
	if code, _ := get(t, handler("", "", discard()), "/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz of an unhealthy build = %d", code)
	}
}

func TestSlowStarterBuild(t *testing.T) {
	readyAfter = "1h"
	defer func() { readyAfter = "0s" }()
	if code, _ := get(t, handler("", "", log.New(io.Discard, "", 0)), "/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz of a slow starter before it is ready = %d", code)
	}
}

func TestHandlerServesRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("file a"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := handler(dir, "", discard())
	if code, body := get(t, h, "/a.txt"); code != 200 || body != "file a" {
		t.Fatalf("GET /a.txt = %d %q", code, body)
	}
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Fatalf("/healthz with -root = %d", code)
	}
}

func TestHealthURL(t *testing.T) {
	tests := []struct{ name, addr, want string }{
		{"port only", ":8080", "http://127.0.0.1:8080/healthz"},
		{"wildcard v4", "0.0.0.0:8080", "http://127.0.0.1:8080/healthz"},
		{"wildcard v6", "[::]:8080", "http://127.0.0.1:8080/healthz"},
		{"explicit host", "127.0.0.2:9", "http://127.0.0.2:9/healthz"},
		{"v6 host", "[::1]:9", "http://[::1]:9/healthz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := healthURL(tt.addr); got != tt.want {
				t.Fatalf("healthURL(%q) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	healthy := httptest.NewServer(handler("", "", discard()))
	defer healthy.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer failing.Close()
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hanging.Close()
	tests := []struct {
		name, addr string
		ok         bool
	}{
		{"healthy server", strings.TrimPrefix(healthy.URL, "http://"), true},
		{"500 answer", strings.TrimPrefix(failing.URL, "http://"), false},
		{"no answer in time", strings.TrimPrefix(hanging.URL, "http://"), false},
		{"nothing listening", closedAddr(t), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := check(context.Background(), tt.addr, 300*time.Millisecond)
			if (err == nil) != tt.ok {
				t.Fatalf("check(%s) = %v, want ok=%v", tt.addr, err, tt.ok)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("check ignored its timeout: %s", time.Since(start))
			}
		})
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, l, handler("", "", discard())) }()
	if err := check(context.Background(), l.Addr().String(), 2*time.Second); err != nil {
		t.Fatalf("server does not answer: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
}

func TestRun(t *testing.T) {
	healthy := httptest.NewServer(handler("", "", discard()))
	defer healthy.Close()
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		wantStdout string
	}{
		{"version", []string{"-version"}, nil, 0, version + "\n"},
		{"healthcheck of a healthy server", []string{"-healthcheck", "-addr", strings.TrimPrefix(healthy.URL, "http://")}, nil, 0, ""},
		{"healthcheck addr from DEMO_ADDR", []string{"-healthcheck"}, map[string]string{"DEMO_ADDR": strings.TrimPrefix(healthy.URL, "http://")}, 0, ""},
		{"healthcheck of nothing", []string{"-healthcheck", "-addr", closedAddr(t)}, nil, 1, ""},
		{"unknown flag", []string{"-bogus"}, nil, 2, ""},
		{"stray argument", []string{"serve"}, nil, 2, ""},
		{"address in use", []string{"-addr", strings.TrimPrefix(healthy.URL, "http://")}, nil, 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, env(tt.env), &out, &errb)
			if code != tt.code || out.String() != tt.wantStdout {
				t.Fatalf("run %v = %d, stdout %q, want %d, %q; stderr:\n%s", tt.args, code, out.String(), tt.code, tt.wantStdout, errb.String())
			}
		})
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	addr := closedAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", addr}, env(map[string]string{"DEMO_MESSAGE": "from env"}), io.Discard, &errb)
	}()
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, "from env") {
		t.Errorf("page lacks DEMO_MESSAGE: %q", body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code after shutdown = %d, want 0; stderr:\n%s", code, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}
