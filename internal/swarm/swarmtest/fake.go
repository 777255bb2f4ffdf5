// Package swarmtest provides an in-memory swarm.Cluster for tests. Services
// converge at once: creating or updating one replaces its tasks with running
// tasks of the new spec. Where it can, it behaves as Docker does (the contract
// suite in contract.go runs against both): secrets and configs keep versions
// and only their labels change, a running task's container creates the
// volumes it mounts and keeps them in use, prune removes what Docker's would.
// It runs no processes: tests tell it what they print (Log, ExecFunc),
// that they exited (EndTasks) and what folders an image has (AddImage).
package swarmtest

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
)

// Cluster is a fake swarm.Cluster. The zero value is not ready: use New.
type Cluster struct {
	mu       sync.Mutex
	Node     swarm.NodeInfo
	networks map[string]swarm.Network // by name
	netSpecs map[string]swarm.NetworkSpec
	secrets  map[string]*stored[mobyswarm.SecretSpec] // by name
	configs  map[string]*stored[mobyswarm.ConfigSpec]
	services map[string]*mobyswarm.Service // by ID
	tasks    []mobyswarm.Task
	// nodes: the first is the node the client talks to (its ID is Node.NodeID).
	nodes   []swarm.Node
	volumes map[string]string   // name → stack
	images  map[string][]string // image → folders its containers start with
	pruned  map[string]bool     // IDs of stopped containers Prune removed
	seq     int
	// Calls records mutating calls, e.g. "create service s_app".
	Calls       []string
	failUpdates bool
	copies      map[string][]byte
	files       map[string]map[string]*fakeFile // container ID → clean path → file
	logs        map[string][]logLine            // service name → its log (Log)
	logged      chan struct{}                   // closed and replaced by Log: wakes followers
	// ExecFunc plays the command given to Exec.
	ExecFunc func(swarm.ExecOptions) (int, error)
}

// New returns an empty cluster whose node is an active swarm manager.
func New() *Cluster {
	return &Cluster{
		Node:     swarm.NodeInfo{ServerVersion: "fake", APIVersion: "1.41", SwarmState: "active", IsManager: true, NodeID: "node1", Nodes: 1},
		networks: map[string]swarm.Network{}, netSpecs: map[string]swarm.NetworkSpec{},
		secrets: map[string]*stored[mobyswarm.SecretSpec]{}, configs: map[string]*stored[mobyswarm.ConfigSpec]{},
		services: map[string]*mobyswarm.Service{}, volumes: map[string]string{},
		nodes: []swarm.Node{{Hostname: "fake", Role: swarm.RoleManager, Availability: swarm.NodeActive,
			State: swarm.NodeReady, Addr: "127.0.0.1", Leader: true}},
	}
}

// stored is a secret or config with the version swarm keeps for it.
type stored[S any] struct {
	spec    S
	version uint64
}

func (c *Cluster) id(prefix string) string {
	c.seq++
	return fmt.Sprintf("%s%d", prefix, c.seq)
}

func inStack(labels map[string]string, stack string) bool {
	return stack == "" || labels[swarm.StackLabel] == stack
}

// AddNetwork adds a network created outside abra (like "proxy").
func (c *Cluster) AddNetwork(name, scope string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.networks[name] = swarm.Network{ID: c.id("net"), Name: name, Scope: scope}
}

// AddVolume adds a volume of a stack.
func (c *Cluster) AddVolume(name, stack string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.volumes[name] = stack
}

// AddSecret adds a secret created outside the stack (abra's external secrets).
func (c *Cluster) AddSecret(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.secrets[name] = &stored[mobyswarm.SecretSpec]{spec: mobyswarm.SecretSpec{Annotations: mobyswarm.Annotations{Name: name}}, version: uint64(c.seq)}
}

// AddImage gives the containers of services running image these folders,
// as a real container has its image's file system (CopyTo, StatPath).
func (c *Cluster) AddImage(image string, dirs ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.images == nil {
		c.images = map[string][]string{}
	}
	c.images[image] = append(c.images[image], dirs...)
}

// Info implements swarm.Cluster.
func (c *Cluster) Info(context.Context) (swarm.NodeInfo, error) { return c.Node, nil }

// InitSwarm implements swarm.Cluster. Like Docker, it refuses on a node
// that is already part of a swarm.
func (c *Cluster) InitSwarm(context.Context, string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Node.SwarmState == "active" {
		return errors.New("this node is already part of a swarm")
	}
	c.Node.SwarmState, c.Node.IsManager = "active", true
	c.Calls = append(c.Calls, "swarm init")
	return nil
}

