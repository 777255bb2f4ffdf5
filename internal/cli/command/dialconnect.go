package command

import (
	"context"
	"net"

	"github.com/moby/moby/client"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/dockerswarm"
)

// DockerDialer opens connections to one server's Docker API socket (abra
// ci's in-process SSH connection, internal/sshdocker).
type DockerDialer interface {
	DialDocker(ctx context.Context) (net.Conn, error)
}

// DialConnect is a Factory.Connect that reaches each server's Docker API
// through the dialer dial returns for it, instead of the system ssh client:
// dial is where the connection is made and its host key checked, so a
// refusal surfaces when the cluster is first asked for.
func DialConnect(dial func(ctx context.Context, server string) (DockerDialer, error)) func(context.Context, string) (swarm.Cluster, error) {
	return func(ctx context.Context, server string) (swarm.Cluster, error) {
		d, err := dial(ctx, server)
		if err != nil {
			return nil, err
		}
		return dockerswarm.New(
			// The host name is only what Docker's client puts in requests;
			// every connection goes through the dialer.
			client.WithHost("http://docker"),
			client.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialDocker(ctx)
			}),
		)
	}
}
