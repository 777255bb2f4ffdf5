package swarmtest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"

	abraswarm "coopcloud.tech/abra/internal/swarm"
)

// ContractImage is the image the contract runs a service of: a shell and
// busybox's applets (scripts/build-busybox-image.sh builds it on a daemon).
const ContractImage = "abra-test/busybox:1"

// Contract is the behaviour every swarm.Cluster must show. The fake runs it in
// its unit tests and the Docker adapter against a real daemon, so the fake
// cannot drift from the real thing. Every method of the interface is
// exercised. On a shared daemon the suite touches only what it creates: its
// objects carry a stack label of their own, its prunes are scoped by a label
// of their own, and its cleanup removes everything it made.
//
// The fake runs no processes: where a daemon runs the contract's image, the
// fake is told what the image holds and what its processes print (playImage).
func Contract(t *testing.T, newCluster func(t *testing.T) abraswarm.Cluster) {
	ctx := context.Background()
	stack := fmt.Sprintf("contract%09d%03d", time.Now().UnixNano()%1_000_000_000, os.Getpid()%1000)
	other := stack + "x" // a second stack: lists by stack keep the two apart
	c := newCluster(t)
	t.Cleanup(func() { cleanup(c, stack, other) })
	if f, ok := c.(*Cluster); ok {
		playImage(f, stack)
	}
	labels := func(stack string, extra ...string) map[string]string {
		l := map[string]string{abraswarm.StackLabel: stack}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return l
	}

	t.Run("info says manager", func(t *testing.T) {
		info, err := c.Info(ctx)
		if err != nil || info.SwarmState != "active" || !info.IsManager || info.NodeID == "" || info.Nodes < 1 || info.ServerVersion == "" {
			t.Fatalf("Info() = %+v, %v", info, err)
		}
	})
	t.Run("nodes: this node is a ready active leader manager", func(t *testing.T) {
		nodeContract(t, c)
	})
	t.Run("init swarm on an active swarm fails and changes nothing", func(t *testing.T) {
		before, _ := c.Info(ctx)
		if err := c.InitSwarm(ctx, "127.0.0.1"); err == nil {
			t.Fatal("InitSwarm on a node of an active swarm succeeded")
		}
		if after, err := c.Info(ctx); err != nil || after.NodeID != before.NodeID || after.SwarmState != "active" || !after.IsManager {
			t.Fatalf("Info() after InitSwarm = %+v, %v; before %+v", after, err, before)
		}
	})
	t.Run("networks by stack", func(t *testing.T) {
		if _, err := c.InspectNetwork(ctx, stack+"_nope"); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Fatalf("InspectNetwork(missing) = %v, want ErrNotFound", err)
		}
		if err := c.RemoveNetwork(ctx, stack+"_nope"); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Fatalf("RemoveNetwork(missing) = %v, want ErrNotFound", err)
		}
		for _, s := range []string{stack, other} {
			if err := c.CreateNetwork(ctx, s+"_default", abraswarm.NetworkSpec{Driver: "overlay", Labels: labels(s)}); err != nil {
				t.Fatal(err)
			}
		}
		nets, err := c.Networks(ctx, stack)
		if err != nil || len(nets) != 1 || nets[0].Name != stack+"_default" || nets[0].Scope != "swarm" ||
			nets[0].Labels[abraswarm.StackLabel] != stack || nets[0].ID == "" {
			t.Fatalf("Networks(stack) = %+v, %v", nets, err)
		}
		all, err := c.Networks(ctx, "")
		if err != nil || !slices.ContainsFunc(all, func(n abraswarm.Network) bool { return n.Name == other+"_default" }) ||
			!slices.ContainsFunc(all, func(n abraswarm.Network) bool { return n.Name == stack+"_default" }) {
			t.Fatalf("Networks(\"\") lacks the stacks' networks: %+v, %v", all, err)
		}
		if n, err := c.InspectNetwork(ctx, stack+"_default"); err != nil || n.ID != nets[0].ID || n.Name != stack+"_default" {
			t.Fatalf("InspectNetwork() = %+v, %v", n, err)
		}
		if err := c.CreateNetwork(ctx, stack+"_default", abraswarm.NetworkSpec{Driver: "overlay", Labels: labels(stack)}); err == nil {
			t.Fatal("a second network of the same name was created")
		}
	})
	t.Run("secrets: versions, labels only, IDs", func(t *testing.T) {
		objectContract(t, objectKind{
			name: "secret",
			create: func(name string, l map[string]string, data []byte) error {
				return c.CreateSecret(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: l}, Data: data})
			},
			list: func(s string) ([]abraswarm.Object, error) { return c.Secrets(ctx, s) },
			ids:  func(names []string) (map[string]string, error) { return c.SecretIDs(ctx, names) },
			update: func(o abraswarm.Object, name string, l map[string]string, data []byte) error {
				return c.UpdateSecret(ctx, o, swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: l}, Data: data})
			},
			remove: func(id string) error { return c.RemoveSecret(ctx, id) },
		}, stack, other)
	})
	t.Run("configs: versions, labels only, IDs, data", func(t *testing.T) {
		objectContract(t, objectKind{
			name: "config",
			create: func(name string, l map[string]string, data []byte) error {
				return c.CreateConfig(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name, Labels: l}, Data: data})
			},
			list: func(s string) ([]abraswarm.Object, error) { return c.Configs(ctx, s) },
			ids:  func(names []string) (map[string]string, error) { return c.ConfigIDs(ctx, names) },
			update: func(o abraswarm.Object, name string, l map[string]string, data []byte) error {
				return c.UpdateConfig(ctx, o, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name, Labels: l}, Data: data})
			},
			remove: func(id string) error { return c.RemoveConfig(ctx, id) },
			data:   func(id string) ([]byte, error) { return c.ConfigData(ctx, id) },
		}, stack, other)
	})
	t.Run("services create, update, roll back, list, remove", func(t *testing.T) {
		zero := uint64(0)
		spec := swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: stack + "_app", Labels: labels(stack)},
			TaskTemplate: swarm.TaskSpec{
				ContainerSpec: &swarm.ContainerSpec{Image: ContractImage, Labels: labels(stack)},
				Networks:      []swarm.NetworkAttachmentConfig{{Target: stack + "_default", Aliases: []string{"app"}}},
			},
			Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
		}
		id, _, err := c.CreateService(ctx, spec, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.CreateService(ctx, spec, false); err == nil {
			t.Fatal("a second service of the same name was created")
		}
		services, err := c.Services(ctx, stack)
		if err != nil || len(services) != 1 || services[0].ID != id || services[0].Spec.Name != stack+"_app" {
			t.Fatalf("Services(stack) = %v, %v", services, err)
		}
		if others, err := c.Services(ctx, other); err != nil || len(others) != 0 {
			t.Fatalf("Services(other stack) = %v, %v", others, err)
		}
		if all, err := c.Services(ctx, ""); err != nil || !slices.ContainsFunc(all, func(s swarm.Service) bool { return s.ID == id }) {
			t.Fatalf("Services(\"\") lacks %s: %v", id, err)
		}
		nets, _ := c.Networks(ctx, stack)
		if got := services[0].Spec.TaskTemplate.Networks; len(got) != 1 || len(nets) != 1 || got[0].Target != nets[0].ID {
			t.Fatalf("network targets are stored as IDs: got %+v, network %+v", got, nets)
		}
		if err := c.RollbackService(ctx, services[0]); err == nil || errors.Is(err, abraswarm.ErrNotFound) {
			t.Fatalf("RollbackService without a previous spec = %v, want an error other than ErrNotFound", err)
		}

		spec.Labels = labels(stack, "extra", "1")
		// The listing from right after the create: swarm may have bumped the
		// version since (network allocation), and the update still applies.
		if _, err := c.UpdateService(ctx, services[0], spec, false); err != nil {
			t.Fatal(err)
		}
		services, _ = c.Services(ctx, stack)
		if len(services) != 1 || services[0].Spec.Labels["extra"] != "1" || services[0].PreviousSpec == nil || services[0].PreviousSpec.Labels["extra"] != "" {
			t.Fatalf("update not applied, or the previous spec not kept: %+v", services)
		}
		if err := c.RollbackService(ctx, services[0]); err != nil {
			t.Fatal(err)
		}
		services, _ = c.Services(ctx, stack)
		if len(services) != 1 || services[0].Spec.Labels["extra"] != "" || services[0].PreviousSpec == nil || services[0].PreviousSpec.Labels["extra"] != "1" {
			t.Fatalf("rollback must put the previous spec back and keep the rolled-back one as previous: %+v", services)
		}

		gone := services[0]
		if err := c.RemoveService(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := c.RemoveService(ctx, id); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Fatalf("second remove: err = %v, want ErrNotFound", err)
		}
		if _, err := c.UpdateService(ctx, gone, spec, false); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Fatalf("UpdateService(removed) = %v, want ErrNotFound", err)
		}
		if err := c.RollbackService(ctx, gone); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Fatalf("RollbackService(removed) = %v, want ErrNotFound", err)
		}
	})
	t.Run("a running service: tasks, containers, logs, exec, copies, volumes", func(t *testing.T) {
		runningService(t, c, stack, other)
	})
	t.Run("a task no node can take is pending with the scheduler's reason", func(t *testing.T) {
		unplaceable(t, c, stack)
	})
	t.Run("prune removes only what it is scoped to", func(t *testing.T) {
		pruneContract(t, c, stack, other)
	})
}

