package cronjob

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

const stack = "blog_example_org"

// clock is a fake clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// syncBuffer is a log the scheduler's goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type fixture struct {
	c     *swarmtest.Cluster
	clock *clock
	s     *Scheduler
	log   *syncBuffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{c: swarmtest.New(), clock: &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, log: &syncBuffer{}}
	fx.s = &Scheduler{Cluster: fx.c, Now: fx.clock.Now, Poll: time.Millisecond, Log: fx.log}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scheduler log:\n%s", fx.log)
		}
	})
	return fx
}

// addJob creates <stack>_<name>, a job service as lint wants it: replicas 0,
// restart policy none.
func (fx *fixture) addJob(t *testing.T, name string, labels ...string) string {
	t.Helper()
	l := map[string]string{swarm.StackLabel: stack}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		l[k] = v
	}
	zero := uint64(0)
	spec := mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: stack + "_" + name, Labels: l},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "busybox:1"},
			RestartPolicy: &mobyswarm.RestartPolicy{Condition: mobyswarm.RestartPolicyConditionNone}},
		Mode: mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &zero}}}
	id, _, err := fx.c.CreateService(context.Background(), spec, false)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (fx *fixture) svc(t *testing.T, name string) mobyswarm.Service {
	t.Helper()
	services, _ := fx.c.Services(context.Background(), stack)
	for _, s := range services {
		if s.Spec.Name == stack+"_"+name {
			return s
		}
	}
	t.Fatalf("no service %s", name)
	return mobyswarm.Service{}
}

