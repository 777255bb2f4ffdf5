package configlog

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

func TestSaveReplacesPruneAndForget(t *testing.T) {
	ctx := context.Background()
	c := swarmtest.New()
	l := Log{Cluster: c, Prefix: "abra-test", Label: "coop-cloud.test"}
	save := func(id string, seq int, state, stack string) {
		t.Helper()
		if _, err := l.Save(ctx, id, seq, map[string]string{"state": state, "stack": stack}, []byte(id+" "+state)); err != nil {
			t.Fatal(err)
		}
	}
	save("a", 1, "running", "s1")
	save("a", 2, "done", "s1")
	if _, err := l.Save(ctx, "a", 2, nil, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("saving a state twice: %v, want ErrExists", err)
	}
	all, _ := l.All(ctx)
	if len(all) != 1 || all[0].Name != "abra-test.a.2" {
		t.Fatalf("after two states of a: %+v, want only abra-test.a.2", all)
	}
	// A crash between the new state and the removal leaves two: the higher wins.
	if err := c.CreateConfig(ctx, specOf("abra-test.a.1", "a", 1, "running")); err != nil {
		t.Fatal(err)
	}
	all, _ = l.All(ctx)
	es := l.Latest(all, nil)
	if len(es) != 1 || es[0].Seq != 2 || es[0].Get("state") != "done" {
		t.Fatalf("Latest = %+v", es)
	}
	if data, err := l.Data(ctx, es[0]); err != nil || string(data) != "a done" {
		t.Fatalf("Data = %q, %v", data, err)
	}
	for i := range 5 {
		save("b"+strconv.Itoa(i), 1, "done", "s2")
	}
	save("c", 1, "running", "s2")
	all, _ = l.All(ctx)
	es = l.Latest(all, func(e Entry) bool { return e.Get("stack") == "s2" })
	if len(es) != 6 {
		t.Fatalf("s2 has %d records, want 6", len(es))
	}
	l.Prune(ctx, all, es, func(e Entry) bool { return e.Get("state") == "done" }, 2)
	all, _ = l.All(ctx)
	if es := l.Latest(all, func(e Entry) bool { return e.Get("stack") == "s2" }); len(es) != 3 {
		t.Fatalf("after pruning to 2 finished: %d records, want 2 finished + 1 running", len(es))
	}
	n, err := l.Forget(ctx, "stack", "s1")
	if err != nil || n != 2 {
		t.Fatalf("Forget s1 = %d, %v; want both configs of a", n, err)
	}
	if long := strings.Repeat("é", MaxLabel); len(Cut(long)) > MaxLabel+len("…") || !strings.HasSuffix(Cut(long), "é…") {
		t.Fatalf("Cut cuts inside a character or too long: %d bytes", len(Cut(long)))
	}
}

func specOf(name, id string, seq int, state string) mobyswarm.ConfigSpec {
	return mobyswarm.ConfigSpec{Annotations: mobyswarm.Annotations{Name: name, Labels: map[string]string{
		"coop-cloud.test": id, "coop-cloud.test.seq": strconv.Itoa(seq), "coop-cloud.test.state": state, "coop-cloud.test.stack": "s1"}}}
}
