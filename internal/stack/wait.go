package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/docker/cli/cli/compose/convert"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/cronjob"
	"coopcloud.tech/abra/internal/swarm"
)

// ErrNotConverged is wrapped by errors from Wait when the stack did not reach
// its desired state: swarm rolled back, an update paused, tasks keep failing, or
// the timeout passed.
var ErrNotConverged = errors.New("did not converge")

// ErrNoSuitableNode is wrapped (with ErrNotConverged) by Wait's error when a
// task of the current spec stayed pending because no node satisfies its
// placement constraints: nothing changes that but the operator.
var ErrNoSuitableNode = errors.New("no suitable node")

// ServiceStatus is one service's progress towards its desired state.
type ServiceStatus struct {
	Name    string // short name, without the stack prefix
	Running int    // tasks running the current spec (on a node that is not down)
	Desired int
	State   string // converged, starting, pending (no node), updating, rolling back, rolled back, paused, failing
	// Detail is the latest task error or update message; for a task waiting
	// for a node, swarm's scheduler's reason, the service's constraints and
	// the nodes that cannot take tasks; for a task on a node that is down, that node.
	Detail string
	// noNode: a task of the current spec is pending because no ready, active
	// node satisfies the constraints (the scheduler's reason names nothing else).
	noNode bool
	// stuck: the nodes that take no new tasks, when the service waits on
	// them: a down node holding its tasks, or, for a task waiting for a node,
	// every node that is down, drained or paused ("abra-w2 (down)"); ", "
	// between them (a string: statuses are compared with ==).
	stuck string
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
	// jobs are the specs of scheduled jobs' services: the scheduler updates
	// them on its own (a run, its scale back), so swarm's previous spec of
	// one may not be the spec from before the deploy.
	jobs map[string]mobyswarm.ServiceSpec
}

