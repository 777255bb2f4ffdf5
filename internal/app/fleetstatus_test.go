package app

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// FleetStatus asks every server of a fleet at once (up to 32): with servers
// 100 ms or more away, each further wave costs a whole SSH handshake and its
// calls (the cap of 8 it had made ten such servers take twice as long).
func TestFleetStatusAsksTwentyServersAtOnce(t *testing.T) {
	const n = 20
	ctx := context.Background()
	var servers []string
	for i := range n {
		servers = append(servers, fmt.Sprintf("s%d.example.org", i))
	}
	store := newStore(t, servers...)
	var apps []*App
	for _, srv := range servers {
		a, err := store.Create(ctx, NewOptions{Recipe: "web", Server: srv, Domain: "app." + srv, Sample: sample})
		if err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
	}
	// Each connection waits until all servers are being asked: if some wait
	// for a free slot, the ones holding the slots time out.
	var mu sync.Mutex
	asked := 0
	all := make(chan struct{})
	connect := func(ctx context.Context, server string) (swarm.Cluster, error) {
		mu.Lock()
		if asked++; asked == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			return swarmtest.New(), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	rows, err := FleetStatus(ctx, store, apps, connect, StatusOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("not every server was asked at once: %v", err)
	}
	for _, r := range rows {
		if r.State != "undeployed" {
			t.Errorf("%s on %s: %s (%s), want undeployed", r.Domain, r.Server, r.State, r.Reason)
		}
	}
}
