package step

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

type recorder struct{ events []string }

func (r *recorder) Started(s string) { r.events = append(r.events, "start "+s) }
func (r *recorder) Finished(s string, err error, _ time.Duration) {
	r.events = append(r.events, "done "+s)
}
func (r *recorder) Note(s, m string) { r.events = append(r.events, "note "+s+" "+m) }

func TestRunStopsAtFirstFailure(t *testing.T) {
	boom := errors.New("boom")
	rec := &recorder{}
	ran := false
	err := Run(context.Background(), rec,
		Step{Name: "one", Run: func(context.Context) error { return nil }},
		Step{Name: "two", Run: func(context.Context) error { return boom }},
		Step{Name: "three", Run: func(context.Context) error { ran = true; return nil }},
	)
	var failed *Failed
	if !errors.As(err, &failed) || failed.Step != "two" || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want step two failing with boom", err)
	}
	if ran {
		t.Fatal("step after the failure ran")
	}
	want := []string{"start one", "done one", "start two", "done two"}
	if !slices.Equal(rec.events, want) {
		t.Fatalf("events = %v, want %v", rec.events, want)
	}
}

func TestRunHonoursCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, nil, Step{Name: "one", Run: func(context.Context) error { t.Fatal("ran"); return nil }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
