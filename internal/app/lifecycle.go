package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/docker/cli/cli/compose/convert"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/swarm"
)

// Undeploy removes the app's services, configs and networks and waits until
// they are gone. Volumes and secrets stay.
func Undeploy(ctx context.Context, c swarm.Cluster, a *App, notify func(stack.Event)) error {
	st, err := DeployedState(ctx, c, a.StackName())
	if err != nil {
		return err
	}
	if !st.Deployed {
		return hint.With(fmt.Errorf("%s: %w", a.Domain, ErrNotDeployed), "deploy it with 'abra app deploy "+a.Domain+"'")
	}
	unlock, err := Lock(ctx, c, a.StackName(), Holder(), 10*time.Minute, nil)
	if err != nil {
		return LockHint(err, a.Domain)
	}
	defer unlock()
	if err := stack.Remove(ctx, c, a.StackName(), notify); err != nil {
		return err
	}
	if err := RemoveEnvRecords(ctx, c, a.StackName()); err != nil {
		return err
	}
	return stack.WaitRemoved(ctx, c, a.StackName(), 2*time.Minute)
}

// Leftovers are what stays of an undeployed app on the server.
type Leftovers struct {
	Volumes []string
	Secrets []string // Docker names
	secrets []swarm.Object
}

// FindLeftovers lists the app's volumes and secrets on the server.
func FindLeftovers(ctx context.Context, c swarm.Cluster, a *App) (Leftovers, error) {
	var l Leftovers
	vols, err := c.Volumes(ctx, a.StackName())
	if err != nil {
		return l, fmt.Errorf("list volumes: %w", err)
	}
	l.Volumes = vols
	all, err := c.Secrets(ctx, "")
	if err != nil {
		return l, fmt.Errorf("list secrets: %w", err)
	}
	for _, s := range all {
		if strings.HasPrefix(s.Name, a.StackName()+"_") {
			l.secrets = append(l.secrets, s)
			l.Secrets = append(l.Secrets, s.Name)
		}
	}
	slices.Sort(l.Secrets)
	return l, nil
}

// Remove deletes an undeployed app: its volumes, secrets and env file.
func Remove(ctx context.Context, c swarm.Cluster, a *App, l Leftovers) error {
	st, err := DeployedState(ctx, c, a.StackName())
	if err != nil {
		return err
	}
	if st.Deployed {
		return hint.With(fmt.Errorf("%s is still deployed", a.Domain), "undeploy it first: abra app undeploy "+a.Domain)
	}
	var errs []error
	for _, v := range l.Volumes {
		if err := c.RemoveVolume(ctx, v); err != nil && !errors.Is(err, swarm.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v, err))
		}
	}
	for _, s := range l.secrets {
		if err := c.RemoveSecret(ctx, s.ID); err != nil && !errors.Is(err, swarm.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove secret %s: %w", s.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; the env file %s was kept so you can retry", errors.Join(errs...), a.Path)
	}
	if err := os.Remove(a.Path); err != nil {
		return fmt.Errorf("remove env file: %w", err)
	}
	return nil
}

// Task is one row of `abra app ps`.
type Task struct {
	Service string `json:"service"`
	Image   string `json:"image"`
	Node    string `json:"node"` // the node's ID ("" while the task waits for a node)
	State   string `json:"state"`
	Desired string `json:"desired"`
	Since   string `json:"since"`
	Error   string `json:"error,omitempty"`
	Health  string `json:"health,omitempty"`
	// Hostname is the node's; NodeTrouble says it cannot run tasks now:
	// "down" (a task's state is then swarm's last word on it), "drained".
	Hostname    string `json:"hostname,omitempty"`
	NodeTrouble string `json:"node_trouble,omitempty"`
}

// Tasks lists the app's current tasks (those meant to run, and recent failures).
func Tasks(ctx context.Context, c swarm.Cluster, a *App) ([]Task, error) {
	names, err := serviceNames(ctx, c, a)
	if err != nil {
		return nil, err
	}
	tasks, err := c.Tasks(ctx, a.StackName())
	if err != nil {
		return nil, err
	}
	containers, err := c.Containers(ctx, a.StackName())
	if err != nil {
		return nil, err
	}
	health := map[string]string{}
	for _, ct := range containers {
		health[ct.ID] = ct.Health
	}
	nodes, err := nodesByID(ctx, c)
	if err != nil {
		return nil, err
	}
	var out []Task
	for _, t := range tasks {
		if t.DesiredState != mobyswarm.TaskStateRunning && t.Status.State != mobyswarm.TaskStateFailed && t.Status.State != mobyswarm.TaskStateRejected {
			continue
		}
		row := Task{
			Service: names[t.ServiceID], Node: t.NodeID, State: string(t.Status.State),
			Desired: string(t.DesiredState), Since: t.Status.Timestamp.UTC().Format(time.RFC3339), Error: t.Status.Err,
		}
		if t.Spec.ContainerSpec != nil {
			row.Image = strings.Split(t.Spec.ContainerSpec.Image, "@")[0]
		}
		if t.Status.ContainerStatus != nil {
			row.Health = health[t.Status.ContainerStatus.ContainerID]
		}
		if n, ok := nodes[t.NodeID]; ok {
			row.Hostname, row.NodeTrouble = n.Hostname, nodeTrouble(n)
		}
		out = append(out, row)
	}
	slices.SortStableFunc(out, func(a, b Task) int {
		return cmp.Or(strings.Compare(a.Service, b.Service), strings.Compare(b.Since, a.Since)) // newest first
	})
	return out, nil
}

// serviceNames maps the IDs of the app's services to their short names (app,
// db); an app with no services is not deployed.
func serviceNames(ctx context.Context, c swarm.Cluster, a *App) (map[string]string, error) {
	services, err := c.Services(ctx, a.StackName())
	if err != nil {
		return nil, err
	}
	if len(services) == 0 {
		return nil, hint.With(fmt.Errorf("%s: %w", a.Domain, ErrNotDeployed), "deploy it with 'abra app deploy "+a.Domain+"'")
	}
	names := map[string]string{}
	ns := convert.NewNamespace(a.StackName())
	for _, s := range services {
		names[s.ID] = ns.Descope(s.Spec.Name)
	}
	return names, nil
}

// ServiceID finds the ID of one of the app's services by short name.
func ServiceID(ctx context.Context, c swarm.Cluster, a *App, service string) (string, error) {
	if err := guard.ServiceName(service); err != nil {
		return "", hint.With(err, "run 'abra app services "+a.Domain+"' to see its services")
	}
	services, err := c.Services(ctx, a.StackName())
	if err != nil {
		return "", err
	}
	var known []string
	for _, s := range services {
		short := convert.NewNamespace(a.StackName()).Descope(s.Spec.Name)
		if short == service {
			return s.ID, nil
		}
		known = append(known, short)
	}
	if len(services) == 0 {
		return "", hint.With(fmt.Errorf("%s: %w", a.Domain, ErrNotDeployed), "deploy it with 'abra app deploy "+a.Domain+"'")
	}
	return "", fmt.Errorf("%s has no service %q (services: %s)", a.Domain, service, strings.Join(known, ", "))
}
