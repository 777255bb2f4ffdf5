package servercmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
	"coopcloud.tech/abra/internal/ui"
)

// server add of the manager of a swarm of several nodes lists them on
// stdout and warns about a node that takes no new tasks.
func TestAddListsTheNodesOfASwarm(t *testing.T) {
	c := swarmtest.New()
	c.AddNetwork("proxy", "swarm")
	c.AddNode(swarm.Node{Hostname: "abra-w1", Addr: "10.0.0.12"})
	c.AddNode(swarm.Node{Hostname: "abra-w2", Addr: "10.0.0.13", State: swarm.NodeDown})
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: t.TempDir(), NoInput: true,
		Connect: func(context.Context, string) (swarm.Cluster, error) { return c, nil }}
	cmd := newAddCmd(f, nil)
	cmd.SetArgs([]string{"swarm.example.org", "--docker-context=false"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	want := []string{
		"abra-w1 worker active ready 10.0.0.12 -",
		"abra-w2 worker active down 10.0.0.13 -",
		"fake manager active ready 127.0.0.1 leader",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stdout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range []string{"a swarm of 3 nodes", "warning: node abra-w2 is down (active): swarm runs no new tasks there"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, errb.String())
		}
	}
}
