package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/mount"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// placed plays a swarm of several nodes: the tasks of the services named run
// on the nodes given (the fake places every task on its own node).
type placed struct {
	*swarmtest.Cluster
	on map[string]string // swarm service name → node ID
}

func (p placed) Tasks(ctx context.Context, stack string) ([]mobyswarm.Task, error) {
	tasks, err := p.Cluster.Tasks(ctx, stack)
	if err != nil {
		return nil, err
	}
	svcs, err := p.Cluster.Services(ctx, stack)
	if err != nil {
		return nil, err
	}
	for i, t := range tasks {
		for _, s := range svcs {
			if s.ID == t.ServiceID && p.on[s.Spec.Name] != "" {
				tasks[i].NodeID = p.on[s.Spec.Name]
			}
		}
	}
	return tasks, nil
}

// nodeBots runs node verbs in process, through the same wire as the jobs: the
// spec encoded into an argument, the verb served by another Bot (the node's:
// its own volume root and containers), its JSON Lines output read back.
type nodeBots struct {
	bots  map[string]*Bot
	calls []string
}

func (n *nodeBots) RunOnNode(ctx context.Context, node Node, verb string, spec NodeSpec, report func(Event)) (json.RawMessage, error) {
	n.calls = append(n.calls, node.ID+" "+verb)
	arg, err := EncodeNodeSpec(spec)
	if err != nil {
		return nil, err
	}
	bot := *n.bots[node.ID]
	var out bytes.Buffer
	bot.Reporter = JSONLines(&out)
	_ = bot.ServeNodeVerb(ctx, verb, arg)
	result, failure, err := ReadNodeEvents(&out, report)
	if err == nil && failure != "" {
		err = &nodeFailure{failure}
	}
	return result, err
}

type nodeFailure struct{ msg string }

func (f *nodeFailure) Error() string { return f.msg }

// newNodesRig is the rig with the app's service on node2. Every node mounts
// its volumes at the same path, so in process the two share one directory:
// the node calls and the events show where the work was done.
func newNodesRig(t *testing.T, labels map[string]string) (*rig, *nodeBots) {
	t.Helper()
	r := newRig(t, labels)
	node := *r.bot
	nodes := &nodeBots{bots: map[string]*Bot{"node2": &node}}
	r.bot.Cluster = placed{Cluster: r.fake, on: map[string]string{"app_example_org_app": "node2"}}
	r.bot.Nodes = nodes
	return r, nodes
}

func TestBackupOfAServiceOnAnotherNodeRunsThere(t *testing.T) {
	r, nodes := newNodesRig(t, map[string]string{LabelPreHook: "dump", LabelPostHook: "cleanup"})
	res, err := r.bot.Create(context.Background(), CreateOptions{App: "app_example_org"})
	if err != nil {
		t.Fatalf("Create: %v\n%s", err, r.events.String())
	}
	if !slices.Equal(nodes.calls, []string{"node2 " + NodeCreate}) {
		t.Fatalf("node calls = %v, want one node-create on node2", nodes.calls)
	}
	// The hooks ran and the data was read by node2 alone: one "read labels".
	if n := strings.Count(r.events.String(), `"event":"step","step":"read labels"`); n != 1 {
		t.Fatalf("read labels %d times:\n%s", n, r.events.String())
	}
	if h := r.hooks(); !slices.Equal(h, []string{"restic cat", "restic snapshots", "hook dump", "restic backup", "hook cleanup"}) {
		t.Fatalf("order = %v", h)
	}
	if res.SnapshotID == "" || !slices.Equal(res.Snapshots, []string{res.SnapshotID}) || res.Files == 0 {
		t.Fatalf("result = %+v", res)
	}
	if len(res.Paths) != 1 || !strings.HasPrefix(res.Paths[0], filepath.Dir(filepath.Dir(r.data))) {
		t.Fatalf("paths = %v, want node2's volume", res.Paths)
	}
	// The node's steps reach the coordinator's reporter.
	if ev := r.events.String(); !strings.Contains(ev, `"step":"pre-hooks"`) || !strings.Contains(ev, "backup pre-hook: dump") {
		t.Fatalf("events lack the node's steps:\n%s", ev)
	}
}

