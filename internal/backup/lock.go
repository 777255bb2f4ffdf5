package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lock serialises the backups and restores of one app: the daemon's scheduled
// runs and the verbs run with docker exec are separate processes in one
// container, and a restore must not meet a backup's hooks halfway. The lock is
// released when the process ends, whatever way it ends.
func (b *Bot) lock(ctx context.Context, stack string) (unlock func(), err error) {
	dir := filepath.Join(b.state(), stack)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", stack, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", stack, err)
	}
	waiting := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", stack, err)
		}
		if !waiting {
			waiting = true
			b.report(Event{Event: EventProgress, Step: "lock", Message: "waiting for another backup or restore of " + stack + " to finish"})
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(max(b.poll(), 100*time.Millisecond)):
		}
	}
}
