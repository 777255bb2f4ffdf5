package update

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrSkipped marks fleet items not started because too many failed before.
var ErrSkipped = errors.New("skipped: the fleet upgrade stopped after too many failures")

// FleetItem is one app of a fleet upgrade.
type FleetItem struct {
	Server string
	Run    func(ctx context.Context) error
}

// FleetOptions pace a fleet upgrade.
type FleetOptions struct {
	// PerServer is how many apps of one server are upgraded at once (default 1):
	// a server's load and a bad release's damage stay small.
	PerServer int
	// StopAfter failures (default 1), no new upgrade starts; those running finish.
	StopAfter int
}

// RunFleet runs the items, servers in parallel and each server's apps
// PerServer at a time, and returns each item's error (ErrSkipped for those
// not started after StopAfter failures), in the items' order.
func RunFleet(ctx context.Context, items []FleetItem, o FleetOptions) []error {
	if o.PerServer < 1 {
		o.PerServer = 1
	}
	if o.StopAfter < 1 {
		o.StopAfter = 1
	}
	errs := make([]error, len(items))
	byServer := map[string][]int{}
	var servers []string
	for i, it := range items {
		if _, ok := byServer[it.Server]; !ok {
			servers = append(servers, it.Server)
		}
		byServer[it.Server] = append(byServer[it.Server], i)
	}
	var failures atomic.Int32
	var wg sync.WaitGroup
	for _, s := range servers {
		queue := make(chan int)
		for range o.PerServer {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range queue {
					if int(failures.Load()) >= o.StopAfter {
						errs[i] = ErrSkipped
						continue
					}
					if errs[i] = items[i].Run(ctx); errs[i] != nil {
						var h *Held
						if !errors.As(errs[i], &h) {
							failures.Add(1)
						}
					}
				}
			}()
		}
		go func(idx []int) {
			for _, i := range idx {
				queue <- i
			}
			close(queue)
		}(byServer[s])
	}
	wg.Wait()
	return errs
}
