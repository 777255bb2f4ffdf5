package stack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/cli/cli/compose/convert"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/moby/moby/api/types/container"
	mobyswarm "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"coopcloud.tech/abra/internal/cronjob"
	"coopcloud.tech/abra/internal/swarm"
)

// Spec is the set of swarm objects a compose configuration converts to.
type Spec struct {
	Name             string
	Networks         map[string]swarm.NetworkSpec
	ExternalNetworks []string
	Secrets          []mobyswarm.SecretSpec
	Configs          []mobyswarm.ConfigSpec
	cfg              *composetypes.Config
}

// DeployOptions tunes Apply.
type DeployOptions struct {
	// QueryRegistry asks the daemon to pin image digests from the registry, as
	// `docker stack deploy --resolve-image=always` (its default) does.
	QueryRegistry bool
	// Prune removes services of the stack that the compose files no longer define.
	Prune bool
	// JobWait bounds the wait for a running scheduled job (swarm.cronjob
	// labels) whose task template the deploy changes (the deploy's timeout).
	JobWait time.Duration
	// Poll is how often a running job is looked at (default 1 s).
	Poll time.Duration
}

// Event is a progress notice from Apply ("creating network x").
type Event struct {
	Action string // create, update, remove, warn
	Kind   string // network, secret, config, service
	Name   string
	Detail string
}

// Plan converts a loaded configuration for the stack name, without touching the cluster.
func Plan(name string, cfg *composetypes.Config) (*Spec, error) {
	ns := convert.NewNamespace(name)
	nets, external := convert.Networks(ns, cfg.Networks, declaredNetworks(cfg.Services))
	secrets, err := convert.Secrets(ns, cfg.Secrets)
	if err != nil {
		return nil, err
	}
	configs, err := convert.Configs(ns, cfg.Configs)
	if err != nil {
		return nil, err
	}
	spec := &Spec{Name: name, Networks: map[string]swarm.NetworkSpec{}, ExternalNetworks: external,
		Secrets: secrets, Configs: configs, cfg: cfg}
	for n, o := range nets {
		if o.Driver == "" {
			o.Driver = "overlay" // docker stack deploy's default
		}
		spec.Networks[n] = swarm.NetworkSpec{Driver: o.Driver, Scope: o.Scope, Internal: o.Internal,
			Attachable: o.Attachable, IPAM: o.IPAM, Options: o.Options, Labels: o.Labels}
	}
	return spec, nil
}

// declaredNetworks is docker stack deploy's getServicesDeclaredNetworks.
func declaredNetworks(services []composetypes.ServiceConfig) map[string]struct{} {
	out := map[string]struct{}{}
	for _, s := range services {
		if len(s.Networks) == 0 {
			out["default"] = struct{}{}
		}
		for n := range s.Networks {
			out[n] = struct{}{}
		}
	}
	return out
}

// Apply creates or updates the stack's networks, secrets, configs and services on
// the cluster, in the order docker stack deploy uses. It returns the IDs of the
// services it created or updated. Apply does not wait for convergence.
func Apply(ctx context.Context, c swarm.Cluster, spec *Spec, opts DeployOptions, notify func(Event)) ([]string, error) {
	if notify == nil {
		notify = func(Event) {}
	}
	if err := checkExternalNetworks(ctx, c, spec.ExternalNetworks); err != nil {
		return nil, err
	}
	if err := CheckExternalSecrets(ctx, c, spec.cfg); err != nil {
		return nil, err
	}
	if err := createNetworks(ctx, c, spec, notify); err != nil {
		return nil, err
	}
	if err := applySecrets(ctx, c, spec.Secrets, notify); err != nil {
		return nil, err
	}
	if err := applyConfigs(ctx, c, spec.Configs, notify); err != nil {
		return nil, err
	}
	services, err := convert.Services(ctx, convert.NewNamespace(spec.Name), spec.cfg, idLookup{c: c})
	if err != nil {
		return nil, err
	}
	return applyServices(ctx, c, spec, services, opts, notify)
}

