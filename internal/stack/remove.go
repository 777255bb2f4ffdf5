package stack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"coopcloud.tech/abra/internal/swarm"
)

// Remove deletes the stack's services, configs, stack-owned secrets and
// networks, like `docker stack rm`. External secrets and volumes stay.
func Remove(ctx context.Context, c swarm.Cluster, stack string, notify func(Event)) error {
	if notify == nil {
		notify = func(Event) {}
	}
	var errs []error
	services, err := c.Services(ctx, stack)
	if err != nil {
		return err
	}
	for _, s := range services {
		notify(Event{Action: "remove", Kind: "service", Name: s.Spec.Name})
		if err := c.RemoveService(ctx, s.ID); err != nil && !errors.Is(err, swarm.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove service %s: %w", s.Spec.Name, err))
		}
	}
	secrets, err := c.Secrets(ctx, stack)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		notify(Event{Action: "remove", Kind: "secret", Name: s.Name})
		if err := c.RemoveSecret(ctx, s.ID); err != nil && !errors.Is(err, swarm.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove secret %s: %w", s.Name, err))
		}
	}
	configs, err := c.Configs(ctx, stack)
	if err != nil {
		return err
	}
	for _, s := range configs {
		notify(Event{Action: "remove", Kind: "config", Name: s.Name})
		if err := c.RemoveConfig(ctx, s.ID); err != nil && !errors.Is(err, swarm.ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove config %s: %w", s.Name, err))
		}
	}
	networks, err := c.Networks(ctx, stack)
	if err != nil {
		return err
	}
	for _, n := range networks {
		notify(Event{Action: "remove", Kind: "network", Name: n.Name})
		if err := c.RemoveNetwork(ctx, n.ID); err != nil && !errors.Is(err, swarm.ErrNotFound) {
			// Containers may still hold the network; WaitRemoved retries.
			continue
		}
	}
	return errors.Join(errs...)
}

// WaitRemoved waits until no container and no network of the stack is left.
// `docker stack rm` returns at once while containers take seconds to stop;
// deploying again in that window fails with "network not found".
func WaitRemoved(ctx context.Context, c swarm.Cluster, stack string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		containers, err := c.Containers(ctx, stack)
		if err != nil {
			return err
		}
		networks, err := c.Networks(ctx, stack)
		if err != nil {
			return err
		}
		services, err := c.Services(ctx, stack)
		if err != nil {
			return err
		}
		if len(containers) == 0 {
			for _, n := range networks {
				_ = c.RemoveNetwork(ctx, n.ID) // retry networks freed by stopped containers
			}
			if networks, err = c.Networks(ctx, stack); err != nil {
				return err
			}
		}
		if len(containers) == 0 && len(networks) == 0 && len(services) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still has %d containers and %d networks after %s", stack, len(containers), len(networks), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
