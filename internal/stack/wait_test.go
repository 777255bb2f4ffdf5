package stack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// A release that changes only service labels leaves the task template as it
// was; swarm keeps the running task. The daemon's PreviousSpec lacks the
// defaults it filled into the current spec (measured on Engine 20.10).
func TestLabelOnlyUpdateConvergesOnTheRunningTask(t *testing.T) {
	one := uint64(1)
	prev := mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "web:1.1.0@sha256:b5", Labels: map[string]string{"com.docker.stack.namespace": "s"}},
		Placement: &mobyswarm.Placement{}}
	grace := 10 * time.Second
	cur := mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "web:1.1.0@sha256:b5", Labels: map[string]string{"com.docker.stack.namespace": "s"}, StopGracePeriod: &grace},
		RestartPolicy: &mobyswarm.RestartPolicy{Condition: mobyswarm.RestartPolicyConditionAny},
		Placement:     &mobyswarm.Placement{Platforms: []mobyswarm.Platform{{Architecture: "amd64", OS: "linux"}}}}
	svc := func(prev, cur mobyswarm.TaskSpec) mobyswarm.Service {
		return mobyswarm.Service{ID: "svc", Spec: mobyswarm.ServiceSpec{TaskTemplate: cur, Mode: mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}}},
			PreviousSpec: &mobyswarm.ServiceSpec{TaskTemplate: prev}}
	}
	old := mobyswarm.Task{ID: "t1", ServiceID: "svc", DesiredState: mobyswarm.TaskStateRunning, Status: mobyswarm.TaskStatus{State: mobyswarm.TaskStateRunning}}
	before := Snapshot{services: map[string]bool{"svc": true}, updateStarted: map[string]time.Time{}, tasks: map[string]bool{"t1": true}}

	if st, fail := serviceStatus(svc(prev, cur), []mobyswarm.Task{old}, before, false, nil); st.State != "converged" || fail != "" {
		t.Fatalf("label-only update: %+v %q, want converged on the running task", st, fail)
	}
	for name, change := range map[string]func(*mobyswarm.TaskSpec){
		"image":     func(s *mobyswarm.TaskSpec) { s.ContainerSpec.Image = "web:1.2.0@sha256:c6" },
		"env added": func(s *mobyswarm.TaskSpec) { s.ContainerSpec.Env = []string{"A=1"} },
		"container label": func(s *mobyswarm.TaskSpec) {
			s.ContainerSpec.Labels = map[string]string{"com.docker.stack.namespace": "s", "x": "y"}
		},
		"force update": func(s *mobyswarm.TaskSpec) { s.ForceUpdate = 1 },
	} {
		c := cur
		cs := *cur.ContainerSpec
		c.ContainerSpec = &cs
		change(&c)
		if st, _ := serviceStatus(svc(prev, c), []mobyswarm.Task{old}, before, false, nil); st.State == "converged" {
			t.Errorf("%s changed: the old task counted as current: %+v", name, st)
		}
	}
}

// flaky answers like a dockerd that restarts: its listings fail while down.
type flaky struct {
	swarm.Cluster
	down atomic.Int32 // listings left to fail
}

func (f *flaky) Services(ctx context.Context, stack string) ([]mobyswarm.Service, error) {
	if f.down.Add(-1) >= 0 {
		return nil, errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
	}
	return f.Cluster.Services(ctx, stack)
}

