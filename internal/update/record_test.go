package update

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// opConfigs are the names of the configs that hold operation id's records.
func opConfigs(t *testing.T, c swarm.Cluster, id string) []string {
	t.Helper()
	all, err := c.Configs(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range all {
		if o.Labels[opLabel] == id {
			out = append(out, o.Name)
		}
	}
	return out
}

func ids(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestRecordSaveReplacesThePreviousState(t *testing.T) {
	ctx := context.Background()
	c := swarmtest.New()
	r := Records{Cluster: c}
	rec := &Record{ID: "20240605t030000aaaaaa", App: "blog.example.org", Stack: "blog_example_org", Recipe: "wordpress",
		From: "1.0.0+1", To: "1.1.0+1", Actor: "alice@laptop", Trigger: "cli", State: Planned}
	if err := r.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 1 || rec.Started.IsZero() || rec.Updated.IsZero() {
		t.Fatalf("after the first save: seq %d, started %s, updated %s; want seq 1 and both times set", rec.Seq, rec.Started, rec.Updated)
	}
	if got := opConfigs(t, c, rec.ID); !slices.Equal(got, []string{"abra-op." + rec.ID + ".1"}) {
		t.Fatalf("configs after the first save = %v", got)
	}
	rec.State, rec.Step, rec.Snapshot = Deploying, "deploy", "0123456789abcdef"
	if err := r.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got := opConfigs(t, c, rec.ID); !slices.Equal(got, []string{"abra-op." + rec.ID + ".2"}) {
		t.Fatalf("configs after the second save = %v, want only seq 2", got)
	}
	recs, err := r.List(ctx, "blog_example_org")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("List = %+v, want one record", recs)
	}
	got := recs[0]
	if got.ID != rec.ID || got.State != Deploying || got.Step != "deploy" || got.Snapshot != rec.Snapshot || got.Seq != 2 ||
		got.App != rec.App || got.Recipe != "wordpress" || got.From != "1.0.0+1" || got.To != "1.1.0+1" ||
		got.Actor != "alice@laptop" || got.Trigger != "cli" || !got.Started.Equal(rec.Started.Truncate(time.Second)) {
		t.Fatalf("List = %+v, want the latest state of %+v", got, *rec)
	}
}

func TestRecordSaveKeepsStartAndStampsUpdate(t *testing.T) {
	ctx := context.Background()
	r := Records{Cluster: swarmtest.New()}
	started := time.Date(2024, 6, 5, 3, 0, 0, 0, time.UTC)
	before := time.Now().UTC().Truncate(time.Second)
	rec := &Record{ID: "op1", Stack: "s", State: Verifying, Started: started, Updated: started.Add(time.Minute)}
	if err := r.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	recs, err := r.List(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if !recs[0].Started.Equal(started) || recs[0].Updated.Before(before) {
		t.Fatalf("times = %s, %s; want the start %s kept and the update stamped now (after %s)", recs[0].Started, recs[0].Updated, started, before)
	}
}

// keepOld is a cluster whose RemoveConfig fails, as a crash between writing
// a record's new state and removing the old one would leave it.
type keepOld struct{ *swarmtest.Cluster }

func (keepOld) RemoveConfig(context.Context, string) error { return errors.New("connection lost") }

func TestRecordNewerStateWins(t *testing.T) {
	ctx := context.Background()
	c := keepOld{swarmtest.New()}
	r := Records{Cluster: c}
	rec := &Record{ID: "op1", Stack: "s", State: Deploying}
	if err := r.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.State = Verifying
	if err := r.Save(ctx, rec); err != nil {
		t.Fatalf("a failed removal of the old state must not fail the save: %v", err)
	}
	if got := opConfigs(t, c, "op1"); len(got) != 2 {
		t.Fatalf("configs = %v, want both states left behind", got)
	}
	recs, err := r.List(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].State != Verifying || recs[0].Seq != 2 {
		t.Fatalf("List = %+v, want one record in its newer state", recs)
	}
}

func TestRecordListNewestFirst(t *testing.T) {
	ctx := context.Background()
	r := Records{Cluster: swarmtest.New()}
	for _, rec := range []Record{
		{ID: "20240602t000000bbbbbb", Stack: "a", State: Succeeded},
		{ID: "20240601t000000aaaaaa", Stack: "a", State: Succeeded},
		{ID: "20240603t000000cccccc", Stack: "b", State: Planned},
		{ID: "20240604t000000dddddd", Stack: "a", State: Failed},
	} {
		if err := r.Save(ctx, &rec); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		stack string
		want  []string
	}{
		{"a", []string{"20240604t000000dddddd", "20240602t000000bbbbbb", "20240601t000000aaaaaa"}},
		{"b", []string{"20240603t000000cccccc"}},
		{"", []string{"20240604t000000dddddd", "20240603t000000cccccc", "20240602t000000bbbbbb", "20240601t000000aaaaaa"}},
		{"c", []string{}},
	}
	for _, tt := range tests {
		recs, err := r.List(ctx, tt.stack)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(recs); !slices.Equal(got, tt.want) {
			t.Errorf("List(%q) = %v, want %v", tt.stack, got, tt.want)
		}
	}
}

func TestRecordListIgnoresOtherConfigs(t *testing.T) {
	ctx := context.Background()
	c := swarmtest.New()
	r := Records{Cluster: c}
	if err := c.CreateConfig(ctx, mobyswarm.ConfigSpec{Annotations: mobyswarm.Annotations{
		Name: "s_nginx_conf_v1", Labels: map[string]string{swarm.StackLabel: "s"}}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Quarantine(ctx, Quarantine{Stack: "s", Version: "1.1.0+1"}); err != nil {
		t.Fatal(err)
	}
	recs, err := r.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Fatalf("List = %+v, want no records", recs)
	}
}

func TestRecordUnfinished(t *testing.T) {
	ctx := context.Background()
	r := Records{Cluster: swarmtest.New()}
	states := []State{Planned, Succeeded, BackingUp, RolledBack, Deploying, Failed, Verifying, Abandoned, RollingBack}
	for i, st := range states {
		rec := Record{ID: fmt.Sprintf("2024060%dt000000aaaaaa", i+1), Stack: []string{"a", "b"}[i%2], State: st}
		if err := r.Save(ctx, &rec); err != nil {
			t.Fatal(err)
		}
	}
	un, err := r.Unfinished(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"20240601t000000aaaaaa", "20240603t000000aaaaaa", "20240605t000000aaaaaa", "20240607t000000aaaaaa", "20240609t000000aaaaaa"}
	if got := ids(un); !slices.Equal(got, want) {
		t.Fatalf("Unfinished = %v, want %v (oldest first, no final states)", got, want)
	}
	for _, rec := range un {
		if rec.State.Final() {
			t.Errorf("Unfinished returned %s in final state %s", rec.ID, rec.State)
		}
	}
}

func TestStateFinal(t *testing.T) {
	final := []State{Succeeded, RolledBack, Failed, Abandoned}
	for _, st := range []State{Planned, BackingUp, Deploying, Verifying, RollingBack, Succeeded, RolledBack, Failed, Abandoned} {
		if got := st.Final(); got != slices.Contains(final, st) {
			t.Errorf("%s.Final() = %v", st, got)
		}
	}
}

func TestRecordPruneKeepsFiftyFinished(t *testing.T) {
	ctx := context.Background()
	c := swarmtest.New()
	r := Records{Cluster: c}
	save := func(rec Record) {
		t.Helper()
		if err := r.Save(ctx, &rec); err != nil {
			t.Fatal(err)
		}
	}
	// An unfinished record older than all the others must survive pruning.
	save(Record{ID: "20240101t000000000000", Stack: "s", State: Deploying})
	for i := range 3 {
		save(Record{ID: fmt.Sprintf("20240102t0000%02d000000", i), Stack: "other", State: Succeeded})
	}
	var finished []string
	for i := range 55 {
		id := fmt.Sprintf("20240201t0000%02d000000", i)
		finished = append(finished, id)
		st := []State{Succeeded, RolledBack, Failed, Abandoned}[i%4]
		rec := Record{ID: id, Stack: "s", State: Planned}
		save(rec)
		rec.Seq, rec.State = 1, st
		save(rec)
	}
	recs, err := r.List(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	var unfinished []string
	for _, rec := range recs {
		if rec.State.Final() {
			kept = append(kept, rec.ID)
		} else {
			unfinished = append(unfinished, rec.ID)
		}
	}
	slices.Reverse(finished)
	if !slices.Equal(kept, finished[:50]) {
		t.Fatalf("kept %d finished records %v, want the newest 50", len(kept), kept)
	}
	if !slices.Equal(unfinished, []string{"20240101t000000000000"}) {
		t.Fatalf("unfinished records = %v, want the old unfinished one kept", unfinished)
	}
	other, err := r.List(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if len(other) != 3 {
		t.Fatalf("another stack's records = %v, want its 3 untouched", ids(other))
	}
	all, err := c.Configs(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 50+1+3 {
		t.Fatalf("%d configs left, want one per kept record (54)", len(all))
	}
}

func TestRecordLabelsAreBounded(t *testing.T) {
	ctx := context.Background()
	r := Records{Cluster: swarmtest.New()}
	long := strings.Repeat("x", 5000)
	rec := &Record{ID: "op1", Stack: "s", State: Failed, Error: long}
	if err := r.Save(ctx, rec); err != nil {
		t.Fatal(err)
	}
	recs, err := r.List(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0].Error; got != long[:maxLabel]+"…" {
		t.Fatalf("stored error has %d bytes, want it cut to %d and marked", len(got), maxLabel)
	}
	if rec.Error != long {
		t.Fatal("Save changed the caller's record")
	}
}

func TestNewID(t *testing.T) {
	t1 := time.Date(2024, 6, 5, 3, 0, 0, 0, time.UTC)
	a, b := NewID(t1), NewID(t1.Add(time.Second))
	if !strings.HasPrefix(a, "20240605t030000") || len(a) != len("20240605t030000")+6 {
		t.Fatalf("NewID = %q, want the UTC time and 6 hex digits", a)
	}
	if a >= b {
		t.Fatalf("NewID does not sort by time: %q >= %q", a, b)
	}
	berlin := time.FixedZone("CEST", 2*3600)
	if got := NewID(t1.In(berlin)); !strings.HasPrefix(got, "20240605t030000") {
		t.Fatalf("NewID of a zoned time = %q, want UTC", got)
	}
}

func TestQuarantine(t *testing.T) {
	ctx := context.Background()
	r := Records{Cluster: swarmtest.New()}
	q := Quarantine{Stack: "s", Version: "1.1.0+1", Reason: "verify stable: task stopped", Operation: "op1"}
	if err := r.Quarantine(ctx, q); err != nil {
		t.Fatal(err)
	}
	if err := r.Quarantine(ctx, q); err != nil {
		t.Fatalf("quarantining a version twice: %v", err)
	}
	qs, err := r.Quarantined(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 {
		t.Fatalf("Quarantined = %+v, want one version", qs)
	}
	got := qs[0]
	if got.Stack != "s" || got.Version != q.Version || got.Reason != q.Reason || got.Operation != "op1" || got.Since.IsZero() {
		t.Fatalf("Quarantined = %+v, want %+v with a time", got, q)
	}
	for _, other := range []Quarantine{{Stack: "s", Version: "1.2.0+1"}, {Stack: "t", Version: "1.1.0+1"}} {
		if err := r.Quarantine(ctx, other); err != nil {
			t.Fatal(err)
		}
	}
	versions := func(stack string) []string {
		t.Helper()
		qs, err := r.Quarantined(ctx, stack)
		if err != nil {
			t.Fatal(err)
		}
		v := Versions(qs)
		slices.Sort(v)
		return v
	}
	if got := versions("s"); !slices.Equal(got, []string{"1.1.0+1", "1.2.0+1"}) {
		t.Fatalf("quarantined on s = %v", got)
	}
	if got := versions(""); len(got) != 0 {
		t.Fatalf("Quarantined(\"\") = %v, want none", got)
	}

	cleared, err := r.Clear(ctx, "s", "9.9.9+1")
	if err != nil || len(cleared) != 0 {
		t.Fatalf("Clear of a version not quarantined = %v, %v; want nothing", cleared, err)
	}
	cleared, err = r.Clear(ctx, "s", "1.1.0+1")
	if err != nil || !slices.Equal(cleared, []string{"1.1.0+1"}) {
		t.Fatalf("Clear one = %v, %v", cleared, err)
	}
	if got := versions("s"); !slices.Equal(got, []string{"1.2.0+1"}) {
		t.Fatalf("after clearing one: %v", got)
	}
	if got := versions("t"); !slices.Equal(got, []string{"1.1.0+1"}) {
		t.Fatalf("clearing on s cleared t's quarantine: %v", got)
	}
	if err := r.Quarantine(ctx, q); err != nil {
		t.Fatalf("quarantine again after a clear: %v", err)
	}
	cleared, err = r.Clear(ctx, "s", "")
	slices.Sort(cleared)
	if err != nil || !slices.Equal(cleared, []string{"1.1.0+1", "1.2.0+1"}) {
		t.Fatalf("Clear all = %v, %v", cleared, err)
	}
	if got := versions("s"); len(got) != 0 {
		t.Fatalf("after clearing all: %v", got)
	}
	if got := versions("t"); !slices.Equal(got, []string{"1.1.0+1"}) {
		t.Fatalf("clearing all on s cleared t's quarantine: %v", got)
	}
}

func TestQuarantineReasonIsBounded(t *testing.T) {
	ctx := context.Background()
	r := Records{Cluster: swarmtest.New()}
	if err := r.Quarantine(ctx, Quarantine{Stack: "s", Version: "1.1.0+1", Reason: strings.Repeat("e", 2000)}); err != nil {
		t.Fatal(err)
	}
	qs, err := r.Quarantined(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("e", maxLabel) + "…"; len(qs) != 1 || qs[0].Reason != want {
		t.Fatalf("reason = %d bytes, want cut to %d and marked", len(qs[0].Reason), maxLabel)
	}
}

// failingConfigs fails every config call.
type failingConfigs struct{ *swarmtest.Cluster }

var errDown = errors.New("daemon down")

func (failingConfigs) CreateConfig(context.Context, mobyswarm.ConfigSpec) error { return errDown }
func (failingConfigs) Configs(context.Context, string) ([]swarm.Object, error) {
	return nil, errDown
}

func TestRecordErrors(t *testing.T) {
	ctx := context.Background()
	r := Records{Cluster: failingConfigs{swarmtest.New()}}
	if err := r.Save(ctx, &Record{ID: "op1", Stack: "s", State: Planned}); !errors.Is(err, errDown) || !strings.Contains(err.Error(), "op1") {
		t.Errorf("Save: %v, want the cluster's error naming the operation", err)
	}
	if _, err := r.List(ctx, "s"); !errors.Is(err, errDown) {
		t.Errorf("List: %v", err)
	}
	if _, err := r.Unfinished(ctx); !errors.Is(err, errDown) {
		t.Errorf("Unfinished: %v", err)
	}
	if err := r.Quarantine(ctx, Quarantine{Stack: "s", Version: "1.1.0+1"}); !errors.Is(err, errDown) {
		t.Errorf("Quarantine: %v", err)
	}
	if _, err := r.Quarantined(ctx, "s"); !errors.Is(err, errDown) {
		t.Errorf("Quarantined: %v", err)
	}
	if _, err := r.Clear(ctx, "s", ""); !errors.Is(err, errDown) {
		t.Errorf("Clear: %v", err)
	}
}

func TestForgetRemovesOneStacksRecordsAndQuarantine(t *testing.T) {
	ctx := context.Background()
	c := swarmtest.New()
	r := Records{Cluster: c}
	for _, st := range []string{"s1", "s2"} {
		rec := &Record{ID: "op-" + st, Stack: st, State: Succeeded}
		if err := r.Save(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if err := r.Quarantine(ctx, Quarantine{Stack: st, Version: "1.0.0+1"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := r.Forget(ctx, "s1")
	if err != nil || n != 2 {
		t.Fatalf("Forget = %d, %v; want the record and the quarantine", n, err)
	}
	if recs, _ := r.List(ctx, "s1"); len(recs) != 0 {
		t.Errorf("s1 records left: %+v", recs)
	}
	if qs, _ := r.Quarantined(ctx, "s1"); len(qs) != 0 {
		t.Errorf("s1 quarantine left: %+v", qs)
	}
	if recs, _ := r.List(ctx, "s2"); len(recs) != 1 {
		t.Errorf("s2's records were touched: %+v", recs)
	}
	if qs, _ := r.Quarantined(ctx, "s2"); len(qs) != 1 {
		t.Errorf("s2's quarantine was touched: %+v", qs)
	}
}
