package catalogue

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"coopcloud.tech/abra/internal/registry"
)

const (
	benchRecipes = 100
	benchTags    = 5
)

// benchRegistry is where the benchmark's images live.
type benchRegistry struct {
	name string
	rtt  time.Duration // added before each answer of the in-memory registry
	host string        // a running registry ("127.0.0.1:5000"); "" starts an in-memory one
}

// benchRegistries are go-containerregistry's in-memory registry served on
// the loopback, as is and 5 ms away, and the registry named by
// $ABRA_BENCH_REGISTRY (scripts/registry-up.sh serves Debian's
// docker-registry on 127.0.0.1:5000) when it is set.
func benchRegistries() []benchRegistry {
	regs := []benchRegistry{{name: "memory"}, {name: "memory-rtt=5ms", rtt: 5 * time.Millisecond}}
	if h := os.Getenv("ABRA_BENCH_REGISTRY"); h != "" {
		regs = append(regs, benchRegistry{name: "docker-registry", host: h})
	}
	return regs
}

// benchWorld is 100 recipe repositories × 5 tags, each version with an
// "app" image of its own and a "db" image shared by every recipe, all in
// the registry.
func benchWorld(b *testing.B, br benchRegistry) []Source {
	b.Helper()
	host := br.host
	if host == "" {
		reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(br.rtt)
			reg.ServeHTTP(w, r)
		}))
		b.Cleanup(srv.Close)
		host = strings.TrimPrefix(srv.URL, "http://")
	}

	img, err := random.Image(64, 1)
	if err != nil {
		b.Fatal(err)
	}
	push := func(ref string) {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			b.Fatal(err)
		}
		if err := remote.Write(r, img); err != nil {
			b.Fatal(err)
		}
	}
	for t := range benchTags {
		push(fmt.Sprintf("%s/shared/db:10.%d", host, t))
	}
	w := newWorld(b)
	var sources []Source
	for i := range benchRecipes {
		recipeName := fmt.Sprintf("r%03d", i)
		var rels []release
		for t := range benchTags {
			app := fmt.Sprintf("%s/%s/app:1.%d.0", host, recipeName, t)
			push(app)
			rels = append(rels, release{fmt.Sprintf("1.%d.0+1.%d.0", t, t),
				[]string{"app=" + app, fmt.Sprintf("db=%s/shared/db:10.%d", host, t)}})
		}
		sources = append(sources, w.recipe(b, recipeName, wordpressREADME, rels...))
	}
	// Clone once: every run below fetches (finds nothing new), as a
	// regeneration on a maintainer's machine does.
	if res, err := (&Generator{Resolver: registry.New(), Concurrency: 8, Cache: LoadDigestCache(filepath.Join(b.TempDir(), "c"))}).Generate(context.Background(), sources); err != nil || len(res.Failed) > 0 || len(res.Warnings) > 0 {
		b.Fatalf("warm-up: %v %v %v", err, res.Failed, res.Warnings)
	}
	return sources
}

// BenchmarkCatalogueGenerate compares a one-at-a-time generator (one
// recipe and one registry request at a time, no cache: every service of
// every version asked for) with the concurrent one, cold (empty cache) and
// warm (regenerating an existing catalogue), against the benchRegistries.
func BenchmarkCatalogueGenerate(b *testing.B) {
	for _, br := range benchRegistries() {
		b.Run(br.name, func(b *testing.B) {
			sources := benchWorld(b, br)
			var previous Catalogue
			// run generates b.N times with a generator made afresh for each run.
			run := func(b *testing.B, newGen func() Generator) {
				var res Result
				for range b.N {
					g := newGen()
					var err error
					res, err = g.Generate(context.Background(), sources)
					if err != nil || len(res.Failed) > 0 || len(res.Catalogue) != benchRecipes {
						b.Fatalf("%v %v", err, res.Failed)
					}
				}
				b.ReportMetric(float64(res.Requests), "registry-requests/op")
				previous = res.Catalogue
			}
			b.Run("sequential", func(b *testing.B) {
				run(b, func() Generator { return Generator{Resolver: registry.New(), Concurrency: 1} })
			})
			b.Run("concurrent-nocache", func(b *testing.B) {
				run(b, func() Generator { return Generator{Resolver: registry.New(), Concurrency: 8} })
			})
			b.Run("concurrent", func(b *testing.B) {
				run(b, func() Generator {
					return Generator{Resolver: registry.New(), Concurrency: 8, Cache: LoadDigestCache(filepath.Join(b.TempDir(), "digests.json"))}
				})
			})
			b.Run("concurrent-warm", func(b *testing.B) {
				prev, cache := previous, LoadDigestCache(filepath.Join(b.TempDir(), "digests.json"))
				run(b, func() Generator {
					return Generator{Resolver: registry.New(), Concurrency: 8, Cache: cache, Previous: prev}
				})
			})
		})
	}
}
