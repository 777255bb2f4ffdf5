package swarmtest

import (
	"testing"

	"coopcloud.tech/abra/internal/swarm"
)

func TestFakeMeetsContract(t *testing.T) {
	Contract(t, func(*testing.T) swarm.Cluster { return New() })
}
