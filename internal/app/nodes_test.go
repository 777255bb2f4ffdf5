package app

import (
	"context"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// The fleet status of an app on a swarm of three nodes (the fake's manager
// and workers w1, w2): degraded when nodes explain what is missing or at
// risk, unhealthy otherwise.
func TestFleetStatusOnSeveralNodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *swarmtest.Cluster)
		state  string
		reason string
	}{
		{"all running", func(*swarmtest.Cluster) {}, "deployed", ""},
		{"a drained node still holds a task", func(c *swarmtest.Cluster) {
			c.SetNode("w1", func(n *swarm.Node) { n.Availability = swarm.NodeDrain })
		}, "degraded", "s_app: 1/1 running, node w1 is drained"},
		{"a paused node is fine", func(c *swarmtest.Cluster) {
			c.SetNode("w1", func(n *swarm.Node) { n.Availability = swarm.NodePause })
		}, "deployed", ""},
		{"a task on a down node is not running", func(c *swarmtest.Cluster) {
			c.SetNode("w1", func(n *swarm.Node) { n.State = swarm.NodeDown })
		}, "degraded", "s_app: 0/1 running, node w1 is down"},
		{"a task no node takes", func(c *swarmtest.Cluster) {
			create(t, c, "s_db", "node.hostname == w9")
		}, "degraded", "s_db: 0/1 running, no suitable node (scheduling constraints not satisfied on 3 nodes)"},
		{"a failing task is unhealthy, and wins", func(c *swarmtest.Cluster) {
			c.SetNode("w1", func(n *swarm.Node) { n.State = swarm.NodeDown })
			c.EndTasks("s_free", 1)
		}, "unhealthy", "s_app: 0/1 running, node w1 is down; s_free 0/1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := swarmtest.New()
			c.AddNode(swarm.Node{Hostname: "w1"})
			c.AddNode(swarm.Node{Hostname: "w2"})
			create(t, c, "s_app", "node.hostname == w1")
			create(t, c, "s_free", "node.hostname == w2")
			tc.change(c)
			ctx := context.Background()
			services, _ := c.Services(ctx, "")
			tasks, _ := c.Tasks(ctx, "")
			nodes, err := nodesByID(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			var row Status
			fill(&row, "s", services, tasks, nodes)
			if row.State != tc.state || row.Reason != tc.reason {
				t.Errorf("status = %q (%q), want %q (%q)", row.State, row.Reason, tc.state, tc.reason)
			}
		})
	}
}

func create(t *testing.T, c *swarmtest.Cluster, name string, constraints ...string) {
	t.Helper()
	one := uint64(1)
	_, _, err := c.CreateService(context.Background(), mobyswarm.ServiceSpec{
		Annotations:  mobyswarm.Annotations{Name: name, Labels: map[string]string{swarm.StackLabel: "s"}},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "img:1"}, Placement: &mobyswarm.Placement{Constraints: constraints}},
		Mode:         mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
}

// app ps names each task's node and says when it is down or drained.
func TestTasksNameTheirNodes(t *testing.T) {
	c := swarmtest.New()
	c.AddNode(swarm.Node{Hostname: "w1"})
	create(t, c, "s_app", "node.hostname == w1")
	create(t, c, "s_db", "node.hostname == w9")
	c.SetNode("w1", func(n *swarm.Node) { n.State = swarm.NodeDown })
	tasks, err := Tasks(context.Background(), c, &App{Domain: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 {
		t.Fatalf("tasks = %+v, want two", tasks)
	}
	app, db := tasks[0], tasks[1]
	if app.Service != "app" || app.Hostname != "w1" || app.NodeTrouble != "down" || app.Node == "" {
		t.Errorf("the task on the down node = %+v, want w1, down", app)
	}
	if db.Service != "db" || db.Hostname != "" || db.NodeTrouble != "" || db.State != "pending" ||
		db.Error != "no suitable node (scheduling constraints not satisfied on 2 nodes)" {
		t.Errorf("the task no node takes = %+v, want pending on no node with swarm's reason", db)
	}
}

// After a drain, swarm has shut the task on the node down and the new one
// waits for a node: the node the service ran on last is named.
func TestServiceTroubleNamesTheNodeATaskLeft(t *testing.T) {
	one := uint64(1)
	svc := mobyswarm.Service{ID: "svc", Spec: mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: "s_app"},
		Mode: mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}}}}
	now := time.Now()
	tasks := []mobyswarm.Task{
		{ServiceID: "svc", NodeID: "n2", DesiredState: mobyswarm.TaskStateShutdown, Meta: mobyswarm.Meta{UpdatedAt: now.Add(-time.Hour)},
			Status: mobyswarm.TaskStatus{State: mobyswarm.TaskStateShutdown}},
		{ServiceID: "svc", NodeID: "n1", DesiredState: mobyswarm.TaskStateShutdown, Meta: mobyswarm.Meta{UpdatedAt: now},
			Status: mobyswarm.TaskStatus{State: mobyswarm.TaskStateShutdown}},
		{ServiceID: "svc", DesiredState: mobyswarm.TaskStateRunning, Meta: mobyswarm.Meta{UpdatedAt: now},
			Status: mobyswarm.TaskStatus{State: mobyswarm.TaskStatePending, Err: "no suitable node (1 node not available for new tasks; scheduling constraints not satisfied on 2 nodes)"}},
	}
	nodes := map[string]swarm.Node{
		"n1": {ID: "n1", Hostname: "abra-w1", State: swarm.NodeReady, Availability: swarm.NodeDrain},
		"n2": {ID: "n2", Hostname: "abra-w2", State: swarm.NodeReady, Availability: swarm.NodeActive},
	}
	reason, degraded := serviceTrouble(svc, tasks, nodes)
	if want := "s_app: 0/1 running, node abra-w1 is drained"; reason != want || !degraded {
		t.Errorf("serviceTrouble = %q, %v; want %q, degraded", reason, degraded, want)
	}
}

// An update's new task waits for a node with desired state "ready" (swarm's
// updater has not started it): the service is degraded with swarm's reason.
func TestServiceTroubleSeesAnUpdateWaitingForANode(t *testing.T) {
	one := uint64(1)
	svc := mobyswarm.Service{ID: "svc", Spec: mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: "s_app"},
		Mode: mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}}}}
	const why = "no suitable node (scheduling constraints not satisfied on 3 nodes)"
	tasks := []mobyswarm.Task{{ServiceID: "svc", DesiredState: mobyswarm.TaskStateReady,
		Status: mobyswarm.TaskStatus{State: mobyswarm.TaskStatePending, Err: why}}}
	if reason, degraded := serviceTrouble(svc, tasks, nil); reason != "s_app: 0/1 running, "+why || !degraded {
		t.Errorf("serviceTrouble = %q, %v; want degraded with swarm's reason", reason, degraded)
	}
}