func TestBackupOnANodeFailsNamingTheNodeAndTheHook(t *testing.T) {
	r, _ := newNodesRig(t, map[string]string{LabelPreHook: "dump"})
	r.exit["dump"] = 3
	_, err := r.bot.Create(context.Background(), CreateOptions{App: "app_example_org"})
	if err == nil || !strings.Contains(err.Error(), "on node node2") || !strings.Contains(err.Error(), `"dump" exited 3`) {
		t.Fatalf("Create = %v, want the node and the hook's exit", err)
	}
}

func TestANodeNeverCreatesTheRepository(t *testing.T) {
	r, _ := newNodesRig(t, nil)
	r.restic.fail["cat"] = &ExitError{Code: resticExitNoRepo, Stderr: "Fatal: repository does not exist"}
	_, err := r.bot.Create(context.Background(), CreateOptions{App: "app_example_org"})
	if err == nil || !strings.Contains(err.Error(), "repository does not exist as this node sees it") || !strings.Contains(err.Error(), "every node reaches") {
		t.Fatalf("Create = %v", err)
	}
	if slices.Contains(r.restic.verbs(), "init") || slices.Contains(r.restic.verbs(), "backup") {
		t.Fatalf("restic ran %v", r.restic.verbs())
	}
}

func TestRestoreOfAServiceOnAnotherNodeRestoresThere(t *testing.T) {
	r, nodes := newNodesRig(t, map[string]string{LabelRestorePostHook: "reload"})
	ctx := context.Background()
	if _, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	nodes.calls = nil
	res, err := r.bot.Restore(ctx, RestoreOptions{App: "app_example_org"})
	if err != nil {
		t.Fatalf("Restore: %v\n%s", err, r.events.String())
	}
	// The safety snapshot, the volumes and the post-hook on node2; scaling here.
	want := []string{"node2 " + NodeCreate, "node2 " + NodeRestore, "node2 " + NodeHooks}
	if !slices.Equal(nodes.calls, want) {
		t.Fatalf("node calls = %v, want %v", nodes.calls, want)
	}
	if len(res.Paths) != 1 || res.Paths[0] != r.data || res.SafetySnapshotID == "" || !strings.Contains(res.GoBack, ShortID(res.SafetySnapshotID)) {
		t.Fatalf("result = %+v", res)
	}
	if h := r.hooks(); h[len(h)-1] != "hook reload" || !slices.Contains(h, "restic restore") {
		t.Fatalf("order = %v", h)
	}
	svcs, _ := r.fake.Services(ctx, "app_example_org")
	if n := *svcs[0].Spec.Mode.Replicated.Replicas; n != 2 {
		t.Fatalf("replicas after the restore = %d, want 2", n)
	}
}

func TestServicesOnTwoNodesGetASnapshotEach(t *testing.T) {
	r, nodes := newNodesRig(t, nil)
	ctx := context.Background()
	// A second service, on this node, with its own volume under the coordinator's root.
	local := filepath.Join(r.bot.VolumeRoot, "app_example_org_db", "_data")
	if err := os.MkdirAll(local, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "rows"), []byte("rows"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.fake.CreateService(ctx, mobyswarm.ServiceSpec{
		Annotations:  mobyswarm.Annotations{Name: "app_example_org_db", Labels: map[string]string{swarm.StackLabel: "app_example_org", LabelBackup: "true"}},
		TaskTemplate: volumeTask("app_example_org_db"),
	}, false); err != nil {
		t.Fatal(err)
	}
	res, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"})
	if err != nil {
		t.Fatalf("Create: %v\n%s", err, r.events.String())
	}
	if len(res.Snapshots) != 2 || res.SnapshotID != res.Snapshots[0] || !slices.Equal(nodes.calls, []string{"node2 " + NodeCreate}) {
		t.Fatalf("result = %+v, node calls %v", res, nodes.calls)
	}
	// By default each node's services come back from their own latest snapshot.
	nodes.calls = nil
	rr, err := r.bot.Restore(ctx, RestoreOptions{App: "app_example_org"})
	if err != nil {
		t.Fatalf("Restore: %v\n%s", err, r.events.String())
	}
	if !slices.Equal(rr.Snapshots, res.Snapshots) || len(rr.Paths) != 2 || strings.Count(rr.GoBack, "abra app restore") != 2 {
		t.Fatalf("restore = %+v", rr)
	}
}

func TestNodeSpecsSurviveTheirArgument(t *testing.T) {
	in := NodeSpec{App: "a_b", Services: []Service{{Name: "db", SwarmName: "a_b_db", PreHook: `pg_dump -U "x" > /d/dump.sql`,
		Volumes: []Volume{{Name: "d", Source: "a_b_d", Target: "/d", Paths: []string{"/v/a_b_d/_data"}}}}},
		Hooks: []NodeHook{{Step: "s", Service: "db", Kind: "k", Command: "c", IfRunning: true}}, Snapshot: "abc", Paths: []string{"/p"}}
	arg, err := EncodeNodeSpec(in)
	if err != nil || strings.ContainsAny(arg, " \"'$>") {
		t.Fatalf("EncodeNodeSpec = %q, %v", arg, err)
	}
	out, err := DecodeNodeSpec(arg)
	a, _ := json.Marshal(in)
	b, _ := json.Marshal(out)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("round trip = %s, %v; want %s", b, err, a)
	}
	if _, err := DecodeNodeSpec("not base64!"); err == nil {
		t.Fatal("a bad spec decoded")
	}
}

