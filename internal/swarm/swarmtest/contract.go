package swarmtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	abraswarm "coopcloud.tech/abra/internal/swarm"
)

// Contract is the behaviour every swarm.Cluster must show. The fake runs it in
// its unit tests and the Docker adapter against a real daemon, so the fake
// cannot drift from the real thing. newCluster gets a unique stack name to use.
func Contract(t *testing.T, newCluster func(t *testing.T) abraswarm.Cluster) {
	ctx := context.Background()
	stack := fmt.Sprintf("contract%d", time.Now().UnixNano()%1_000_000)
	labels := map[string]string{abraswarm.StackLabel: stack}
	c := newCluster(t)

	t.Run("info says manager", func(t *testing.T) {
		info, err := c.Info(ctx)
		if err != nil || info.SwarmState != "active" || !info.IsManager {
			t.Fatalf("Info() = %+v, %v", info, err)
		}
	})
	t.Run("missing network is ErrNotFound", func(t *testing.T) {
		_, err := c.InspectNetwork(ctx, stack+"_nope")
		if !errors.Is(err, abraswarm.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("networks by stack", func(t *testing.T) {
		if err := c.CreateNetwork(ctx, stack+"_default", abraswarm.NetworkSpec{Driver: "overlay", Labels: labels}); err != nil {
			t.Fatal(err)
		}
		nets, err := c.Networks(ctx, stack)
		if err != nil || len(nets) != 1 || nets[0].Name != stack+"_default" || nets[0].Scope != "swarm" {
			t.Fatalf("Networks() = %+v, %v", nets, err)
		}
	})
	t.Run("secrets and configs resolve to IDs", func(t *testing.T) {
		s := swarm.SecretSpec{Annotations: swarm.Annotations{Name: stack + "_pw_v1", Labels: labels}, Data: []byte("x")}
		if err := c.CreateSecret(ctx, s); err != nil {
			t.Fatal(err)
		}
		cf := swarm.ConfigSpec{Annotations: swarm.Annotations{Name: stack + "_conf_v1", Labels: labels}, Data: []byte("y")}
		if err := c.CreateConfig(ctx, cf); err != nil {
			t.Fatal(err)
		}
		ids, err := c.SecretIDs(ctx, []string{stack + "_pw_v1", stack + "_missing"})
		if err != nil || len(ids) != 1 || ids[stack+"_pw_v1"] == "" {
			t.Fatalf("SecretIDs() = %v, %v", ids, err)
		}
		cids, err := c.ConfigIDs(ctx, []string{stack + "_conf_v1"})
		if err != nil || len(cids) != 1 {
			t.Fatalf("ConfigIDs() = %v, %v", cids, err)
		}
		if data, err := c.ConfigData(ctx, cids[stack+"_conf_v1"]); err != nil || string(data) != "y" {
			t.Fatalf("ConfigData() = %q, %v", data, err)
		}
		if _, err := c.ConfigData(ctx, "no-such-config-id"); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Fatalf("ConfigData(missing) = %v, want ErrNotFound", err)
		}
		secrets, err := c.Secrets(ctx, stack)
		if err != nil || len(secrets) != 1 {
			t.Fatalf("Secrets() = %v, %v", secrets, err)
		}
	})
	t.Run("services create, update, list, remove", func(t *testing.T) {
		zero := uint64(0)
		spec := swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: stack + "_app", Labels: labels},
			TaskTemplate: swarm.TaskSpec{
				ContainerSpec: &swarm.ContainerSpec{Image: "abra-contract-missing:1", Labels: labels},
				Networks:      []swarm.NetworkAttachmentConfig{{Target: stack + "_default", Aliases: []string{"app"}}},
			},
			Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &zero}},
		}
		id, _, err := c.CreateService(ctx, spec, false)
		if err != nil {
			t.Fatal(err)
		}
		services, err := c.Services(ctx, stack)
		if err != nil || len(services) != 1 || services[0].ID != id {
			t.Fatalf("Services() = %v, %v", services, err)
		}
		nets, _ := c.Networks(ctx, stack)
		if got := services[0].Spec.TaskTemplate.Networks; len(got) != 1 || len(nets) != 1 || got[0].Target != nets[0].ID {
			t.Fatalf("network targets are stored as IDs: got %+v, network %+v", got, nets)
		}
		spec.Labels = map[string]string{abraswarm.StackLabel: stack, "extra": "1"}
		if _, err := c.UpdateService(ctx, services[0], spec, false); err != nil {
			t.Fatal(err)
		}
		services, _ = c.Services(ctx, stack)
		if len(services) != 1 || services[0].Spec.Labels["extra"] != "1" {
			t.Fatalf("update not applied: %+v", services)
		}
		if err := c.RemoveService(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := c.RemoveService(ctx, id); !errors.Is(err, abraswarm.ErrNotFound) {
			t.Fatalf("second remove: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("cleanup removes by ID", func(t *testing.T) {
		for _, kind := range []string{"secret", "config", "network"} {
			var objs []string
			switch kind {
			case "secret":
				list, _ := c.Secrets(ctx, stack)
				for _, o := range list {
					objs = append(objs, o.ID)
					if err := c.RemoveSecret(ctx, o.ID); err != nil {
						t.Fatal(err)
					}
				}
			case "config":
				list, _ := c.Configs(ctx, stack)
				for _, o := range list {
					objs = append(objs, o.ID)
					if err := c.RemoveConfig(ctx, o.ID); err != nil {
						t.Fatal(err)
					}
				}
			case "network":
				list, _ := c.Networks(ctx, stack)
				for _, o := range list {
					objs = append(objs, o.ID)
					if err := c.RemoveNetwork(ctx, o.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(objs) != 1 {
				t.Fatalf("%s: want 1 object of the stack, got %d", kind, len(objs))
			}
		}
		if nets, _ := c.Networks(ctx, stack); len(nets) != 0 {
			t.Fatalf("networks left: %v", nets)
		}
	})
}
