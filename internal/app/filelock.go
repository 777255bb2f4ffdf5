package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"coopcloud.tech/abra/internal/hint"
)

// ErrBusy is returned when another abra process keeps the env files locked
// for longer than the wait.
var ErrBusy = errors.New("env files are locked by another abra process")

// lockWait bounds how long a writer waits for another one: writers hold the
// lock only while reading, changing and replacing a file, never across the
// network.
const lockWait = 30 * time.Second

// lockEnv serialises every writer of env files under this ABRA_DIR (app new,
// the version pin after a deploy, app config) with an advisory flock on the
// servers directory itself: it survives atomic renames of the files in it,
// needs no lock file beside operators' env files, and is released by the
// kernel when the process dies.
func (s Store) lockEnv(ctx context.Context) (unlock func(), err error) {
	dir := s.Servers().Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, hint.With(fmt.Errorf("%w (%s, waited %s)", ErrBusy, dir, lockWait),
				"another abra command is writing an env file; try again when it is done")
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
