package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"coopcloud.tech/abra/internal/hint"
)

// serve starts go-containerregistry's in-memory registry and returns its
// host:port (on 127.0.0.1, so plain http).
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func push(t *testing.T, ref string, img v1.Image) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestTagsAndDigest(t *testing.T) {
	host := serve(t, ggcrregistry.New())
	want := map[string]string{}
	for _, tag := range []string{"1.2.0", "1.3.0", "2.0.0"} {
		want[tag] = push(t, host+"/e2e/app:"+tag, randomImage(t))
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: randomImage(t)}, mutate.IndexAddendum{Add: randomImage(t)})
	r, _ := name.ParseReference(host + "/e2e/app:multi")
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	want["multi"] = d.String()

	c := New(WithKeychain(authn.NewMultiKeychain()))
	ctx := context.Background()
	tags, err := c.Tags(ctx, host+"/e2e/app")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	if got := strings.Join(tags, " "); got != "1.2.0 1.3.0 2.0.0 multi" {
		t.Errorf("Tags = %s", got)
	}
	for tag, digest := range want {
		got, err := c.Digest(ctx, host+"/e2e/app:"+tag)
		if err != nil {
			t.Fatalf("Digest %s: %v", tag, err)
		}
		if got != digest {
			t.Errorf("Digest %s = %s, want %s", tag, got, digest)
		}
	}
}

func TestErrorsNameTheRegistry(t *testing.T) {
	host := serve(t, ggcrregistry.New())
	push(t, host+"/e2e/app:1.0.0", randomImage(t))
	down := serve(t, http.NotFoundHandler())
	closed := httptest.NewServer(http.NotFoundHandler())
	closedHost := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()

	c := New(WithKeychain(authn.NewMultiKeychain()))
	ctx := context.Background()
	tests := []struct {
		name     string
		call     func() error
		host     string
		is       error
		wantHint bool
	}{
		{"unknown tag", func() error { _, err := c.Digest(ctx, host+"/e2e/app:9.9.9"); return err }, host, ErrNotFound, false},
		{"unknown repository", func() error { _, err := c.Tags(ctx, host+"/e2e/nope"); return err }, host, ErrNotFound, false},
		{"not a registry", func() error { _, err := c.Tags(ctx, down+"/e2e/app"); return err }, down, nil, false},
		{"unreachable", func() error { _, err := c.Tags(ctx, closedHost+"/e2e/app"); return err }, closedHost, nil, true},
		{"unreachable digest", func() error { _, err := c.Digest(ctx, closedHost+"/e2e/app:1"); return err }, closedHost, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "registry "+tt.host+":") {
				t.Errorf("error %q does not name registry %s", err, tt.host)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if tt.wantHint && hint.Of(err) == "" {
				t.Errorf("error %q has no hint", err)
			}
		})
	}
}

func TestCredentialsFromDockerConfig(t *testing.T) {
	inner := ggcrregistry.New()
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "maintainer" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"login"}]}`, http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	})
	host := serve(t, auth)
	// Pushed through the inner handler directly: the test's own upload needs no auth.
	direct := serve(t, inner)
	push(t, direct+"/team/app:1.0.0", randomImage(t))

	ctx := context.Background()
	t.Run("without credentials", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		_, err := New().Tags(ctx, host+"/team/app")
		if !errors.Is(err, ErrUnauthorized) || !strings.Contains(hint.Of(err), "docker login "+host) {
			t.Fatalf("err = %v (hint %q), want unauthorised with a docker login hint", err, hint.Of(err))
		}
	})
	t.Run("from DOCKER_CONFIG", func(t *testing.T) {
		dir := t.TempDir()
		// base64("maintainer:s3cret")
		cfg := `{"auths":{"` + host + `":{"auth":"bWFpbnRhaW5lcjpzM2NyZXQ="}}}`
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("DOCKER_CONFIG", dir)
		tags, err := New().Tags(ctx, host+"/team/app")
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) != 1 || tags[0] != "1.0.0" {
			t.Errorf("Tags = %v", tags)
		}
	})
}

func TestLoopbackIsPlainHTTP(t *testing.T) {
	tests := []struct {
		ref      string
		insecure bool
	}{
		{"nginx", false},
		{"127.0.0.1:5000/e2e/app", true},
		{"localhost:5000/app:1", true},
		{"[::1]:5000/app", true},
		{"registry.example.org/app", false},
		{"localhost/app", true},
		{"library/nginx:1.25", false},
	}
	for _, tt := range tests {
		if got := len(nameOptions(tt.ref)) > 0; got != tt.insecure {
			t.Errorf("nameOptions(%q) insecure = %v, want %v", tt.ref, got, tt.insecure)
		}
	}
}

func TestDockerHubShortNames(t *testing.T) {
	// "nginx" must mean Docker Hub's library/nginx; the error names the host
	// that a real request would have gone to.
	c := New(WithKeychain(authn.NewMultiKeychain()), WithTransport(failingTransport{}))
	_, err := c.Tags(context.Background(), "nginx")
	if err == nil || !strings.Contains(err.Error(), "registry index.docker.io:") {
		t.Fatalf("err = %v, want it to name index.docker.io", err)
	}
	_, err = c.Digest(context.Background(), "nginx:1.25")
	if err == nil || !strings.Contains(err.Error(), "registry index.docker.io:") {
		t.Fatalf("err = %v, want it to name index.docker.io", err)
	}
}

type failingTransport struct{}

func (failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "index.docker.io" {
		return nil, errors.New("unexpected host " + r.URL.Host)
	}
	return nil, errors.New("offline")
}

func TestOnePingPerRepository(t *testing.T) {
	inner := ggcrregistry.New()
	var mu sync.Mutex
	pings := 0
	host := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			mu.Lock()
			pings++
			mu.Unlock()
		}
		inner.ServeHTTP(w, r)
	}))
	for _, tag := range []string{"1", "2", "3", "4", "5"} {
		push(t, host+"/e2e/app:"+tag, randomImage(t))
	}
	mu.Lock()
	pings = 0
	mu.Unlock()
	c := New(WithKeychain(authn.NewMultiKeychain()))
	var wg sync.WaitGroup
	for _, tag := range []string{"1", "2", "3", "4", "5"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Digest(context.Background(), host+"/e2e/app:"+tag); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := c.Tags(context.Background(), host+"/e2e/app"); err != nil {
		t.Fatal(err)
	}
	if pings != 1 {
		t.Errorf("%d pings for 5 digests and a tag list of one repository, want 1", pings)
	}
}
