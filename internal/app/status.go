package app

import (
	"context"
	"errors"
	"fmt"
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
	State   string `json:"status"` // deployed, undeployed, unhealthy, unknown
	Reason  string `json:"reason,omitempty"`
	Upgrade string `json:"upgrade,omitempty"` // newest release above Version, if any
}

// Connector opens a cluster connection to a server.
type Connector func(ctx context.Context, server string) (swarm.Cluster, error)

// StatusOptions tunes FleetStatus.
type StatusOptions struct {
	Timeout  time.Duration // per server (default 15s)
	Parallel int           // servers queried at once (default 8)
}

// FleetStatus queries every server of the apps concurrently, one connection
// and two list calls per server, each server bounded by the timeout, and
// returns a row per app. A server that cannot be reached marks its apps
// unknown with the reason; the error then lists the failed servers.
func FleetStatus(ctx context.Context, store Store, apps []*App, connect Connector, o StatusOptions) ([]Status, error) {
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Parallel == 0 {
		o.Parallel = 8
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
			services, tasks, err := query(sctx, connect, srv)
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
				fill(&rows[i], apps[i].StackName(), services, tasks)
			}
		}()
	}
	wg.Wait()
	for i := range rows {
		rows[i].Upgrade = newestAbove(store, rows[i].Recipe, rows[i].Version)
	}
	if len(failed) > 0 {
		return rows, fmt.Errorf("%d of %d servers failed: %w", len(failed), len(byServer), errors.Join(failed...))
	}
	return rows, nil
}

func query(ctx context.Context, connect Connector, server string) ([]mobyswarm.Service, []mobyswarm.Task, error) {
	type result struct {
		services []mobyswarm.Service
		tasks    []mobyswarm.Task
		err      error
	}
	done := make(chan result, 1)
	go func() { // connection helpers (ssh) may not honour ctx while dialling
		c, err := connect(ctx, server)
		if err != nil {
			done <- result{err: err}
			return
		}
		services, err := c.Services(ctx, "")
		if err != nil {
			done <- result{err: err}
			return
		}
		tasks, err := c.Tasks(ctx, "")
		done <- result{services, tasks, err}
	}()
	select {
	case r := <-done:
		return r.services, r.tasks, r.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func fill(row *Status, stackName string, all []mobyswarm.Service, tasks []mobyswarm.Task) {
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
	for _, s := range mine {
		want := 0
		if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
			want = int(*r.Replicas)
		}
		running := 0
		for _, t := range tasks {
			if t.ServiceID == s.ID && t.DesiredState == mobyswarm.TaskStateRunning && t.Status.State == mobyswarm.TaskStateRunning {
				running++
			}
		}
		if running < want {
			row.State = "unhealthy"
			row.Reason = fmt.Sprintf("%s %d/%d", s.Spec.Name, running, want)
			return
		}
	}
}

// newestAbove is the newest local release of the recipe above version, or "".
// It reads the local clone only: the fleet view never waits on git remotes.
func newestAbove(store Store, recipeName, version string) string {
	if recipeName == "" || version == "" {
		return ""
	}
	cur, err := recipe.ParseVersion(version)
	if err != nil {
		return ""
	}
	repo, err := store.OpenRecipe(recipeName)
	if err != nil {
		return ""
	}
	latest, err := repo.Latest()
	if err != nil || latest.Version.Compare(cur) <= 0 {
		return ""
	}
	return latest.Tag
}