// Networks implements swarm.Cluster.
func (c *Cluster) Networks(_ context.Context, stack string) ([]swarm.Network, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []swarm.Network
	for _, n := range c.networks {
		if inStack(n.Labels, stack) {
			out = append(out, n)
		}
	}
	return out, nil
}

// InspectNetwork implements swarm.Cluster.
func (c *Cluster) InspectNetwork(_ context.Context, name string) (swarm.Network, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.networks[name]; ok {
		return n, nil
	}
	return swarm.Network{}, fmt.Errorf("network %s: %w", name, swarm.ErrNotFound)
}

// CreateNetwork implements swarm.Cluster.
func (c *Cluster) CreateNetwork(_ context.Context, name string, s swarm.NetworkSpec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.networks[name]; ok {
		return fmt.Errorf("network %s already exists", name)
	}
	c.networks[name] = swarm.Network{ID: c.id("net"), Name: name, Scope: "swarm", Labels: s.Labels}
	c.netSpecs[name] = s
	c.Calls = append(c.Calls, "create network "+name)
	return nil
}

// RemoveNetwork implements swarm.Cluster.
func (c *Cluster) RemoveNetwork(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, n := range c.networks {
		if n.ID == id || name == id {
			delete(c.networks, name)
			c.Calls = append(c.Calls, "remove network "+name)
			return nil
		}
	}
	return fmt.Errorf("network %s: %w", id, swarm.ErrNotFound)
}

