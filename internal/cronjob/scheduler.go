package cronjob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"
	"github.com/robfig/cron/v3"

	"coopcloud.tech/abra/internal/swarm"
)

// Defaults of a Scheduler's intervals.
const (
	DefaultRefresh = 3 * time.Second
	DefaultPoll    = time.Second
	DefaultGrace   = 30 * time.Second
)

// ErrNotAJob is returned by Run for a service without swarm.cronjob.enable=true.
var ErrNotAJob = errors.New("not a scheduled job (no swarm.cronjob.enable=true label)")

// Scheduler runs the jobs of a swarm on their schedules: Serve lists the
// services every Refresh (one listing for all), so a schedule that is added,
// changed or removed counts at the next listing, without a restart. Run
// starts a job at once through the same code.
//
// A run sets the service's replicas to the replicas label and its
// ForceUpdate to one more (swarm-cronjob's way: swarm starts new tasks),
// waits for the tasks of that update to end, records the run and scales the
// service back to 0 replicas. A run whose waiting process died (an agent
// restarted, a Ctrl-C'd 'abra app cron run') is finished by the scheduler
// once its tasks ended Grace ago, and a job service left with replicas is
// scaled back then.
//
// Methods are safe for concurrent use.
type Scheduler struct {
	Cluster swarm.Cluster
	// Location is the zone of schedules without CRON_TZ= (swarm-cronjob's
	// is its TZ environment); nil means UTC.
	Location *time.Location
	Now      func() time.Time
	Refresh  time.Duration // default DefaultRefresh
	Poll     time.Duration // how often a run's tasks are looked at; default DefaultPoll
	Grace    time.Duration // default DefaultGrace
	// Log gets one line per run, schedule change and problem.
	Log io.Writer

	mu        sync.Mutex
	entries   map[string]*entry // by service ID
	inflight  map[string]int    // service ID → runs this process waits for
	inRecords map[string]bool   // record IDs this process waits for
	errs      map[string]string // service ID → label error last logged
	lastSweep time.Time
	wg        sync.WaitGroup
	logMu     sync.Mutex
}

type entry struct {
	job   Job
	sched cron.Schedule
	next  time.Time
}

// Entry is a scheduled job and its next run.
type Entry struct {
	Job  Job
	Next time.Time
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scheduler) loc() *time.Location {
	if s.Location != nil {
		return s.Location
	}
	return time.UTC
}

func (s *Scheduler) logf(format string, args ...any) {
	if s.Log == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.Log, "%s cron: %s\n", s.now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

func (s *Scheduler) init() {
	if s.entries == nil {
		s.entries, s.inflight, s.inRecords, s.errs = map[string]*entry{}, map[string]int{}, map[string]bool{}, map[string]string{}
	}
}

// Next is the job's next run after t in loc (nil: UTC).
func (j Job) Next(t time.Time, loc *time.Location) time.Time {
	sched, err := ParseSchedule(j.Schedule)
	if err != nil {
		return time.Time{}
	}
	if loc == nil {
		loc = time.UTC
	}
	return sched.Next(t.In(loc))
}

// Entries returns the scheduled jobs, by service name.
func (s *Scheduler) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, Entry{Job: e.job, Next: e.next})
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Job.Service, b.Job.Service) })
	return out
}

// Serve runs the schedules until ctx ends, then waits for the runs it
// started to return (their records stay "running" when ctx ended first: the
// next scheduler finishes them).
func (s *Scheduler) Serve(ctx context.Context) error {
	refresh := s.Refresh
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	last := ""
	for {
		switch err := s.Tick(ctx); {
		case err != nil && ctx.Err() == nil && err.Error() != last: // once until it changes
			s.logf("list services: %v", err)
			last = err.Error()
		case err == nil:
			last = ""
		}
		wait := refresh
		if next, ok := s.nextDue(); ok {
			wait = min(wait, max(next.Sub(s.now()), 10*time.Millisecond))
		}
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return nil
		case <-time.After(wait):
		}
	}
}

func (s *Scheduler) nextDue() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first time.Time
	for _, e := range s.entries {
		if first.IsZero() || e.next.Before(first) {
			first = e.next
		}
	}
	return first, !first.IsZero()
}

// Wait waits for the runs started so far to return.
func (s *Scheduler) Wait() { s.wg.Wait() }

type due struct {
	job Job
	at  time.Time
}

