package app

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/docker/cli/cli/compose/convert"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/swarm"
)

// Service is one deployed service of an app.
type Service struct {
	Name    string            `json:"name"`
	Image   string            `json:"image"`
	Running int               `json:"running"`
	Desired int               `json:"desired"`
	Ports   []string          `json:"ports"`
	Labels  map[string]string `json:"labels,omitempty"`
	id      string
	svc     mobyswarm.Service
}

// Services lists the app's deployed services, sorted by name.
func Services(ctx context.Context, c swarm.Cluster, a *App) ([]Service, error) {
	svcs, err := c.Services(ctx, a.StackName())
	if err != nil {
		return nil, err
	}
	if len(svcs) == 0 {
		return nil, hint.With(fmt.Errorf("%s: %w", a.Domain, ErrNotDeployed), "deploy it with 'abra app deploy "+a.Domain+"'")
	}
	tasks, err := c.Tasks(ctx, a.StackName())
	if err != nil {
		return nil, err
	}
	ns := convert.NewNamespace(a.StackName())
	var out []Service
	for _, s := range svcs {
		row := Service{Name: ns.Descope(s.Spec.Name), Image: strings.Split(s.Spec.TaskTemplate.ContainerSpec.Image, "@")[0],
			Labels: s.Spec.Labels, Ports: []string{}, id: s.ID, svc: s}
		if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
			row.Desired = int(*r.Replicas)
		}
		for _, t := range tasks {
			if t.ServiceID == s.ID && t.DesiredState == mobyswarm.TaskStateRunning && t.Status.State == mobyswarm.TaskStateRunning {
				row.Running++
			}
		}
		if s.Spec.EndpointSpec != nil {
			for _, p := range s.Spec.EndpointSpec.Ports {
				row.Ports = append(row.Ports, fmt.Sprintf("%d->%d/%s (%s)", p.PublishedPort, p.TargetPort, p.Protocol, p.PublishMode))
			}
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(x, y Service) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// AbraLabels returns the coop-cloud.* labels of the app's services, merged.
func AbraLabels(services []Service) map[string]string {
	out := map[string]string{}
	for _, s := range services {
		for k, v := range s.Labels {
			if strings.HasPrefix(k, "coop-cloud.") {
				out[k] = v
			}
		}
	}
	return out
}

// Restart restarts the named services (all when names is empty) by forcing an
// update, and waits until they run again.
func Restart(ctx context.Context, c swarm.Cluster, a *App, names []string, timeout time.Duration, progress func([]stack.ServiceStatus)) error {
	services, err := Services(ctx, c, a)
	if err != nil {
		return err
	}
	byName := map[string]Service{}
	for _, s := range services {
		byName[s.Name] = s
	}
	if len(names) == 0 {
		names = slices.Sorted(maps.Keys(byName))
	}
	snap, err := stack.TakeSnapshot(ctx, c, a.StackName())
	if err != nil {
		return err
	}
	var ids []string
	for _, n := range names {
		s, ok := byName[n]
		if !ok {
			return fmt.Errorf("%s has no service %q (services: %s)", a.Domain, n, strings.Join(slices.Sorted(maps.Keys(byName)), ", "))
		}
		spec := s.svc.Spec
		spec.TaskTemplate.ForceUpdate++
		if _, err := c.UpdateService(ctx, s.svc, spec, false); err != nil {
			return fmt.Errorf("restart %s: %w", n, err)
		}
		ids = append(ids, s.id)
	}
	return stack.Wait(ctx, c, a.StackName(), ids, stack.WaitOptions{Timeout: timeout, Before: snap, Progress: progress})
}
