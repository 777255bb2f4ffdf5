// Package dockerswarm implements swarm.Cluster over Docker's Engine API client.
// It negotiates the API version, so it works against Engine 20.10 (API 1.41) as
// well as current releases.
package dockerswarm

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	mobyswarm "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"coopcloud.tech/abra/internal/swarm"
)

// Cluster is a swarm.Cluster backed by a Docker Engine.
type Cluster struct {
	api *client.Client
}

// New connects to the daemon described by opts (for example client.WithHost
// or client.WithDialContext); with no options it uses DOCKER_HOST or the local socket.
func New(opts ...client.Opt) (*Cluster, error) {
	base := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	api, err := client.New(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Cluster{api: api}, nil
}

// Close releases the client's connections.
func (c *Cluster) Close() error { return c.api.Close() }

func stackFilter(stack string) client.Filters {
	f := make(client.Filters)
	if stack != "" {
		f.Add("label", swarm.StackLabel+"="+stack)
	}
	return f
}

func notFound(err error, what string) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%s: %w", what, swarm.ErrNotFound)
	}
	return err
}

// Info implements swarm.Cluster.
func (c *Cluster) Info(ctx context.Context) (swarm.NodeInfo, error) {
	res, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return swarm.NodeInfo{}, err
	}
	i := res.Info
	return swarm.NodeInfo{
		ServerVersion: i.ServerVersion,
		APIVersion:    c.api.ClientVersion(),
		SwarmState:    string(i.Swarm.LocalNodeState),
		IsManager:     i.Swarm.ControlAvailable,
		NodeID:        i.Swarm.NodeID,
		Nodes:         i.Swarm.Nodes,
	}, nil
}

// InitSwarm implements swarm.Cluster.
func (c *Cluster) InitSwarm(ctx context.Context, advertiseAddr string) error {
	_, err := c.api.SwarmInit(ctx, client.SwarmInitOptions{ListenAddr: "0.0.0.0:2377", AdvertiseAddr: advertiseAddr})
	return err
}

// Nodes implements swarm.Cluster.
func (c *Cluster) Nodes(ctx context.Context) ([]swarm.Node, error) {
	res, err := c.api.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]swarm.Node, 0, len(res.Items))
	for _, n := range res.Items {
		node := swarm.Node{
			ID: n.ID, Hostname: n.Description.Hostname, Role: string(n.Spec.Role),
			Availability: string(n.Spec.Availability), State: string(n.Status.State),
			Addr: n.Status.Addr, Labels: n.Spec.Labels,
		}
		if m := n.ManagerStatus; m != nil {
			node.Leader = m.Leader
			// A manager reports 0.0.0.0 as its status address; its raft
			// address is the one it advertises.
			if host, _, ok := strings.Cut(m.Addr, ":"); ok && (node.Addr == "" || node.Addr == "0.0.0.0") {
				node.Addr = host
			}
		}
		out = append(out, node)
	}
	swarm.SortNodes(out)
	return out, nil
}

// Networks implements swarm.Cluster.
func (c *Cluster) Networks(ctx context.Context, stack string) ([]swarm.Network, error) {
	res, err := c.api.NetworkList(ctx, client.NetworkListOptions{Filters: stackFilter(stack)})
	if err != nil {
		return nil, err
	}
	out := make([]swarm.Network, 0, len(res.Items))
	for _, n := range res.Items {
		out = append(out, swarm.Network{ID: n.ID, Name: n.Name, Scope: n.Scope, Labels: n.Labels})
	}
	return out, nil
}

// InspectNetwork implements swarm.Cluster.
func (c *Cluster) InspectNetwork(ctx context.Context, name string) (swarm.Network, error) {
	res, err := c.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return swarm.Network{}, notFound(err, "network "+name)
	}
	n := res.Network
	return swarm.Network{ID: n.ID, Name: n.Name, Scope: n.Scope, Labels: n.Labels}, nil
}

// CreateNetwork implements swarm.Cluster.
func (c *Cluster) CreateNetwork(ctx context.Context, name string, s swarm.NetworkSpec) error {
	_, err := c.api.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: s.Driver, Scope: s.Scope, Internal: s.Internal, Attachable: s.Attachable,
		IPAM: s.IPAM, Options: s.Options, Labels: s.Labels,
	})
	return err
}

// RemoveNetwork implements swarm.Cluster.
func (c *Cluster) RemoveNetwork(ctx context.Context, id string) error {
	_, err := c.api.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
	return notFound(err, "network "+id)
}

