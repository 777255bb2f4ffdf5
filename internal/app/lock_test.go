package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

func TestLockSerialises(t *testing.T) {
	c := swarmtest.New()
	ctx := context.Background()
	unlock, err := Lock(ctx, c, "s", "alice@laptop pid 1", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var waitedFor string
	_, err = Lock(ctx, c, "s", "bob@desk pid 2", 1500*time.Millisecond, func(h string, _ time.Time) { waitedFor = h })
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "alice@laptop pid 1") {
		t.Fatalf("second Lock: err = %v, want ErrLocked naming alice", err)
	}
	if waitedFor != "alice@laptop pid 1" {
		t.Fatalf("waiting callback got %q", waitedFor)
	}
	if _, err := Lock(ctx, c, "other", "bob@desk pid 2", 0, nil); err != nil {
		t.Fatalf("another app's lock is independent: %v", err)
	}
	unlock()
	unlock2, err := Lock(ctx, c, "s", "bob@desk pid 2", 0, nil)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	unlock2()
}

func TestLockWaitsForRelease(t *testing.T) {
	c := swarmtest.New()
	ctx := context.Background()
	unlock, err := Lock(ctx, c, "s", "alice", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(300*time.Millisecond, unlock)
	start := time.Now()
	unlock2, err := Lock(ctx, c, "s", "bob", 10*time.Second, nil)
	if err != nil {
		t.Fatalf("Lock should get the lock once released: %v", err)
	}
	unlock2()
	if time.Since(start) > 5*time.Second {
		t.Fatal("waited far longer than the holder held the lock")
	}
}