// A server that stops answering during the wait is waited for: the deploy
// goes on when it is back, and fails saying contact was lost when it is not.
func TestWaitGoesOnThroughALostServer(t *testing.T) {
	ctx := context.Background()
	fake := swarmtest.New()
	one := uint64(1)
	id, _, err := fake.CreateService(ctx, mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: "s_app", Labels: map[string]string{swarm.StackLabel: "s"}},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "web:1"}},
		Mode:         mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	c := &flaky{Cluster: fake}
	c.down.Store(2)
	var lost []string
	err = Wait(ctx, c, "s", []string{id}, WaitOptions{Timeout: 20 * time.Second, Poll: time.Millisecond, Lost: func(err error) {
		lost = append(lost, fmt.Sprint(err))
	}})
	if err != nil {
		t.Fatalf("Wait through a restart: %v", err)
	}
	if len(lost) != 2 || !strings.Contains(lost[0], "Cannot connect") || lost[1] != "<nil>" {
		t.Fatalf("Lost told %q, want the failure then nil", lost)
	}
	c.down.Store(1 << 30)
	err = Wait(ctx, c, "s", []string{id}, WaitOptions{Timeout: 1500 * time.Millisecond, Poll: time.Millisecond})
	if !errors.Is(err, ErrLostContact) || !strings.Contains(err.Error(), "Cannot connect") {
		t.Fatalf("Wait with the server gone: %v, want ErrLostContact with the cause", err)
	}
}

// placed creates a one-replica service of stack s on the fake with these
// placement constraints and returns its ID.
func placed(t *testing.T, fake *swarmtest.Cluster, constraints ...string) string {
	t.Helper()
	one := uint64(1)
	id, _, err := fake.CreateService(context.Background(), mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: "s_app", Labels: map[string]string{swarm.StackLabel: "s"}},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "web:1"}, Placement: &mobyswarm.Placement{Constraints: constraints}},
		Mode:         mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A task no node satisfies the constraints of stays pending; with every node
// usable nothing changes that but the operator, so Wait gives up after the
// grace period, naming swarm's reason and the constraints.
func TestWaitGivesUpWhenNoNodeSatisfiesTheConstraints(t *testing.T) {
	fake := swarmtest.New()
	fake.AddNode(swarm.Node{Hostname: "w1"})
	id := placed(t, fake, "node.hostname == w9")
	var progress []ServiceStatus
	err := Wait(context.Background(), fake, "s", []string{id}, WaitOptions{Timeout: time.Minute, Poll: time.Millisecond, NoNodeGrace: 20 * time.Millisecond,
		Progress: func(s []ServiceStatus) { progress = s }})
	var nc *NotConvergedError
	if !errors.As(err, &nc) || !nc.NoNode || !errors.Is(err, ErrNoSuitableNode) || !errors.Is(err, ErrNotConverged) {
		t.Fatalf("err = %v, want a NotConvergedError wrapping ErrNoSuitableNode", err)
	}
	for _, want := range []string{"no node satisfies the placement constraints", "app 0/1 pending",
		"no suitable node (scheduling constraints not satisfied on 2 nodes)", "constraints: node.hostname == w9"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if len(nc.StuckOn()) != 0 {
		t.Errorf("StuckOn = %q: every node takes tasks", nc.StuckOn())
	}
	if len(progress) != 1 || progress[0].State != "pending" || !strings.Contains(progress[0].Detail, "no suitable node") {
		t.Errorf("progress = %+v, want the pending task's reason while waiting", progress)
	}
}

// While a node that cannot take tasks now (drained) might satisfy the
// constraints, Wait waits up to its timeout, and says which nodes take none.
func TestWaitForANodeWaitsWhileADrainedNodeMightTakeIt(t *testing.T) {
	fake := swarmtest.New()
	fake.AddNode(swarm.Node{Hostname: "w1", Availability: swarm.NodeDrain})
	id := placed(t, fake, "node.hostname == w1")
	err := Wait(context.Background(), fake, "s", []string{id}, WaitOptions{Timeout: 50 * time.Millisecond, Poll: time.Millisecond, NoNodeGrace: time.Millisecond})
	var nc *NotConvergedError
	if !errors.As(err, &nc) || nc.NoNode || errors.Is(err, ErrNoSuitableNode) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a timeout, not an early no-node failure", err)
	}
	if want := "nodes taking no new tasks: w1 (drained)"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if got := nc.StuckOn(); !slices.Equal(got, []string{"w1 (drained)"}) {
		t.Errorf("StuckOn = %q, want the drained node", got)
	}
	// The operator undrains the node and swarm places the task there.
	fake.SetNode("w1", func(n *swarm.Node) { n.Availability = swarm.NodeActive })
	fake.PlaceTasks("s_app", "w1")
	if err := Wait(context.Background(), fake, "s", []string{id}, WaitOptions{Timeout: time.Second, Poll: time.Millisecond}); err != nil {
		t.Fatalf("after the undrain: %v", err)
	}
}

