package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/step"
)

func TestAnOperationIsJournalledStepByStep(t *testing.T) {
	j := &Journal{Dir: t.TempDir()}
	op := j.Begin("deploy", "blog.example.org", "srv", "alice@laptop pid 1")
	err := step.Run(context.Background(), op,
		step.Step{Name: "check out recipe", Run: func(context.Context) error { op.Note("check out recipe", "web 1.2.0+1.25"); return nil }},
		step.Step{Name: "apply stack", Run: func(context.Context) error { return errors.New("boom") }})
	op.End(err)
	if op.Err() != nil {
		t.Fatal(op.Err())
	}
	events, next, err := j.Read("", 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind+":"+e.Step)
		if e.Op != op.ID() || e.App != "blog.example.org" || e.Command != "deploy" || e.Server != "srv" || e.ID == "" {
			t.Errorf("event %+v does not carry the operation", e)
		}
	}
	want := []string{"begin:", "started:check out recipe", "note:check out recipe", "finished:check out recipe", "started:apply stack", "finished:apply stack", "end:"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	if events[5].Error != "boom" || !strings.Contains(events[6].Error, "apply stack: boom") || events[2].Message != "web 1.2.0+1.25" {
		t.Fatalf("errors and notes: %+v", events)
	}
	if next != events[len(events)-1].ID {
		t.Fatalf("next = %q, want the last event's id %q", next, events[len(events)-1].ID)
	}
	// Resuming after the last ID gives nothing new; after the third, the rest.
	if more, again, _ := j.Read(next, 0); len(more) != 0 || again != next {
		t.Fatalf("read after the last: %v, %q", more, again)
	}
	rest, _, _ := j.Read(events[2].ID, 0)
	if len(rest) != 4 || rest[0].ID != events[3].ID {
		t.Fatalf("read after the third: %+v", rest)
	}
	if some, n, _ := j.Read("", 2); len(some) != 2 || n != events[1].ID {
		t.Fatalf("read with a limit: %+v %q", some, n)
	}
	if _, _, err := j.Read("x", 0); err == nil {
		t.Fatal("a bad id must be an error")
	}
}

// Processes (here: goroutines, each append opening the files anew, as
// processes do) append at once; every line is whole and each operation's
// events keep their order.
func TestConcurrentAppendsNeverInterleave(t *testing.T) {
	j := &Journal{Dir: t.TempDir()}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op := j.Begin("deploy", fmt.Sprintf("app%d.example.org", w), "srv", "t")
			for i := range 50 {
				op.Note("apply stack", fmt.Sprintf("%d %s", i, strings.Repeat("x", 3000)))
			}
			op.End(nil)
		}()
	}
	wg.Wait()
	events, _, err := j.Read("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 8*52 {
		t.Fatalf("%d events, want %d (a torn line is lost)", len(events), 8*52)
	}
	seen := map[string]int{}
	for _, e := range events {
		if e.Kind != Note {
			continue
		}
		var i int
		fmt.Sscanf(e.Message, "%d", &i)
		if i != seen[e.Op] {
			t.Fatalf("operation %s: note %d after %d", e.Op, i, seen[e.Op]-1)
		}
		seen[e.Op]++
	}
}

func TestGenerationsRotateAndIDsStayOrdered(t *testing.T) {
	dir := t.TempDir()
	j := &Journal{Dir: dir, MaxSize: 2000, Keep: 2}
	op := j.Begin("backup", "a.example.org", "srv", "t")
	for i := range 40 {
		op.Note("back up", fmt.Sprintf("file %d %s", i, strings.Repeat("y", 100)))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "journal.*.jsonl"))
	if len(files) != 2 {
		t.Fatalf("files %v, want the 2 newest generations", files)
	}
	events, _, err := j.Read("", 0)
	if err != nil || len(events) == 0 {
		t.Fatalf("read: %d events, %v", len(events), err)
	}
	for i := 1; i < len(events); i++ {
		a, _ := parseID(events[i-1].ID)
		b, _ := parseID(events[i].ID)
		if b.gen < a.gen || b.gen == a.gen && b.off <= a.off {
			t.Fatalf("ids out of order: %s then %s", events[i-1].ID, events[i].ID)
		}
	}
	// An id of a generation that was removed reads from the oldest kept.
	if old, _, err := j.Read("1-0", 0); err != nil || len(old) != len(events) {
		t.Fatalf("read from a removed generation: %d events, %v; want %d", len(old), err, len(events))
	}
}

func TestFollowSeesEventsAsTheyAreAppended(t *testing.T) {
	j := &Journal{Dir: t.TempDir()}
	first := j.Begin("upgrade", "a.example.org", "srv", "t")
	_, after, _ := j.Read("", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan Event, 10)
	go func() {
		_ = j.Follow(ctx, after, 10*time.Millisecond, func(e Event) error { got <- e; return nil })
	}()
	first.Started("deploy")
	first.End(nil)
	for _, want := range []string{Started, End} {
		select {
		case e := <-got:
			if e.Kind != want {
				t.Fatalf("followed %s, want %s", e.Kind, want)
			}
		case <-ctx.Done():
			t.Fatalf("no %s event followed", want)
		}
	}
}

func TestDirIsNeverInAbraDir(t *testing.T) {
	t.Setenv("ABRA_JOURNAL_DIR", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/op")
	if d, _ := Dir(); d != "/home/op/.local/state/abra/journal" {
		t.Fatalf("Dir = %s", d)
	}
	t.Setenv("XDG_STATE_HOME", "/state")
	if d, _ := Dir(); d != "/state/abra/journal" {
		t.Fatalf("Dir with XDG_STATE_HOME = %s", d)
	}
	t.Setenv("ABRA_JOURNAL_DIR", "/j")
	if d, _ := Dir(); d != "/j" {
		t.Fatalf("Dir with ABRA_JOURNAL_DIR = %s", d)
	}
}

func TestAJournalThatCannotBeWrittenNeverFailsTheOperation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(dir, nil, 0o600); err != nil { // a file where the directory should be
		t.Fatal(err)
	}
	op := (&Journal{Dir: dir}).Begin("deploy", "a", "s", "t")
	err := step.Run(context.Background(), op, step.Step{Name: "x", Run: func(context.Context) error { return nil }})
	op.End(err)
	if err != nil || op.Err() == nil {
		t.Fatalf("run err %v, journal err %v: the step must run, the journal error be kept", err, op.Err())
	}
	var nilJournal *Journal
	nilJournal.Begin("deploy", "a", "s", "t").End(nil) // writes nothing, no panic
}

// An operation's end carries its error's remedy, as the CLI prints it, and a
// front end's verified outcome.
func TestAnEndCarriesTheRemedyAndTheVerifiedOutcome(t *testing.T) {
	j := &Journal{Dir: t.TempDir()}
	j.Begin("deploy", "a", "s", "t").End(hint.With(errors.New("boom"), "run 'abra app logs a'"))
	j.Begin("upgrade", "a", "s", "t").EndVerified(nil, "converged", "1.1.0+1", "a: upgrade to 1.1.0+1 done")
	events, _, err := j.Read("", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ends []Event
	for _, e := range events {
		if e.Kind == End {
			ends = append(ends, e)
		}
	}
	if len(ends) != 2 || ends[0].Error != "boom" || ends[0].Hint != "run 'abra app logs a'" ||
		ends[1].Outcome != "converged" || ends[1].Version != "1.1.0+1" || ends[1].Message != "a: upgrade to 1.1.0+1 done" || ends[1].Error != "" {
		t.Fatalf("ends = %+v", ends)
	}
}
