package dockerswarm

import (
	"os"
	"testing"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// TestDockerMeetsContract runs the Cluster contract against the real daemon.
func TestDockerMeetsContract(t *testing.T) {
	if os.Getenv("ABRA_E2E") == "" && os.Getenv("CI") == "" {
		t.Skip("needs a dockerd in swarm mode: set ABRA_E2E=1 (make test does)")
	}
	swarmtest.Contract(t, func(t *testing.T) swarm.Cluster {
		c, err := New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	})
}