func checkExternalNetworks(ctx context.Context, c swarm.Cluster, names []string) error {
	for _, name := range names {
		if !container.NetworkMode(name).IsUserDefined() {
			continue
		}
		n, err := c.InspectNetwork(ctx, name)
		switch {
		case errors.Is(err, swarm.ErrNotFound):
			return &MissingNetworkError{Name: name}
		case err != nil:
			return fmt.Errorf("inspect network %s: %w", name, err)
		case n.Scope != "swarm":
			return fmt.Errorf("network %q is declared as external, but its scope is %q instead of \"swarm\"", name, n.Scope)
		}
	}
	return nil
}

// MissingSecretsError lists external secrets the stack needs that do not exist.
type MissingSecretsError struct{ Names []string }

func (e *MissingSecretsError) Error() string {
	return "secrets missing on the server: " + strings.Join(e.Names, ", ")
}

// CheckExternalSecrets fails before anything is created when an external
// secret is missing, so a deploy never stops half-way for that reason.
func CheckExternalSecrets(ctx context.Context, c swarm.Cluster, cfg *composetypes.Config) error {
	var names []string
	for key, s := range cfg.Secrets {
		if !s.External.External {
			continue
		}
		name := s.Name
		if name == "" {
			name = key
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil
	}
	ids, err := c.SecretIDs(ctx, names)
	if err != nil {
		return fmt.Errorf("look up secrets: %w", err)
	}
	var missing []string
	for _, n := range names {
		if _, ok := ids[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return &MissingSecretsError{Names: missing}
	}
	return nil
}

// MissingNetworkError says an external network a recipe needs does not exist.
type MissingNetworkError struct{ Name string }

func (e *MissingNetworkError) Error() string {
	return fmt.Sprintf("network %q is declared as external, but does not exist on the server", e.Name)
}

// Hint tells how to create the network.
func (e *MissingNetworkError) Hint() string {
	return fmt.Sprintf("create it with: docker network create --driver overlay --scope swarm --attachable %s", e.Name)
}

func createNetworks(ctx context.Context, c swarm.Cluster, spec *Spec, notify func(Event)) error {
	existing, err := c.Networks(ctx, spec.Name)
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	have := map[string]bool{}
	for _, n := range existing {
		have[n.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Networks)) {
		if have[name] {
			continue
		}
		notify(Event{Action: "create", Kind: "network", Name: name})
		if err := c.CreateNetwork(ctx, name, spec.Networks[name]); err != nil {
			return fmt.Errorf("create network %s: %w", name, err)
		}
	}
	return nil
}

func applySecrets(ctx context.Context, c swarm.Cluster, specs []mobyswarm.SecretSpec, notify func(Event)) error {
	if len(specs) == 0 {
		return nil
	}
	existing, err := c.Secrets(ctx, "")
	if err != nil {
		return fmt.Errorf("list secrets: %w", err)
	}
	byName := map[string]swarm.Object{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range specs {
		if old, ok := byName[s.Name]; ok {
			notify(Event{Action: "update", Kind: "secret", Name: s.Name})
			if err := c.UpdateSecret(ctx, old, s); err != nil {
				return fmt.Errorf("update secret %s: %w", s.Name, err)
			}
			continue
		}
		notify(Event{Action: "create", Kind: "secret", Name: s.Name})
		if err := c.CreateSecret(ctx, s); err != nil {
			return fmt.Errorf("create secret %s: %w", s.Name, err)
		}
	}
	return nil
}

func applyConfigs(ctx context.Context, c swarm.Cluster, specs []mobyswarm.ConfigSpec, notify func(Event)) error {
	if len(specs) == 0 {
		return nil
	}
	existing, err := c.Configs(ctx, "")
	if err != nil {
		return fmt.Errorf("list configs: %w", err)
	}
	byName := map[string]swarm.Object{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range specs {
		if old, ok := byName[s.Name]; ok {
			notify(Event{Action: "update", Kind: "config", Name: s.Name})
			if err := c.UpdateConfig(ctx, old, s); err != nil {
				return fmt.Errorf("update config %s: %w (configs cannot change their content: bump its *_VERSION in abra.sh)", s.Name, err)
			}
			continue
		}
		notify(Event{Action: "create", Kind: "config", Name: s.Name})
		if err := c.CreateConfig(ctx, s); err != nil {
			return fmt.Errorf("create config %s: %w", s.Name, err)
		}
	}
	return nil
}

func applyServices(ctx context.Context, c swarm.Cluster, plan *Spec, specs map[string]mobyswarm.ServiceSpec, opts DeployOptions, notify func(Event)) ([]string, error) {
	stack := plan.Name
	existing, err := c.Services(ctx, stack)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	byName := map[string]mobyswarm.Service{}
	for _, s := range existing {
		byName[s.Spec.Name] = s
	}
	ns := convert.NewNamespace(stack)
	if opts.Prune {
		for name, svc := range byName {
			if _, keep := specs[ns.Descope(name)]; keep {
				continue
			}
			notify(Event{Action: "remove", Kind: "service", Name: name})
			if err := c.RemoveService(ctx, svc.ID); err != nil {
				return nil, fmt.Errorf("remove service %s: %w", name, err)
			}
		}
	}
	if err := waitForChangedJobs(ctx, c, plan, byName, specs, opts, notify); err != nil {
		return nil, err
	}
	var ids []string
	for _, short := range slices.Sorted(maps.Keys(specs)) {
		name := ns.Scope(short)
		if svc, ok := byName[name]; ok {
			spec, query := keepPinned(svc, specs[short], opts.QueryRegistry)
			if isJob(svc, spec) {
				var kept bool
				if svc, spec, kept, err = keepRunningJob(ctx, c, stack, svc, spec); err != nil {
					return nil, err
				}
				if kept {
					notify(Event{Action: "keep", Kind: "service", Name: name, Detail: "its scheduled job is running: replicas kept until it ends"})
				}
			}
			notify(Event{Action: "update", Kind: "service", Name: name})
			warnings, err := c.UpdateService(ctx, svc, spec, query)
			if err != nil {
				return nil, fmt.Errorf("update service %s: %w", name, err)
			}
			for _, w := range warnings {
				notify(Event{Action: "warn", Kind: "service", Name: name, Detail: w})
			}
			ids = append(ids, svc.ID)
			continue
		}
		spec := specs[short]
		notify(Event{Action: "create", Kind: "service", Name: name})
		id, warnings, err := c.CreateService(ctx, spec, opts.QueryRegistry)
		if err != nil {
			return nil, fmt.Errorf("create service %s: %w", name, err)
		}
		for _, w := range warnings {
			notify(Event{Action: "warn", Kind: "service", Name: name, Detail: w})
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// keepPinned is the spec to update an existing service with: the image
// digest the previous deploy pinned stays when the image is unchanged
// (otherwise every deploy would restart the service, and query is false
// then), and ForceUpdate stays as it is (as docker stack deploy does).
func keepPinned(svc mobyswarm.Service, spec mobyswarm.ServiceSpec, query bool) (mobyswarm.ServiceSpec, bool) {
	if spec.TaskTemplate.ContainerSpec.Image == svc.Spec.Labels[convert.LabelImage] {
		spec.TaskTemplate.ContainerSpec.Image = svc.Spec.TaskTemplate.ContainerSpec.Image
		query = false
	}
	spec.TaskTemplate.ForceUpdate = svc.Spec.TaskTemplate.ForceUpdate
	return spec, query
}

// isJob reports whether the service runs a scheduled job, by its labels on
// the swarm or in the compose files.
func isJob(svc mobyswarm.Service, spec mobyswarm.ServiceSpec) bool {
	return cronjob.Enabled(svc.Spec.Labels) || cronjob.Enabled(spec.Labels)
}

// keepRunningJob keeps the replicas of a job service while a task of it runs:
// the compose file's replicas (0) would stop the job (docker stack deploy
// does, and swarm-cronjob then loses the run). The tasks are read again
// right before the update: a job that ended since is scaled down with it.
// The service is read again too, so that the update applies to the version
// whose replicas are kept.
func keepRunningJob(ctx context.Context, c swarm.Cluster, stack string, svc mobyswarm.Service, spec mobyswarm.ServiceSpec) (mobyswarm.Service, mobyswarm.ServiceSpec, bool, error) {
	running, cur, err := jobRunning(ctx, c, stack, svc.ID)
	if err != nil || !running {
		return svc, spec, false, err
	}
	r := cur.Spec.Mode.Replicated
	if r == nil || r.Replicas == nil || spec.Mode.Replicated == nil {
		return cur, spec, false, nil
	}
	spec.Mode.Replicated = &mobyswarm.ReplicatedService{Replicas: r.Replicas}
	return cur, spec, true, nil
}

// jobRunning reports whether a task of the service runs, with the service as it is now.
func jobRunning(ctx context.Context, c swarm.Cluster, stack, id string) (bool, mobyswarm.Service, error) {
	services, err := c.Services(ctx, stack)
	if err != nil {
		return false, mobyswarm.Service{}, fmt.Errorf("list services: %w", err)
	}
	i := slices.IndexFunc(services, func(s mobyswarm.Service) bool { return s.ID == id })
	if i < 0 {
		return false, mobyswarm.Service{}, nil
	}
	tasks, err := c.Tasks(ctx, stack)
	if err != nil {
		return false, mobyswarm.Service{}, fmt.Errorf("list tasks: %w", err)
	}
	return slices.ContainsFunc(tasks, func(t mobyswarm.Task) bool { return t.ServiceID == id && cronjob.Active(t) }), services[i], nil
}

// JobRunningError says a scheduled job was still running when the deploy
// stopped waiting for it: its task template changes, and updating it would
// kill the job.
type JobRunningError struct {
	Services []string
	Waited   time.Duration
}

func (e *JobRunningError) Error() string {
	return fmt.Sprintf("scheduled job %s still running after %s: the deploy changes its task template, which would stop it; no service was updated",
		strings.Join(e.Services, ", "), e.Waited.Round(time.Second))
}

// Hint tells what to do.
func (e *JobRunningError) Hint() string {
	return "deploy again when it has ended (see 'abra app cron ls'), or raise the deploy's timeout (coop-cloud.${STACK_NAME}.timeout)"
}

// waitForChangedJobs waits, before any service is updated, for the running
// scheduled jobs whose task template the deploy changes: swarm would replace
// their tasks, killing the job. It gives up after opts.JobWait.
func waitForChangedJobs(ctx context.Context, c swarm.Cluster, plan *Spec, byName map[string]mobyswarm.Service, specs map[string]mobyswarm.ServiceSpec, opts DeployOptions, notify func(Event)) error {
	ns := convert.NewNamespace(plan.Name)
	var jobs []mobyswarm.Service
	for _, short := range slices.Sorted(maps.Keys(specs)) {
		if svc, ok := byName[ns.Scope(short)]; ok && isJob(svc, specs[short]) {
			jobs = append(jobs, svc)
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	tasks, err := c.Tasks(ctx, plan.Name)
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	var netIDs map[string]string
	waitFor := map[string]string{} // service ID → name
	for _, svc := range jobs {
		if !slices.ContainsFunc(tasks, func(t mobyswarm.Task) bool { return t.ServiceID == svc.ID && cronjob.Active(t) }) {
			continue
		}
		if netIDs == nil {
			if netIDs, err = networkIDs(ctx, c, plan); err != nil {
				return err
			}
		}
		spec, _ := keepPinned(svc, specs[ns.Descope(svc.Spec.Name)], false)
		if fields := templateDiff(svc.Spec, spec, netIDs); len(fields) > 0 {
			waitFor[svc.ID] = svc.Spec.Name
			notify(Event{Action: "wait", Kind: "service", Name: svc.Spec.Name,
				Detail: fmt.Sprintf("its scheduled job is running and the deploy changes %s: waiting for it to end (up to %s)", fields[0].Path, opts.JobWait)})
		}
	}
	poll := cmp.Or(opts.Poll, time.Second)
	deadline := time.Now().Add(opts.JobWait)
	for len(waitFor) > 0 {
		if time.Now().After(deadline) {
			return &JobRunningError{Services: slices.Sorted(maps.Values(waitFor)), Waited: opts.JobWait}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		tasks, err := c.Tasks(ctx, plan.Name)
		if err != nil {
			return fmt.Errorf("list tasks: %w", err)
		}
		for id := range waitFor {
			if !slices.ContainsFunc(tasks, func(t mobyswarm.Task) bool { return t.ServiceID == id && cronjob.Active(t) }) {
				delete(waitFor, id)
			}
		}
	}
	return nil
}

// templateDiff lists the task template fields an update would change, the
// spec's network names resolved to the IDs the daemon stores.
func templateDiff(old, new mobyswarm.ServiceSpec, netIDs map[string]string) []FieldChange {
	tmpl := new.TaskTemplate
	tmpl.Networks = resolveNetworks(tmpl.Networks, netIDs)
	return specDiff(mobyswarm.ServiceSpec{TaskTemplate: old.TaskTemplate}, mobyswarm.ServiceSpec{TaskTemplate: tmpl})
}

// resolveNetworks names the networks by the IDs the daemon stores.
func resolveNetworks(nets []mobyswarm.NetworkAttachmentConfig, ids map[string]string) []mobyswarm.NetworkAttachmentConfig {
	nets = slices.Clone(nets)
	for i, n := range nets {
		if id, ok := ids[n.Target]; ok {
			nets[i].Target = id
		}
	}
	return nets
}

// networkIDs maps the names of the stack's networks and its external ones to IDs.
func networkIDs(ctx context.Context, c swarm.Cluster, plan *Spec) (map[string]string, error) {
	nets, err := c.Networks(ctx, plan.Name)
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, n := range nets {
		ids[n.Name] = n.ID
	}
	for _, name := range plan.ExternalNetworks {
		if n, err := c.InspectNetwork(ctx, name); err == nil {
			ids[name] = n.ID
		}
	}
	return ids, nil
}

// idLookup lets docker/cli's converter resolve secret and config names to IDs
// through the Cluster port; the converter calls nothing else on its client.
type idLookup struct {
	client.APIClient
	c swarm.Cluster
}

func filterNames(f client.Filters) []string {
	return slices.Sorted(maps.Keys(f["name"]))
}

func (l idLookup) SecretList(ctx context.Context, o client.SecretListOptions) (client.SecretListResult, error) {
	ids, err := l.c.SecretIDs(ctx, filterNames(o.Filters))
	if err != nil {
		return client.SecretListResult{}, err
	}
	var res client.SecretListResult
	for name, id := range ids {
		res.Items = append(res.Items, mobyswarm.Secret{ID: id, Spec: mobyswarm.SecretSpec{Annotations: mobyswarm.Annotations{Name: name}}})
	}
	return res, nil
}

func (l idLookup) ConfigList(ctx context.Context, o client.ConfigListOptions) (client.ConfigListResult, error) {
	ids, err := l.c.ConfigIDs(ctx, filterNames(o.Filters))
	if err != nil {
		return client.ConfigListResult{}, err
	}
	var res client.ConfigListResult
	for name, id := range ids {
		res.Items = append(res.Items, mobyswarm.Config{ID: id, Spec: mobyswarm.ConfigSpec{Annotations: mobyswarm.Annotations{Name: name}}})
	}
	return res, nil
}