func objects[S any](m map[string]*stored[S], labels func(S) map[string]string, stack string) []swarm.Object {
	var out []swarm.Object
	for name, s := range m {
		if inStack(labels(s.spec), stack) {
			out = append(out, swarm.Object{ID: "id-" + name, Name: name, Labels: labels(s.spec), Version: mobyswarm.Version{Index: s.version}})
		}
	}
	slices.SortFunc(out, func(a, b swarm.Object) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Secrets implements swarm.Cluster.
func (c *Cluster) Secrets(_ context.Context, stack string) ([]swarm.Object, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return objects(c.secrets, func(s mobyswarm.SecretSpec) map[string]string { return s.Labels }, stack), nil
}

// CreateSecret implements swarm.Cluster.
func (c *Cluster) CreateSecret(_ context.Context, s mobyswarm.SecretSpec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.secrets[s.Name]; ok {
		return fmt.Errorf("secret %s already exists", s.Name)
	}
	c.seq++
	c.secrets[s.Name] = &stored[mobyswarm.SecretSpec]{spec: s, version: uint64(c.seq)}
	c.Calls = append(c.Calls, "create secret "+s.Name)
	return nil
}

// SecretData returns the value stored in a secret, for tests to check what
// reached the server.
func (c *Cluster) SecretData(name string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.secrets[name]
	if !ok {
		return nil, false
	}
	return s.spec.Data, true
}

// update applies swarm's rules for updating a secret or config: the object
// must exist (by ID), the version must be the current one, and only the
// labels may change (the same data, or none, is accepted).
func update[S any](c *Cluster, m map[string]*stored[S], kind string, o swarm.Object, want S, fields func(*S) (*mobyswarm.Annotations, []byte)) error {
	cur, ok := m[strings.TrimPrefix(o.ID, "id-")]
	if !ok {
		return fmt.Errorf("%s %s: %w", kind, o.ID, swarm.ErrNotFound)
	}
	a, data := fields(&cur.spec)
	wantA, wantData := fields(&want)
	if o.Version.Index != cur.version {
		return fmt.Errorf("update %s %s: update out of sequence", kind, a.Name)
	}
	if wantA.Name != a.Name || (wantData != nil && !bytes.Equal(wantData, data)) {
		return fmt.Errorf("update %s %s: only updates to Labels are allowed", kind, a.Name)
	}
	a.Labels = wantA.Labels
	c.seq++
	cur.version = uint64(c.seq)
	c.Calls = append(c.Calls, "update "+kind+" "+a.Name)
	return nil
}

// UpdateSecret implements swarm.Cluster as swarm does: only labels change.
func (c *Cluster) UpdateSecret(_ context.Context, o swarm.Object, s mobyswarm.SecretSpec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return update(c, c.secrets, "secret", o, s, func(s *mobyswarm.SecretSpec) (*mobyswarm.Annotations, []byte) { return &s.Annotations, s.Data })
}

// RemoveSecret implements swarm.Cluster.
func (c *Cluster) RemoveSecret(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := strings.TrimPrefix(id, "id-")
	if _, ok := c.secrets[name]; !ok {
		return fmt.Errorf("secret %s: %w", id, swarm.ErrNotFound)
	}
	delete(c.secrets, name)
	c.Calls = append(c.Calls, "remove secret "+name)
	return nil
}

// Configs implements swarm.Cluster.
func (c *Cluster) Configs(_ context.Context, stack string) ([]swarm.Object, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return objects(c.configs, func(s mobyswarm.ConfigSpec) map[string]string { return s.Labels }, stack), nil
}

// CreateConfig implements swarm.Cluster.
func (c *Cluster) CreateConfig(_ context.Context, s mobyswarm.ConfigSpec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.configs[s.Name]; ok {
		return fmt.Errorf("config %s already exists", s.Name)
	}
	c.seq++
	c.configs[s.Name] = &stored[mobyswarm.ConfigSpec]{spec: s, version: uint64(c.seq)}
	c.Calls = append(c.Calls, "create config "+s.Name)
	return nil
}

// UpdateConfig implements swarm.Cluster as swarm does: only labels change.
func (c *Cluster) UpdateConfig(_ context.Context, o swarm.Object, s mobyswarm.ConfigSpec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return update(c, c.configs, "config", o, s, func(s *mobyswarm.ConfigSpec) (*mobyswarm.Annotations, []byte) { return &s.Annotations, s.Data })
}

// RemoveConfig implements swarm.Cluster.
func (c *Cluster) RemoveConfig(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := strings.TrimPrefix(id, "id-")
	if _, ok := c.configs[name]; !ok {
		return fmt.Errorf("config %s: %w", id, swarm.ErrNotFound)
	}
	delete(c.configs, name)
	c.Calls = append(c.Calls, "remove config "+name)
	return nil
}

// ConfigData implements swarm.Cluster.
func (c *Cluster) ConfigData(_ context.Context, id string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.configs[strings.TrimPrefix(id, "id-")]
	if !ok {
		return nil, fmt.Errorf("config %s: %w", id, swarm.ErrNotFound)
	}
	return bytes.Clone(s.spec.Data), nil
}

func ids[S any](m map[string]*stored[S], names []string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		if _, ok := m[n]; ok {
			out[n] = "id-" + n
		}
	}
	return out
}

// SecretIDs implements swarm.Cluster.
func (c *Cluster) SecretIDs(_ context.Context, names []string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ids(c.secrets, names), nil
}

// ConfigIDs implements swarm.Cluster.
func (c *Cluster) ConfigIDs(_ context.Context, names []string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ids(c.configs, names), nil
}

// Services implements swarm.Cluster.
func (c *Cluster) Services(_ context.Context, stack string) ([]mobyswarm.Service, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []mobyswarm.Service
	for _, s := range c.services {
		if inStack(s.Spec.Labels, stack) {
			out = append(out, *s)
		}
	}
	slices.SortFunc(out, func(a, b mobyswarm.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	return out, nil
}

// resolveNetworks stores network targets as IDs, as the daemon does.
func (c *Cluster) resolveNetworks(spec *mobyswarm.ServiceSpec) {
	nets := slices.Clone(spec.TaskTemplate.Networks)
	for i, n := range nets {
		if known, ok := c.networks[n.Target]; ok {
			nets[i].Target = known.ID
		}
	}
	spec.TaskTemplate.Networks = nets
}

// runTasks replaces a service's tasks with running tasks of its current spec.
// Their containers start as Docker's do: with the image's folders (AddImage),
// creating the named volumes they mount, labelled as the mount says.
func (c *Cluster) runTasks(svc *mobyswarm.Service) {
	kept := c.tasks[:0]
	for _, t := range c.tasks {
		if t.ServiceID != svc.ID {
			kept = append(kept, t)
		}
	}
	c.tasks = kept
	n := 1
	if r := svc.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		n = int(*r.Replicas)
	}
	for range n {
		t := mobyswarm.Task{
			ID: c.id("task"), ServiceID: svc.ID, Spec: svc.Spec.TaskTemplate,
			DesiredState: mobyswarm.TaskStateRunning,
			Status:       mobyswarm.TaskStatus{State: mobyswarm.TaskStateRunning, Timestamp: time.Now()},
		}
		node, reason := c.place(svc.Spec.TaskTemplate.Placement)
		if node == "" {
			t.Status.State, t.Status.Err = mobyswarm.TaskStatePending, reason
			c.tasks = append(c.tasks, t)
			continue
		}
		t.NodeID = node
		c.tasks = append(c.tasks, t)
		if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
			for _, d := range c.images[cs.Image] {
				c.mkdirAll("ctr-"+t.ID, path.Clean(d))
			}
			for _, m := range cs.Mounts {
				if _, ok := c.volumes[m.Source]; m.Type == mount.TypeVolume && m.Source != "" && !ok {
					stack := ""
					if m.VolumeOptions != nil {
						stack = m.VolumeOptions.Labels[swarm.StackLabel]
					}
					c.volumes[m.Source] = stack
				}
			}
		}
	}
}

// place picks a node for a new task as swarm's scheduler does: among the
// ready, active nodes that satisfy the placement constraints, the one running
// fewest tasks (the first such node on a tie). With none, it returns "" and the
// scheduler's reason, as a pending task's status Err carries it.
func (c *Cluster) place(p *mobyswarm.Placement) (string, string) {
	var constraints []string
	if p != nil {
		constraints = p.Constraints
	}
	load := map[string]int{}
	for _, t := range c.tasks {
		if t.DesiredState == mobyswarm.TaskStateRunning && t.NodeID != "" {
			load[t.NodeID]++
		}
	}
	best, unavailable, unsatisfied := "", 0, 0
	for _, n := range c.allNodes() {
		switch {
		case n.State != swarm.NodeReady || n.Availability != swarm.NodeActive:
			unavailable++
		case !satisfies(n, constraints):
			unsatisfied++
		case best == "" || load[n.ID] < load[best]:
			best = n.ID
		}
	}
	if best != "" {
		return best, ""
	}
	var why []string
	if unavailable > 0 {
		why = append(why, plural(unavailable, "node")+" not available for new tasks")
	}
	if unsatisfied > 0 {
		why = append(why, "scheduling constraints not satisfied on "+plural(unsatisfied, "node"))
	}
	return "", "no suitable node (" + strings.Join(why, "; ") + ")"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// satisfies evaluates placement constraints as swarm does for the keys the
// fake knows (node.id, node.hostname, node.role, node.labels.<key>): "=="
// needs the value, "!=" holds for any other value or a missing label; any
// other key has no value on the fake.
func satisfies(n swarm.Node, constraints []string) bool {
	for _, con := range constraints {
		op := "=="
		key, want, ok := strings.Cut(con, "==")
		if !ok {
			op = "!="
			key, want, _ = strings.Cut(con, "!=")
		}
		key, want = strings.TrimSpace(key), strings.TrimSpace(want)
		var have string
		var known bool
		switch {
		case key == "node.id":
			have, known = n.ID, true
		case key == "node.hostname":
			have, known = n.Hostname, true
		case key == "node.role":
			have, known = n.Role, true
		case strings.HasPrefix(key, "node.labels."):
			have, known = n.Labels[strings.TrimPrefix(key, "node.labels.")]
		}
		if (op == "==") != (known && strings.EqualFold(have, want)) {
			return false
		}
	}
	return true
}

// AddNode adds a node to the swarm: a worker unless Role says otherwise,
// active and ready unless Availability and State say otherwise, with an ID
// unless it has one. It returns the node's ID. Running tasks stay where they
// are; services created or updated later are placed over all nodes.
func (c *Cluster) AddNode(n swarm.Node) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n.Role = cmp.Or(n.Role, swarm.RoleWorker)
	n.Availability = cmp.Or(n.Availability, swarm.NodeActive)
	n.State = cmp.Or(n.State, swarm.NodeReady)
	if n.ID == "" {
		n.ID = c.id("fakenode")
	}
	n.Labels = maps.Clone(n.Labels)
	c.nodes = append(c.nodes, n)
	c.Node.Nodes = len(c.nodes)
	return n.ID
}

// SetNode changes the node with this hostname (its state, availability,
// labels). Unlike swarm, the fake moves no task when a node goes down or is
// drained, nor places pending ones: tests say where tasks go (PlaceTasks).
func (c *Cluster) SetNode(hostname string, change func(*swarm.Node)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.nodes {
		if c.nodes[i].Hostname == hostname {
			change(&c.nodes[i])
			return
		}
	}
	panic("swarmtest: no node " + hostname)
}

// PlaceTasks puts the service's tasks that are meant to run on the node with
// this hostname, running there (a pending task is then placed), as swarm does
// when it reschedules. It returns how many tasks it placed.
func (c *Cluster) PlaceTasks(service, hostname string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := ""
	for _, n := range c.allNodes() {
		if n.Hostname == hostname {
			id = n.ID
		}
	}
	if id == "" {
		panic("swarmtest: no node " + hostname)
	}
	placed := 0
	for i, t := range c.tasks {
		if svc, ok := c.services[t.ServiceID]; ok && svc.Spec.Name == service && t.DesiredState == mobyswarm.TaskStateRunning {
			c.tasks[i].NodeID = id
			c.tasks[i].Status = mobyswarm.TaskStatus{State: mobyswarm.TaskStateRunning, Timestamp: time.Now()}
			placed++
		}
	}
	return placed
}

// Nodes_ is the node list with the first node's ID kept equal to Node.NodeID
// (tests set that field); the caller holds c.mu.
func (c *Cluster) allNodes() []swarm.Node {
	out := slices.Clone(c.nodes)
	out[0].ID = c.Node.NodeID
	return out
}

// Nodes implements swarm.Cluster: like Docker, only a manager lists them.
func (c *Cluster) Nodes(context.Context) ([]swarm.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Node.SwarmState != "active" || !c.Node.IsManager {
		return nil, errors.New("this node is not a swarm manager")
	}
	out := c.allNodes()
	for i := range out {
		out[i].Labels = maps.Clone(out[i].Labels)
	}
	swarm.SortNodes(out)
	return out, nil
}

// CreateService implements swarm.Cluster.
func (c *Cluster) CreateService(_ context.Context, spec mobyswarm.ServiceSpec, _ bool) (string, []string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.services {
		if s.Spec.Name == spec.Name {
			return "", nil, fmt.Errorf("service %s already exists", spec.Name)
		}
	}
	c.resolveNetworks(&spec)
	svc := &mobyswarm.Service{ID: c.id("svc"), Spec: spec}
	c.services[svc.ID] = svc
	c.runTasks(svc)
	c.Calls = append(c.Calls, "create service "+spec.Name)
	return svc.ID, nil, nil
}

// UpdateService implements swarm.Cluster.
func (c *Cluster) UpdateService(_ context.Context, old mobyswarm.Service, spec mobyswarm.ServiceSpec, _ bool) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	svc, ok := c.services[old.ID]
	if !ok {
		return nil, fmt.Errorf("service %s: %w", old.ID, swarm.ErrNotFound)
	}
	c.resolveNetworks(&spec)
	prev := svc.Spec
	svc.PreviousSpec = &prev
	svc.Spec = spec
	svc.Version.Index++
	c.runTasks(svc)
	if c.failUpdates {
		for i := range c.tasks {
			if c.tasks[i].ServiceID == svc.ID {
				c.tasks[i].Status = mobyswarm.TaskStatus{State: mobyswarm.TaskStateFailed, Err: "task: non-zero exit (1)", Timestamp: time.Now()}
				c.tasks[i].DesiredState = mobyswarm.TaskStateShutdown
			}
		}
	}
	c.Calls = append(c.Calls, "update service "+spec.Name)
	return nil, nil
}