// Tick lists the services once: it schedules, reschedules and unschedules
// jobs, starts the runs that are due (each in its own goroutine), scales
// back job services left running by nobody, and now and then finishes the
// records of runs nobody waits for.
func (s *Scheduler) Tick(ctx context.Context) error {
	services, err := s.Cluster.Services(ctx, "")
	if err != nil {
		return err
	}
	now := s.now()
	s.mu.Lock()
	s.init()
	seen := map[string]bool{}
	var dues []due
	var stray []mobyswarm.Service
	for _, svc := range services {
		job, ok, err := Parse(svc)
		if err != nil {
			if s.errs[svc.ID] != err.Error() {
				s.logf("%v: not scheduled", err)
				s.errs[svc.ID] = err.Error()
			}
			continue
		}
		delete(s.errs, svc.ID)
		if !ok {
			continue
		}
		seen[svc.ID] = true
		e := s.entries[svc.ID]
		if e == nil || e.job.Schedule != job.Schedule {
			sched, _ := ParseSchedule(job.Schedule) // Parse checked it
			what := "scheduled"
			if e != nil {
				what = "schedule changed to"
			}
			e = &entry{sched: sched, next: sched.Next(now.In(s.loc()))}
			s.entries[svc.ID] = e
			s.logf("%s: %s %q, next run %s", job.Service, what, job.Schedule, e.next.Format(time.RFC3339))
			if job.RegistryAuth {
				s.logf("%s: %s=true is not acted on: the nodes pull its image with their own credentials", job.Service, LabelRegistryAuth)
			}
		}
		e.job = job
		if !now.Before(e.next) {
			dues = append(dues, due{job, e.next})
			e.next = e.sched.Next(now.In(s.loc()))
		}
		if !job.Global && replicas(svc) > 0 && s.inflight[svc.ID] == 0 {
			stray = append(stray, svc)
		}
	}
	for id, e := range s.entries {
		if !seen[id] {
			delete(s.entries, id)
			s.logf("%s: unscheduled (service removed, or no longer a job)", e.job.Service)
		}
	}
	sweep := now.Sub(s.lastSweep) >= time.Minute
	if sweep {
		s.lastSweep = now
	}
	s.mu.Unlock()

	for _, d := range dues {
		s.start(ctx, d.job, TriggerSchedule)
	}
	if len(stray) == 0 && !sweep {
		return nil
	}
	tasks, err := s.Cluster.Tasks(ctx, "")
	if err != nil {
		return err
	}
	if sweep {
		s.sweep(ctx, services, tasks, now)
	}
	for _, svc := range stray {
		s.scaleBackStray(ctx, svc, tasks, now)
	}
	return nil
}

// start runs a job in a goroutine of its own.
func (s *Scheduler) start(ctx context.Context, job Job, trigger string) {
	s.mu.Lock()
	s.init()
	s.inflight[job.ServiceID]++
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_, _ = s.run(ctx, job, trigger)
	}()
}

// Run runs a job now and waits for it (trigger manual); the record says how
// it went. Errors are for a job that could not be found or started.
func (s *Scheduler) Run(ctx context.Context, stack, service string) (Record, error) {
	services, err := s.Cluster.Services(ctx, stack)
	if err != nil {
		return Record{}, err
	}
	for _, svc := range services {
		if ShortName(stack, svc.Spec.Name) != service {
			continue
		}
		job, ok, err := Parse(svc)
		if err != nil {
			return Record{}, err
		}
		if !ok {
			return Record{}, fmt.Errorf("service %s: %w", svc.Spec.Name, ErrNotAJob)
		}
		s.mu.Lock()
		s.init()
		s.inflight[job.ServiceID]++
		s.mu.Unlock()
		return s.run(ctx, job, TriggerManual)
	}
	return Record{}, fmt.Errorf("service %s of %s: %w", service, stack, swarm.ErrNotFound)
}

func replicas(svc mobyswarm.Service) uint64 {
	if r := svc.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		return *r.Replicas
	}
	return 0
}

// terminal reports whether a task will not run (any more).
func terminal(t mobyswarm.Task) bool {
	switch t.Status.State {
	case mobyswarm.TaskStateComplete, mobyswarm.TaskStateFailed, mobyswarm.TaskStateRejected,
		mobyswarm.TaskStateShutdown, mobyswarm.TaskStateOrphaned, mobyswarm.TaskStateRemove:
		return true
	}
	return false
}

// Active reports whether a task runs or is on its way to run: what
// skip-running looks for.
func Active(t mobyswarm.Task) bool {
	desired := t.DesiredState == mobyswarm.TaskStateRunning || t.DesiredState == mobyswarm.TaskStateReady
	return !terminal(t) && desired || t.Status.State == mobyswarm.TaskStateRunning
}

func tasksOf(tasks []mobyswarm.Task, serviceID string) []mobyswarm.Task {
	var out []mobyswarm.Task
	for _, t := range tasks {
		if t.ServiceID == serviceID {
			out = append(out, t)
		}
	}
	return out
}