func volumeTask(volume string) mobyswarm.TaskSpec {
	return mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Mounts: []mount.Mount{
		{Type: mount.TypeVolume, Source: volume, Target: "/data"}}}}
}

// swarmNodesRig is a backup service on the fake swarm, with a worker node2.
func swarmNodesRig(t *testing.T) (*swarmtest.Cluster, *SwarmNodes) {
	t.Helper()
	fake := swarmtest.New()
	fake.AddNode(swarm.Node{ID: "node2", Hostname: "worker", Role: swarm.RoleWorker, Availability: swarm.NodeActive, State: swarm.NodeReady})
	ctx := context.Background()
	spec := mobyswarm.ServiceSpec{
		Annotations: mobyswarm.Annotations{Name: "backups_app", Labels: map[string]string{swarm.StackLabel: "backups", LabelService: "true"}},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{
			Image: "abra-backupbot:1", Env: []string{"RESTIC_REPOSITORY=sftp:x:/r"},
			Mounts: []mount.Mount{
				{Type: mount.TypeBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"},
				{Type: mount.TypeBind, Source: "/srv/docker/volumes", Target: DefaultVolumeRoot},
				{Type: mount.TypeVolume, Source: "backups_cache", Target: "/root/.cache"},
			}},
			Placement: &mobyswarm.Placement{Constraints: []string{"node.role == manager"}}},
	}
	if _, _, err := fake.CreateService(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	svcs, _ := fake.Services(ctx, "backups")
	return fake, &SwarmNodes{Cluster: fake, Self: svcs[0], Poll: time.Millisecond, Unplaced: 50 * time.Millisecond}
}

// job waits for the one node job on the fake and returns it.
func job(t *testing.T, fake *swarmtest.Cluster) mobyswarm.Service {
	t.Helper()
	for range 5000 {
		svcs, _ := fake.Services(context.Background(), "backups")
		for _, s := range svcs {
			if s.Spec.Labels[NodeJobLabel] == "true" {
				return s
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no node job was created")
	return mobyswarm.Service{}
}

func TestSwarmNodesRunsAVerbAsAJobPinnedToTheNode(t *testing.T) {
	fake, nodes := swarmNodesRig(t)
	spec := NodeSpec{App: "app_example_org", Services: []Service{{Name: "db", SwarmName: "app_example_org_db",
		Volumes: []Volume{{Name: "data", Source: "app_example_org_data", Paths: []string{DefaultVolumeRoot + "/app_example_org_data/_data"}}}}},
		Hooks: []NodeHook{{Step: "s", Service: "db", Kind: "restore post-hook", Command: "reload"}}}
	type ran struct {
		raw json.RawMessage
		err error
	}
	done := make(chan ran, 1)
	var events []Event
	go func() {
		raw, err := nodes.RunOnNode(context.Background(), Node{ID: "node2", Name: "worker"}, NodeHooks, spec, func(e Event) { events = append(events, e) })
		done <- ran{raw, err}
	}()
	j := job(t, fake)
	c := j.Spec.TaskTemplate.ContainerSpec
	if j.Spec.Mode.ReplicatedJob == nil || *j.Spec.Mode.ReplicatedJob.TotalCompletions != 1 ||
		!slices.Equal(j.Spec.TaskTemplate.Placement.Constraints, []string{"node.id==node2"}) ||
		j.Spec.TaskTemplate.RestartPolicy.Condition != mobyswarm.RestartPolicyConditionNone ||
		j.Spec.Labels[LabelService] != "" || j.Spec.Labels[swarm.StackLabel] != "backups" ||
		c.Image != "abra-backupbot:1" || !slices.Equal(c.Env, []string{"RESTIC_REPOSITORY=sftp:x:/r"}) || c.Args[0] != NodeHooks {
		t.Fatalf("job spec = %+v\ncontainer %+v", j.Spec, c)
	}
	if got, err := DecodeNodeSpec(c.Args[2]); err != nil || got.Hooks[0].Command != "reload" {
		t.Fatalf("the job's spec = %+v, %v", got, err)
	}
	// The volume root is not mounted; the app's volume is, by name, where the root would show it.
	var targets []string
	for _, m := range c.Mounts {
		targets = append(targets, string(m.Type)+" "+m.Source+" "+m.Target)
	}
	want := []string{"bind /var/run/docker.sock /var/run/docker.sock", "volume backups_cache /root/.cache",
		"volume app_example_org_data " + DefaultVolumeRoot + "/app_example_org_data/_data"}
	if !slices.Equal(targets, want) {
		t.Fatalf("mounts = %v, want %v", targets, want)
	}
	fake.Log(j.Spec.Name, `{"event":"step","step":"s","message":"s"}`+"\n"+`not json`+"\n"+`{"event":"result","message":"done","data":{"hooks":1}}`+"\n")
	fake.EndTasks(j.Spec.Name, 0)
	r := <-done
	if r.err != nil || string(r.raw) != `{"hooks":1}` || len(events) != 1 || events[0].Step != "s" {
		t.Fatalf("RunOnNode = %s, %v; events %+v", r.raw, r.err, events)
	}
	if svcs, _ := fake.Services(context.Background(), "backups"); len(svcs) != 1 {
		t.Fatalf("the job was not removed: %d services", len(svcs))
	}
}

func TestSwarmNodesReportsAFailedJobWithItsErrorAndRemedy(t *testing.T) {
	fake, nodes := swarmNodesRig(t)
	done := make(chan error, 1)
	go func() {
		_, err := nodes.RunOnNode(context.Background(), Node{ID: "node2", Name: "worker"}, NodeCreate, NodeSpec{App: "a"}, func(Event) {})
		done <- err
	}()
	j := job(t, fake)
	fake.Log(j.Spec.Name, `{"event":"error","message":"the repository does not exist as this node sees it","data":{"hint":"use sftp"}}`+"\n")
	fake.EndTasks(j.Spec.Name, 1)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "node-create on node worker: the repository does not exist as this node sees it (use sftp)") {
		t.Fatalf("RunOnNode = %v", err)
	}
}

func TestSwarmNodesGivesUpOnANodeThatNeverStartsTheJob(t *testing.T) {
	fake, nodes := swarmNodesRig(t)
	fake.SetNode("worker", func(n *swarm.Node) { n.State = swarm.NodeDown })
	_, err := nodes.RunOnNode(context.Background(), Node{ID: "node2", Name: "worker"}, NodeCreate, NodeSpec{App: "a"}, func(Event) {})
	if err == nil || !strings.Contains(err.Error(), "node worker did not start the backup job") || !strings.Contains(err.Error(), "no suitable node") {
		t.Fatalf("RunOnNode = %v", err)
	}
	if svcs, _ := fake.Services(context.Background(), "backups"); len(svcs) != 1 {
		t.Fatalf("the job was not removed: %d services", len(svcs))
	}
}

func TestSwarmNodesSweepsJobsADeadCoordinatorLeft(t *testing.T) {
	fake, nodes := swarmNodesRig(t)
	ctx := context.Background()
	for _, name := range []string{"backups_node_ended", "backups_node_running"} {
		if _, _, err := fake.CreateService(ctx, mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: name,
			Labels: map[string]string{swarm.StackLabel: "backups", NodeJobLabel: "true"}}, TaskTemplate: volumeTask("x")}, false); err != nil {
			t.Fatal(err)
		}
	}
	fake.EndTasks("backups_node_ended", 0)
	nodes.Now = func() time.Time { return time.Now().Add(time.Hour) }
	nodes.sweep(ctx)
	var names []string
	svcs, _ := fake.Services(ctx, "backups")
	for _, s := range svcs {
		names = append(names, s.Spec.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"backups_app", "backups_node_running"}) {
		t.Fatalf("after the sweep: %v", names)
	}
}
