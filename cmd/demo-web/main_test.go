package main

import (
	"bytes"
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
	if !strings.Contains(logs.String(), "GET /version") {
		t.Fatalf("requests not logged: %q", logs.String())
	}
}

func TestUnhealthyBuild(t *testing.T) {
	unhealthy = "true"
	defer func() { unhealthy = "false" }()
	if code, _ := get(t, handler("", "", log.New(io.Discard, "", 0)), "/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/healthz of an unhealthy build = %d", code)
	}
}

func TestHandlerServesRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("file a"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, handler(dir, "", log.New(io.Discard, "", 0)), "/a.txt")
	if code != 200 || body != "file a" {
		t.Fatalf("GET /a.txt = %d %q", code, body)
	}
}

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(handler("", "", log.New(io.Discard, "", 0)))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if err := check(addr, time.Second); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	if err := check(closed, time.Second); err == nil {
		t.Fatal("check of a closed port succeeded")
	}
}

func TestRunFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-version"}, &out, &errb); code != 0 || strings.TrimSpace(out.String()) != version {
		t.Fatalf("-version: %d %q", code, out.String())
	}
	if code := run([]string{"-healthcheck", "-addr", "127.0.0.1:1"}, &out, &errb); code != 1 {
		t.Fatalf("-healthcheck of nothing: exit %d", code)
	}
	if code := run([]string{"-bogus"}, &out, &errb); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}