// TakeSnapshot records the stack's current update states and tasks.
func TakeSnapshot(ctx context.Context, c swarm.Cluster, stack string) (Snapshot, error) {
	snap := Snapshot{services: map[string]bool{}, updateStarted: map[string]time.Time{}, tasks: map[string]bool{}, jobs: map[string]mobyswarm.ServiceSpec{}}
	services, err := c.Services(ctx, stack)
	if err != nil {
		return snap, err
	}
	for _, s := range services {
		snap.services[s.ID] = true
		if cronjob.Enabled(s.Spec.Labels) {
			snap.jobs[s.ID] = s.Spec
		}
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
		if spec, ok := before.jobs[svc.ID]; ok {
			// The spec from before the deploy, with the replicas and
			// ForceUpdate the scheduler set since: a job's run goes on.
			spec, _ = keepPinned(svc, spec, false)
			spec.Mode = svc.Spec.Mode
			notify(Event{Action: "restore", Kind: "service", Name: svc.Spec.Name})
			if _, err := c.UpdateService(ctx, svc, spec, false); err != nil {
				return nil, fmt.Errorf("restore service %s: %w", svc.Spec.Name, err)
			}
			continue
		}
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
	// Lost is told when the server stops answering (its dockerd restarts,
	// the SSH connection drops) and, with nil, when it answers again. Wait
	// goes on polling through that, up to the timeout.
	Lost func(err error)
	// NoNodeGrace is how long a task may wait for a node while no ready,
	// active node satisfies its placement constraints before Wait gives up
	// (default 15s; a label being added meanwhile is the one thing it allows
	// for). While a node that cannot take tasks now (down, drained, paused)
	// might, Wait waits up to the timeout.
	NoNodeGrace time.Duration
}

// ErrLostContact is wrapped when the server did not answer until the wait's
// end: what was applied stays applied, whether it converged is not known.
var ErrLostContact = errors.New("lost contact with the server")

// NotConvergedError tells which services did not converge and why.
type NotConvergedError struct {
	Stack    string
	Reason   string
	Services []ServiceStatus
	// NoNode: Wait gave up early because no node can take a task (see
	// ErrNoSuitableNode, which the error then also wraps).
	NoNode bool
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

// StuckOn are the nodes that take no new tasks (down, drained, paused) that
// services that did not converge waited on, with their state:
// "abra-w2 (down)". Swarm put the tasks nowhere else: the placement
// constraints allow no other node, or the other nodes take no tasks either.
func (e *NotConvergedError) StuckOn() []string {
	var out []string
	for _, s := range e.Services {
		if s.State == "converged" {
			continue
		}
		for n := range strings.SplitSeq(s.stuck, ", ") {
			if n != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (e *NotConvergedError) Unwrap() []error {
	if e.NoNode {
		return []error{ErrNotConverged, ErrNoSuitableNode}
	}
	return []error{ErrNotConverged}
}

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
	if opts.NoNodeGrace == 0 {
		opts.NoNodeGrace = 15 * time.Second
	}
	deadline := time.Now().Add(opts.Timeout)
	ns := convert.NewNamespace(stack)
	var last []ServiceStatus
	var lost error
	var noNodeSince time.Time // since when some service's task has had no node to go to
	for {
		statuses, failed, err := poll(ctx, c, stack, ids, ns, opts)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// A dockerd that restarts or a connection that drops is not the
			// end of the deploy: swarm goes on converging without us.
			if lost == nil && opts.Lost != nil {
				opts.Lost(err)
			}
			lost = err
			if time.Now().After(deadline) {
				return fmt.Errorf("watch %s: %w for %s: %w", stack, ErrLostContact, opts.Timeout, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		if lost != nil && opts.Lost != nil {
			opts.Lost(nil)
		}
		lost = nil
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
		switch {
		case !slices.ContainsFunc(statuses, func(s ServiceStatus) bool { return s.noNode }):
			noNodeSince = time.Time{}
		case noNodeSince.IsZero():
			noNodeSince = time.Now()
		case time.Since(noNodeSince) >= opts.NoNodeGrace:
			return &NotConvergedError{Stack: stack, NoNode: true, Services: statuses,
				Reason: fmt.Sprintf("no node satisfies the placement constraints (waited %s)", opts.NoNodeGrace)}
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
	list, err := c.Nodes(ctx)
	if err != nil {
		return nil, "", err
	}
	nodes := map[string]swarm.Node{}
	for _, n := range list {
		nodes[n.ID] = n
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
		st, fail := serviceStatus(svc, byService[svc.ID], opts.Before, opts.Restoring, nodes)
		st.Name = ns.Descope(svc.Spec.Name)
		if fail != "" && failure == "" {
			failure = st.Name + ": " + fail
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ServiceStatus) int { return strings.Compare(a.Name, b.Name) })
	return out, failure, nil
}

// serviceStatus is a service's progress from its tasks, and the reason it
// failed ("" while it may still converge). nodes (by ID) tell which tasks sit
// on a node that is down: swarm's last word on them, "running", no longer holds.
func serviceStatus(svc mobyswarm.Service, tasks []mobyswarm.Task, before Snapshot, restoring bool, nodes map[string]swarm.Node) (ServiceStatus, string) {
	st := ServiceStatus{}
	if cronjob.Enabled(svc.Spec.Labels) {
		// A scheduled job runs when its schedule says, not when a deploy ends:
		// 0 replicas is its rest, a run that is going on or ended (complete
		// or failed, restart policy none) is the scheduler's business, and so
		// is the update state its runs leave (a failed run can pause it).
		for _, t := range tasks {
			if t.Status.State == mobyswarm.TaskStateRunning {
				st.Running++
			}
		}
		st.Desired, st.State = st.Running, "converged"
		return st, ""
	}
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
	oldTasksCurrent := restoring || (svc.PreviousSpec != nil && sameTemplate(svc.PreviousSpec.TaskTemplate, svc.Spec.TaskTemplate)) ||
		(upd != nil && upd.State == mobyswarm.UpdateStateCompleted)
	if restoring {
		upd = svc.UpdateStatus
	}
	desiredRunning := 0
	var lastErr string
	var lastErrAt time.Time
	noImage := false
	var down []string // down nodes holding tasks meant to run, or tasks of this deploy
	waiting := ""     // the scheduler's reason a task of the current spec has no node
	for _, t := range tasks {
		fresh := !before.tasks[t.ID]
		n, known := nodes[t.NodeID]
		lost := known && (n.State == swarm.NodeDown || n.State == swarm.NodeDisconnected)
		if lost && (fresh || t.DesiredState == mobyswarm.TaskStateRunning) && !slices.Contains(down, n.Hostname) {
			down = append(down, n.Hostname)
		}
		if t.DesiredState == mobyswarm.TaskStateRunning {
			desiredRunning++
			if !lost && t.Status.State == mobyswarm.TaskStateRunning && (fresh || oldTasksCurrent) {
				st.Running++
			}
		}
		// An update's new task waits with desired state "ready" until the
		// updater starts it, a replacement with "running".
		if (t.DesiredState == mobyswarm.TaskStateRunning || t.DesiredState == mobyswarm.TaskStateReady) && (fresh || restoring) &&
			t.Status.State == mobyswarm.TaskStatePending && strings.HasPrefix(t.Status.Err, "no suitable node") {
			waiting = t.Status.Err
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
	switch {
	case waiting != "":
		var unusable []string
		st.Detail, st.noNode, unusable = placementDetail(waiting, svc, nodes)
		st.stuck = strings.Join(unusable, ", ")
	case len(down) > 0:
		slices.Sort(down)
		st.stuck = strings.Join(down, " (down), ") + " (down)"
		st.Detail = "node " + strings.Join(down, ", ") + " is down: swarm replaces its tasks on other nodes if the constraints allow"
		if len(down) > 1 {
			st.Detail = "nodes " + strings.Join(down, ", ") + " are down: swarm replaces their tasks on other nodes if the constraints allow"
		}
	}
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
			if len(down) > 0 && st.Running >= st.Desired {
				// Swarm's updater waits for the task it started on a node
				// that is gone, until the node returns; the orchestrator
				// has replaced that task and every task runs the new spec.
				st.State = "converged"
				st.Detail += "; swarm's update of the service completes when the node returns or is removed"
			}
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
	switch {
	case waiting != "":
		st.State = "pending"
	case lastErr != "":
		st.State = "failing"
	}
	return st, ""
}

// placementDetail explains a task waiting for a node: swarm's reason, the
// service's constraints, and the nodes that cannot take tasks now (down,
// drained, paused), which might once they can. noNode says none could: every
// node is usable and the reason is the constraints alone.
func placementDetail(reason string, svc mobyswarm.Service, nodes map[string]swarm.Node) (string, bool, []string) {
	detail := reason
	if p := svc.Spec.TaskTemplate.Placement; p != nil && len(p.Constraints) > 0 {
		detail += "; constraints: " + strings.Join(p.Constraints, ", ")
	}
	var unusable []string
	for _, n := range nodes {
		switch {
		case n.State != swarm.NodeReady:
			unusable = append(unusable, n.Hostname+" ("+n.State+")")
		case n.Availability == swarm.NodeDrain:
			unusable = append(unusable, n.Hostname+" (drained)")
		case n.Availability == swarm.NodePause:
			unusable = append(unusable, n.Hostname+" (paused)")
		}
	}
	if len(unusable) > 0 {
		slices.Sort(unusable)
		detail += "; nodes taking no new tasks: " + strings.Join(unusable, ", ")
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(reason, "no suitable node ("), ")")
	onlyConstraints := inner != reason && len(unusable) == 0
	for _, part := range strings.Split(inner, "; ") {
		if !strings.HasPrefix(part, "scheduling constraints not satisfied on ") {
			onlyConstraints = false
		}
	}
	return detail, onlyConstraints, unusable
}

// daemonDefaults are task template fields the daemon fills in on some API
// calls and not on others: the spec swarm keeps as PreviousSpec may lack
// them while the current one has them, for the same template.
var daemonDefaults = []string{"ContainerSpec.StopGracePeriod", "ContainerSpec.Isolation", "ContainerSpec.Init",
	"RestartPolicy.", "Placement.Platforms"}

// sameTemplate reports whether an update left the task template as it was
// (only service labels changed, say), so that swarm keeps the running tasks:
// every field set on both sides is equal, and a field set on one side only
// is one of the daemon's defaults.
func sameTemplate(prev, cur mobyswarm.TaskSpec) bool {
	a, b := flatten(prev), flatten(cur)
	oneSided := func(path string) bool {
		return !slices.ContainsFunc(daemonDefaults, func(d string) bool { return path == d || strings.HasPrefix(path, d) })
	}
	for path, v := range a {
		if w, ok := b[path]; ok && w != v || !ok && oneSided(path) {
			return false
		}
	}
	for path := range b {
		if _, ok := a[path]; !ok && oneSided(path) {
			return false
		}
	}
	return true
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