// RollbackService implements swarm.Cluster.
func (c *Cluster) RollbackService(_ context.Context, old mobyswarm.Service) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	svc, ok := c.services[old.ID]
	if !ok {
		return fmt.Errorf("service %s: %w", old.ID, swarm.ErrNotFound)
	}
	if svc.PreviousSpec == nil {
		return fmt.Errorf("service %s has no previous spec", svc.Spec.Name)
	}
	cur := svc.Spec
	svc.Spec, svc.PreviousSpec = *svc.PreviousSpec, &cur
	svc.Version.Index++
	c.runTasks(svc)
	c.Calls = append(c.Calls, "rollback service "+svc.Spec.Name)
	return nil
}

// FailUpdates makes every later UpdateService leave the service without
// running tasks, as an update whose new tasks never become healthy would.
func (c *Cluster) FailUpdates() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failUpdates = true
}

// RemoveService implements swarm.Cluster.
func (c *Cluster) RemoveService(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	svc, ok := c.services[id]
	if !ok {
		return fmt.Errorf("service %s: %w", id, swarm.ErrNotFound)
	}
	delete(c.services, id)
	kept := c.tasks[:0]
	for _, t := range c.tasks {
		if t.ServiceID != id {
			kept = append(kept, t)
		}
	}
	c.tasks = kept
	c.Calls = append(c.Calls, "remove service "+svc.Spec.Name)
	return nil
}

