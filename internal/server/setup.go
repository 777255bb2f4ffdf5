package server

import (
	"context"
	"errors"
	"fmt"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

// ProxyNetwork is the external overlay network recipes attach web services to.
const ProxyNetwork = "proxy"

// Readiness is what `server add` found on a server.
type Readiness struct {
	Info  swarm.NodeInfo
	Proxy bool // the proxy network exists
}

// Check connects and reports whether the server can take apps. It fails when
// Docker does not answer; a missing swarm or proxy network is reported in
// Readiness for the caller to fix or explain.
func Check(ctx context.Context, c swarm.Cluster) (Readiness, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return Readiness{}, err
	}
	r := Readiness{Info: info}
	if info.SwarmState == "active" && info.IsManager {
		n, err := c.InspectNetwork(ctx, ProxyNetwork)
		switch {
		case err == nil:
			r.Proxy = n.Scope == "swarm"
		case !errors.Is(err, swarm.ErrNotFound):
			return r, err
		}
	}
	return r, nil
}

// Init makes the server ready: a single-node swarm if it has none, and the
// proxy overlay network if missing. It refuses on a swarm worker.
func Init(ctx context.Context, c swarm.Cluster, r Readiness, advertiseAddr string) error {
	switch {
	case r.Info.SwarmState == "active" && !r.Info.IsManager:
		return hint.With(errors.New("this node is a swarm worker"), "point abra at a manager node of the swarm")
	case r.Info.SwarmState != "active":
		if err := c.InitSwarm(ctx, advertiseAddr); err != nil {
			return fmt.Errorf("docker swarm init: %w", err)
		}
	}
	if !r.Proxy {
		if err := c.CreateNetwork(ctx, ProxyNetwork, swarm.NetworkSpec{Driver: "overlay", Scope: "swarm", Attachable: true}); err != nil {
			return fmt.Errorf("create the %s network: %w", ProxyNetwork, err)
		}
	}
	return nil
}