// nodeContract: the node the client talks to is listed (the contract's
// daemons are single-node swarms, or the manager of one), with its hostname,
// address and role; the list is sorted by hostname.
func nodeContract(t *testing.T, c abraswarm.Cluster) {
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil || len(nodes) != info.Nodes {
		t.Fatalf("Nodes() = %+v, %v; want the %d nodes Info counts", nodes, err, info.Nodes)
	}
	i := slices.IndexFunc(nodes, func(n abraswarm.Node) bool { return n.ID == info.NodeID })
	if i < 0 {
		t.Fatalf("Nodes() = %+v lacks this node %s", nodes, info.NodeID)
	}
	n := nodes[i]
	if n.Hostname == "" || n.Addr == "" || n.Role != abraswarm.RoleManager || n.Availability != abraswarm.NodeActive ||
		n.State != abraswarm.NodeReady || !n.Leader || !n.Usable() {
		t.Errorf("this node = %+v: want a hostname, an address, and a ready, active leader manager", n)
	}
	if !slices.IsSortedFunc(nodes, func(a, b abraswarm.Node) int { return strings.Compare(a.Hostname, b.Hostname) }) {
		t.Errorf("Nodes() not sorted by hostname: %+v", nodes)
	}
}

// unplaceable: a service whose constraint no node satisfies gets a pending
// task on no node, whose status Err is swarm's scheduler's reason (what
// abra's wait reports); a running task is on a listed node.
func unplaceable(t *testing.T, c abraswarm.Cluster, stack string) {
	ctx := context.Background()
	one := uint64(1)
	l := map[string]string{abraswarm.StackLabel: stack}
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: stack + "_pinned", Labels: l},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: ContractImage, Labels: l, Command: []string{"sleep", "600"}},
			Placement:     &swarm.Placement{Constraints: []string{"node.labels." + stack + " == nowhere"}},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
	}
	id, _, err := c.CreateService(ctx, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.RemoveService(ctx, id) }()
	nodes, err := c.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("no suitable node (scheduling constraints not satisfied on %d node", len(nodes))
	eventually(t, time.Minute, func() string {
		tasks, err := c.Tasks(ctx, stack)
		if err != nil {
			return err.Error()
		}
		for _, tk := range tasks {
			if tk.ServiceID == id && tk.Status.State == swarm.TaskStatePending && tk.NodeID == "" && strings.HasPrefix(tk.Status.Err, want) {
				return ""
			}
		}
		return fmt.Sprintf("want a pending task on no node with %q: %+v", want, tasks)
	})
	// Without the constraint the task runs, on a node of the list.
	svcs, err := c.Services(ctx, stack)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(svcs, func(s swarm.Service) bool { return s.ID == id })
	if i < 0 {
		t.Fatalf("service %s not listed: %+v", id, svcs)
	}
	spec.TaskTemplate.Placement = nil
	if _, err := c.UpdateService(ctx, svcs[i], spec, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() string {
		tasks, err := c.Tasks(ctx, stack)
		if err != nil {
			return err.Error()
		}
		for _, tk := range tasks {
			if tk.ServiceID == id && tk.Status.State == swarm.TaskStateRunning &&
				slices.ContainsFunc(nodes, func(n abraswarm.Node) bool { return n.ID == tk.NodeID }) {
				return ""
			}
		}
		return fmt.Sprintf("want a running task on one of the nodes %+v: %+v", nodes, tasks)
	})
}

