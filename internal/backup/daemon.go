package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"coopcloud.tech/abra/internal/swarm"
)

// Apps lists the stacks with at least one service with backups enabled.
func (b *Bot) Apps(ctx context.Context) ([]string, error) {
	svcs, err := b.Cluster.Services(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	seen := map[string]bool{}
	for _, s := range svcs {
		stack := s.Spec.Labels[swarm.StackLabel]
		if stack != "" && strings.EqualFold(strings.TrimSpace(s.Spec.Labels[LabelBackup]), "true") {
			seen[stack] = true
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

// RunAllResult is the outcome of one scheduled run.
type RunAllResult struct {
	Snapshots map[string]string `json:"snapshots"` // app → snapshot id
	Failed    map[string]string `json:"failed"`    // app → error
}

// RunAll backs up every app with backups enabled, one after another, then
// applies the retention. One app failing does not stop the others; the error
// lists every failure.
func (b *Bot) RunAll(ctx context.Context, keep Retention, verify bool) (*RunAllResult, error) {
	apps, err := b.Apps(ctx)
	if err != nil {
		return nil, err
	}
	res := &RunAllResult{Snapshots: map[string]string{}, Failed: map[string]string{}}
	var errs []error
	for _, app := range apps {
		cr, err := b.Create(ctx, CreateOptions{App: app})
		if err != nil {
			res.Failed[app] = err.Error()
			errs = append(errs, err)
			b.report(Event{Event: EventError, Step: "scheduled backup", Message: err.Error()})
			continue
		}
		res.Snapshots[app] = cr.SnapshotID
		if verify {
			if _, err := b.Verify(ctx, app, cr.SnapshotID); err != nil {
				res.Failed[app] = err.Error()
				errs = append(errs, err)
				b.report(Event{Event: EventError, Step: "scheduled verify", Message: err.Error()})
				b.notify("fail", err.Error())
			}
		}
	}
	if !keep.Empty() && len(apps) > 0 {
		if err := b.Restic.Forget(ctx, keep, TagCoopCloud); err != nil {
			errs = append(errs, err)
			b.report(Event{Event: EventError, Step: "retention", Message: err.Error()})
		}
	}
	return res, errors.Join(errs...)
}

// DaemonOptions configure Daemon.
type DaemonOptions struct {
	Schedule string // cron expression (5 fields, or descriptors like @daily)
	Keep     Retention
	Verify   bool // verify each new snapshot after the scheduled backup
}

// Daemon initialises the repository if it is missing, then backs up every app
// on the schedule until ctx ends. A run in progress when ctx ends is cancelled
// and waited for.
func (b *Bot) Daemon(ctx context.Context, o DaemonOptions) error {
	sched, err := cron.ParseStandard(o.Schedule)
	if err != nil {
		return fmt.Errorf("schedule %q: %w", o.Schedule, err)
	}
	created, err := b.Restic.Init(ctx)
	if err != nil {
		return err
	}
	if created {
		b.report(Event{Event: EventProgress, Step: "init", Message: "created the restic repository"})
	}
	b.report(Event{Event: EventProgress, Step: "daemon", Message: fmt.Sprintf("backing up on schedule %q; next run %s", o.Schedule, sched.Next(b.now()).Format(time.RFC3339))})
	for {
		next := sched.Next(b.now())
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			b.report(Event{Event: EventProgress, Step: "daemon", Message: "stopping"})
			return nil
		case <-t.C:
		}
		res, err := b.RunAll(ctx, o.Keep, o.Verify)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case res == nil:
			b.report(Event{Event: EventError, Step: "daemon", Message: fmt.Sprintf("scheduled run: %v", err)})
		case err != nil:
			b.report(Event{Event: EventWarning, Step: "daemon", Message: fmt.Sprintf("scheduled run: %d apps backed up, %d failed", len(res.Snapshots), len(res.Failed))})
		default:
			b.report(Event{Event: EventProgress, Step: "daemon", Message: fmt.Sprintf("scheduled run: %d apps backed up", len(res.Snapshots))})
		}
	}
}