// setLabel changes a label as a deploy or 'docker service update --label-add' would.
func (fx *fixture) setLabel(t *testing.T, name, key, value string) {
	t.Helper()
	svc := fx.svc(t, name)
	spec := svc.Spec
	spec.Labels = map[string]string{}
	for k, v := range svc.Spec.Labels {
		spec.Labels[k] = v
	}
	spec.Labels[key] = value
	if _, err := fx.c.UpdateService(context.Background(), svc, spec, false); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) tick(t *testing.T, at time.Time) {
	t.Helper()
	fx.clock.Set(at)
	if err := fx.s.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// running waits until the service has n running tasks.
func (fx *fixture) running(t *testing.T, name string, n int) []mobyswarm.Task {
	t.Helper()
	tasks, err := fx.waitRunning(name, n)
	if err != nil {
		t.Fatal(err)
	}
	return tasks
}

func (fx *fixture) waitRunning(name string, n int) ([]mobyswarm.Task, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		tasks, _ := fx.c.Tasks(context.Background(), stack)
		services, _ := fx.c.Services(context.Background(), stack)
		var out []mobyswarm.Task
		for _, tk := range tasks {
			for _, svc := range services {
				if tk.ServiceID == svc.ID && svc.Spec.Name == stack+"_"+name && tk.Status.State == mobyswarm.TaskStateRunning {
					out = append(out, tk)
				}
			}
		}
		if len(out) == n {
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: %d running tasks, want %d", name, len(out), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// end waits for the service's running tasks and ends them with the exit code.
func (fx *fixture) end(t *testing.T, name string, n, exitCode int) {
	t.Helper()
	if err := fx.endTasks(name, n, exitCode); err != nil {
		t.Fatal(err)
	}
}

// endLater is end for a goroutine of its own.
func (fx *fixture) endLater(t *testing.T, name string, n, exitCode int) {
	go func() {
		if err := fx.endTasks(name, n, exitCode); err != nil {
			t.Error(err)
		}
	}()
}

func (fx *fixture) endTasks(name string, n, exitCode int) error {
	if _, err := fx.waitRunning(name, n); err != nil {
		return err
	}
	if got := fx.c.EndTasks(stack+"_"+name, exitCode); got != n {
		return fmt.Errorf("ended %d tasks, want %d", got, n)
	}
	return nil
}

func (fx *fixture) history(t *testing.T, name string) []Record {
	t.Helper()
	recs, err := Records{Cluster: fx.c}.History(context.Background(), stack, name)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func replicasOf(svc mobyswarm.Service) uint64 { return replicas(svc) }

func TestScheduledRunSucceedsIsRecordedAndScaledBack(t *testing.T) {
	fx := newFixture(t)
	fx.addJob(t, "dump", LabelEnable+"=true", LabelSchedule+"=*/10 * * * * *")
	t0 := fx.clock.Now()
	fx.tick(t, t0)
	if e := fx.s.Entries(); len(e) != 1 || !e[0].Next.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("entries = %+v", e)
	}
	fx.tick(t, t0.Add(9*time.Second))
	if recs := fx.history(t, "dump"); len(recs) != 0 {
		t.Fatalf("ran before its time: %+v", recs)
	}
	fx.tick(t, t0.Add(10*time.Second))
	tasks := fx.running(t, "dump", 1)
	if f := tasks[0].Spec.ForceUpdate; f != 1 {
		t.Fatalf("the run's task carries ForceUpdate %d, want 1", f)
	}
	if recs := fx.history(t, "dump"); len(recs) != 1 || recs[0].State != Running || recs[0].Trigger != TriggerSchedule {
		t.Fatalf("while it runs: %+v", recs)
	}
	fx.clock.Set(t0.Add(13 * time.Second))
	fx.end(t, "dump", 1, 0)
	fx.s.Wait()
	recs := fx.history(t, "dump")
	if len(recs) != 1 {
		t.Fatalf("records = %+v", recs)
	}
	r := recs[0]
	if r.State != Succeeded || r.ExitCode == nil || *r.ExitCode != 0 || r.Task != tasks[0].ID || r.Node != "node1" ||
		r.Stack != stack || r.Service != "dump" || r.Schedule != "*/10 * * * * *" || !r.Started.Equal(t0.Add(10*time.Second)) ||
		!r.Finished.Equal(t0.Add(13*time.Second)) || len(r.Logs) != 0 {
		t.Fatalf("record = %+v", r)
	}
	svc := fx.svc(t, "dump")
	if replicasOf(svc) != 0 || svc.Spec.TaskTemplate.ForceUpdate != 1 {
		t.Fatalf("after the run: replicas %d, ForceUpdate %d; want 0 and 1", replicasOf(svc), svc.Spec.TaskTemplate.ForceUpdate)
	}
	if !strings.Contains(fx.log.String(), "blog_example_org_dump: run "+r.ID+" (schedule) succeeded (exit code 0) after 3s") {
		t.Errorf("no log line for the run:\n%s", fx.log)
	}
}

func TestFailedRunIsRecordedWithItsLogsAndNeverRestarts(t *testing.T) {
	fx := newFixture(t)
	fx.addJob(t, "dump", LabelEnable+"=true", LabelSchedule+"=@every 1m", LabelReplicas+"=2")
	var log strings.Builder
	for i := range 30 {
		fmt.Fprintf(&log, "line %d\n", i)
	}
	log.WriteString("dump: connection refused\n")
	fx.c.Log(stack+"_dump", log.String())
	t0 := fx.clock.Now()
	fx.tick(t, t0)
	fx.tick(t, t0.Add(time.Minute))
	fx.end(t, "dump", 2, 3)
	fx.s.Wait()
	recs := fx.history(t, "dump")
	if len(recs) != 1 {
		t.Fatalf("records = %+v", recs)
	}
	r := recs[0]
	if r.State != Failed || r.ExitCode == nil || *r.ExitCode != 3 || r.Error != "task: non-zero exit (3)" {
		t.Fatalf("record = %+v", r)
	}
	if len(r.Logs) != LogLines || r.Logs[len(r.Logs)-1] != "dump: connection refused" || r.Logs[0] != "line 11" {
		t.Fatalf("logs = %q, want the last %d lines", r.Logs, LogLines)
	}
	if svc := fx.svc(t, "dump"); replicasOf(svc) != 0 {
		t.Fatalf("a failed job keeps %d replicas: the next update of the service would start it again", replicasOf(svc))
	}
	if tasks, _ := fx.c.Tasks(context.Background(), stack); slices.ContainsFunc(tasks, Active) {
		t.Fatalf("a failed job has tasks running again: %+v", tasks)
	}
	if !strings.Contains(fx.log.String(), `failed (exit code 3) after 0s: task: non-zero exit (3); last log line: "dump: connection refused"`) {
		t.Errorf("the log line does not say how it failed:\n%s", fx.log)
	}
}

func TestScheduleChangeCountsWithoutRestart(t *testing.T) {
	fx := newFixture(t)
	fx.addJob(t, "dump", LabelEnable+"=true", LabelSchedule+"=0 3 * * *")
	t0 := fx.clock.Now()
	fx.tick(t, t0)
	if e := fx.s.Entries(); len(e) != 1 || !e[0].Next.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("entries = %+v", e)
	}
	// A redeploy (or docker service update --label-add) changes the schedule;
	// the same scheduler sees it at its next listing.
	fx.setLabel(t, "dump", LabelSchedule, "*/2 * * * * *")
	fx.tick(t, t0.Add(time.Second))
	if e := fx.s.Entries(); len(e) != 1 || !e[0].Next.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after the change: entries = %+v", e)
	}
	fx.tick(t, t0.Add(2*time.Second))
	fx.end(t, "dump", 1, 0)
	fx.s.Wait()
	if recs := fx.history(t, "dump"); len(recs) != 1 || recs[0].State != Succeeded || recs[0].Schedule != "*/2 * * * * *" {
		t.Fatalf("records = %+v", recs)
	}
	if !strings.Contains(fx.log.String(), `schedule changed to "*/2 * * * * *"`) {
		t.Errorf("the change is not logged:\n%s", fx.log)
	}
	// Disabled, then removed: no more runs.
	fx.setLabel(t, "dump", LabelEnable, "false")
	fx.tick(t, t0.Add(4*time.Second))
	if e := fx.s.Entries(); len(e) != 0 {
		t.Fatalf("a disabled job is still scheduled: %+v", e)
	}
	fx.setLabel(t, "dump", LabelEnable, "true")
	fx.tick(t, t0.Add(5*time.Second))
	if e := fx.s.Entries(); len(e) != 1 {
		t.Fatalf("a re-enabled job is not scheduled: %+v", e)
	}
	if err := fx.c.RemoveService(context.Background(), fx.svc(t, "dump").ID); err != nil {
		t.Fatal(err)
	}
	fx.tick(t, t0.Add(6*time.Second))
	if e := fx.s.Entries(); len(e) != 0 {
		t.Fatalf("a removed service is still scheduled: %+v", e)
	}
	if len(fx.history(t, "dump")) != 1 {
		t.Fatalf("a removed or disabled job ran")
	}
}

func TestBadLabelIsLoggedOnceAndNotRun(t *testing.T) {
	fx := newFixture(t)
	fx.addJob(t, "dump", LabelEnable+"=true", LabelSchedule+"=every night")
	t0 := fx.clock.Now()
	for i := range 3 {
		fx.tick(t, t0.Add(time.Duration(i)*time.Hour))
	}
	if e := fx.s.Entries(); len(e) != 0 {
		t.Fatalf("scheduled on a bad label: %+v", e)
	}
	if n := strings.Count(fx.log.String(), `label swarm.cronjob.schedule="every night"`); n != 1 {
		t.Fatalf("the bad label is logged %d times, want once:\n%s", n, fx.log)
	}
}

func TestSkipRunning(t *testing.T) {
	fx := newFixture(t)
	fx.addJob(t, "dump", LabelEnable+"=true", LabelSchedule+"=@every 10s", LabelSkipRunning+"=true")
	fx.addJob(t, "other", LabelEnable+"=true", LabelSchedule+"=@every 10s")
	t0 := fx.clock.Now()
	fx.tick(t, t0)
	fx.tick(t, t0.Add(10*time.Second))
	first := fx.running(t, "dump", 1)
	fx.running(t, "other", 1)
	// The next tick while both run: dump is skipped, other (without
	// skip-running) starts again, as swarm-cronjob does.
	fx.tick(t, t0.Add(20*time.Second))
	for deadline := time.Now().Add(5 * time.Second); fx.svc(t, "other").Spec.TaskTemplate.ForceUpdate != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("other was not started again")
		}
	}
	fx.end(t, "other", 1, 0)
	deadline := time.Now().Add(5 * time.Second)
	for len(fx.history(t, "dump")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no skipped record")
		}
		time.Sleep(time.Millisecond)
	}
	recs := fx.history(t, "dump")
	if recs[0].State != Skipped || !strings.Contains(recs[0].Error, "skip-running") || recs[1].State != Running {
		t.Fatalf("records = %+v", recs)
	}
	if tasks := fx.running(t, "dump", 1); tasks[0].ID != first[0].ID || fx.svc(t, "dump").Spec.TaskTemplate.ForceUpdate != 1 {
		t.Fatalf("the skipped run touched the running job")
	}
	fx.end(t, "dump", 1, 0)
	fx.s.Wait()
	if recs := fx.history(t, "dump"); recs[1].State != Succeeded || recs[1].Task != first[0].ID {
		t.Fatalf("the first run: %+v", recs[1])
	}
}

