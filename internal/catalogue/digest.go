package catalogue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"sync"
	"sync/atomic"

	"github.com/distribution/reference"
)

// Resolver asks an image registry for the digest of a reference
// ("nginx:1.27", "127.0.0.1:5000/demo/web:0.1.0"), "sha256:…" for the
// manifest (list) the tag points at. It must be safe for concurrent use;
// the generator bounds how many calls run at once.
type Resolver interface {
	Digest(ctx context.Context, ref string) (string, error)
}

// DigestCache remembers digests by image reference (image:tag) across
// runs, in a JSON file. Tags are taken to be immutable: a cached digest is
// never asked for again; delete the file to start afresh. Unknown digests
// are never cached, so failures are retried on the next run. A DigestCache
// is safe for concurrent use; a nil *DigestCache caches nothing.
type DigestCache struct {
	path  string
	mu    sync.Mutex
	m     map[string]string
	dirty bool
}

// LoadDigestCache reads the cache file at path; a missing or unreadable
// file gives an empty cache (it is only a cache).
func LoadDigestCache(path string) *DigestCache {
	c := &DigestCache{path: path, m: map[string]string{}}
	b, err := os.ReadFile(path)
	if err == nil {
		_ = json.Unmarshal(b, &c.m)
	}
	if c.m == nil {
		c.m = map[string]string{}
	}
	return c
}

// Get returns the cached digest of ref.
func (c *DigestCache) Get(ref string) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[ref]
	return d, ok
}

// Put remembers the digest of ref; unknown digests are ignored.
func (c *DigestCache) Put(ref, digest string) {
	if c == nil || digest == "" || digest == UnknownDigest {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[ref] != digest {
		c.m[ref] = digest
		c.dirty = true
	}
}

// Len is the number of cached references.
func (c *DigestCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Save writes the cache atomically if it changed since it was loaded.
func (c *DigestCache) Save() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty {
		return nil
	}
	b, err := json.MarshalIndent(maps.Clone(c.m), "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(c.path, append(b, '\n')); err != nil {
		return fmt.Errorf("save digest cache: %w", err)
	}
	c.dirty = false
	return nil
}

// errOffline is the digest error when the registry may not be asked.
var errOffline = errors.New("not asked: offline")

// digester resolves digests for a generator run: through the cache, with
// lookups of the same reference merged (when caching), and at most cap(sem)
// registry requests at once.
type digester struct {
	resolver Resolver
	cache    *DigestCache
	offline  bool
	sem      chan struct{}
	requests atomic.Int64

	mu       sync.Mutex
	inflight map[string]*digestCall
}

type digestCall struct {
	done   chan struct{}
	digest string
	err    error
}

func newDigester(r Resolver, cache *DigestCache, offline bool, concurrency int) *digester {
	return &digester{resolver: r, cache: cache, offline: offline,
		sem: make(chan struct{}, concurrency), inflight: map[string]*digestCall{}}
}

// digest returns the digest of ref. Without a cache every call asks the
// registry, like a generator that keeps nothing between versions.
func (d *digester) digest(ctx context.Context, ref string) (string, error) {
	if d.cache == nil {
		return d.ask(ctx, ref)
	}
	if dg, ok := d.cache.Get(ref); ok {
		return dg, nil
	}
	d.mu.Lock()
	if c, ok := d.inflight[ref]; ok {
		d.mu.Unlock()
		select {
		case <-c.done:
			return c.digest, c.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	c := &digestCall{done: make(chan struct{})}
	d.inflight[ref] = c
	d.mu.Unlock()
	c.digest, c.err = d.ask(ctx, ref)
	if c.err == nil {
		d.cache.Put(ref, c.digest)
	}
	close(c.done)
	return c.digest, c.err
}

func (d *digester) ask(ctx context.Context, ref string) (string, error) {
	if d.offline || d.resolver == nil {
		return "", errOffline
	}
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-d.sem }()
	d.requests.Add(1)
	return d.resolver.Digest(ctx, ref)
}

// registryOf names the registry serving ref: "docker.io" for Docker Hub
// names such as "nginx".
func registryOf(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "?"
	}
	return reference.Domain(named)
}

// isNotExist reports a missing file or directory.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