// objectKind is the part of the port for secrets or for configs.
type objectKind struct {
	name   string
	create func(name string, labels map[string]string, data []byte) error
	list   func(stack string) ([]abraswarm.Object, error)
	ids    func(names []string) (map[string]string, error)
	update func(o abraswarm.Object, name string, labels map[string]string, data []byte) error
	remove func(id string) error
	data   func(id string) ([]byte, error) // configs only
}

// objectContract is what secrets and configs share: swarm versions them,
// lists them by stack, resolves names to IDs and lets only labels change.
func objectContract(t *testing.T, k objectKind, stack, other string) {
	name := stack + "_" + k.name + "_v1"
	l := map[string]string{abraswarm.StackLabel: stack}
	if err := k.create(name, l, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := k.create(name, l, []byte("x")); err == nil {
		t.Fatalf("a second %s of the same name was created", k.name)
	}
	if err := k.create(other+"_"+k.name+"_v1", map[string]string{abraswarm.StackLabel: other}, []byte("o")); err != nil {
		t.Fatal(err)
	}
	list := func() abraswarm.Object {
		t.Helper()
		objs, err := k.list(stack)
		if err != nil || len(objs) != 1 || objs[0].Name != name || objs[0].ID == "" || objs[0].Labels[abraswarm.StackLabel] != stack || objs[0].Version.Index == 0 {
			t.Fatalf("%ss of the stack = %+v, %v; want %s with an ID, its labels and a version", k.name, objs, err, name)
		}
		return objs[0]
	}
	first := list()
	if all, err := k.list(""); err != nil || !slices.ContainsFunc(all, func(o abraswarm.Object) bool { return o.Name == other+"_"+k.name+"_v1" }) {
		t.Fatalf("%ss of every stack lack the other stack's: %v", k.name, err)
	}
	ids, err := k.ids([]string{name, stack + "_missing"})
	if err != nil || len(ids) != 1 || ids[name] != first.ID {
		t.Fatalf("%s IDs = %v, %v; want only %s → %s", k.name, ids, err, name, first.ID)
	}
	if ids, err := k.ids(nil); err != nil || ids == nil || len(ids) != 0 {
		t.Fatalf("%s IDs of no names = %v, %v; want an empty map", k.name, ids, err)
	}
	if k.data != nil {
		if data, err := k.data(first.ID); err != nil || string(data) != "x" {
			t.Fatalf("data = %q, %v", data, err)
		}
		if _, err := k.data(stack + "-no-such-id"); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Fatalf("data of a missing %s = %v, want ErrNotFound", k.name, err)
		}
	}

	// Labels change (with the same data, or none); the version moves on.
	relabelled := map[string]string{abraswarm.StackLabel: stack, "rotated": "1"}
	if err := k.update(first, name, relabelled, nil); err != nil {
		t.Fatalf("update of the labels: %v", err)
	}
	second := list()
	if second.Labels["rotated"] != "1" || second.Version.Index <= first.Version.Index || second.ID != first.ID {
		t.Fatalf("after a label update: %+v (before %+v)", second, first)
	}
	if err := k.update(second, name, relabelled, []byte("x")); err != nil {
		t.Fatalf("update with the same data: %v", err)
	}
	third := list()
	for _, bad := range []struct {
		what string
		o    abraswarm.Object
		name string
		data []byte
	}{
		{"a stale version", first, name, nil},
		{"new data", third, name, []byte("changed")},
		{"a new name", third, name + "_renamed", nil},
	} {
		if err := k.update(bad.o, bad.name, map[string]string{abraswarm.StackLabel: stack, "bad": "1"}, bad.data); err == nil {
			t.Errorf("update of a %s with %s succeeded", k.name, bad.what)
		}
	}
	if now := list(); now.Labels["bad"] != "" || now.Version.Index != third.Version.Index {
		t.Fatalf("a refused update changed the %s: %+v", k.name, now)
	}
	if k.data != nil {
		if data, err := k.data(first.ID); err != nil || string(data) != "x" {
			t.Fatalf("data after updates = %q, %v", data, err)
		}
	}

	if err := k.remove(first.ID); err != nil {
		t.Fatal(err)
	}
	if err := k.remove(first.ID); !errors.Is(err, abraswarm.ErrNotFound) {
		t.Fatalf("second remove = %v, want ErrNotFound", err)
	}
	if err := k.update(third, name, relabelled, nil); !errors.Is(err, abraswarm.ErrNotFound) {
		t.Fatalf("update of a removed %s = %v, want ErrNotFound", k.name, err)
	}
	if objs, err := k.list(stack); err != nil || len(objs) != 0 {
		t.Fatalf("%ss left: %+v, %v", k.name, objs, err)
	}
}