func TestManualRun(t *testing.T) {
	fx := newFixture(t)
	fx.addJob(t, "dump", LabelEnable+"=true", LabelSchedule+"=@yearly")
	fx.addJob(t, "web")
	fx.endLater(t, "dump", 1, 0)
	rec, err := fx.s.Run(context.Background(), stack, "dump")
	if err != nil || rec.State != Succeeded || rec.Trigger != TriggerManual || rec.ExitCode == nil || *rec.ExitCode != 0 {
		t.Fatalf("Run() = %+v, %v", rec, err)
	}
	if recs := fx.history(t, "dump"); len(recs) != 1 || recs[0].ID != rec.ID || recs[0].State != Succeeded {
		t.Fatalf("records = %+v", recs)
	}
	if replicasOf(fx.svc(t, "dump")) != 0 {
		t.Fatal("not scaled back")
	}
	if _, err := fx.s.Run(context.Background(), stack, "web"); err == nil || !strings.Contains(err.Error(), "not a scheduled job") {
		t.Fatalf("Run(not a job) = %v", err)
	}
	if _, err := fx.s.Run(context.Background(), stack, "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Run(missing) = %v", err)
	}
}

func TestRunEndsWhenTheServiceIsRemoved(t *testing.T) {
	fx := newFixture(t)
	fx.addJob(t, "dump", LabelEnable+"=true", LabelSchedule+"=@yearly")
	id := fx.svc(t, "dump").ID
	go func() {
		if _, err := fx.waitRunning("dump", 1); err != nil {
			t.Error(err)
		}
		_ = fx.c.RemoveService(context.Background(), id)
	}()
	rec, err := fx.s.Run(context.Background(), stack, "dump")
	if err != nil || rec.State != Failed || !strings.Contains(rec.Error, "removed") {
		t.Fatalf("Run() = %+v, %v", rec, err)
	}
}

