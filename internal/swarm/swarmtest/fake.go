// Package swarmtest provides an in-memory swarm.Cluster for tests. Services
// converge at once: creating or updating one replaces its tasks with running
// tasks of the new spec.
package swarmtest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
)

// Cluster is a fake swarm.Cluster. The zero value is not ready: use New.
type Cluster struct {
	mu       sync.Mutex
	Node     swarm.NodeInfo
	networks map[string]swarm.Network // by name
	netSpecs map[string]swarm.NetworkSpec
	secrets  map[string]mobyswarm.SecretSpec // by name
	configs  map[string]mobyswarm.ConfigSpec
	services map[string]*mobyswarm.Service // by ID
	tasks    []mobyswarm.Task
	volumes  map[string]string // name → stack
	seq      int
	// Calls records mutating calls, e.g. "create service s_app".
	Calls       []string
	failUpdates bool
	copies      map[string][]byte
	files       map[string]map[string]*fakeFile // container ID → clean path → file
	// ExecFunc plays the command given to Exec.
	ExecFunc func(swarm.ExecOptions) (int, error)
}

// New returns an empty cluster whose node is an active swarm manager.
func New() *Cluster {
	return &Cluster{
		Node:     swarm.NodeInfo{ServerVersion: "fake", APIVersion: "1.41", SwarmState: "active", IsManager: true, NodeID: "node1", Nodes: 1},
		networks: map[string]swarm.Network{}, netSpecs: map[string]swarm.NetworkSpec{},
		secrets: map[string]mobyswarm.SecretSpec{}, configs: map[string]mobyswarm.ConfigSpec{},
		services: map[string]*mobyswarm.Service{}, volumes: map[string]string{},
	}
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
	c.networks[name] = swarm.Network{ID: c.id("net"), Name: name, Scope: scope, Driver: "overlay"}
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
	c.secrets[name] = mobyswarm.SecretSpec{Annotations: mobyswarm.Annotations{Name: name}}
}

// Info implements swarm.Cluster.
func (c *Cluster) Info(context.Context) (swarm.NodeInfo, error) { return c.Node, nil }

// InitSwarm implements swarm.Cluster.
func (c *Cluster) InitSwarm(context.Context, string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
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
	c.networks[name] = swarm.Network{ID: c.id("net"), Name: name, Scope: "swarm", Driver: s.Driver, Labels: s.Labels}
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

func objects[S any](m map[string]S, labels func(S) map[string]string, stack string) []swarm.Object {
	var out []swarm.Object
	for name, s := range m {
		if inStack(labels(s), stack) {
			out = append(out, swarm.Object{ID: "id-" + name, Name: name, Labels: labels(s)})
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
	c.secrets[s.Name] = s
	c.Calls = append(c.Calls, "create secret "+s.Name)
	return nil
}

// SecretData returns the value stored in a secret, for tests to check what
// reached the server.
func (c *Cluster) SecretData(name string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.secrets[name]
	return s.Data, ok
}

// UpdateSecret implements swarm.Cluster.
func (c *Cluster) UpdateSecret(_ context.Context, o swarm.Object, s mobyswarm.SecretSpec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets[o.Name] = s
	c.Calls = append(c.Calls, "update secret "+s.Name)
	return nil
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
	c.configs[s.Name] = s
	c.Calls = append(c.Calls, "create config "+s.Name)
	return nil
}

// UpdateConfig implements swarm.Cluster. Like swarm, it refuses new content.
func (c *Cluster) UpdateConfig(_ context.Context, o swarm.Object, s mobyswarm.ConfigSpec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if string(c.configs[o.Name].Data) != string(s.Data) {
		return fmt.Errorf("only updates to Labels are allowed")
	}
	c.configs[o.Name] = s
	return nil
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
	return bytes.Clone(s.Data), nil
}

func ids[S any](m map[string]S, names []string) map[string]string {
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
		c.tasks = append(c.tasks, mobyswarm.Task{
			ID: c.id("task"), ServiceID: svc.ID, Spec: svc.Spec.TaskTemplate,
			DesiredState: mobyswarm.TaskStateRunning,
			Status:       mobyswarm.TaskStatus{State: mobyswarm.TaskStateRunning, Timestamp: time.Now()},
		})
	}
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

// Containers implements swarm.Cluster: one running container per running task.
func (c *Cluster) Containers(_ context.Context, stack string) ([]swarm.Container, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []swarm.Container
	for _, t := range c.tasks {
		svc, ok := c.services[t.ServiceID]
		if !ok || !inStack(svc.Spec.Labels, stack) || t.Status.State != mobyswarm.TaskStateRunning {
			continue
		}
		out = append(out, swarm.Container{ID: "ctr-" + t.ID, Name: svc.Spec.Name + ".1." + t.ID, State: "running",
			Labels: map[string]string{"com.docker.swarm.service.name": svc.Spec.Name, swarm.StackLabel: svc.Spec.Labels[swarm.StackLabel]}})
	}
	return out, nil
}

// ServiceLogs implements swarm.Cluster with an empty log.
func (c *Cluster) ServiceLogs(context.Context, string, swarm.LogOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}

// Exec implements swarm.Cluster by recording the command; ExecFunc, when set,
// produces the output and exit code.
func (c *Cluster) Exec(_ context.Context, containerID string, o swarm.ExecOptions) (int, error) {
	c.mu.Lock()
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
// tree (AddDir) it unpacks the stream there, as Docker does; otherwise it
// keeps the stream as it is for CopyFrom of the same path.
func (c *Cluster) CopyTo(_ context.Context, containerID, dir string, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Calls = append(c.Calls, "copy to "+containerID+":"+dir)
	dir = path.Clean(dir)
	if d, ok := c.files[containerID][dir]; ok {
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

// UnusedVolumes implements swarm.Cluster: volumes of stacks without services.
func (c *Cluster) UnusedVolumes(context.Context) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name, stack := range c.volumes {
		used := false
		for _, s := range c.services {
			used = used || s.Spec.Labels[swarm.StackLabel] == stack
		}
		if !used {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Prune implements swarm.Cluster: the fake has nothing to prune.
func (c *Cluster) Prune(_ context.Context, opts swarm.PruneOptions) (swarm.PruneReport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	call := "prune"
	if opts.Stack != "" {
		call += " stack=" + opts.Stack
	}
	if opts.AllImages {
		call += " all-images"
	}
	c.Calls = append(c.Calls, call)
	return swarm.PruneReport{}, nil
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

// RemoveVolume implements swarm.Cluster.
func (c *Cluster) RemoveVolume(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.volumes[name]; !ok {
		return fmt.Errorf("volume %s: %w", name, swarm.ErrNotFound)
	}
	delete(c.volumes, name)
	return nil
}

var _ swarm.Cluster = (*Cluster)(nil)
