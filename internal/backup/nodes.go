package backup

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

// Backups on a swarm of several nodes.
//
// A volume lives on the node whose container uses it, and a hook runs in a
// container, which only that node's Docker API can exec into. The backup
// service (the coordinator) runs on a manager: it reads the labels, decides,
// scales services and talks to the repository; what must happen where a
// service's data lives — its hooks, reading its volumes for a snapshot,
// writing them back in a restore — runs on that node as a node verb of the
// same image: a one-off swarm job (SwarmNodes) copied from the backup
// service's own task (image, environment, secrets, mounts), pinned to the node,
// whose JSON Lines output the coordinator reads from the job's logs.
// Snapshots are taken per node (one snapshot per node holding the app's
// volumes), into the one repository, which every node must therefore reach
// (sftp:, s3:, rest:, or a path mounted on every node): a node never creates a
// repository.

// Node verbs of the backupbot command.
const (
	NodeCreate  = "node-create"
	NodeHooks   = "node-hooks"
	NodeRestore = "node-restore"
)

// NodeSpec is what a node verb needs: what a worker's Docker API cannot tell
// (it lists no services), decided by the coordinator.
type NodeSpec struct {
	App      string     `json:"app"`
	Services []Service  `json:"services"`
	Tags     []string   `json:"tags,omitempty"`
	Safety   bool       `json:"safety,omitempty"`
	Hooks    []NodeHook `json:"hooks,omitempty"`
	Snapshot string     `json:"snapshot,omitempty"`
	Paths    []string   `json:"paths,omitempty"`
}

// NodeHook is one hook for a node to run in a service's container.
type NodeHook struct {
	Step    string `json:"step"`
	Service string `json:"service"` // Name of one of the spec's Services
	Kind    string `json:"kind"`
	Command string `json:"command"`
	// IfRunning skips the hook (with a warning) when the service has no
	// running container, instead of waiting for one and failing.
	IfRunning bool `json:"if_running,omitempty"`
}

// NodeRunner runs a node verb on a node of the swarm, hands each of its events
// to report, and returns the data of its result event.
type NodeRunner interface {
	RunOnNode(ctx context.Context, node Node, verb string, spec NodeSpec, report func(Event)) (json.RawMessage, error)
}

// Node is a node of the swarm.
type Node struct {
	ID   string
	Name string // hostname, for messages
}

// nodeGroup is the services whose volumes live on one node.
type nodeGroup struct {
	node  Node
	local bool // the coordinator's own node
	svcs  []Service
	// a restore's source
	snap  Snapshot
	paths []string
}

// on is " on node <name>" for another node, "" for this one.
func (g nodeGroup) on() string {
	if g.local {
		return ""
	}
	return " on node " + g.node.Name
}

// placement groups the services by the node holding their volumes: the node
// of the service's running task (else of its newest task; a service with no
// task is this node's). This node's group comes first. Without a NodeRunner
// every service is this node's.
func (b *Bot) placement(ctx context.Context, stack string, svcs []Service) ([]nodeGroup, error) {
	if b.Nodes == nil {
		return []nodeGroup{{local: true, svcs: svcs}}, nil
	}
	info, err := b.Cluster.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read this node: %w", err)
	}
	tasks, err := b.Cluster.Tasks(ctx, stack)
	if err != nil {
		return nil, fmt.Errorf("list tasks of %s: %w", stack, err)
	}
	names := b.nodeNames(ctx)
	groups := []nodeGroup{{local: true, node: Node{ID: info.NodeID, Name: names[info.NodeID]}}}
	for _, s := range svcs {
		id, running := nodeOf(tasks, s.ID)
		if len(running) > 1 {
			b.warn("placement", s.Name, "runs on %d nodes; the volumes on node %s are the ones backed up and restored", len(running), nameOr(names, id))
		}
		if id == "" {
			id = info.NodeID
		}
		i := slices.IndexFunc(groups, func(g nodeGroup) bool { return g.node.ID == id })
		if i < 0 {
			groups = append(groups, nodeGroup{node: Node{ID: id, Name: nameOr(names, id)}})
			i = len(groups) - 1
		}
		groups[i].svcs = append(groups[i].svcs, s)
	}
	if len(groups[0].svcs) == 0 {
		groups = groups[1:]
	}
	return groups, nil
}