func TestRecordsArePrunedPerService(t *testing.T) {
	c := swarmtest.New()
	r := Records{Cluster: c}
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	running := Record{ID: "running", Stack: stack, Service: "dump", State: Running, Started: t0}
	if err := r.Save(ctx, &running); err != nil {
		t.Fatal(err)
	}
	other := Record{ID: "other", Stack: stack, Service: "other", State: Succeeded, Started: t0}
	if err := r.Save(ctx, &other); err != nil {
		t.Fatal(err)
	}
	for i := range Keep + 5 {
		rec := Record{ID: fmt.Sprintf("run%02d", i), Stack: stack, Service: "dump", State: Running, Started: t0.Add(time.Duration(i+1) * time.Minute)}
		if err := r.Save(ctx, &rec); err != nil {
			t.Fatal(err)
		}
		rec.State = Succeeded
		if err := r.Save(ctx, &rec); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := r.List(ctx, stack, "dump")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != Keep+1 || recs[0].ID != "run24" || recs[Keep-1].ID != "run05" || recs[Keep].ID != "running" {
		var ids []string
		for _, rec := range recs {
			ids = append(ids, rec.ID)
		}
		t.Fatalf("kept %v; want the newest %d finished runs and the unfinished one", ids, Keep)
	}
	if recs[0].Seq != 2 {
		t.Fatalf("seq = %d", recs[0].Seq)
	}
	configs, _ := c.Configs(ctx, "")
	if len(configs) != Keep+2 {
		t.Fatalf("%d configs, want one per kept run (%d)", len(configs), Keep+2)
	}
	if all, _ := r.List(ctx, "", ""); len(all) != Keep+2 {
		t.Fatalf("another service's runs were pruned: %d records", len(all))
	}
	n, err := r.Forget(ctx, stack)
	if err != nil || n != Keep+2 {
		t.Fatalf("Forget() = %d, %v", n, err)
	}
	if configs, _ := c.Configs(ctx, ""); len(configs) != 0 {
		t.Fatalf("left after Forget: %+v", configs)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	c := swarmtest.New()
	r := Records{Cluster: c}
	ctx := context.Background()
	code := 3
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 500, time.UTC)
	rec := Record{ID: "x", Stack: stack, Service: "dump", ServiceID: "svc1", Trigger: TriggerManual, Schedule: "@daily", State: Failed,
		ExitCode: &code, Task: "task1", Node: "node1", Started: t0, Finished: t0.Add(time.Minute), Error: strings.Repeat("e", 2000),
		Logs: []string{"a", "b"}, Force: 7}
	if err := r.Save(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	listed, _ := r.List(ctx, stack, "")
	got := listed[0]
	if got.ExitCode == nil || *got.ExitCode != 3 || got.Force != 7 || !got.Started.Equal(t0) || !got.Finished.Equal(t0.Add(time.Minute)) ||
		got.Task != "task1" || got.Node != "node1" || got.ServiceID != "svc1" || got.Trigger != TriggerManual || got.Logs != nil ||
		len(got.Error) > maxLabel+len("…") {
		t.Fatalf("listed = %+v", got)
	}
	full, err := r.Load(ctx, "x")
	if err != nil || len(full.Logs) != 2 || full.Error != rec.Error {
		t.Fatalf("Load() = %+v, %v", full, err)
	}
}

func TestLastLines(t *testing.T) {
	if got := lastLines("a\r\nb\nc\n\n", 2); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("lastLines = %q", got)
	}
	if got := lastLines("", 2); got != nil {
		t.Errorf("lastLines(empty) = %q", got)
	}
	long := strings.Repeat("x", 3000)
	if got := lastLines(long+"\n"+long+"\nend", 20); len(got) != 2 || got[1] != "end" {
		t.Errorf("lastLines keeps %d lines over %d bytes", len(got), maxLogBytes)
	}
	if got := lastLines(strings.Repeat("y", 5000), 20); len(got) != 1 || len(got[0]) > maxLogBytes+len("…") {
		t.Errorf("one long line is not cut: %d bytes", len(got[0]))
	}
}

func TestInterruptedRunIsFinishedAndScaledBackByTheScheduler(t *testing.T) {
	fx := newFixture(t)
	fx.addJob(t, "dump", LabelEnable+"=true", LabelSchedule+"=@yearly")
	fx.clock.Set(time.Now())
	// An 'abra app cron run' whose process is interrupted while the job runs.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		if _, err := fx.waitRunning("dump", 1); err != nil {
			t.Error(err)
		}
		cancel()
	}()
	other := &Scheduler{Cluster: fx.c, Now: fx.clock.Now, Poll: time.Millisecond}
	if _, err := other.Run(ctx, stack, "dump"); err == nil {
		t.Fatal("an interrupted run returned no error")
	}
	fx.end(t, "dump", 1, 0)
	// Within the grace period nothing happens: a waiter may still be there.
	fx.tick(t, fx.clock.Now().Add(time.Second))
	if recs := fx.history(t, "dump"); recs[0].State != Running || replicasOf(fx.svc(t, "dump")) != 1 {
		t.Fatalf("finished within the grace period: %+v", recs)
	}
	fx.s.lastSweep = time.Time{}
	fx.tick(t, fx.clock.Now().Add(DefaultGrace+time.Minute))
	if recs := fx.history(t, "dump"); len(recs) != 1 || recs[0].State != Succeeded || recs[0].ExitCode == nil {
		t.Fatalf("after the grace period: %+v", recs)
	}
	if replicasOf(fx.svc(t, "dump")) != 0 {
		t.Fatal("the stray job was not scaled back")
	}
	if !strings.Contains(fx.log.String(), "finished while nobody waited: succeeded") || !strings.Contains(fx.log.String(), "scaled back to 0 replicas") {
		t.Errorf("log:\n%s", fx.log)
	}
}