// Secrets implements swarm.Cluster.
func (c *Cluster) Secrets(ctx context.Context, stack string) ([]swarm.Object, error) {
	res, err := c.api.SecretList(ctx, client.SecretListOptions{Filters: stackFilter(stack)})
	if err != nil {
		return nil, err
	}
	out := make([]swarm.Object, 0, len(res.Items))
	for _, s := range res.Items {
		out = append(out, swarm.Object{ID: s.ID, Name: s.Spec.Name, Labels: s.Spec.Labels, Version: s.Version})
	}
	return out, nil
}

// SecretIDs implements swarm.Cluster.
func (c *Cluster) SecretIDs(ctx context.Context, names []string) (map[string]string, error) {
	ids := map[string]string{}
	if len(names) == 0 {
		return ids, nil
	}
	res, err := c.api.SecretList(ctx, client.SecretListOptions{Filters: make(client.Filters).Add("name", names...)})
	if err != nil {
		return nil, err
	}
	for _, s := range res.Items {
		ids[s.Spec.Name] = s.ID
	}
	return ids, nil
}

// CreateSecret implements swarm.Cluster.
func (c *Cluster) CreateSecret(ctx context.Context, spec mobyswarm.SecretSpec) error {
	_, err := c.api.SecretCreate(ctx, client.SecretCreateOptions{Spec: spec})
	return err
}

// UpdateSecret implements swarm.Cluster.
func (c *Cluster) UpdateSecret(ctx context.Context, s swarm.Object, spec mobyswarm.SecretSpec) error {
	_, err := c.api.SecretUpdate(ctx, s.ID, client.SecretUpdateOptions{Version: s.Version, Spec: spec})
	return notFound(err, "secret "+s.Name)
}

// RemoveSecret implements swarm.Cluster.
func (c *Cluster) RemoveSecret(ctx context.Context, id string) error {
	_, err := c.api.SecretRemove(ctx, id, client.SecretRemoveOptions{})
	return notFound(err, "secret "+id)
}

// Configs implements swarm.Cluster.
func (c *Cluster) Configs(ctx context.Context, stack string) ([]swarm.Object, error) {
	res, err := c.api.ConfigList(ctx, client.ConfigListOptions{Filters: stackFilter(stack)})
	if err != nil {
		return nil, err
	}
	out := make([]swarm.Object, 0, len(res.Items))
	for _, s := range res.Items {
		out = append(out, swarm.Object{ID: s.ID, Name: s.Spec.Name, Labels: s.Spec.Labels, Version: s.Version})
	}
	return out, nil
}

// ConfigIDs implements swarm.Cluster.
func (c *Cluster) ConfigIDs(ctx context.Context, names []string) (map[string]string, error) {
	ids := map[string]string{}
	if len(names) == 0 {
		return ids, nil
	}
	res, err := c.api.ConfigList(ctx, client.ConfigListOptions{Filters: make(client.Filters).Add("name", names...)})
	if err != nil {
		return nil, err
	}
	for _, s := range res.Items {
		ids[s.Spec.Name] = s.ID
	}
	return ids, nil
}

// CreateConfig implements swarm.Cluster.
func (c *Cluster) CreateConfig(ctx context.Context, spec mobyswarm.ConfigSpec) error {
	_, err := c.api.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: spec})
	return err
}

// UpdateConfig implements swarm.Cluster.
func (c *Cluster) UpdateConfig(ctx context.Context, cfg swarm.Object, spec mobyswarm.ConfigSpec) error {
	_, err := c.api.ConfigUpdate(ctx, cfg.ID, client.ConfigUpdateOptions{Version: cfg.Version, Spec: spec})
	return notFound(err, "config "+cfg.Name)
}

// RemoveConfig implements swarm.Cluster.
func (c *Cluster) RemoveConfig(ctx context.Context, id string) error {
	_, err := c.api.ConfigRemove(ctx, id, client.ConfigRemoveOptions{})
	return notFound(err, "config "+id)
}

// ConfigData implements swarm.Cluster.
func (c *Cluster) ConfigData(ctx context.Context, id string) ([]byte, error) {
	res, err := c.api.ConfigInspect(ctx, id, client.ConfigInspectOptions{})
	if err != nil {
		return nil, notFound(err, "config "+id)
	}
	return res.Config.Spec.Data, nil
}

// Services implements swarm.Cluster.
func (c *Cluster) Services(ctx context.Context, stack string) ([]mobyswarm.Service, error) {
	res, err := c.api.ServiceList(ctx, client.ServiceListOptions{Filters: stackFilter(stack)})
	if err != nil {
		return nil, err
	}
	return res.Items, nil
}

// CreateService implements swarm.Cluster.
func (c *Cluster) CreateService(ctx context.Context, spec mobyswarm.ServiceSpec, queryRegistry bool) (string, []string, error) {
	res, err := c.api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec, QueryRegistry: queryRegistry})
	if err != nil {
		return "", nil, err
	}
	return res.ID, res.Warnings, nil
}

