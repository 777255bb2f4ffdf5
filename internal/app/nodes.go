package app

import (
	"context"
	"fmt"
	"slices"
	"strings"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
)

// Apps on swarms of several nodes: what `abra app ps` and `abra app ls -S`
// say about the nodes under an app's tasks.

// nodesByID lists the swarm's nodes by ID.
func nodesByID(ctx context.Context, c swarm.Cluster) (map[string]swarm.Node, error) {
	list, err := c.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	out := make(map[string]swarm.Node, len(list))
	for _, n := range list {
		out[n.ID] = n
	}
	return out, nil
}

// nodeTrouble is why a node cannot run tasks now: "down" (missed its
// heartbeats, or disconnected), "drained", or "" for a node that can.
func nodeTrouble(n swarm.Node) string {
	switch {
	case n.State == swarm.NodeDown || n.State == swarm.NodeDisconnected:
		return n.State
	case n.Availability == swarm.NodeDrain:
		return "drained"
	}
	return ""
}

// serviceTrouble says what keeps a service from running as desired: its
// running tasks (those on a down node do not count: "running" is swarm's
// last word on them), and a reason. degraded is true when nodes explain it:
// tasks meant to run sit on a down or drained node, a missing task's last
// node is down or drained, or a task waits for a node ("no suitable node").
// The reason is "" when the service runs as desired.
func serviceTrouble(s mobyswarm.Service, tasks []mobyswarm.Task, nodes map[string]swarm.Node) (reason string, degraded bool) {
	want := 0
	if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		want = int(*r.Replicas)
	}
	running := 0
	var troubled []string // "node abra-w1 is drained"
	note := func(n swarm.Node) {
		why := "node " + n.Hostname + " is " + nodeTrouble(n)
		if !slices.Contains(troubled, why) {
			troubled = append(troubled, why)
		}
	}
	waiting := ""
	var last mobyswarm.Task // the newest task that is not meant to run
	for _, t := range tasks {
		if t.ServiceID != s.ID {
			continue
		}
		n, known := nodes[t.NodeID]
		if t.DesiredState == mobyswarm.TaskStateReady && t.Status.State == mobyswarm.TaskStatePending && strings.HasPrefix(t.Status.Err, "no suitable node") {
			waiting = t.Status.Err // an update's new task, not started yet, waits for a node
			continue
		}
		if t.DesiredState != mobyswarm.TaskStateRunning {
			if t.NodeID != "" && t.UpdatedAt.After(last.UpdatedAt) {
				last = t
			}
			continue
		}
		if known && nodeTrouble(n) != "" {
			note(n)
		}
		switch {
		case known && nodeTrouble(n) == swarm.NodeDown, known && nodeTrouble(n) == swarm.NodeDisconnected:
		case t.Status.State == mobyswarm.TaskStateRunning:
			running++
		case t.Status.State == mobyswarm.TaskStatePending && strings.HasPrefix(t.Status.Err, "no suitable node"):
			waiting = t.Status.Err
		}
	}
	if running < want && len(troubled) == 0 {
		// Swarm has moved the tasks off a drained node, or given up on a
		// down one: the node the service ran on last says why it misses them.
		if n, ok := nodes[last.NodeID]; ok && nodeTrouble(n) != "" {
			note(n)
		}
	}
	switch {
	case len(troubled) > 0:
		return fmt.Sprintf("%s: %d/%d running, %s", s.Spec.Name, running, want, strings.Join(troubled, ", ")), true
	case running < want && waiting != "":
		return fmt.Sprintf("%s: %d/%d running, %s", s.Spec.Name, running, want, waiting), true
	case running < want:
		return fmt.Sprintf("%s %d/%d", s.Spec.Name, running, want), false
	}
	return "", false
}
