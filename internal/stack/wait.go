package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/docker/cli/cli/compose/convert"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
)

// ErrNotConverged is wrapped by errors from Wait when the stack did not reach
// its desired state: swarm rolled back, an update paused, tasks keep failing, or
// the timeout passed.
var ErrNotConverged = errors.New("did not converge")

// ServiceStatus is one service's progress towards its desired state.
type ServiceStatus struct {
	Name    string // short name, without the stack prefix
	Running int    // tasks running the current spec
	Desired int
	State   string // converged, starting, updating, rolling back, rolled back, paused, failing
	Detail  string // latest task error or update message
}

func (s ServiceStatus) String() string {
	out := fmt.Sprintf("%s %d/%d %s", s.Name, s.Running, s.Desired, s.State)
	if s.Detail != "" {
		out += " (" + s.Detail + ")"
	}
	return out
}

// Snapshot records what the stack looked like before a deploy, so that Wait
// can tell fresh update states and task failures from old ones.
type Snapshot struct {
	services      map[string]bool // IDs of services that existed
	updateStarted map[string]time.Time
	tasks         map[string]bool
}

// TakeSnapshot records the stack's current update states and tasks.
func TakeSnapshot(ctx context.Context, c swarm.Cluster, stack string) (Snapshot, error) {
	snap := Snapshot{services: map[string]bool{}, updateStarted: map[string]time.Time{}, tasks: map[string]bool{}}
	services, err := c.Services(ctx, stack)
	if err != nil {
		return snap, err
	}
	for _, s := range services {
		snap.services[s.ID] = true
		if s.UpdateStatus != nil && s.UpdateStatus.StartedAt != nil {
			snap.updateStarted[s.ID] = *s.UpdateStatus.StartedAt
		}
	}
	tasks, err := c.Tasks(ctx, stack)
	if err != nil {
		return snap, err
	}
	for _, t := range tasks {
		snap.tasks[t.ID] = true
	}
	return snap, nil
}

// Existed reports whether the stack had any service before the deploy.
func (s Snapshot) Existed() bool { return len(s.services) > 0 }

// Restore puts the stack back as the snapshot found it after a failed update:
// services that existed are rolled back to their previous spec (unless swarm
// already did), services the update created are removed. It returns the IDs
// to wait on.
func Restore(ctx context.Context, c swarm.Cluster, stack string, before Snapshot, notify func(Event)) ([]string, error) {
	if notify == nil {
		notify = func(Event) {}
	}
	services, err := c.Services(ctx, stack)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, svc := range services {
		if !before.services[svc.ID] {
			notify(Event{Action: "remove", Kind: "service", Name: svc.Spec.Name, Detail: "added by the failed update"})
			if err := c.RemoveService(ctx, svc.ID); err != nil && !errors.Is(err, swarm.ErrNotFound) {
				return nil, fmt.Errorf("remove service %s: %w", svc.Spec.Name, err)
			}
			continue
		}
		ids = append(ids, svc.ID)
		if u := svc.UpdateStatus; u != nil && u.State == mobyswarm.UpdateStateRollbackCompleted {
			continue // swarm already put the previous spec back
		}
		if svc.PreviousSpec == nil {
			continue
		}
		notify(Event{Action: "rollback", Kind: "service", Name: svc.Spec.Name})
		if err := c.RollbackService(ctx, svc); err != nil {
			return nil, fmt.Errorf("roll back service %s: %w", svc.Spec.Name, err)
		}
	}
	return ids, nil
}

// WaitOptions tunes Wait.
type WaitOptions struct {
	Timeout  time.Duration
	Poll     time.Duration
	Before   Snapshot
	Progress func([]ServiceStatus)
	// Restoring waits for a rollback (see Restore) to finish: a completed
	// rollback is the goal then, and every running task counts.
	Restoring bool
}

// NotConvergedError tells which services did not converge and why.
type NotConvergedError struct {
	Stack    string
	Reason   string
	Services []ServiceStatus
}

func (e *NotConvergedError) Error() string {
	var bad []string
	for _, s := range e.Services {
		if s.State != "converged" {
			bad = append(bad, s.String())
		}
	}
	return fmt.Sprintf("%s %s: %s: %s", e.Stack, ErrNotConverged, e.Reason, strings.Join(bad, "; "))
}

func (e *NotConvergedError) Unwrap() error { return ErrNotConverged }

// Wait polls the services until every one runs its desired number of tasks of
// its current spec, or fails with a *NotConvergedError. A task counts once it is
// "running", which swarm reports only after a healthcheck (if any) has passed.
func Wait(ctx context.Context, c swarm.Cluster, stack string, ids []string, opts WaitOptions) error {
	if opts.Poll == 0 {
		opts.Poll = 200 * time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}
	deadline := time.Now().Add(opts.Timeout)
	ns := convert.NewNamespace(stack)
	var last []ServiceStatus
	for {
		statuses, failed, err := poll(ctx, c, stack, ids, ns, opts)
		if err != nil {
			return fmt.Errorf("watch %s: %w", stack, err)
		}
		if opts.Progress != nil && !slices.Equal(statuses, last) {
			opts.Progress(statuses)
		}
		last = statuses
		if failed != "" {
			return &NotConvergedError{Stack: stack, Reason: failed, Services: statuses}
		}
		if allConverged(statuses) {
			return nil
		}
		if time.Now().After(deadline) {
			return &NotConvergedError{Stack: stack, Reason: fmt.Sprintf("timed out after %s", opts.Timeout), Services: statuses}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(opts.Poll):
		}
	}
}