// A task on a node that went down is not running, whatever swarm last heard
// from it; the wait says so, and converges once swarm reschedules the task.
func TestWaitDoesNotCountTasksOnADownNode(t *testing.T) {
	fake := swarmtest.New()
	fake.AddNode(swarm.Node{Hostname: "w2"})
	id := placed(t, fake, "node.role == worker")
	fake.SetNode("w2", func(n *swarm.Node) { n.State = swarm.NodeDown })
	err := Wait(context.Background(), fake, "s", []string{id}, WaitOptions{Timeout: 30 * time.Millisecond, Poll: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "app 0/1") || !strings.Contains(err.Error(), "node w2 is down") {
		t.Fatalf("err = %v, want the task on the down node not counted, and the node named", err)
	}
	if nc := (*NotConvergedError)(nil); !errors.As(err, &nc) || !slices.Equal(nc.StuckOn(), []string{"w2 (down)"}) {
		t.Fatalf("StuckOn of %v: want the down node", err)
	}
	fake.PlaceTasks("s_app", "fake")
	if err := Wait(context.Background(), fake, "s", []string{id}, WaitOptions{Timeout: time.Second, Poll: time.Millisecond}); err != nil {
		t.Fatalf("after swarm moved the task: %v", err)
	}
}

// Swarm's updater waits for the task it started on a node that went down
// until the node returns, while the orchestrator has replaced that task
// elsewhere: with every task of the new spec running, the service has
// converged, and the detail says why swarm still says "updating".
func TestAnUpdateStuckOnALostNodeHasConverged(t *testing.T) {
	one := uint64(1)
	started := time.Now()
	svc := mobyswarm.Service{ID: "svc", Spec: mobyswarm.ServiceSpec{Mode: mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}}},
		UpdateStatus: &mobyswarm.UpdateStatus{State: mobyswarm.UpdateStateUpdating, StartedAt: &started}}
	lost := mobyswarm.Task{ID: "t2", ServiceID: "svc", NodeID: "w2", DesiredState: mobyswarm.TaskStateShutdown, Status: mobyswarm.TaskStatus{State: mobyswarm.TaskStateStarting}}
	replacement := mobyswarm.Task{ID: "t3", ServiceID: "svc", NodeID: "w1", DesiredState: mobyswarm.TaskStateRunning, Status: mobyswarm.TaskStatus{State: mobyswarm.TaskStateRunning}}
	before := Snapshot{services: map[string]bool{"svc": true}, updateStarted: map[string]time.Time{}, tasks: map[string]bool{"t1": true}}
	nodes := map[string]swarm.Node{"w1": {ID: "w1", Hostname: "abra-w1", State: swarm.NodeReady}, "w2": {ID: "w2", Hostname: "abra-w2", State: swarm.NodeDown}}

	st, fail := serviceStatus(svc, []mobyswarm.Task{lost, replacement}, before, false, nodes)
	if st.State != "converged" || fail != "" || st.Running != 1 || !strings.Contains(st.Detail, "node abra-w2 is down") {
		t.Errorf("with the replacement running: %+v %q, want converged naming the lost node", st, fail)
	}
	replacement.Status.State = mobyswarm.TaskStateStarting
	if st, _ := serviceStatus(svc, []mobyswarm.Task{lost, replacement}, before, false, nodes); st.State != "updating" || !strings.Contains(st.Detail, "node abra-w2 is down") {
		t.Errorf("with the replacement starting: %+v, want updating, naming the lost node", st)
	}
}
