package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// outcomeFixture is the web recipe's release deployed on a fake swarm.
func outcomeFixture(t *testing.T, compose string) (*Deployer, *App, *swarmtest.Cluster) {
	t.Helper()
	store, _ := recipeRelease(t, map[string]string{"compose.yml": compose, ".env.sample": "TYPE=web\nDOMAIN=web.example.com\n"}, nil)
	dir := filepath.Join(store.Root, "servers", "default")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.example.org.env"), []byte("TYPE=web\nDOMAIN=app.example.org\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := store.Get("app.example.org")
	if err != nil {
		t.Fatal(err)
	}
	c := swarmtest.New()
	return &Deployer{Store: store, Cluster: c}, a, c
}

func TestDeployErrorsSayWhatTheServerRuns(t *testing.T) {
	ctx := context.Background()
	o := DeployOptions{Version: "1.0.0+1.25.3", NoDomainChecks: true, Force: true}

	t.Run("a failed update put back", func(t *testing.T) {
		d, a, c := outcomeFixture(t, filesCompose)
		if _, err := d.Deploy(ctx, a, o); err != nil {
			t.Fatal(err)
		}
		c.FailUpdates()
		start := time.Now()
		failing := o
		failing.Timeout = time.Second // the option wins over DefaultTimeout
		_, err := d.Deploy(ctx, a, failing)
		if !errors.Is(err, stack.ErrNotConverged) || !errors.Is(err, ErrRolledBack) || errors.Is(err, ErrRollbackFailed) {
			t.Fatalf("err = %v, want not converged and rolled back", err)
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("the deploy waited %s: DeployOptions.Timeout was not used", time.Since(start))
		}
		if ChangedNothing(err) {
			t.Fatal("ChangedNothing is true for a deploy that applied")
		}
	})
	t.Run("an update no node can run put back", func(t *testing.T) {
		d, a, c := outcomeFixture(t, strings.Replace(filesCompose, "    image: nginx:1.25.3\n",
			"    image: nginx:1.25.3\n    deploy:\n      placement:\n        constraints: [\"node.hostname == ${PIN:-fake}\"]\n", 1))
		if _, err := d.Deploy(ctx, a, o); err != nil {
			t.Fatal(err)
		}
		c.AddNode(swarm.Node{Hostname: "w1"})
		if err := os.WriteFile(a.Path, []byte("TYPE=web\nDOMAIN=app.example.org\nPIN=w9\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := d.Store.Get(a.Domain)
		if err != nil {
			t.Fatal(err)
		}
		d.NoNodeGrace = 10 * time.Millisecond
		_, err = d.Deploy(ctx, a, o)
		if !errors.Is(err, stack.ErrNoSuitableNode) || !errors.Is(err, ErrRolledBack) {
			t.Fatalf("err = %v, want no suitable node, rolled back", err)
		}
		for _, want := range []string{"no suitable node (scheduling constraints not satisfied on 2 nodes)", "constraints: node.hostname == w9"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if h := hint.Of(err); !strings.Contains(h, "docker node update --label-add") || !strings.Contains(h, "the previous version runs") {
			t.Errorf("hint = %q, want how to give a node what the constraints ask and what runs", h)
		}
		svcs, _ := c.Services(ctx, a.StackName())
		if len(svcs) != 1 || svcs[0].Spec.TaskTemplate.Placement.Constraints[0] != "node.hostname == fake" {
			t.Errorf("services after the failed deploy = %+v, want the previous spec back", svcs)
		}
	})
	t.Run("an update whose only node is drained is put back, naming the node", func(t *testing.T) {
		d, a, c := outcomeFixture(t, strings.Replace(filesCompose, "    image: nginx:1.25.3\n",
			"    image: nginx:1.25.3\n    deploy:\n      placement:\n        constraints: [\"node.hostname == ${PIN:-fake}\"]\n", 1))
		if _, err := d.Deploy(ctx, a, o); err != nil {
			t.Fatal(err)
		}
		c.AddNode(swarm.Node{Hostname: "w1", Availability: swarm.NodeDrain})
		if err := os.WriteFile(a.Path, []byte("TYPE=web\nDOMAIN=app.example.org\nPIN=w1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := d.Store.Get(a.Domain)
		if err != nil {
			t.Fatal(err)
		}
		waiting := o
		waiting.Timeout = 200 * time.Millisecond
		_, err = d.Deploy(ctx, a, waiting)
		if !errors.Is(err, ErrRolledBack) || errors.Is(err, stack.ErrNoSuitableNode) {
			t.Fatalf("err = %v, want a timeout, rolled back", err)
		}
		if h := hint.Of(err); !strings.Contains(h, "w1 (drained)") || !strings.Contains(h, "docker node update --availability active") ||
			!strings.Contains(h, "the previous version runs") {
			t.Errorf("hint = %q, want the drained node, how to make it take tasks, and what runs", h)
		}
	})
	t.Run("refused before applying", func(t *testing.T) {
		d, a, c := outcomeFixture(t, filesCompose)
		c.Node.SwarmState = "inactive"
		_, err := d.Deploy(ctx, a, o)
		if err == nil || !ChangedNothing(err) {
			t.Fatalf("err = %v, want a failure that changed nothing", err)
		}
	})
	t.Run("a missing external secret changes nothing", func(t *testing.T) {
		d, a, c := outcomeFixture(t, filesCompose+"secrets:\n  db:\n    external: true\n    name: db_v1\n")
		_, err := d.Deploy(ctx, a, o)
		var missing *stack.MissingSecretsError
		if !errors.As(err, &missing) || !ChangedNothing(err) {
			t.Fatalf("err = %v, want a missing secret that changed nothing", err)
		}
		for _, call := range c.Calls {
			if call != "create config abra-lock.app_example_org" && call != "remove config abra-lock.app_example_org" {
				t.Fatalf("calls = %v, want only the lock's", c.Calls)
			}
		}
	})
	if ChangedNothing(errors.New("not a step's error")) || ChangedNothing(nil) {
		t.Fatal("ChangedNothing is true for an error without a step")
	}
}
