package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/swarm"
)

// Status is one app's row in the fleet view.
type Status struct {
	Server  string `json:"server"`
	Recipe  string `json:"recipe"`
	Domain  string `json:"domain"`
	Version string `json:"version"` // deployed version, or the pinned one when undeployed
	Chaos   string `json:"chaos,omitempty"`
	State   string `json:"status"` // deployed, degraded, unhealthy, undeployed, unknown (see fill)
	Reason  string `json:"reason,omitempty"`
	Upgrade string `json:"upgrade,omitempty"` // newest release above Version, if any
}

// Connector opens a cluster connection to a server.
type Connector func(ctx context.Context, server string) (swarm.Cluster, error)

// StatusOptions tunes FleetStatus.
type StatusOptions struct {
	Timeout time.Duration // per server (default 15s)
	// Parallel is how many servers are asked at once (default 32: one ssh
	// process each; a fleet beyond it is asked in waves, each costing a
	// whole handshake and its calls over every server's distance).
	Parallel int
}

// FleetStatus queries every server of the apps concurrently, one connection
// and three list calls (services, tasks, nodes) per server, each server bounded by the timeout, and
// returns a row per app. A server that cannot be reached marks its apps
// unknown with the reason; the error then lists the failed servers.
func FleetStatus(ctx context.Context, store Store, apps []*App, connect Connector, o StatusOptions) ([]Status, error) {
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Parallel == 0 {
		o.Parallel = 32
	}
	byServer := map[string][]int{}
	rows := make([]Status, len(apps))
	for i, a := range apps {
		rows[i] = Status{Server: a.Server, Recipe: a.Recipe(), Domain: a.Domain, Version: a.PinnedVersion()}
		byServer[a.Server] = append(byServer[a.Server], i)
	}
	var (
		mu     sync.Mutex
		failed []error
		wg     sync.WaitGroup
		sem    = make(chan struct{}, o.Parallel)
	)
	for srv, idx := range byServer {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			services, tasks, nodes, err := query(sctx, connect, srv)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if errors.Is(sctx.Err(), context.DeadlineExceeded) {
					err = fmt.Errorf("no answer within %s", o.Timeout)
				}
				failed = append(failed, fmt.Errorf("server %s: %w", srv, err))
				for _, i := range idx {
					rows[i].State, rows[i].Reason = "unknown", swarm.Describe(err)
				}
				return
			}
			for _, i := range idx {
				fill(&rows[i], apps[i].StackName(), services, tasks, nodes)
			}
		}()
	}
	wg.Wait()
	latest := newestReleases(store)
	for i := range rows {
		rows[i].Upgrade = latest.above(rows[i].Recipe, rows[i].Version)
	}
	if len(failed) > 0 {
		return rows, fmt.Errorf("%d of %d servers failed: %w", len(failed), len(byServer), errors.Join(failed...))
	}
	return rows, nil
}

func query(ctx context.Context, connect Connector, server string) ([]mobyswarm.Service, []mobyswarm.Task, map[string]swarm.Node, error) {
	type result struct {
		services []mobyswarm.Service
		tasks    []mobyswarm.Task
		nodes    map[string]swarm.Node
		err      error
	}
	done := make(chan result, 1)
	go func() { // connection helpers (ssh) may not honour ctx while dialling
		var r result
		c, err := connect(ctx, server)
		if err == nil {
			r.services, err = c.Services(ctx, "")
		}
		if err == nil {
			r.tasks, err = c.Tasks(ctx, "")
		}
		if err == nil {
			r.nodes, err = nodesByID(ctx, c)
		}
		r.err = err
		done <- r
	}()
	select {
	case r := <-done:
		return r.services, r.tasks, r.nodes, r.err
	case <-ctx.Done():
		return nil, nil, nil, ctx.Err()
	}
}

// fill sets an app's status from its services' tasks and the nodes under them:
//   - deployed: every service runs its desired tasks, none on a node that is
//     down or drained;
//   - degraded: the nodes explain what is missing or at risk: a task meant to
//     run sits on a down or drained node, a service misses tasks and its last
//     node is down or drained, or a task waits for a node ("no suitable
//     node", swarm's scheduler's reason); the reason names service and node;
//   - unhealthy: a service runs fewer tasks than desired for another reason
//     (tasks failing, healthchecks not passing yet);
//   - undeployed: no service.
//
// Unhealthy wins over degraded; the reason lists every service's trouble.
func fill(row *Status, stackName string, all []mobyswarm.Service, tasks []mobyswarm.Task, nodes map[string]swarm.Node) {
	var mine []mobyswarm.Service
	for _, s := range all {
		if s.Spec.Labels[swarm.StackLabel] == stackName {
			mine = append(mine, s)
		}
	}
	st := StateOf(stackName, mine)
	if !st.Deployed {
		row.State = "undeployed"
		return
	}
	row.State = "deployed"
	if st.Version != "" {
		row.Version = st.Version
	}
	if st.Chaos {
		row.Chaos = st.ChaosVersion
	}
	var reasons []string
	for _, s := range mine {
		reason, degraded := serviceTrouble(s, tasks, nodes)
		if reason == "" {
			continue
		}
		reasons = append(reasons, reason)
		if degraded && row.State == "deployed" {
			row.State = "degraded"
		} else if !degraded {
			row.State = "unhealthy"
		}
	}
	row.Reason = strings.Join(reasons, "; ")
}

// newestReleases answers "is there a newer local release" for many apps,
// reading each recipe's clone once (a fleet has many apps of few recipes).
// It reads the local clones only: the fleet view never waits on git remotes.
func newestReleases(store Store) releaseCache {
	return releaseCache{store: store, latest: map[string]*recipe.Release{}}
}

type releaseCache struct {
	store  Store
	latest map[string]*recipe.Release // nil: no clone or no release
}

// above is the newest local release of the recipe above version, or "".
func (c releaseCache) above(recipeName, version string) string {
	if recipeName == "" || version == "" {
		return ""
	}
	cur, err := recipe.ParseVersion(version)
	if err != nil {
		return ""
	}
	latest, seen := c.latest[recipeName]
	if !seen {
		if repo, err := c.store.OpenRecipe(recipeName); err == nil {
			if r, err := repo.Latest(); err == nil {
				latest = &r
			}
		}
		c.latest[recipeName] = latest
	}
	if latest == nil || latest.Version.Compare(cur) <= 0 {
		return ""
	}
	return latest.Tag
}