// Tasks implements swarm.Cluster.
func (c *Cluster) Tasks(_ context.Context, stack string) ([]mobyswarm.Task, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []mobyswarm.Task
	for _, t := range c.tasks {
		if svc, ok := c.services[t.ServiceID]; ok && inStack(svc.Spec.Labels, stack) {
			out = append(out, t)
		}
	}
	return out, nil
}

// containers are the fake's containers: one per task that runs or ran (an
// ended task's container stays, exited, until Prune removes it), as Docker
// lists them with all set. The labels are the container spec's plus swarm's.
func (c *Cluster) containers() []swarm.Container {
	var out []swarm.Container
	for _, t := range c.tasks {
		svc, ok := c.services[t.ServiceID]
		id := "ctr-" + t.ID
		if !ok || c.pruned[id] || (t.NodeID != "" && t.NodeID != c.Node.NodeID) {
			continue // Docker lists the containers of the node it runs on
		}
		state := "running"
		switch t.Status.State {
		case mobyswarm.TaskStateRunning:
		case mobyswarm.TaskStateComplete, mobyswarm.TaskStateFailed:
			state = "exited"
		default:
			continue
		}
		labels := map[string]string{}
		if cs := t.Spec.ContainerSpec; cs != nil {
			maps.Copy(labels, cs.Labels)
		}
		labels["com.docker.swarm.service.name"] = svc.Spec.Name
		labels["com.docker.swarm.task.id"] = t.ID
		// Docker labels a container with its container spec's labels only;
		// tests that build specs by hand often put the stack label on the
		// service alone (stack's converter puts it on both), so it is kept.
		if stack, ok := svc.Spec.Labels[swarm.StackLabel]; ok && labels[swarm.StackLabel] == "" {
			labels[swarm.StackLabel] = stack
		}
		out = append(out, swarm.Container{ID: id, Name: svc.Spec.Name + ".1." + t.ID, State: state, Labels: labels})
	}
	return out
}

