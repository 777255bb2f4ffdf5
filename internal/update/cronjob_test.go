package update

import (
	"context"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/cronjob"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// A scheduled job that runs during the verify window (its task created,
// then ended) is no restart and no failure of the update.
func TestWatchStableIgnoresScheduledJobs(t *testing.T) {
	fake := swarmtest.New()
	zero := uint64(0)
	for _, s := range []struct {
		name   string
		labels map[string]string
	}{
		{"s_app", map[string]string{swarm.StackLabel: "s"}},
		{"s_dump", map[string]string{swarm.StackLabel: "s", cronjob.LabelEnable: "true", cronjob.LabelSchedule: "@every 1m"}},
	} {
		spec := mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: s.name, Labels: s.labels},
			Mode: mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &zero}}}
		if _, _, err := fake.CreateService(context.Background(), spec, false); err != nil {
			t.Fatal(err)
		}
	}
	running := mobyswarm.TaskStateRunning
	app := task("t1", running, running) // of svc1, s_app
	job := func(state mobyswarm.TaskState) mobyswarm.Task {
		j := newTask("j1", running, state)
		j.ServiceID = "svc2" // s_dump
		return j
	}
	c := &scriptedTasks{Cluster: fake, script: [][]mobyswarm.Task{{app}, {app, job(running)}, {app, job(mobyswarm.TaskStateFailed)}}}
	if err := WatchStable(context.Background(), c, "s", 30*time.Millisecond); err != nil {
		t.Fatalf("a job's run failed the verify window: %v", err)
	}
	// The same task of a service that is no job is a restart.
	c = &scriptedTasks{Cluster: fake, script: [][]mobyswarm.Task{{app}, {app, newTask("t3", running, running)}}}
	if err := WatchStable(context.Background(), c, "s", 30*time.Millisecond); err == nil {
		t.Fatal("a restart of the app was not seen")
	}
}
