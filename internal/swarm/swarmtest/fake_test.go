package swarmtest

import (
	"cmp"
	"context"
	"slices"
	"testing"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
)

func TestFakeMeetsContract(t *testing.T) {
	Contract(t, func(*testing.T) swarm.Cluster { return New() })
}

// On a fake of several nodes, tasks spread over the ready, active nodes that
// satisfy the constraints; with none, they are pending with swarm's reason;
// tests move them with PlaceTasks.
func TestFakePlacesTasksOnNodes(t *testing.T) {
	ctx := context.Background()
	c := New()
	w1 := c.AddNode(swarm.Node{Hostname: "w1", Labels: map[string]string{"disk": "ssd"}})
	w2 := c.AddNode(swarm.Node{Hostname: "w2"})
	c.SetNode("w2", func(n *swarm.Node) { n.Availability = swarm.NodeDrain })
	if info, _ := c.Info(ctx); info.Nodes != 3 {
		t.Fatalf("Info().Nodes = %d, want 3", info.Nodes)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil || len(nodes) != 3 || nodes[0].Hostname != "fake" || nodes[1].ID != w1 || nodes[1].Role != swarm.RoleWorker ||
		nodes[2].Availability != swarm.NodeDrain || nodes[2].Usable() {
		t.Fatalf("Nodes() = %+v, %v", nodes, err)
	}
	create := func(name string, replicas uint64, constraints ...string) string {
		t.Helper()
		_, _, err := c.CreateService(ctx, mobyswarm.ServiceSpec{
			Annotations:  mobyswarm.Annotations{Name: name},
			TaskTemplate: mobyswarm.TaskSpec{Placement: &mobyswarm.Placement{Constraints: constraints}},
			Mode:         mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &replicas}},
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	on := func(name string) []string {
		t.Helper()
		tasks, _ := c.Tasks(ctx, "")
		svcs, _ := c.Services(ctx, "")
		var out []string
		for _, tk := range tasks {
			for _, s := range svcs {
				if s.ID == tk.ServiceID && s.Spec.Name == name {
					out = append(out, cmp.Or(tk.NodeID, string(tk.Status.State)+": "+tk.Status.Err))
				}
			}
		}
		return out
	}
	create("spread", 2)
	if got := on("spread"); !slices.Equal(got, []string{"node1", w1}) {
		t.Errorf("two replicas on = %v, want one on each usable node", got)
	}
	create("ssd", 1, "node.labels.disk == ssd")
	if got := on("ssd"); !slices.Equal(got, []string{w1}) {
		t.Errorf("node.labels.disk == ssd on = %v, want w1", got)
	}
	create("nowhere", 1, "node.hostname == w9")
	want := "pending: no suitable node (1 node not available for new tasks; scheduling constraints not satisfied on 2 nodes)"
	if got := on("nowhere"); !slices.Equal(got, []string{want}) {
		t.Errorf("an unsatisfiable constraint: %v, want %q", got, want)
	}
	if n := c.PlaceTasks("nowhere", "w2"); n != 1 || !slices.Equal(on("nowhere"), []string{w2}) {
		t.Errorf("PlaceTasks = %d, tasks on %v; want the one task on w2", n, on("nowhere"))
	}
	if cs, _ := c.Containers(ctx, ""); len(cs) != 1 {
		t.Errorf("Containers() = %+v: want only the one task on this node", cs)
	}
}
