package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
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
		info := lockInfo(other, time.Now())
		if time.Now().After(deadline) || info.Dead {
			// A holder known to be dead is not waited for.
			return nil, &LockedError{Stack: stack, Lock: info}
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
	// Release even when the operation's context was cancelled, and through
	// a dockerd restart or a dropped connection: try for half a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		o, found, err := lockHolder(ctx, c, name)
		if err == nil && found {
			err = c.RemoveConfig(ctx, o.ID)
		}
		if err == nil || errors.Is(err, swarm.ErrNotFound) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
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

// LockInfo is who holds an app's lock and whether the holder looks dead.
type LockInfo struct {
	Holder string    `json:"holder"`
	Since  time.Time `json:"since"`
	// Stale says why the holder looks dead ("" when it does not): its
	// process is gone (Dead), or it has held the lock for longer than any
	// deploy takes.
	Stale string `json:"stale,omitempty"`
	Dead  bool   `json:"dead"`
}

// StaleAfter is how long a lock is held before it looks stale: longer than
// any deploy, backup and verification together take.
const StaleAfter = 2 * time.Hour

func lockInfo(o swarm.Object, now time.Time) LockInfo {
	l := LockInfo{Holder: o.Labels[lockHolderLabel]}
	l.Since, _ = time.Parse(time.RFC3339, o.Labels[lockSinceLabel])
	host, _ := os.Hostname()
	if pid, ok := localPid(l.Holder, host); ok && !processAlive(pid) {
		l.Dead, l.Stale = true, fmt.Sprintf("its process (pid %d on this machine) is gone", pid)
	} else if !l.Since.IsZero() && now.Sub(l.Since) > StaleAfter {
		l.Stale = fmt.Sprintf("held for %s, longer than any deploy takes", now.Sub(l.Since).Round(time.Minute))
	}
	return l
}

// localPid is N of a holder "user@<host> pid N" (Holder's form) of this host.
func localPid(holder, host string) (int, bool) {
	who, pid, ok := strings.Cut(holder, " pid ")
	_, at, _ := strings.Cut(who, "@")
	if !ok || host == "" || at != host {
		return 0, false
	}
	n, err := strconv.Atoi(pid)
	return n, err == nil && n > 0
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// LockedError is a lock wait that ended with another holder.
type LockedError struct {
	Stack string
	Lock  LockInfo
}

func (e *LockedError) Error() string {
	s := fmt.Sprintf("%v: %s has held it since %s", ErrLocked, e.Lock.Holder, e.Lock.Since.Local().Format(time.DateTime))
	if e.Lock.Stale != "" {
		s += "; it looks dead: " + e.Lock.Stale
	}
	return s
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// LockHint adds the remedy for a *LockedError of the app's lock: wait, or,
// when the holder died, break it with 'abra app lock <domain> --break'.
func LockHint(err error, domain string) error {
	var le *LockedError
	if !errors.As(err, &le) {
		return err
	}
	if le.Lock.Stale != "" {
		return hint.With(err, fmt.Sprintf("release it with 'abra app lock %s --break'", domain))
	}
	return hint.With(err, fmt.Sprintf("wait for it to finish ('abra app lock %s' shows the holder); if it died, 'abra app lock %s --break --force' releases it", domain, domain))
}

// ReadLock returns the app's lock (found reports whether there is one).
func ReadLock(ctx context.Context, c swarm.Cluster, stack string) (LockInfo, bool, error) {
	o, found, err := lockHolder(ctx, c, lockName(stack))
	if err != nil || !found {
		return LockInfo{}, false, err
	}
	return lockInfo(o, time.Now()), true, nil
}

// ForceUnlock removes the app's lock whoever holds it, and returns what it
// was. Only for a holder known to be dead: a live one would go on changing
// the app unlocked.
func ForceUnlock(ctx context.Context, c swarm.Cluster, stack string) (LockInfo, bool, error) {
	o, found, err := lockHolder(ctx, c, lockName(stack))
	if err != nil || !found {
		return LockInfo{}, false, err
	}
	return lockInfo(o, time.Now()), true, c.RemoveConfig(ctx, o.ID)
}

// LockView is an app's lock as 'abra app lock --json' and the dashboard
// show it.
type LockView struct {
	App      string     `json:"app"`
	Locked   bool       `json:"locked"`
	Holder   string     `json:"holder,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
	Stale    string     `json:"stale,omitempty"`
	Released bool       `json:"released"`
}

// View is the lock of app as LockView shows it (locked: whether there is one).
func (l LockInfo) View(app string, locked bool) LockView {
	v := LockView{App: app, Locked: locked, Holder: l.Holder, Stale: l.Stale}
	if locked && !l.Since.IsZero() {
		v.Since = &l.Since
	}
	return v
}