// Containers implements swarm.Cluster.
func (c *Cluster) Containers(_ context.Context, stack string) ([]swarm.Container, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []swarm.Container
	for _, ct := range c.containers() {
		if inStack(ct.Labels, stack) {
			out = append(out, ct)
		}
	}
	return out, nil
}

// container reports whether a container exists (any state).
func (c *Cluster) container(id string) bool {
	if _, ok := c.files[id]; ok {
		return true
	}
	return slices.ContainsFunc(c.containers(), func(ct swarm.Container) bool { return ct.ID == id })
}

// ServiceLogs implements swarm.Cluster: the lines Log gave the service (by
// ID or name), else an empty log; a service that neither exists nor has a
// log is not found. Since, Tail (a number) and Timestamps apply as Docker
// applies them (Since inclusive, then the last Tail lines; times in Docker's
// fixed-width RFC 3339 form). With Follow, lines logged later are streamed
// too, until ctx ends or the reader is closed. Streams are not told apart.
func (c *Cluster) ServiceLogs(ctx context.Context, service string, o swarm.LogOptions) (io.ReadCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := service
	known := false
	for _, svc := range c.services {
		if svc.ID == service || svc.Spec.Name == service {
			name, known = svc.Spec.Name, true
		}
	}
	lines, logged := c.logs[name]
	if !known && !logged {
		return nil, fmt.Errorf("service %s: %w", service, swarm.ErrNotFound)
	}
	seen := len(lines)
	if !o.Since.IsZero() {
		lines = slices.DeleteFunc(slices.Clone(lines), func(l logLine) bool { return l.at.Before(o.Since) })
	}
	if n, err := strconv.Atoi(o.Tail); err == nil && n >= 0 && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	format := func(ls []logLine) []byte {
		var b bytes.Buffer
		for _, l := range ls {
			if o.Timestamps {
				b.WriteString(l.at.Format(logTimeLayout) + " ")
			}
			b.WriteString(l.text + "\n")
		}
		return b.Bytes()
	}
	if !o.Follow {
		return io.NopCloser(bytes.NewReader(format(lines))), nil
	}
	pr, pw := io.Pipe()
	go func() {
		if _, err := pw.Write(format(lines)); err != nil {
			return
		}
		for {
			c.mu.Lock()
			more, wake := c.logs[name][seen:], c.logged
			seen += len(more)
			c.mu.Unlock()
			if len(more) > 0 {
				if _, err := pw.Write(format(more)); err != nil {
					return // the reader was closed
				}
				continue
			}
			select {
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			case <-wake:
			}
		}
	}()
	return pr, nil
}

// logTimeLayout is how Docker writes a log line's time (RFC 3339, always
// nine digits of nanoseconds: jsonmessage.RFC3339NanoFixed).
const logTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

type logLine struct {
	at   time.Time
	text string
}

// Log adds lines to the log of the named service, each logged now, a
// microsecond apart; a Follow stream of the service gets them.
func (c *Cluster) Log(service, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.logs == nil {
		c.logs = map[string][]logLine{}
	}
	if c.logged == nil {
		c.logged = make(chan struct{})
	}
	now := time.Now().UTC()
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if text == "" {
			break
		}
		c.logs[service] = append(c.logs[service], logLine{at: now.Add(time.Duration(i) * time.Microsecond), text: l})
	}
	close(c.logged) // wake the followers
	c.logged = make(chan struct{})
}

