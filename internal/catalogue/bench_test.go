package catalogue

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
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

// benchWorld is 100 recipe repositories × 5 tags, each version with an
// "app" image of its own and a "db" image shared by every recipe, all in a
// registry served over HTTP on 127.0.0.1 that waits rtt before each answer.
func benchWorld(b *testing.B, rtt time.Duration) []Source {
	b.Helper()
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(rtt)
		reg.ServeHTTP(w, r)
	}))
	b.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	push := func(ref string) {
		img, err := random.Image(64, 1)
		if err != nil {
			b.Fatal(err)
		}
		r, err := name.ParseReference(ref)
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
// warm (regenerating an existing catalogue), against a registry on the
// loopback and one 5 ms away.
func BenchmarkCatalogueGenerate(b *testing.B) {
	for _, rtt := range []time.Duration{0, 5 * time.Millisecond} {
		b.Run("rtt="+rtt.String(), func(b *testing.B) {
			sources := benchWorld(b, rtt)
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