// nodeOf is the node of the service's running task, else of its newest task
// placed on a node, with the nodes of all its running tasks.
func nodeOf(tasks []mobyswarm.Task, serviceID string) (string, []string) {
	var node string
	var newest time.Time
	var running []string
	for _, t := range tasks {
		if t.ServiceID != serviceID || t.NodeID == "" {
			continue
		}
		if t.Status.State == mobyswarm.TaskStateRunning && !slices.Contains(running, t.NodeID) {
			running = append(running, t.NodeID)
		}
		if t.UpdatedAt.After(newest) && (len(running) == 0 || t.Status.State == mobyswarm.TaskStateRunning) {
			node, newest = t.NodeID, t.UpdatedAt
		}
	}
	if len(running) > 0 && !slices.Contains(running, node) {
		node = running[0]
	}
	return node, running
}

// nodeNames maps node IDs to hostnames (empty when the nodes cannot be listed).
func (b *Bot) nodeNames(ctx context.Context) map[string]string {
	out := map[string]string{}
	if nodes, err := b.Cluster.Nodes(ctx); err == nil {
		for _, n := range nodes {
			out[n.ID] = n.Hostname
		}
	}
	return out
}

func nameOr(names map[string]string, id string) string {
	if n := names[id]; n != "" {
		return n
	}
	return shortNodeID(id)
}

func shortNodeID(id string) string { return id[:min(len(id), 12)] }

// createAcross backs up each node's services on their node: one snapshot per node.
func (b *Bot) createAcross(ctx context.Context, o CreateOptions, groups []nodeGroup) (*CreateResult, error) {
	res := &CreateResult{}
	for _, g := range groups {
		var r *CreateResult
		var err error
		if g.local {
			r, err = b.createOn(ctx, o, g.svcs)
		} else {
			b.report(Event{Event: EventProgress, Step: "placement", Message: fmt.Sprintf("%s: on node %s, backed up there", strings.Join(serviceNames(g.svcs), ", "), g.node.Name)})
			var raw json.RawMessage
			spec := NodeSpec{App: o.App, Services: g.svcs, Tags: o.Tags, Safety: o.Safety}
			if raw, err = b.Nodes.RunOnNode(ctx, g.node, NodeCreate, spec, b.report); err == nil {
				err = json.Unmarshal(raw, &r)
			}
		}
		if err == nil && (r == nil || r.SnapshotID == "") {
			err = errors.New("no snapshot in the result")
		}
		if err != nil {
			err = fmt.Errorf("back up %s%s: %w", strings.Join(serviceNames(g.svcs), ", "), g.on(), err)
			if len(res.Snapshots) > 0 {
				err = hint.With(err, fmt.Sprintf("the other nodes' services were saved in snapshot(s) %s; fix the cause and back up again",
					strings.Join(ShortIDs(res.Snapshots), ", ")))
			}
			return nil, err
		}
		if res.SnapshotID == "" {
			res.SnapshotID = r.SnapshotID
		}
		res.Snapshots = append(res.Snapshots, r.SnapshotID)
		res.Services = append(res.Services, r.Services...)
		res.Paths = append(res.Paths, r.Paths...)
		res.Files += r.Files
		res.Bytes += r.Bytes
		res.DataAdded += r.DataAdded
	}
	return res, nil
}

// hooksOn runs the hooks on the group's node.
func (b *Bot) hooksOn(ctx context.Context, stack string, g nodeGroup, hooks []NodeHook) error {
	if len(hooks) == 0 {
		return nil
	}
	if g.local {
		return b.runHooks(ctx, stack, g.svcs, hooks)
	}
	_, err := b.Nodes.RunOnNode(ctx, g.node, NodeHooks, NodeSpec{App: stack, Services: g.svcs, Hooks: hooks}, b.report)
	return err
}

