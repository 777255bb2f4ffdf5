package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"coopcloud.tech/abra/internal/swarm"
)

// Status is what a server says about itself.
type Status struct {
	Name      string `json:"name"`
	Reachable bool   `json:"reachable"`
	Docker    string `json:"docker_version,omitempty"`
	API       string `json:"api_version,omitempty"`
	Role      string `json:"swarm_role,omitempty"` // manager, worker, none
	Nodes     int    `json:"nodes,omitempty"`
	Proxy     bool   `json:"proxy_network"`
	Error     string `json:"error,omitempty"`
}

// Statuses asks every server at once, each bounded by timeout.
func Statuses(ctx context.Context, names []string, connect func(context.Context, string) (swarm.Cluster, error), timeout time.Duration) []Status {
	out := make([]Status, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = statusOf(ctx, name, connect, timeout)
		}()
	}
	wg.Wait()
	return out
}

func statusOf(ctx context.Context, name string, connect func(context.Context, string) (swarm.Cluster, error), timeout time.Duration) Status {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan Status, 1)
	go func() {
		st := Status{Name: name}
		c, err := connect(ctx, name)
		if err == nil {
			var r Readiness
			if r, err = Check(ctx, c); err == nil {
				st.Reachable, st.Docker, st.API, st.Nodes, st.Proxy = true, r.Info.ServerVersion, r.Info.APIVersion, r.Info.Nodes, r.Proxy
				switch {
				case r.Info.SwarmState != "active":
					st.Role = "none"
				case r.Info.IsManager:
					st.Role = "manager"
				default:
					st.Role = "worker"
				}
			}
		}
		if err != nil {
			st.Error = swarm.Describe(err)
		}
		done <- st
	}()
	select {
	case st := <-done:
		return st
	case <-ctx.Done():
		return Status{Name: name, Error: fmt.Sprintf("no answer within %s", timeout)}
	}
}