// EndTasks ends the running tasks of the named service as swarm does when
// their containers exit and the restart policy is none: complete for exit
// code 0, failed otherwise, desired state shutdown, on the fake's node. It
// returns how many tasks it ended.
func (c *Cluster) EndTasks(service string, exitCode int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for i, t := range c.tasks {
		svc, ok := c.services[t.ServiceID]
		if !ok || svc.Spec.Name != service || t.Status.State != mobyswarm.TaskStateRunning {
			continue
		}
		st := mobyswarm.TaskStatus{State: mobyswarm.TaskStateComplete, Timestamp: time.Now(),
			ContainerStatus: &mobyswarm.ContainerStatus{ContainerID: "ctr-" + t.ID, ExitCode: exitCode}}
		if exitCode != 0 {
			st.State, st.Err = mobyswarm.TaskStateFailed, fmt.Sprintf("task: non-zero exit (%d)", exitCode)
		}
		c.tasks[i].Status, c.tasks[i].DesiredState, c.tasks[i].NodeID = st, mobyswarm.TaskStateShutdown, c.Node.NodeID
		n++
	}
	return n
}

// Exec implements swarm.Cluster by recording the command; ExecFunc, when set,
// produces the output and exit code. A container that does not exist is not
// found.
func (c *Cluster) Exec(_ context.Context, containerID string, o swarm.ExecOptions) (int, error) {
	c.mu.Lock()
	if !c.container(containerID) {
		c.mu.Unlock()
		return -1, fmt.Errorf("container %s: %w", containerID, swarm.ErrNotFound)
	}
	c.Calls = append(c.Calls, "exec "+containerID+" "+strings.Join(o.Cmd, " "))
	f := c.ExecFunc
	c.mu.Unlock()
	if f == nil {
		return 0, nil
	}
	return f(o)
}

// fakeFile is a file or directory of a fake container.
type fakeFile struct {
	dir  bool
	mode fs.FileMode
	data []byte
}

// AddDir creates a directory (and its parents) in a container's file tree.
func (c *Cluster) AddDir(containerID, dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mkdirAll(containerID, path.Clean(dir))
}

// AddFile creates a file (and its parent directories) in a container's file tree.
func (c *Cluster) AddFile(containerID, name string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = path.Clean(name)
	c.mkdirAll(containerID, path.Dir(name))
	c.files[containerID][name] = &fakeFile{mode: 0o644, data: bytes.Clone(data)}
}

// File returns a file of a container's file tree.
func (c *Cluster) File(containerID, name string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[containerID][path.Clean(name)]
	if !ok || f.dir {
		return nil, false
	}
	return bytes.Clone(f.data), true
}

func (c *Cluster) mkdirAll(containerID, dir string) {
	if c.files == nil {
		c.files = map[string]map[string]*fakeFile{}
	}
	if c.files[containerID] == nil {
		c.files[containerID] = map[string]*fakeFile{"/": {dir: true, mode: fs.ModeDir | 0o755}}
	}
	for d := dir; d != "/" && d != "."; d = path.Dir(d) {
		if _, ok := c.files[containerID][d]; !ok {
			c.files[containerID][d] = &fakeFile{dir: true, mode: fs.ModeDir | 0o755}
		}
	}
}

// StatPath implements swarm.Cluster over the container's file tree.
func (c *Cluster) StatPath(_ context.Context, containerID, name string) (container.PathStat, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name = path.Clean(name)
	f, ok := c.files[containerID][name]
	if !ok {
		return container.PathStat{}, fmt.Errorf("container path %s: %w", name, swarm.ErrNotFound)
	}
	return container.PathStat{Name: path.Base(name), Size: int64(len(f.data)), Mode: f.mode}, nil
}

// CopyTo implements swarm.Cluster. Into a directory of the container's file
// tree (AddDir, AddImage) it unpacks the stream there, as Docker does, and a
// folder missing from that tree is not found; into a container without a
// file tree it keeps the stream as it is for CopyFrom of the same path.
func (c *Cluster) CopyTo(_ context.Context, containerID, dir string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Calls = append(c.Calls, "copy to "+containerID+":"+dir)
	dir = path.Clean(dir)
	d, ok := c.files[containerID][dir]
	if !ok && c.files[containerID] != nil {
		return fmt.Errorf("container path %s: %w", dir, swarm.ErrNotFound)
	}
	if ok {
		if !d.dir {
			return fmt.Errorf("container path %s: not a directory", dir)
		}
		tr := tar.NewReader(bytes.NewReader(b))
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			name := path.Join(dir, hdr.Name)
			c.mkdirAll(containerID, path.Dir(name))
			if hdr.Typeflag == tar.TypeDir {
				c.mkdirAll(containerID, name)
				continue
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			c.files[containerID][name] = &fakeFile{mode: fs.FileMode(hdr.Mode).Perm(), data: data}
		}
	}
	if c.copies == nil {
		c.copies = map[string][]byte{}
	}
	c.copies[containerID+":"+dir] = b
	return nil
}