// UpdateService implements swarm.Cluster. Swarm itself bumps a service's
// version right after creating it (network allocation), so an update with the
// version just listed can be "out of sequence": it is retried once with the
// current version; the spec sent is the same.
func (c *Cluster) UpdateService(ctx context.Context, svc mobyswarm.Service, spec mobyswarm.ServiceSpec, queryRegistry bool) ([]string, error) {
	update := func(version mobyswarm.Version) (client.ServiceUpdateResult, error) {
		return c.api.ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{Version: version, Spec: spec, QueryRegistry: queryRegistry})
	}
	res, err := update(svc.Version)
	if err != nil && strings.Contains(err.Error(), "update out of sequence") {
		cur, ierr := c.api.ServiceInspect(ctx, svc.ID, client.ServiceInspectOptions{})
		if ierr != nil {
			return nil, err
		}
		res, err = update(cur.Service.Version)
	}
	if err != nil {
		return nil, notFound(err, "service "+svc.Spec.Name)
	}
	return res.Warnings, nil
}

// RollbackService implements swarm.Cluster.
func (c *Cluster) RollbackService(ctx context.Context, svc mobyswarm.Service) error {
	_, err := c.api.ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{
		Version: svc.Version, Spec: svc.Spec, Rollback: "previous",
	})
	return notFound(err, "service "+svc.Spec.Name)
}

// RemoveService implements swarm.Cluster.
func (c *Cluster) RemoveService(ctx context.Context, id string) error {
	_, err := c.api.ServiceRemove(ctx, id, client.ServiceRemoveOptions{})
	return notFound(err, "service "+id)
}

// Tasks implements swarm.Cluster.
func (c *Cluster) Tasks(ctx context.Context, stack string) ([]mobyswarm.Task, error) {
	res, err := c.api.TaskList(ctx, client.TaskListOptions{Filters: stackFilter(stack)})
	if err != nil {
		return nil, err
	}
	return res.Items, nil
}

// Containers implements swarm.Cluster. Only containers on the node the client
// talks to are seen; that is enough to know when a stack has drained there.
func (c *Cluster) Containers(ctx context.Context, stack string) ([]swarm.Container, error) {
	res, err := c.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: stackFilter(stack)})
	if err != nil {
		return nil, err
	}
	out := make([]swarm.Container, 0, len(res.Items))
	for _, ct := range res.Items {
		name := ""
		if len(ct.Names) > 0 {
			name = strings.TrimPrefix(ct.Names[0], "/")
		}
		out = append(out, swarm.Container{
			ID: ct.ID, Name: name, State: string(ct.State), Status: ct.Status,
			Health: health(ct), Labels: ct.Labels,
		})
	}
	return out, nil
}

func health(ct container.Summary) string {
	if ct.Health != nil {
		return string(ct.Health.Status)
	}
	// API < 1.51 has no Health field: the status string carries it.
	for _, h := range []string{"unhealthy", "healthy", "health: starting"} {
		if strings.Contains(ct.Status, "("+h+")") {
			return strings.TrimPrefix(h, "health: ")
		}
	}
	return ""
}

// ServiceLogs implements swarm.Cluster. The stream is demultiplexed: stdout and
// stderr of the tasks come out interleaved as one text stream.
func (c *Cluster) ServiceLogs(ctx context.Context, serviceID string, o swarm.LogOptions) (io.ReadCloser, error) {
	opts := client.ServiceLogsOptions{
		ShowStdout: o.Stream != "stderr", ShowStderr: o.Stream != "stdout", Follow: o.Follow, Tail: o.Tail, Timestamps: o.Timestamps,
	}
	if !o.Since.IsZero() {
		opts.Since = o.Since.Format("2006-01-02T15:04:05.999999999Z07:00")
	}
	rc, err := c.api.ServiceLogs(ctx, serviceID, opts)
	if err != nil {
		return nil, notFound(err, "service "+serviceID)
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		_ = rc.Close()
		_ = pw.CloseWithError(err)
	}()
	return pr, nil
}

var _ swarm.Cluster = (*Cluster)(nil)

// Volumes implements swarm.Cluster.
func (c *Cluster) Volumes(ctx context.Context, stack string) ([]string, error) {
	res, err := c.api.VolumeList(ctx, client.VolumeListOptions{Filters: stackFilter(stack)})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, v := range res.Items {
		names = append(names, v.Name)
	}
	slices.Sort(names) // the daemon's order is not stable; the fake's is sorted too
	return names, nil
}