// contractCommands are the commands the contract runs in its container, with
// what busybox answers; the fake plays them (ExecFunc).
var contractCommands = map[string]func(o abraswarm.ExecOptions) int{
	"sh -c echo out; echo err >&2; exit 3": func(o abraswarm.ExecOptions) int {
		fmt.Fprint(o.Stdout, "out\n")
		fmt.Fprint(o.Stderr, "err\n")
		return 3
	},
	"cat": func(o abraswarm.ExecOptions) int {
		_, _ = io.Copy(o.Stdout, o.Stdin)
		return 0
	},
	"sh -c echo $CONTRACT": func(o abraswarm.ExecOptions) int {
		for _, e := range o.Env {
			if v, ok := strings.CutPrefix(e, "CONTRACT="); ok {
				fmt.Fprintln(o.Stdout, v)
			}
		}
		return 0
	},
}

const (
	contractCommand = "echo contract-out; echo contract-err >&2; exec sleep 600"
	contractLog     = "contract-out\ncontract-err\n"
)

// playImage tells the fake what a daemon gets from running ContractImage:
// its folders, the running service's log, busybox's answers to the
// contract's commands.
func playImage(f *Cluster, stack string) {
	f.AddImage(ContractImage, "/bin", "/tmp")
	f.Log(stack+"_run", contractLog)
	f.ExecFunc = func(o abraswarm.ExecOptions) (int, error) {
		play, ok := contractCommands[strings.Join(o.Cmd, " ")]
		if !ok {
			return 127, nil
		}
		return play(o), nil
	}
}