// runTasks are the tasks of a run: those of the service carrying its ForceUpdate.
func runTasks(tasks []mobyswarm.Task, serviceID string, force uint64) []mobyswarm.Task {
	var out []mobyswarm.Task
	for _, t := range tasksOf(tasks, serviceID) {
		if t.Spec.ForceUpdate == force {
			out = append(out, t)
		}
	}
	return out
}

// lastEnd is when the last of the tasks changed state.
func lastEnd(tasks []mobyswarm.Task) time.Time {
	var last time.Time
	for _, t := range tasks {
		if t.Status.Timestamp.After(last) {
			last = t.Status.Timestamp
		}
	}
	return last
}

// scaleBackStray scales back a job service that has replicas but whose
// tasks all ended Grace ago, which nobody in this process waits for (a run
// whose waiter died, a 'docker service scale', a compose file with
// replicas > 0): a later update of the service would start it again.
func (s *Scheduler) scaleBackStray(ctx context.Context, svc mobyswarm.Service, tasks []mobyswarm.Task, now time.Time) {
	mine := tasksOf(tasks, svc.ID)
	for _, t := range mine {
		if Active(t) {
			return
		}
	}
	grace := s.grace()
	if now.Sub(svc.UpdatedAt) < grace || now.Sub(lastEnd(mine)) < grace {
		return
	}
	s.mu.Lock()
	busy := s.inflight[svc.ID] > 0
	s.mu.Unlock()
	if busy {
		return
	}
	if err := s.scaleBack(ctx, svc.Spec.Labels[swarm.StackLabel], svc.ID, 0); err != nil {
		s.logf("%s: scale back to 0 replicas: %v", svc.Spec.Name, err)
		return
	}
	s.logf("%s: scaled back to 0 replicas (its tasks had ended and nothing was waiting for them)", svc.Spec.Name)
}

func (s *Scheduler) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return DefaultGrace
}

// sweep finishes the records of runs that nobody waits for once their tasks
// have ended Grace ago: the waiter died (an agent restarted, an 'abra app
// cron run' was interrupted), or the service is gone.
func (s *Scheduler) sweep(ctx context.Context, services []mobyswarm.Service, tasks []mobyswarm.Task, now time.Time) {
	recs, err := Records{Cluster: s.Cluster}.List(ctx, "", "")
	if err != nil {
		s.logf("read job runs: %v", err)
		return
	}
	for _, rec := range recs {
		if rec.State.Final() || now.Sub(rec.Started) < s.grace() {
			continue
		}
		s.mu.Lock()
		waited := s.inRecords[rec.ID]
		s.mu.Unlock()
		if waited {
			continue
		}
		exists := slices.ContainsFunc(services, func(svc mobyswarm.Service) bool { return svc.ID == rec.ServiceID })
		mine := runTasks(tasks, rec.ServiceID, rec.Force)
		if exists && (slices.ContainsFunc(mine, Active) || now.Sub(lastEnd(mine)) < s.grace()) {
			continue
		}
		full, err := Records{Cluster: s.Cluster}.Load(ctx, rec.ID)
		if err != nil {
			continue
		}
		if !exists {
			full.State, full.Finished, full.Error = Failed, now, "the service was removed during the run"
		} else {
			s.result(ctx, &full, mine, now)
			if full.State == Running { // no task of the run is left
				full.State, full.Finished, full.Error = Failed, now, "no task of the run was found (the run was interrupted)"
			}
		}
		if err := (Records{Cluster: s.Cluster}).Save(ctx, &full); err != nil {
			if !errors.Is(err, ErrRecordExists) {
				s.logf("%s/%s: record run %s: %v", full.Stack, full.Service, full.ID, err)
			}
			continue
		}
		s.logf("%s: run %s finished while nobody waited: %s", serviceName(full), full.ID, summary(full))
	}
}

func serviceName(rec Record) string {
	if rec.Stack == "" {
		return rec.Service
	}
	return rec.Stack + "_" + rec.Service
}

// summary is a run's outcome on one line.
func summary(rec Record) string {
	s := string(rec.State)
	if rec.ExitCode != nil {
		s += fmt.Sprintf(" (exit code %d)", *rec.ExitCode)
	}
	if !rec.Finished.IsZero() && !rec.Started.IsZero() {
		s += " after " + rec.Finished.Sub(rec.Started).Round(100*time.Millisecond).String()
	}
	if rec.Error != "" {
		s += ": " + rec.Error
	}
	if rec.State == Failed && len(rec.Logs) > 0 {
		s += fmt.Sprintf("; last log line: %q", rec.Logs[len(rec.Logs)-1])
	}
	return s
}
