package cronjob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
)

// run is one run of a job, scheduled or manual: start it (unless
// skip-running finds a task running), wait for its tasks to end, record it,
// scale the service back. The caller has counted it in s.inflight.
func (s *Scheduler) run(ctx context.Context, job Job, trigger string) (Record, error) {
	defer func() {
		s.mu.Lock()
		if s.inflight[job.ServiceID]--; s.inflight[job.ServiceID] <= 0 {
			delete(s.inflight, job.ServiceID)
		}
		s.mu.Unlock()
	}()
	records := Records{Cluster: s.Cluster}
	now := s.now()
	rec := Record{ID: newID(now), Stack: job.Stack, Service: job.Name, ServiceID: job.ServiceID, Trigger: trigger,
		Schedule: job.Schedule, Started: now}
	svc, tasks, err := s.lookup(ctx, job)
	if err != nil {
		s.logf("%s: run not started: %v", job.Service, err)
		return rec, err
	}
	save := func() {
		if err := records.Save(ctx, &rec); err != nil {
			s.logf("%s: %v", job.Service, err)
		}
	}
	if job.SkipRunning && slices.ContainsFunc(tasksOf(tasks, svc.ID), Active) {
		rec.State, rec.Finished, rec.Error = Skipped, now, "a task of the service is still running (skip-running)"
		save()
		s.logf("%s: run %s (%s) skipped: a task of the service is still running", job.Service, rec.ID, trigger)
		return rec, nil
	}
	spec := svc.Spec
	spec.TaskTemplate.ForceUpdate++
	if !job.Global {
		n := job.Replicas
		spec.Mode.Replicated = &mobyswarm.ReplicatedService{Replicas: &n}
	}
	rec.Force = spec.TaskTemplate.ForceUpdate
	s.mu.Lock()
	s.inRecords[rec.ID] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inRecords, rec.ID)
		s.mu.Unlock()
	}()
	// Recorded before the update: a crash in between leaves a running record
	// without tasks, which a scheduler ends as interrupted.
	rec.State = Running
	save()
	if _, err := s.Cluster.UpdateService(ctx, svc, spec, job.QueryRegistry); err != nil {
		rec.State, rec.Finished, rec.Error = Failed, s.now(), "start: "+err.Error()
		save()
		s.logf("%s: run %s (%s): %s", job.Service, rec.ID, trigger, summary(rec))
		return rec, nil
	}
	s.logf("%s: run %s (%s) started", job.Service, rec.ID, trigger)
	if err := s.wait(ctx, job, &rec); err != nil {
		return rec, err // the record stays running: a scheduler finishes it
	}
	save()
	s.logf("%s: run %s (%s) %s", job.Service, rec.ID, trigger, summary(rec))
	if !job.Global {
		if err := s.scaleBack(ctx, job.Stack, job.ServiceID, rec.Force); err != nil {
			s.logf("%s: scale back to 0 replicas: %v", job.Service, err)
		}
	}
	return rec, nil
}

// lookup lists the job's service and the tasks of its stack.
func (s *Scheduler) lookup(ctx context.Context, job Job) (mobyswarm.Service, []mobyswarm.Task, error) {
	services, err := s.Cluster.Services(ctx, job.Stack)
	if err != nil {
		return mobyswarm.Service{}, nil, err
	}
	i := slices.IndexFunc(services, func(svc mobyswarm.Service) bool { return svc.ID == job.ServiceID })
	if i < 0 {
		return mobyswarm.Service{}, nil, fmt.Errorf("service %s: %w", job.Service, swarm.ErrNotFound)
	}
	tasks, err := s.Cluster.Tasks(ctx, job.Stack)
	if err != nil {
		return mobyswarm.Service{}, nil, err
	}
	return services[i], tasks, nil
}