func runningService(t *testing.T, c abraswarm.Cluster, stack, other string) {
	ctx := context.Background()
	one, grace := uint64(1), time.Second
	name, volume := stack+"_run", stack+"_data"
	l := map[string]string{abraswarm.StackLabel: stack}
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: l},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{
				Image: ContractImage, Labels: l, StopGracePeriod: &grace,
				Command: []string{"sh", "-c", contractCommand},
				Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: volume, Target: "/data",
					VolumeOptions: &mount.VolumeOptions{Labels: l}}},
			},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
	}
	id, _, err := c.CreateService(ctx, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	var ctr abraswarm.Container
	eventually(t, time.Minute, func() string {
		tasks, err := c.Tasks(ctx, stack)
		if err != nil {
			return err.Error()
		}
		running := slices.ContainsFunc(tasks, func(tk swarm.Task) bool {
			return tk.ServiceID == id && tk.DesiredState == swarm.TaskStateRunning && tk.Status.State == swarm.TaskStateRunning
		})
		cs, err := c.Containers(ctx, stack)
		if err != nil {
			return err.Error()
		}
		var mine []abraswarm.Container
		for _, ct := range cs {
			if ct.Labels["com.docker.swarm.service.name"] == name && ct.State == "running" {
				mine = append(mine, ct)
			}
		}
		if !running || len(mine) != 1 {
			return fmt.Sprintf("want a running task and one running container of %s: tasks %+v, containers %+v", name, tasks, cs)
		}
		ctr = mine[0]
		return ""
	})
	if !strings.HasPrefix(ctr.Name, name+".") || ctr.ID == "" || ctr.Labels[abraswarm.StackLabel] != stack {
		t.Errorf("container = %+v: want a name after the service, an ID and the stack label", ctr)
	}
	if tasks, err := c.Tasks(ctx, other); err != nil || slices.ContainsFunc(tasks, func(tk swarm.Task) bool { return tk.ServiceID == id }) {
		t.Errorf("Tasks(other stack) has the service's task: %+v, %v", tasks, err)
	}
	if cs, err := c.Containers(ctx, other); err != nil || len(cs) != 0 {
		t.Errorf("Containers(other stack) = %+v, %v", cs, err)
	}

	t.Run("logs", func(t *testing.T) {
		eventually(t, 30*time.Second, func() string {
			rc, err := c.ServiceLogs(ctx, id, abraswarm.LogOptions{Tail: "all"})
			if err != nil {
				return err.Error()
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil || !strings.Contains(string(b), "contract-out") || !strings.Contains(string(b), "contract-err") {
				return fmt.Sprintf("logs = %q, %v; want both streams' lines", b, err)
			}
			return ""
		})
		if _, err := c.ServiceLogs(ctx, stack+"_nosuchservice", abraswarm.LogOptions{}); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Errorf("ServiceLogs(missing) = %v, want ErrNotFound", err)
		}
		read := func(o abraswarm.LogOptions) []string {
			t.Helper()
			rc, err := c.ServiceLogs(ctx, id, o)
			if err != nil {
				t.Fatalf("ServiceLogs(%+v): %v", o, err)
			}
			defer rc.Close()
			b, _ := io.ReadAll(rc)
			return slices.DeleteFunc(strings.Split(string(b), "\n"), func(l string) bool { return strings.TrimSpace(l) == "" })
		}
		// Timestamps: every line starts with the time it was logged.
		var times []time.Time
		for _, line := range read(abraswarm.LogOptions{Tail: "all", Timestamps: true}) {
			ts, text, _ := strings.Cut(line, " ")
			at, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || !strings.HasPrefix(text, "contract-") {
				t.Fatalf("a line with Timestamps: %q (%v): want an RFC 3339 time, then the line", line, err)
			}
			times = append(times, at)
		}
		if len(times) != 2 {
			t.Fatalf("Timestamps gave %d lines, want 2", len(times))
		}
		first, last := slices.MinFunc(times, time.Time.Compare), slices.MaxFunc(times, time.Time.Compare)
		// Since is inclusive, to the nanosecond.
		if got := read(abraswarm.LogOptions{Tail: "all", Since: first}); len(got) != 2 {
			t.Errorf("Since the first line's time: %q, want both lines", got)
		}
		if got := read(abraswarm.LogOptions{Tail: "all", Since: last.Add(time.Nanosecond)}); len(got) != 0 {
			t.Errorf("Since just after the last line: %q, want none", got)
		}
		if got := read(abraswarm.LogOptions{Tail: "1"}); len(got) != 1 {
			t.Errorf("Tail 1: %q, want one line", got)
		}
		// Follow with Tail 0 waits for new lines: none come, and the stream
		// ends with its context.
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		rc, err := c.ServiceLogs(fctx, id, abraswarm.LogOptions{Follow: true, Tail: "0"})
		if err != nil {
			t.Fatalf("ServiceLogs(Follow): %v", err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if len(b) != 0 || fctx.Err() == nil {
			t.Errorf("Follow with Tail 0 gave %q before its context ended (%v), want nothing until then", b, fctx.Err())
		}
	})
	t.Run("exec", func(t *testing.T) {
		exec := func(o abraswarm.ExecOptions) (int, string, string) {
			t.Helper()
			var out, errb bytes.Buffer
			o.Stdout, o.Stderr = &out, &errb
			code, err := c.Exec(ctx, ctr.ID, o)
			if err != nil {
				t.Fatalf("Exec(%q): %v", o.Cmd, err)
			}
			return code, out.String(), errb.String()
		}
		if code, out, errs := exec(abraswarm.ExecOptions{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}); code != 3 || out != "out\n" || errs != "err\n" {
			t.Errorf("exit code and streams = %d %q %q, want 3 \"out\\n\" \"err\\n\"", code, out, errs)
		}
		if code, out, _ := exec(abraswarm.ExecOptions{Cmd: []string{"cat"}, Stdin: strings.NewReader("in\n")}); code != 0 || out != "in\n" {
			t.Errorf("stdin: %d %q", code, out)
		}
		if code, out, _ := exec(abraswarm.ExecOptions{Cmd: []string{"sh", "-c", "echo $CONTRACT"}, Env: []string{"CONTRACT=env"}}); code != 0 || out != "env\n" {
			t.Errorf("env: %d %q", code, out)
		}
		if _, err := c.Exec(ctx, stack+"-no-such-container", abraswarm.ExecOptions{Cmd: []string{"true"}, Stdout: io.Discard, Stderr: io.Discard}); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Errorf("Exec in a missing container = %v, want ErrNotFound", err)
		}
	})
	t.Run("copy to, stat, copy from", func(t *testing.T) {
		copyContract(t, c, ctr.ID)
	})
	t.Run("volumes", func(t *testing.T) {
		if vols, err := c.Volumes(ctx, stack); err != nil || !slices.Equal(vols, []string{volume}) {
			t.Fatalf("Volumes(stack) = %v, %v; want the mounted %s", vols, err, volume)
		}
		if vols, err := c.Volumes(ctx, other); err != nil || len(vols) != 0 {
			t.Errorf("Volumes(other stack) = %v, %v", vols, err)
		}
		if vols, err := c.Volumes(ctx, ""); err != nil || !slices.Contains(vols, volume) {
			t.Errorf("Volumes(\"\") = %v, %v; want %s among them", vols, err, volume)
		}
		if unused, err := c.UnusedVolumes(ctx); err != nil || slices.Contains(unused, volume) {
			t.Errorf("UnusedVolumes() = %v, %v: lists a volume a running container mounts", unused, err)
		}
		if err := c.RemoveVolume(ctx, volume); err == nil || errors.Is(err, abraswarm.ErrNotFound) {
			t.Errorf("RemoveVolume(in use) = %v, want a refusal", err)
		}
		if err := c.RemoveService(ctx, id); err != nil {
			t.Fatal(err)
		}
		// Swarm removes the containers of a removed service a little later;
		// the volume is in use until then.
		eventually(t, time.Minute, func() string {
			cs, err := c.Containers(ctx, stack)
			if err != nil {
				return err.Error()
			}
			unused, err := c.UnusedVolumes(ctx)
			if err != nil {
				return err.Error()
			}
			if len(cs) != 0 || !slices.Contains(unused, volume) {
				return fmt.Sprintf("after the service's removal: containers %+v; want none and %s unused", cs, volume)
			}
			return ""
		})
		if err := c.RemoveVolume(ctx, volume); err != nil {
			t.Fatal(err)
		}
		if vols, err := c.Volumes(ctx, stack); err != nil || len(vols) != 0 {
			t.Errorf("Volumes(stack) after removal = %v, %v", vols, err)
		}
		if err := c.RemoveVolume(ctx, volume); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Errorf("RemoveVolume(missing) = %v, want ErrNotFound", err)
		}
	})
}