// CopyFrom implements swarm.Cluster: what CopyTo kept at that path, else a
// tar of the path in the container's file tree, entries named from its base
// name as Docker names them.
func (c *Cluster) CopyFrom(_ context.Context, containerID, name string) (io.ReadCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.copies[containerID+":"+name]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	name = path.Clean(name)
	top, ok := c.files[containerID][name]
	if !ok {
		return nil, fmt.Errorf("container path %s: %w", name, swarm.ErrNotFound)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var names []string
	for p := range c.files[containerID] {
		if p == name || (top.dir && strings.HasPrefix(p, strings.TrimSuffix(name, "/")+"/")) {
			names = append(names, p)
		}
	}
	slices.Sort(names)
	for _, p := range names {
		f := c.files[containerID][p]
		entry := path.Join(path.Base(name), strings.TrimPrefix(p, name))
		hdr := &tar.Header{Name: entry, Mode: int64(f.mode.Perm()), Size: int64(len(f.data)), Typeflag: tar.TypeReg}
		if f.dir {
			hdr.Name, hdr.Typeflag, hdr.Size = entry+"/", tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}

// volumeInUse reports whether a container (running or exited) mounts the
// volume: Docker's notion of a volume in use.
func (c *Cluster) volumeInUse(name string) bool {
	for _, ct := range c.containers() {
		for _, t := range c.tasks {
			if "ctr-"+t.ID != ct.ID || t.Spec.ContainerSpec == nil {
				continue
			}
			for _, m := range t.Spec.ContainerSpec.Mounts {
				if m.Type == mount.TypeVolume && m.Source == name {
					return true
				}
			}
		}
	}
	return false
}

// UnusedVolumes implements swarm.Cluster: volumes no container mounts, as
// Docker's dangling filter lists them.
func (c *Cluster) UnusedVolumes(context.Context) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name := range c.volumes {
		if !c.volumeInUse(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Prune implements swarm.Cluster as the Docker adapter does: the exited
// containers and the networks of stacks without services, within opts' stack
// and label. The fake has no images.
func (c *Cluster) Prune(_ context.Context, opts swarm.PruneOptions) (swarm.PruneReport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	call := "prune"
	if opts.Stack != "" {
		call += " stack=" + opts.Stack
	}
	if opts.Label != "" {
		call += " label=" + opts.Label
	}
	if opts.AllImages {
		call += " all-images"
	}
	c.Calls = append(c.Calls, call)
	var r swarm.PruneReport
	within := func(labels map[string]string) bool {
		return inStack(labels, opts.Stack) && (opts.Label == "" || swarm.HasLabel(labels, opts.Label))
	}
	for _, ct := range c.containers() {
		if ct.State != "running" && within(ct.Labels) {
			if c.pruned == nil {
				c.pruned = map[string]bool{}
			}
			c.pruned[ct.ID] = true
			r.Containers = append(r.Containers, ct.ID)
		}
	}
	live := map[string]bool{}
	for _, s := range c.services {
		live[s.Spec.Labels[swarm.StackLabel]] = true
	}
	for _, name := range slices.Sorted(maps.Keys(c.networks)) {
		n := c.networks[name]
		if stack := n.Labels[swarm.StackLabel]; stack != "" && !live[stack] && within(n.Labels) {
			delete(c.networks, name)
			r.Networks = append(r.Networks, name)
		}
	}
	return r, nil
}

// Volumes implements swarm.Cluster.
func (c *Cluster) Volumes(_ context.Context, stack string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name, s := range c.volumes {
		if stack == "" || s == stack {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// RemoveVolume implements swarm.Cluster. Like Docker, it refuses a volume
// a container uses.
func (c *Cluster) RemoveVolume(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.volumes[name]; !ok {
		return fmt.Errorf("volume %s: %w", name, swarm.ErrNotFound)
	}
	if c.volumeInUse(name) {
		return fmt.Errorf("remove volume %s: volume is in use", name)
	}
	delete(c.volumes, name)
	return nil
}

var _ swarm.Cluster = (*Cluster)(nil)
