package appcmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/swarm"
)

// On a swarm of several nodes, app ps has a node column that says when a
// node is down or drained, and app ls -S says the app is degraded and why.
func TestPsAndListStatusShowNodes(t *testing.T) {
	f, c, out, _ := compatFactory(t)
	c.AddNode(swarm.Node{Hostname: "abra-w1"})
	c.SetNode("fake", func(n *swarm.Node) { n.Availability = swarm.NodeDrain })
	ctx := context.Background()

	if err := execute(t, ctx, newPsCmd(f, nil), "app.example.org"); err != nil {
		t.Fatal(err)
	}
	// A pipe gets no header: service, image, node, state, ….
	if f := strings.Fields(out.String()); len(f) < 5 || f[2] != "fake" || f[3] != "(drained)" || f[4] != "running" {
		t.Errorf("app ps:\n%s\nwant the node (drained) after the image", out)
	}
	out.Reset()
	if err := execute(t, ctx, newPsCmd(f, nil), "app.example.org", "--json"); err != nil {
		t.Fatal(err)
	}
	var tasks []map[string]any
	if err := json.Unmarshal(out.Bytes(), &tasks); err != nil || len(tasks) != 1 ||
		tasks[0]["hostname"] != "fake" || tasks[0]["node_trouble"] != "drained" || tasks[0]["node"] != "node1" {
		t.Errorf("app ps --json = %v (%v), want the node's ID, hostname and trouble", tasks, err)
	}

	out.Reset()
	if err := execute(t, ctx, newListCmd(f, nil), "-S", "--json"); err != nil {
		t.Fatal(err)
	}
	var servers map[string]struct {
		Apps []map[string]any `json:"apps"`
	}
	if err := json.Unmarshal(out.Bytes(), &servers); err != nil {
		t.Fatal(err)
	}
	row := servers["default"].Apps[0]
	if row["status"] != "degraded" || row["reason"] != "app_example_org_app: 1/1 running, node fake is drained" {
		t.Errorf("app ls -S --json row = %v, want degraded naming service and node", row)
	}
	out.Reset()
	if err := execute(t, ctx, newListCmd(f, nil), "-S"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "degraded (app_example_org_app: 1/1 running, node fake is drained)") {
		t.Errorf("app ls -S:\n%s\nwant the status with its reason", out)
	}
}