// copyContract checks CopyTo, StatPath and CopyFrom in a running container
// of ContractImage, with docker cp's naming: entries named from the base name
// of the path copied.
func copyContract(t *testing.T, c abraswarm.Cluster, ctr string) {
	ctx := context.Background()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name, body string
		mode       int64
	}{{"contract.txt", "hi\n", 0o640}, {"sub/", "", 0o755}, {"sub/b", "b", 0o644}} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(f.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.CopyTo(ctx, ctr, "/tmp", bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if st, err := c.StatPath(ctx, ctr, "/tmp/contract.txt"); err != nil || st.Name != "contract.txt" || st.Size != 3 || st.Mode.IsDir() || st.Mode.Perm() != 0o640 {
		t.Errorf("StatPath(file) = %+v, %v", st, err)
	}
	if st, err := c.StatPath(ctx, ctr, "/tmp/sub"); err != nil || !st.Mode.IsDir() {
		t.Errorf("StatPath(folder) = %+v, %v", st, err)
	}
	if _, err := c.StatPath(ctx, ctr, "/tmp/nope"); !errors.Is(err, abraswarm.ErrNotFound) {
		t.Errorf("StatPath(missing) = %v, want ErrNotFound", err)
	}
	read := func(p string) map[string]string {
		t.Helper()
		rc, err := c.CopyFrom(ctx, ctr, p)
		if err != nil {
			t.Fatalf("CopyFrom(%s): %v", p, err)
		}
		defer rc.Close()
		got := map[string]string{}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return got
			}
			if err != nil {
				t.Fatalf("CopyFrom(%s): %v", p, err)
			}
			b, _ := io.ReadAll(tr)
			got[hdr.Name] = string(b)
		}
	}
	if got := read("/tmp/contract.txt"); len(got) != 1 || got["contract.txt"] != "hi\n" {
		t.Errorf("CopyFrom(file) = %q", got)
	}
	if got := read("/tmp/sub"); len(got) != 2 || got["sub/b"] != "b" || !hasKey(got, "sub/") {
		t.Errorf("CopyFrom(folder) = %q", got)
	}
	if _, err := c.CopyFrom(ctx, ctr, "/tmp/nope"); !errors.Is(err, abraswarm.ErrNotFound) {
		t.Errorf("CopyFrom(missing) = %v, want ErrNotFound", err)
	}
	if err := c.CopyTo(ctx, ctr, "/nope", bytes.NewReader(buf.Bytes())); !errors.Is(err, abraswarm.ErrNotFound) {
		t.Errorf("CopyTo(missing folder) = %v, want ErrNotFound", err)
	}
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// pruneContract: Prune within a label removes the exited containers and the
// networks of stacks without services that carry it, and nothing else; with
// a stack too, only that stack's.
func pruneContract(t *testing.T, c abraswarm.Cluster, stack, other string) {
	ctx := context.Background()
	label := "abra.contract=" + stack
	scoped := map[string]string{abraswarm.StackLabel: stack, "abra.contract": stack}
	otherScoped := map[string]string{abraswarm.StackLabel: other, "abra.contract": stack}
	for name, l := range map[string]map[string]string{stack + "_gone": scoped, other + "_kept": otherScoped} {
		if err := c.CreateNetwork(ctx, name, abraswarm.NetworkSpec{Driver: "overlay", Labels: l}); err != nil {
			t.Fatal(err)
		}
	}
	// A service of the other stack whose one task exits at once (restart
	// policy none): its container stays, exited, and the stack has a service.
	one := uint64(1)
	name := other + "_once"
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: name, Labels: otherScoped},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: ContractImage, Labels: otherScoped, Command: []string{"sh", "-c", "exit 0"}},
			RestartPolicy: &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
	}
	if _, _, err := c.CreateService(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	if f, ok := c.(*Cluster); ok {
		f.EndTasks(name, 0) // the fake runs nothing: the task is told it exited
	}
	var exited string
	eventually(t, time.Minute, func() string {
		cs, err := c.Containers(ctx, other)
		if err != nil {
			return err.Error()
		}
		for _, ct := range cs {
			if ct.Labels["com.docker.swarm.service.name"] == name && ct.State == "exited" {
				exited = ct.ID
				return ""
			}
		}
		return fmt.Sprintf("no exited container of %s: %+v", name, cs)
	})

	r, err := c.Prune(ctx, abraswarm.PruneOptions{Stack: stack, Label: label})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Networks, []string{stack + "_gone"}) || len(r.Containers) != 0 || len(r.Images) != 0 {
		t.Fatalf("Prune(stack, label) = %+v; want only the network %s_gone", r, stack)
	}
	if _, err := c.InspectNetwork(ctx, stack+"_gone"); !errors.Is(err, abraswarm.ErrNotFound) {
		t.Errorf("pruned network still there: %v", err)
	}

	r, err = c.Prune(ctx, abraswarm.PruneOptions{Label: label})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Containers, []string{exited}) || len(r.Networks) != 0 || len(r.Images) != 0 {
		t.Fatalf("Prune(label) = %+v; want only the exited container %s", r, exited)
	}
	if cs, err := c.Containers(ctx, other); err != nil || slices.ContainsFunc(cs, func(ct abraswarm.Container) bool { return ct.ID == exited }) {
		t.Errorf("pruned container still listed: %+v, %v", cs, err)
	}
	// Kept: the network of a stack that has a service, and a network of a
	// stack without services that does not carry the label.
	for _, n := range []string{other + "_kept", stack + "_default"} {
		if _, err := c.InspectNetwork(ctx, n); err != nil {
			t.Errorf("network %s must survive the prune: %v", n, err)
		}
	}
}

// eventually polls check until it returns "" or time runs out; the fake
// answers at once, a daemon converges.
func eventually(t *testing.T, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cleanup removes everything of the contract's stacks, whatever failed.
func cleanup(c abraswarm.Cluster, stacks ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, s := range stacks {
		services, _ := c.Services(ctx, s)
		for _, svc := range services {
			_ = c.RemoveService(ctx, svc.ID)
		}
	}
	for _, s := range stacks {
		for ctx.Err() == nil {
			if cs, err := c.Containers(ctx, s); err != nil || len(cs) == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		vols, _ := c.Volumes(ctx, s)
		for _, v := range vols {
			_ = c.RemoveVolume(ctx, v)
		}
		nets, _ := c.Networks(ctx, s)
		for _, n := range nets {
			_ = c.RemoveNetwork(ctx, n.ID)
		}
		secrets, _ := c.Secrets(ctx, s)
		for _, o := range secrets {
			_ = c.RemoveSecret(ctx, o.ID)
		}
		configs, _ := c.Configs(ctx, s)
		for _, o := range configs {
			_ = c.RemoveConfig(ctx, o.ID)
		}
	}
}
