package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

// ErrLocked is returned when another abra holds the app's lock for too long.
var ErrLocked = errors.New("app is locked by another abra")

// lockName is the swarm config that serves as the app's lock. It carries no
// stack label, so undeploying the stack does not remove it.
func lockName(stack string) string { return "abra-lock." + stack }

const (
	lockHolderLabel = "coop-cloud.lock.holder"
	lockSinceLabel  = "coop-cloud.lock.since"
)

// Holder names this process for lock messages: user@host pid N.
func Holder() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s pid %d", name, host, os.Getpid())
}

// Lock takes the app's lock on the swarm, so two abra processes, on one laptop
// or on two operators' machines, never change the same app at once. Creating a
// swarm config is atomic: whoever creates it holds the lock. Lock waits up to
// wait for a holder to finish, calling waiting once, then fails with ErrLocked
// naming the holder. The returned func releases the lock.
func Lock(ctx context.Context, c swarm.Cluster, stack, holder string, wait time.Duration, waiting func(holder string, since time.Time)) (func(), error) {
	name := lockName(stack)
	spec := mobyswarm.ConfigSpec{
		Annotations: mobyswarm.Annotations{Name: name, Labels: map[string]string{
			lockHolderLabel: holder, lockSinceLabel: time.Now().UTC().Format(time.RFC3339),
		}},
		Data: []byte(holder + "\n"),
	}
	deadline := time.Now().Add(wait)
	told := false
	for {
		err := c.CreateConfig(ctx, spec)
		if err == nil {
			return func() { releaseLock(c, name) }, nil
		}
		other, found, lerr := lockHolder(ctx, c, name)
		if lerr != nil {
			return nil, fmt.Errorf("take the app lock: %w", lerr)
		}
		if !found {
			return nil, fmt.Errorf("take the app lock: %w", err) // not a conflict: a real error
		}
		if time.Now().After(deadline) {
			return nil, hint.With(fmt.Errorf("%w: %s has held it since %s", ErrLocked, other.Labels[lockHolderLabel], other.Labels[lockSinceLabel]),
				fmt.Sprintf("wait for it to finish; if that abra died, release the lock with: docker config rm %s", name))
		}
		if !told && waiting != nil {
			since, _ := time.Parse(time.RFC3339, other.Labels[lockSinceLabel])
			waiting(other.Labels[lockHolderLabel], since)
			told = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func lockHolder(ctx context.Context, c swarm.Cluster, name string) (swarm.Object, bool, error) {
	all, err := c.Configs(ctx, "")
	if err != nil {
		return swarm.Object{}, false, err
	}
	for _, o := range all {
		if o.Name == name {
			return o, true, nil
		}
	}
	return swarm.Object{}, false, nil
}

func releaseLock(c swarm.Cluster, name string) {
	// Release even when the operation's context was cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if o, found, err := lockHolder(ctx, c, name); err == nil && found {
		_ = c.RemoveConfig(ctx, o.ID)
	}
}

// BreakLock releases the app's lock if holder holds it: an update agent that
// was killed finds its own lock on its next start. Another holder's lock is
// left alone (found reports whether holder held it).
func BreakLock(ctx context.Context, c swarm.Cluster, stack, holder string) (found bool, err error) {
	o, ok, err := lockHolder(ctx, c, lockName(stack))
	if err != nil || !ok || o.Labels[lockHolderLabel] != holder {
		return false, err
	}
	return true, c.RemoveConfig(ctx, o.ID)
}
