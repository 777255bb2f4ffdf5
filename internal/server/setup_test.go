package server

import (
	"context"
	"slices"
	"testing"

	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

func TestCheckAndInit(t *testing.T) {
	ctx := context.Background()
	c := swarmtest.New()
	c.Node.SwarmState, c.Node.IsManager = "inactive", false
	r, err := Check(ctx, c)
	if err != nil || r.Proxy || r.Info.SwarmState != "inactive" {
		t.Fatalf("Check() = %+v, %v", r, err)
	}
	if err := Init(ctx, c, r, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Calls, []string{"swarm init", "create network proxy"}) {
		t.Fatalf("calls = %v", c.Calls)
	}
	if r, _ := Check(ctx, c); !r.Proxy || !r.Info.IsManager {
		t.Fatalf("after Init: %+v", r)
	}
	c.Node.IsManager = false
	if err := Init(ctx, c, Readiness{Info: c.Node}, ""); err == nil {
		t.Fatal("Init on a worker must fail")
	}
}
