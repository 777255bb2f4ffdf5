// Package step runs multi-step work (deploy, undeploy, …) as a list of named
// steps, reporting each start and finish to an Observer, and telling exactly
// which step failed.
package step

import (
	"context"
	"fmt"
	"time"
)

// Step is one named unit of work.
type Step struct {
	Name string
	Run  func(ctx context.Context) error
}

// Observer is told about steps as they run and about notes made inside them.
// Implementations render progress (terminal, plain lines, JSON Lines).
type Observer interface {
	Started(step string)
	Finished(step string, err error, elapsed time.Duration)
	Note(step, msg string)
}

// Failed is the error returned when a step fails.
type Failed struct {
	Step string
	Err  error
}

func (f *Failed) Error() string { return fmt.Sprintf("%s: %v", f.Step, f.Err) }
func (f *Failed) Unwrap() error { return f.Err }

// Run runs the steps in order and stops at the first failure.
func Run(ctx context.Context, obs Observer, steps ...Step) error {
	if obs == nil {
		obs = Discard{}
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return &Failed{Step: s.Name, Err: err}
		}
		obs.Started(s.Name)
		start := time.Now()
		err := s.Run(ctx)
		obs.Finished(s.Name, err, time.Since(start))
		if err != nil {
			return &Failed{Step: s.Name, Err: err}
		}
	}
	return nil
}

// Discard is an Observer that ignores everything.
type Discard struct{}

// Started implements Observer.
func (Discard) Started(string) {}

// Finished implements Observer.
func (Discard) Finished(string, error, time.Duration) {}

// Note implements Observer.
func (Discard) Note(string, string) {}

// Tee is an Observer that tells each of its observers, in order: a
// terminal renderer and the operations journal, say.
type Tee []Observer

// Started implements Observer.
func (t Tee) Started(s string) {
	for _, o := range t {
		o.Started(s)
	}
}

// Finished implements Observer.
func (t Tee) Finished(s string, err error, d time.Duration) {
	for _, o := range t {
		o.Finished(s, err, d)
	}
}

// Note implements Observer.
func (t Tee) Note(s, msg string) {
	for _, o := range t {
		o.Note(s, msg)
	}
}