func allConverged(statuses []ServiceStatus) bool {
	for _, s := range statuses {
		if s.State != "converged" {
			return false
		}
	}
	return true
}

func poll(ctx context.Context, c swarm.Cluster, stack string, ids []string, ns convert.Namespace, opts WaitOptions) ([]ServiceStatus, string, error) {
	services, err := c.Services(ctx, stack)
	if err != nil {
		return nil, "", err
	}
	tasks, err := c.Tasks(ctx, stack)
	if err != nil {
		return nil, "", err
	}
	byService := map[string][]mobyswarm.Task{}
	for _, t := range tasks {
		byService[t.ServiceID] = append(byService[t.ServiceID], t)
	}
	var out []ServiceStatus
	failure := ""
	for _, svc := range services {
		if !slices.Contains(ids, svc.ID) {
			continue
		}
		st, fail := serviceStatus(svc, byService[svc.ID], opts.Before, opts.Restoring)
		st.Name = ns.Descope(svc.Spec.Name)
		if fail != "" && failure == "" {
			failure = st.Name + ": " + fail
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ServiceStatus) int { return strings.Compare(a.Name, b.Name) })
	return out, failure, nil
}

func serviceStatus(svc mobyswarm.Service, tasks []mobyswarm.Task, before Snapshot, restoring bool) (ServiceStatus, string) {
	st := ServiceStatus{}
	// An update state is fresh only if it started after our snapshot.
	var upd *mobyswarm.UpdateStatus
	if u := svc.UpdateStatus; u != nil && u.StartedAt != nil {
		if prev, ok := before.updateStarted[svc.ID]; !ok || !prev.Equal(*u.StartedAt) {
			upd = u
		}
	}
	// Which running tasks run the current spec? Tasks created since the snapshot
	// do. Older ones do only if the task template did not change (swarm then
	// keeps them) or if swarm says the update completed. Task specs cannot be
	// compared with the service's directly: swarm fills in defaults differently.
	oldTasksCurrent := restoring || (svc.PreviousSpec != nil && sameJSON(svc.PreviousSpec.TaskTemplate, svc.Spec.TaskTemplate)) ||
		(upd != nil && upd.State == mobyswarm.UpdateStateCompleted)
	if restoring {
		upd = svc.UpdateStatus
	}
	desiredRunning := 0
	var lastErr string
	var lastErrAt time.Time
	noImage := false
	for _, t := range tasks {
		fresh := !before.tasks[t.ID]
		if t.DesiredState == mobyswarm.TaskStateRunning {
			desiredRunning++
			if t.Status.State == mobyswarm.TaskStateRunning && (fresh || oldTasksCurrent) {
				st.Running++
			}
		}
		if !fresh {
			continue
		}
		if t.Status.Err != "" && t.Status.Timestamp.After(lastErrAt) {
			lastErr, lastErrAt = t.Status.Err, t.Status.Timestamp
			noImage = strings.Contains(t.Status.Err, "No such image")
		}
	}
	switch {
	case svc.Spec.Mode.Replicated != nil && svc.Spec.Mode.Replicated.Replicas != nil:
		st.Desired = int(*svc.Spec.Mode.Replicated.Replicas)
	case svc.Spec.Mode.ReplicatedJob != nil || svc.Spec.Mode.GlobalJob != nil:
		st.Desired = 0 // jobs run to completion; nothing to keep running
		st.Running = 0
	default:
		st.Desired = max(desiredRunning, 1)
	}

	st.Detail = lastErr
	if upd != nil {
		switch upd.State {
		case mobyswarm.UpdateStateRollbackCompleted:
			if restoring {
				break
			}
			st.State, st.Detail = "rolled back", upd.Message
			return st, "swarm rolled the update back: " + upd.Message + lastErrSuffix(lastErr)
		case mobyswarm.UpdateStatePaused, mobyswarm.UpdateStateRollbackPaused:
			if restoring && upd.State == mobyswarm.UpdateStatePaused {
				st.State = "rolling back" // the paused update we are rolling back
				return st, ""
			}
			st.State, st.Detail = "paused", upd.Message
			return st, "update paused: " + upd.Message + lastErrSuffix(lastErr)
		case mobyswarm.UpdateStateRollbackStarted:
			st.State = "rolling back"
			return st, ""
		case mobyswarm.UpdateStateUpdating:
			st.State = "updating"
			return st, ""
		}
	}
	if st.Running >= st.Desired {
		st.State, st.Detail = "converged", ""
		return st, ""
	}
	if noImage {
		st.State = "failing"
		return st, "image not found on the node: " + lastErr
	}
	st.State = "starting"
	if lastErr != "" {
		st.State = "failing"
	}
	return st, ""
}

func sameJSON(a, b any) bool {
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}

func lastErrSuffix(err string) string {
	if err == "" {
		return ""
	}
	return " (last task error: " + err + ")"
}

// LastLogs returns up to n last log lines of a service.
func LastLogs(ctx context.Context, c swarm.Cluster, serviceID string, n int) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rc, err := c.ServiceLogs(ctx, serviceID, swarm.LogOptions{Tail: fmt.Sprint(n)})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil && len(b) == 0 {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	return lines, nil
}