// RemoveVolume implements swarm.Cluster.
func (c *Cluster) RemoveVolume(ctx context.Context, name string) error {
	_, err := c.api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
	return notFound(err, "volume "+name)
}

// Exec implements swarm.Cluster.
func (c *Cluster) Exec(ctx context.Context, containerID string, o swarm.ExecOptions) (int, error) {
	created, err := c.api.ExecCreate(ctx, containerID, client.ExecCreateOptions{
		User: o.User, TTY: o.TTY, Env: o.Env, Cmd: o.Cmd,
		AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, notFound(err, "container "+containerID)
	}
	att, err := c.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{TTY: o.TTY})
	if err != nil {
		return -1, err
	}
	defer att.Close()
	if o.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, o.Stdin)
			_ = att.CloseWrite()
		}()
	}
	if o.TTY {
		_, err = io.Copy(o.Stdout, att.Reader)
	} else {
		_, err = stdcopy.StdCopy(o.Stdout, o.Stderr, att.Reader)
	}
	if err != nil && ctx.Err() == nil {
		return -1, err
	}
	res, err := c.api.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return -1, err
	}
	return res.ExitCode, nil
}

// CopyTo implements swarm.Cluster.
func (c *Cluster) CopyTo(ctx context.Context, containerID, dir string, tar io.Reader) error {
	_, err := c.api.CopyToContainer(ctx, containerID, client.CopyToContainerOptions{DestinationPath: dir, Content: tar})
	return notFound(err, "container path "+dir)
}

// CopyFrom implements swarm.Cluster.
func (c *Cluster) CopyFrom(ctx context.Context, containerID, path string) (io.ReadCloser, error) {
	res, err := c.api.CopyFromContainer(ctx, containerID, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, notFound(err, "container path "+path)
	}
	return res.Content, nil
}

// StatPath implements swarm.Cluster.
func (c *Cluster) StatPath(ctx context.Context, containerID, path string) (container.PathStat, error) {
	res, err := c.api.ContainerStatPath(ctx, containerID, client.ContainerStatPathOptions{Path: path})
	if err != nil {
		return container.PathStat{}, notFound(err, "container path "+path)
	}
	return res.Stat, nil
}

// UnusedVolumes implements swarm.Cluster.
func (c *Cluster) UnusedVolumes(ctx context.Context) ([]string, error) {
	res, err := c.api.VolumeList(ctx, client.VolumeListOptions{Filters: make(client.Filters).Add("dangling", "true")})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, v := range res.Items {
		names = append(names, v.Name)
	}
	return names, nil
}

// Prune implements swarm.Cluster.
func (c *Cluster) Prune(ctx context.Context, opts swarm.PruneOptions) (swarm.PruneReport, error) {
	var r swarm.PruneReport
	containers := client.ContainerPruneOptions{Filters: stackFilter(opts.Stack)}
	if opts.Label != "" {
		containers.Filters.Add("label", opts.Label)
	}
	cs, err := c.api.ContainerPrune(ctx, containers)
	if err != nil {
		return r, fmt.Errorf("prune containers: %w", err)
	}
	r.Containers, r.Reclaimed = cs.Report.ContainersDeleted, cs.Report.SpaceReclaimed
	// Not NetworkPrune: it would also delete "proxy" whenever traefik is not
	// running. Only networks of stacks that have no services left go.
	nets, err := c.Networks(ctx, opts.Stack)
	if err != nil {
		return r, fmt.Errorf("prune networks: %w", err)
	}
	services, err := c.Services(ctx, "")
	if err != nil {
		return r, fmt.Errorf("prune networks: %w", err)
	}
	live := map[string]bool{}
	for _, s := range services {
		live[s.Spec.Labels[swarm.StackLabel]] = true
	}
	for _, n := range nets {
		if opts.Label != "" && !swarm.HasLabel(n.Labels, opts.Label) {
			continue
		}
		if stack := n.Labels[swarm.StackLabel]; stack != "" && !live[stack] {
			if c.RemoveNetwork(ctx, n.ID) == nil {
				r.Networks = append(r.Networks, n.Name)
			}
		}
	}
	images := client.ImagePruneOptions{Filters: make(client.Filters)}
	if opts.AllImages { // the Engine API's "dangling=false": every image no container uses
		images.Filters.Add("dangling", "false")
	}
	if opts.Label != "" {
		images.Filters.Add("label", opts.Label)
	}
	is, err := c.api.ImagePrune(ctx, images)
	if err != nil {
		return r, fmt.Errorf("prune images: %w", err)
	}
	for _, d := range is.Report.ImagesDeleted {
		if d.Deleted != "" {
			r.Images = append(r.Images, d.Deleted)
		}
	}
	r.Reclaimed += is.Report.SpaceReclaimed
	return r, nil
}
