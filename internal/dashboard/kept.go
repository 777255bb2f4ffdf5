package dashboard

import (
	"sync"
	"time"
)

// kept is what the dashboard keeps between pages (certificates, snapshot
// lists, missing env keys): values by key with the time they were put,
// safe for concurrent use. The zero value is ready.
type kept[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]keptValue[V]
}

type keptValue[V any] struct {
	v  V
	at time.Time
}

// get returns the value kept for k if it was put less than maxAge before now
// (maxAge 0: however old).
func (c *kept[K, V]) get(k K, maxAge time.Duration, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || (maxAge > 0 && now.Sub(e.at) >= maxAge) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *kept[K, V]) put(k K, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[K]keptValue[V]{}
	}
	c.m[k] = keptValue[V]{v, now}
}

func (c *kept[K, V]) forget(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}
