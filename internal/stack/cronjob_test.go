package stack

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

const jobCompose = `version: "3.8"
services:
  app:
    image: nginx:1.25
  job:
    image: busybox:1
    command: ["sh", "-c", "COMMAND"]
    deploy:
      mode: replicated
      replicas: 0
      restart_policy:
        condition: none
      labels:
        - "swarm.cronjob.enable=true"
        - "swarm.cronjob.schedule=@daily"
`

const jobStack = "jobs_example_org"

type jobFixture struct {
	c   *swarmtest.Cluster
	mu  sync.Mutex
	evs []Event
}

func (fx *jobFixture) events() []Event {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return slices.Clone(fx.evs)
}

// deploy applies jobCompose with the job's command.
func (fx *jobFixture) deploy(t *testing.T, command string, opts DeployOptions) ([]string, error) {
	t.Helper()
	dir := writeFiles(t, map[string]string{"compose.yml": strings.Replace(jobCompose, "COMMAND", command, 1)})
	loaded, err := Load(LoadOptions{Dir: dir, Files: []string{"compose.yml"}, Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := Plan(jobStack, loaded.Config)
	if err != nil {
		t.Fatal(err)
	}
	return Apply(context.Background(), fx.c, spec, opts, func(e Event) {
		fx.mu.Lock()
		defer fx.mu.Unlock()
		fx.evs = append(fx.evs, e)
	})
}

func (fx *jobFixture) job(t *testing.T) mobyswarm.Service {
	t.Helper()
	services, _ := fx.c.Services(context.Background(), jobStack)
	for _, s := range services {
		if s.Spec.Name == jobStack+"_job" {
			return s
		}
	}
	t.Fatal("no job service")
	return mobyswarm.Service{}
}

// run starts the job as the scheduler does: the replicas label's count and ForceUpdate+1.
func (fx *jobFixture) run(t *testing.T) {
	t.Helper()
	svc := fx.job(t)
	spec := svc.Spec
	one := uint64(1)
	spec.Mode.Replicated = &mobyswarm.ReplicatedService{Replicas: &one}
	spec.TaskTemplate.ForceUpdate++
	if _, err := fx.c.UpdateService(context.Background(), svc, spec, false); err != nil {
		t.Fatal(err)
	}
}

func replicasOf(svc mobyswarm.Service) uint64 { return *svc.Spec.Mode.Replicated.Replicas }

func TestDeployKeepsARunningJob(t *testing.T) {
	fx := &jobFixture{c: swarmtest.New()}
	if _, err := fx.deploy(t, "echo hi", DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	fx.run(t)
	// The same compose files again (abra app deploy --force) while the job runs.
	if _, err := fx.deploy(t, "echo hi", DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := fx.job(t)
	if replicasOf(svc) != 1 || svc.Spec.TaskTemplate.ForceUpdate != 1 {
		t.Fatalf("the deploy reset the running job: replicas %d, ForceUpdate %d", replicasOf(svc), svc.Spec.TaskTemplate.ForceUpdate)
	}
	if !slices.ContainsFunc(fx.events(), func(e Event) bool { return e.Action == "keep" && e.Name == jobStack+"_job" }) {
		t.Errorf("no event says the replicas were kept: %+v", fx.events())
	}
	// Once the job has ended, a deploy leaves it as the compose file says.
	fx.c.EndTasks(jobStack+"_job", 0)
	if _, err := fx.deploy(t, "echo hi", DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	if svc := fx.job(t); replicasOf(svc) != 0 || svc.Spec.TaskTemplate.ForceUpdate != 1 {
		t.Fatalf("after the job: replicas %d, ForceUpdate %d; want 0 and 1", replicasOf(svc), svc.Spec.TaskTemplate.ForceUpdate)
	}
}

func TestDeployWaitsForARunningJobWhoseTemplateChanges(t *testing.T) {
	fx := &jobFixture{c: swarmtest.New()}
	if _, err := fx.deploy(t, "echo hi", DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	fx.run(t)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for !slices.ContainsFunc(fx.events(), func(e Event) bool { return e.Action == "wait" }) {
			time.Sleep(time.Millisecond)
		}
		if cmd := fx.job(t).Spec.TaskTemplate.ContainerSpec.Args; !slices.Contains(cmd, "echo hi") {
			t.Errorf("the job's service was updated while its job ran: %q", cmd)
		}
		fx.c.EndTasks(jobStack+"_job", 0)
	}()
	_, err := fx.deploy(t, "echo bye", DeployOptions{JobWait: 10 * time.Second, Poll: time.Millisecond})
	<-ended
	if err != nil {
		t.Fatal(err)
	}
	svc := fx.job(t)
	if !slices.Contains(svc.Spec.TaskTemplate.ContainerSpec.Args, "echo bye") || replicasOf(svc) != 0 {
		t.Fatalf("after the wait: args %q, replicas %d", svc.Spec.TaskTemplate.ContainerSpec.Args, replicasOf(svc))
	}
	var wait Event
	for _, e := range fx.events() {
		if e.Action == "wait" {
			wait = e
		}
	}
	if !strings.Contains(wait.Detail, "TaskTemplate.ContainerSpec.Args") {
		t.Errorf("the wait does not say what changes: %+v", wait)
	}
}

func TestDeployGivesUpOnAJobThatOutlastsItsTimeout(t *testing.T) {
	fx := &jobFixture{c: swarmtest.New()}
	if _, err := fx.deploy(t, "echo hi", DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	fx.run(t)
	calls := len(fx.c.Calls)
	_, err := fx.deploy(t, "echo bye", DeployOptions{JobWait: 20 * time.Millisecond, Poll: time.Millisecond})
	var jr *JobRunningError
	if !errors.As(err, &jr) || !slices.Equal(jr.Services, []string{jobStack + "_job"}) || !strings.Contains(jr.Hint(), "abra app cron ls") {
		t.Fatalf("err = %v", err)
	}
	for _, c := range fx.c.Calls[calls:] {
		if strings.HasPrefix(c, "update service") {
			t.Errorf("a service was updated: %s", c)
		}
	}
	if svc := fx.job(t); replicasOf(svc) != 1 {
		t.Fatal("the job was stopped")
	}
}

func TestWaitTreatsJobsAsConverged(t *testing.T) {
	for _, exit := range []int{0, 3} {
		fx := &jobFixture{c: swarmtest.New()}
		if _, err := fx.deploy(t, "echo hi", DeployOptions{}); err != nil {
			t.Fatal(err)
		}
		fx.run(t)
		snap, err := TakeSnapshot(context.Background(), fx.c, jobStack)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := fx.deploy(t, "echo hi", DeployOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The run ends while the deploy waits: complete, or failed (restart
		// policy none: swarm starts no other task). Neither is the deploy's failure.
		fx.c.EndTasks(jobStack+"_job", exit)
		var statuses []ServiceStatus
		err = Wait(context.Background(), fx.c, jobStack, ids, WaitOptions{Timeout: 200 * time.Millisecond, Poll: time.Millisecond, Before: snap,
			Progress: func(s []ServiceStatus) { statuses = s }})
		if err != nil {
			t.Fatalf("exit %d: %v", exit, err)
		}
		if i := slices.IndexFunc(statuses, func(s ServiceStatus) bool { return s.Name == "job" }); i < 0 || statuses[i].State != "converged" {
			t.Fatalf("exit %d: %+v", exit, statuses)
		}
	}
}

func TestRestorePutsAJobBackWithoutRestartingIt(t *testing.T) {
	fx := &jobFixture{c: swarmtest.New()}
	if _, err := fx.deploy(t, "echo hi", DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	snap, err := TakeSnapshot(context.Background(), fx.c, jobStack)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.deploy(t, "echo bye", DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	// The scheduler runs the job after the deploy: swarm's previous spec is
	// now the deploy's, not the one from before it.
	fx.run(t)
	if _, err := Restore(context.Background(), fx.c, jobStack, snap, nil); err != nil {
		t.Fatal(err)
	}
	svc := fx.job(t)
	if !slices.Contains(svc.Spec.TaskTemplate.ContainerSpec.Args, "echo hi") || replicasOf(svc) != 1 || svc.Spec.TaskTemplate.ForceUpdate != 1 {
		t.Fatalf("restored: args %q, replicas %d, ForceUpdate %d; want the old command, the run's replicas and ForceUpdate",
			svc.Spec.TaskTemplate.ContainerSpec.Args, replicasOf(svc), svc.Spec.TaskTemplate.ForceUpdate)
	}
}