// wait polls until the tasks of the run have ended, and fills in the record.
func (s *Scheduler) wait(ctx context.Context, job Job, rec *Record) error {
	poll := s.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	want := int(job.Replicas)
	if job.Global {
		want = 1
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		cur, tasks, err := s.lookup(ctx, job)
		now := s.now()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, swarm.ErrNotFound):
			rec.State, rec.Finished, rec.Error = Failed, now, "the service was removed during the run"
			return nil
		case err != nil:
			continue // the API will answer again
		}
		mine := runTasks(tasks, job.ServiceID, rec.Force)
		if slices.ContainsFunc(mine, func(t mobyswarm.Task) bool { return !terminal(t) }) {
			continue
		}
		// Someone else updated the service since (a newer run, a scale to 0).
		superseded := cur.Spec.TaskTemplate.ForceUpdate != rec.Force || !job.Global && replicas(cur) == 0
		switch {
		case len(mine) >= want || len(mine) > 0 && superseded:
			s.result(ctx, rec, mine, now)
			return nil
		case superseded:
			rec.State, rec.Finished = Failed, now
			rec.Error = fmt.Sprintf("stopped before a task started: the service was updated (replicas %d, force update %d)",
				replicas(cur), cur.Spec.TaskTemplate.ForceUpdate)
			return nil
		}
	}
}

// result fills in the record from the run's ended tasks: failed unless every
// one completed, with the task that did not (or the last one), its exit
// code and, on failure, the last log lines. Without tasks it changes nothing.
func (s *Scheduler) result(ctx context.Context, rec *Record, mine []mobyswarm.Task, now time.Time) {
	if len(mine) == 0 {
		return
	}
	mine = slices.Clone(mine)
	slices.SortFunc(mine, func(a, b mobyswarm.Task) int { return a.Status.Timestamp.Compare(b.Status.Timestamp) })
	pick, failed := mine[len(mine)-1], false
	for _, t := range mine {
		if !completed(t) {
			pick, failed = t, true
		}
	}
	rec.Task, rec.Node, rec.Finished = pick.ID, pick.NodeID, now
	if cs := pick.Status.ContainerStatus; cs != nil && cs.ContainerID != "" {
		code := cs.ExitCode
		rec.ExitCode = &code
	}
	if !failed {
		rec.State = Succeeded
		return
	}
	rec.State = Failed
	switch {
	case pick.Status.Err != "":
		rec.Error = pick.Status.Err
	case pick.Status.State == mobyswarm.TaskStateShutdown && rec.ExitCode == nil:
		rec.Error = "stopped before it ran, by an update of the service (a newer run, a scale to 0, a deploy)"
	case pick.Status.State == mobyswarm.TaskStateShutdown:
		rec.Error = "stopped by an update of the service (a newer run, a scale to 0, a deploy)"
	default:
		rec.Error = "task " + string(pick.Status.State)
		if pick.Status.Message != "" {
			rec.Error += ": " + pick.Status.Message
		}
	}
	rec.Logs = s.lastLogs(ctx, rec)
}

// completed reports whether a task's container ran to a successful end:
// complete, or shut down after its container had exited 0 (the state of a
// completed task moves on to shutdown when an update replaces it, as the
// next run of a job on a short schedule does; a job that exits 0 when it
// is stopped counts as succeeded too).
func completed(t mobyswarm.Task) bool {
	cs := t.Status.ContainerStatus
	return t.Status.State == mobyswarm.TaskStateComplete ||
		t.Status.State == mobyswarm.TaskStateShutdown && cs != nil && cs.ContainerID != "" && cs.ExitCode == 0
}

// lastLogs reads the run's last log lines: the service's logs since the run
// started (earlier runs' tasks ended before it).
func (s *Scheduler) lastLogs(ctx context.Context, rec *Record) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rc, err := s.Cluster.ServiceLogs(ctx, rec.ServiceID, swarm.LogOptions{Tail: strconv.Itoa(LogLines), Since: rec.Started})
	if err != nil {
		s.logf("%s: logs of run %s: %v", serviceName(*rec), rec.ID, err)
		return nil
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	return lastLines(string(b), LogLines)
}

// scaleBack sets the service's replicas to 0, unless a newer run (another
// ForceUpdate than force; 0 means any) started since.
func (s *Scheduler) scaleBack(ctx context.Context, stack, serviceID string, force uint64) error {
	services, err := s.Cluster.Services(ctx, stack)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(services, func(svc mobyswarm.Service) bool { return svc.ID == serviceID })
	if i < 0 {
		return nil
	}
	cur := services[i]
	if replicas(cur) == 0 || cur.Spec.Mode.Replicated == nil || force != 0 && cur.Spec.TaskTemplate.ForceUpdate != force {
		return nil
	}
	spec := cur.Spec
	zero := uint64(0)
	spec.Mode.Replicated = &mobyswarm.ReplicatedService{Replicas: &zero}
	_, err = s.Cluster.UpdateService(ctx, cur, spec, false)
	return err
}