func TestResultOfStoppedTasks(t *testing.T) {
	s := &Scheduler{Cluster: swarmtest.New()}
	task := func(state mobyswarm.TaskState, container string, code int) mobyswarm.Task {
		return mobyswarm.Task{ID: "t1", Status: mobyswarm.TaskStatus{State: state,
			ContainerStatus: &mobyswarm.ContainerStatus{ContainerID: container, ExitCode: code}}}
	}
	tests := []struct {
		name  string
		task  mobyswarm.Task
		state State
		err   string
	}{
		{"completed, then replaced by the next run", task(mobyswarm.TaskStateShutdown, "c1", 0), Succeeded, ""},
		{"stopped while it ran", task(mobyswarm.TaskStateShutdown, "c1", 143), Failed, "stopped by an update of the service"},
		{"stopped before it ran", task(mobyswarm.TaskStateShutdown, "", 0), Failed, "stopped before it ran"},
		{"rejected", mobyswarm.Task{Status: mobyswarm.TaskStatus{State: mobyswarm.TaskStateRejected, Err: "No such image: x:1"}}, Failed, "No such image"},
	}
	for _, tt := range tests {
		rec := Record{}
		s.result(context.Background(), &rec, []mobyswarm.Task{tt.task}, time.Now())
		if rec.State != tt.state || !strings.Contains(rec.Error, tt.err) {
			t.Errorf("%s: %s %q, want %s %q", tt.name, rec.State, rec.Error, tt.state, tt.err)
		}
	}
}

func TestRegistryAuthIsSaidToBeIgnored(t *testing.T) {
	fx := newFixture(t)
	fx.addJob(t, "dump", LabelEnable+"=true", LabelSchedule+"=@daily", LabelRegistryAuth+"=true")
	fx.tick(t, fx.clock.Now())
	fx.tick(t, fx.clock.Now().Add(time.Second))
	if n := strings.Count(fx.log.String(), "swarm.cronjob.registry-auth=true is not acted on"); n != 1 {
		t.Fatalf("said %d times, want once:\n%s", n, fx.log)
	}
}
