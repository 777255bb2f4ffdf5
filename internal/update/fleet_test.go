package update

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunFleetPacesPerServer(t *testing.T) {
	var mu sync.Mutex
	running := map[string]int{}
	maxRunning := map[string]int{}
	var total, maxTotal atomic.Int32
	item := func(server string) FleetItem {
		return FleetItem{Server: server, Run: func(context.Context) error {
			mu.Lock()
			running[server]++
			maxRunning[server] = max(maxRunning[server], running[server])
			mu.Unlock()
			n := total.Add(1)
			for {
				m := maxTotal.Load()
				if n <= m || maxTotal.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
			total.Add(-1)
			mu.Lock()
			running[server]--
			mu.Unlock()
			return nil
		}}
	}
	items := []FleetItem{item("a"), item("a"), item("a"), item("b"), item("b"), item("c")}
	errs := RunFleet(context.Background(), items, FleetOptions{})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
	}
	for s, n := range maxRunning {
		if n != 1 {
			t.Errorf("server %s ran %d apps at once, want 1", s, n)
		}
	}
	if maxTotal.Load() < 2 {
		t.Errorf("servers did not run in parallel (at most %d at once)", maxTotal.Load())
	}
}

func TestRunFleetStopsAfterFailures(t *testing.T) {
	boom := errors.New("boom")
	var ran atomic.Int32
	mk := func(err error) FleetItem {
		return FleetItem{Server: "a", Run: func(context.Context) error { ran.Add(1); return err }}
	}
	held := &Held{Gate: Gate{Code: GateLocked, Reason: "locked"}}
	items := []FleetItem{mk(held), mk(nil), mk(boom), mk(nil), mk(nil)}
	errs := RunFleet(context.Background(), items, FleetOptions{StopAfter: 1})
	want := []error{held, nil, boom, ErrSkipped, ErrSkipped}
	for i := range want {
		if !errors.Is(errs[i], want[i]) && errs[i] != want[i] {
			t.Errorf("item %d: %v, want %v", i, errs[i], want[i])
		}
	}
	if ran.Load() != 3 {
		t.Errorf("%d items ran, want 3 (a held app is not a failure; nothing starts after the first failure)", ran.Load())
	}
	errs = RunFleet(context.Background(), []FleetItem{mk(boom), mk(boom), mk(nil)}, FleetOptions{StopAfter: 2})
	if errs[2] != ErrSkipped {
		t.Errorf("with --stop-after 2 the third item ran after two failures: %v", errs[2])
	}
}
