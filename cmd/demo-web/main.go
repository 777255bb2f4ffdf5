// Command demo-web is the demo app of abra's own recipe catalogue: a tiny
// static-file web server, shipped as a scratch image built locally by
// scripts/build-demo-image.sh.
//
// Usage:
//
//	demo-web [-addr :8080] [-root DIR]   serve until SIGTERM/SIGINT
//	demo-web -healthcheck [-addr :8080]  exit 0 if the local server's /healthz answers 200
//	demo-web -version                    print the version
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set at build time: -ldflags "-X main.version=0.1.0".
var version = "dev"

// unhealthy, set to "true" at build time, makes /healthz answer 503: an image
// that never becomes healthy whatever healthcheck the recipe declares (a
// compose healthcheck replaces the image's, so breaking only the image's
// HEALTHCHECK would not do).
var unhealthy = "false"

// readyAfter, set at build time (e.g. "8s"), makes /healthz answer 503 until
// that long after start: a slow starter, to test healthcheck start periods.
var readyAfter = "0s"

var started = time.Now()

//go:embed index.html
var pages embed.FS

var index = template.Must(template.ParseFS(pages, "index.html"))

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code. The server runs until
// ctx ends, then shuts down gracefully and returns 0.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo-web", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defaultAddr := getenv("DEMO_ADDR")
	if defaultAddr == "" {
		defaultAddr = ":8080"
	}
	addr := fs.String("addr", defaultAddr, "address to listen on (env DEMO_ADDR)")
	root := fs.String("root", "", "directory to serve (default: the built-in page)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	healthcheck := fs.Bool("healthcheck", false, "check that the server at -addr answers /healthz, exit 0 or 1")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "demo-web: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	switch {
	case *showVersion:
		fmt.Fprintln(stdout, version)
		return 0
	case *healthcheck:
		if err := check(ctx, *addr, 2*time.Second); err != nil {
			fmt.Fprintln(stderr, "demo-web: unhealthy:", err)
			return 1
		}
		return 0
	}
	logger := log.New(stderr, "", log.LstdFlags)
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		logger.Print(err)
		return 1
	}
	logger.Printf("demo-web %s listening on %s", version, l.Addr())
	if err := serve(ctx, l, handler(*root, getenv("DEMO_MESSAGE"), logger)); err != nil {
		logger.Print(err)
		return 1
	}
	logger.Print("stopped")
	return 0
}

// handler serves /healthz, /version and either root's files or the built-in
// page, logging one line per request.
func handler(root, message string, logger *log.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if unhealthy == "true" {
			http.Error(w, "unhealthy on purpose", http.StatusServiceUnavailable)
			return
		}
		if d, err := time.ParseDuration(readyAfter); err == nil && time.Since(started) < d {
			http.Error(w, "still starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, version)
	})
	if root != "" {
		mux.Handle("/", http.FileServer(http.Dir(root)))
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = index.Execute(w, struct{ Message, Version string }{message, version})
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(sw, r)
		logger.Printf("%s %s %s %d %s", r.RemoteAddr, r.Method, r.URL.Path, sw.status, time.Since(start).Round(time.Microsecond))
	})
}

// statusWriter remembers the status code for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// serve answers on l until ctx ends, then lets requests in flight finish
// (for up to 5s) and returns nil.
func serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// healthURL is the /healthz URL of a server listening on addr; an address
// without a host (":8080") or with a wildcard host is asked on loopback.
func healthURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/healthz"
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}

// check asks the server listening on addr for /healthz and returns an error
// unless it answers 200 within timeout.
func check(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, healthURL(addr), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	return nil
}