// runHooks runs the hooks in this node's containers of the services.
func (b *Bot) runHooks(ctx context.Context, stack string, svcs []Service, hooks []NodeHook) error {
	for _, h := range hooks {
		i := slices.IndexFunc(svcs, func(s Service) bool { return s.Name == h.Service })
		if i < 0 {
			return fmt.Errorf("%s: no service %q in the spec", h.Kind, h.Service)
		}
		var err error
		if h.IfRunning {
			_, err = b.runHookIfRunning(ctx, h.Step, stack, svcs[i], h.Kind, h.Command)
		} else {
			err = b.runHook(ctx, h.Step, stack, svcs[i], h.Kind, h.Command)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// RunNodeVerb is the node side: it does what the coordinator decided, on this
// node, and returns the result.
func (b *Bot) RunNodeVerb(ctx context.Context, verb string, spec NodeSpec) (any, error) {
	if verb == NodeCreate || verb == NodeRestore {
		ok, err := b.Restic.Exists(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, hint.With(errors.New("the repository does not exist as this node sees it"),
				"a swarm of several nodes needs a repository every node reaches: set RESTIC_REPOSITORY of the backup service to an sftp:, s3: or rest: repository, or to a path mounted on every node")
		}
	}
	switch verb {
	case NodeCreate:
		return b.createOn(ctx, CreateOptions{App: spec.App, Tags: spec.Tags, Safety: spec.Safety}, spec.Services)
	case NodeHooks:
		return map[string]int{"hooks": len(spec.Hooks)}, b.runHooks(ctx, spec.App, spec.Services, spec.Hooks)
	case NodeRestore:
		return map[string][]string{"paths": spec.Paths}, b.restorePaths(ctx, spec.Snapshot, spec.Paths)
	}
	return nil, fmt.Errorf("unknown node verb %q", verb)
}

// ServeNodeVerb is a node job's whole run: the spec decoded from its argument,
// the verb run, and its result or error reported as the last event (the
// coordinator reads them from the job's output). The error is returned for
// the exit code.
func (b *Bot) ServeNodeVerb(ctx context.Context, verb, arg string) error {
	spec, err := DecodeNodeSpec(arg)
	var result any
	if err == nil {
		result, err = b.RunNodeVerb(ctx, verb, spec)
	}
	if err != nil {
		data := map[string]string{}
		if h := hint.Of(err); h != "" {
			data["hint"] = h
		}
		b.report(Event{Event: EventError, Message: err.Error(), Data: data})
		return err
	}
	b.report(Event{Event: EventResult, Message: verb + " done", Data: result})
	return nil
}

// EncodeNodeSpec and DecodeNodeSpec carry a spec in one command-line argument.
func EncodeNodeSpec(s NodeSpec) (string, error) {
	b, err := json.Marshal(s)
	return base64.RawURLEncoding.EncodeToString(b), err
}

// DecodeNodeSpec is EncodeNodeSpec's inverse.
func DecodeNodeSpec(arg string) (NodeSpec, error) {
	var s NodeSpec
	b, err := base64.RawURLEncoding.DecodeString(arg)
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		return NodeSpec{}, fmt.Errorf("read --spec: %w", err)
	}
	return s, nil
}

// NodeJobLabel marks the one-off services SwarmNodes creates.
const NodeJobLabel = "coop-cloud.backupbot.node-job"

// SwarmNodes runs node verbs as one-off swarm jobs: a copy of the backup
// service's task pinned to the node, started with the verb, removed when done.
type SwarmNodes struct {
	Cluster swarm.Cluster
	Self    mobyswarm.Service // the backup service whose task the jobs copy
	Root    string            // where the backup service sees the volumes (DefaultVolumeRoot)
	Poll    time.Duration     // default 1s
	// Unplaced bounds how long a job may wait for its node (a node that is
	// down or drained never starts it; default 2m).
	Unplaced time.Duration
	Now      func() time.Time // default time.Now
}

func (j *SwarmNodes) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

// RunOnNode implements NodeRunner.
func (j *SwarmNodes) RunOnNode(ctx context.Context, node Node, verb string, spec NodeSpec, report func(Event)) (json.RawMessage, error) {
	arg, err := EncodeNodeSpec(spec)
	if err != nil {
		return nil, err
	}
	js, err := j.jobSpec(node, verb, arg, spec)
	if err != nil {
		return nil, err
	}
	j.sweep(ctx)
	id, _, err := j.Cluster.CreateService(ctx, js, false)
	if err != nil {
		return nil, fmt.Errorf("start %s on node %s: %w", verb, node.Name, err)
	}
	defer func() { _ = j.Cluster.RemoveService(context.WithoutCancel(ctx), id) }()
	task, err := j.wait(ctx, id, node)
	if err != nil {
		return nil, err
	}
	result, failure, err := j.events(ctx, id, report)
	if err != nil {
		return nil, fmt.Errorf("%s on node %s: read its output: %w", verb, node.Name, err)
	}
	if failure != "" || task.Status.State != mobyswarm.TaskStateComplete {
		msg := failure
		if msg == "" {
			msg = fmt.Sprintf("the job ended %s: %s", task.Status.State, or(task.Status.Err, task.Status.Message))
		}
		return nil, fmt.Errorf("%s on node %s: %s", verb, node.Name, msg)
	}
	if result == nil {
		return nil, fmt.Errorf("%s on node %s exited 0 without a result", verb, node.Name)
	}
	return result, nil
}

// sweep removes the jobs a coordinator that died left behind: those whose
// task has ended (a job that still runs belongs to a live backup or restore).
func (j *SwarmNodes) sweep(ctx context.Context) {
	stack := j.Self.Spec.Labels[swarm.StackLabel]
	svcs, err := j.Cluster.Services(ctx, stack)
	if err != nil {
		return
	}
	tasks, err := j.Cluster.Tasks(ctx, stack)
	if err != nil {
		return
	}
	for _, s := range svcs {
		if s.Spec.Labels[NodeJobLabel] != "true" {
			continue
		}
		// A job's first task comes a moment after the job: a young one may be another process's.
		young := j.now().Sub(s.CreatedAt) < time.Minute
		live := slices.ContainsFunc(tasks, func(t mobyswarm.Task) bool { return t.ServiceID == s.ID && !ended(t.Status.State) })
		if !live && !young {
			_ = j.Cluster.RemoveService(ctx, s.ID)
		}
	}
}

// jobSpec copies the backup service's spec into a job on the node. Instead of
// the whole volume root the job mounts the volumes of the spec's services, by
// name, where the root would show them: Docker finds each on the node,
// wherever that node keeps its volumes, and the job sees nothing else.
func (j *SwarmNodes) jobSpec(node Node, verb, arg string, spec NodeSpec) (mobyswarm.ServiceSpec, error) {
	var s mobyswarm.ServiceSpec
	raw, err := json.Marshal(j.Self.Spec)
	if err == nil {
		err = json.Unmarshal(raw, &s)
	}
	if err == nil && s.TaskTemplate.ContainerSpec == nil {
		err = errors.New("it has no container spec")
	}
	if err != nil {
		return s, fmt.Errorf("copy the backup service's spec: %w", err)
	}
	stack := j.Self.Spec.Labels[swarm.StackLabel]
	prefix := strings.TrimSuffix(j.Self.Spec.Name, "_app")
	s.Name = fmt.Sprintf("%s_node_%s_%d", prefix[:min(len(prefix), 30)], shortNodeID(node.ID), time.Now().UnixNano()%1e6)
	s.Labels = map[string]string{NodeJobLabel: "true"}
	if stack != "" {
		s.Labels[swarm.StackLabel] = stack
	}
	one := uint64(1)
	s.Mode = mobyswarm.ServiceMode{ReplicatedJob: &mobyswarm.ReplicatedJob{MaxConcurrent: &one, TotalCompletions: &one}}
	s.UpdateConfig, s.RollbackConfig, s.EndpointSpec = nil, nil, nil
	c := s.TaskTemplate.ContainerSpec
	c.Command = []string{"/backupbot"}
	c.Args = []string{verb, "--spec", arg, "--json"}
	c.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
	root := or(j.Root, DefaultVolumeRoot)
	c.Mounts = slices.DeleteFunc(c.Mounts, func(m mount.Mount) bool { return isUnder(m.Target, root) })
	for _, sv := range spec.Services {
		for _, v := range sv.Volumes {
			target := root + "/" + v.Source + "/_data"
			if !slices.ContainsFunc(c.Mounts, func(m mount.Mount) bool { return m.Target == target }) {
				c.Mounts = append(c.Mounts, mount.Mount{Type: mount.TypeVolume, Source: v.Source, Target: target})
			}
		}
	}
	s.TaskTemplate.RestartPolicy = &mobyswarm.RestartPolicy{Condition: mobyswarm.RestartPolicyConditionNone}
	s.TaskTemplate.Placement = &mobyswarm.Placement{Constraints: []string{"node.id==" + node.ID}}
	return s, nil
}

// wait waits for the job's task to end; a task its node never starts fails
// after Unplaced, naming the scheduler's reason.
func (j *SwarmNodes) wait(ctx context.Context, id string, node Node) (mobyswarm.Task, error) {
	poll := orDur(j.Poll, time.Second)
	start := time.Now()
	for {
		tasks, err := j.Cluster.Tasks(ctx, j.Self.Spec.Labels[swarm.StackLabel])
		if err != nil {
			return mobyswarm.Task{}, fmt.Errorf("wait for the job on node %s: %w", node.Name, err)
		}
		var t *mobyswarm.Task
		for i := range tasks {
			if tasks[i].ServiceID == id && (t == nil || tasks[i].UpdatedAt.After(t.UpdatedAt)) {
				t = &tasks[i]
			}
		}
		if t != nil {
			switch t.Status.State {
			case mobyswarm.TaskStateComplete, mobyswarm.TaskStateFailed, mobyswarm.TaskStateRejected, mobyswarm.TaskStateShutdown, mobyswarm.TaskStateOrphaned:
				return *t, nil
			}
		}
		if (t == nil || t.Status.State == mobyswarm.TaskStatePending) && time.Since(start) > orDur(j.Unplaced, 2*time.Minute) {
			reason := "no task was created"
			if t != nil {
				reason = or(t.Status.Err, t.Status.Message)
			}
			return mobyswarm.Task{}, hint.With(fmt.Errorf("node %s did not start the backup job within %s: %s", node.Name, orDur(j.Unplaced, 2*time.Minute), reason),
				"a node that is down or drained holds the volumes: bring it back ('docker node ls' on a manager) and try again")
		}
		select {
		case <-ctx.Done():
			return mobyswarm.Task{}, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// events reads the job's output.
func (j *SwarmNodes) events(ctx context.Context, id string, report func(Event)) (json.RawMessage, string, error) {
	rc, err := j.Cluster.ServiceLogs(ctx, id, swarm.LogOptions{Stream: "stdout"})
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	return ReadNodeEvents(rc, report)
}

// ReadNodeEvents reads a node verb's JSON Lines output: events are handed to
// report, the result's data and the error's message (with its remedy) returned.
func ReadNodeEvents(r io.Reader, report func(Event)) (json.RawMessage, string, error) {
	var result json.RawMessage
	var failure string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e struct {
			Event
			Data json.RawMessage `json:"data,omitempty"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Event.Event == "" {
			continue
		}
		switch e.Event.Event {
		case EventResult:
			result = e.Data
			continue
		case EventError:
			failure = e.Message
			var d struct{ Hint string }
			if json.Unmarshal(e.Data, &d) == nil && d.Hint != "" {
				failure += " (" + d.Hint + ")"
			}
		}
		ev := e.Event
		if len(e.Data) > 0 {
			ev.Data = e.Data
		}
		report(ev)
	}
	return result, failure, sc.Err()
}

// FindSelf finds the backup service whose container this process runs in
// (the container's hostname is its ID), or the one service labelled as the
// backup service.
func FindSelf(ctx context.Context, c swarm.Cluster, hostname string) (mobyswarm.Service, error) {
	svcs, err := c.Services(ctx, "")
	if err != nil {
		return mobyswarm.Service{}, err
	}
	if hostname != "" {
		cs, err := c.Containers(ctx, "")
		if err == nil {
			for _, ct := range cs {
				if strings.HasPrefix(ct.ID, hostname) {
					for _, s := range svcs {
						if s.ID == ct.Labels["com.docker.swarm.service.id"] {
							return s, nil
						}
					}
				}
			}
		}
	}
	var mine []mobyswarm.Service
	for _, s := range svcs {
		if s.Spec.Labels["coop-cloud.backupbot.enabled"] == "true" {
			mine = append(mine, s)
		}
	}
	if len(mine) != 1 {
		return mobyswarm.Service{}, fmt.Errorf("cannot tell which of %d backup services this is", len(mine))
	}
	return mine[0], nil
}
