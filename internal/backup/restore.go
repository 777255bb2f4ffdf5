package backup

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/step"
)

// RestoreOptions select what Restore restores.
type RestoreOptions struct {
	App      string
	Service  string // "" for every service with backups enabled
	Snapshot string // "" for the app's latest
}

// RestoreResult is the result of Restore.
type RestoreResult struct {
	SnapshotID       string   `json:"snapshot_id"`
	SafetySnapshotID string   `json:"safety_snapshot_id"`
	Services         []string `json:"services"`
	Paths            []string `json:"paths"`
	// GoBack is the command that puts the data back as it was before this restore.
	GoBack string `json:"go_back"`
}

// Restore puts a snapshot's data back: a safety snapshot of the current data
// first, the restore pre-hooks, the app's services (or the one named) scaled to
// 0 until their containers stopped, the volume paths restored exactly (files the snapshot lacks are
// deleted), the services scaled back until they run (and are healthy), the
// restore post-hooks. On failure after the scale-down the services are scaled
// back all the same; the error names the safety snapshot.
func (b *Bot) Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	unlock, err := b.lock(ctx, o.App)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var svcs, stop []Service
	var snap Snapshot
	var paths []string
	res := &RestoreResult{}
	obs := observer{b}
	replicas := map[string]uint64{} // swarm name → replicas before the restore
	scaledDown := false

	err = step.Run(ctx, obs,
		step.Step{Name: "find snapshot", Run: func(ctx context.Context) error {
			var err error
			if svcs, err = b.services(ctx, o.App, o.Service); err != nil {
				return err
			}
			// The whole app stops (or the service named): a service without
			// backups may still write to the data being restored.
			stop = svcs
			if o.Service == "" {
				if stop, err = b.services(ctx, o.App, allServices); err != nil {
					return err
				}
			}
			if snap, err = b.FindSnapshot(ctx, o.App, o.Snapshot); err != nil {
				return err
			}
			res.SnapshotID, res.Services = snap.ID, serviceNames(svcs)
			for _, s := range svcs {
				for _, v := range s.Volumes {
					for _, p := range snap.Paths {
						if p == v.Paths[0] || isUnder(p, volumeDir(b.root(), v)) {
							paths = append(paths, p)
						}
					}
				}
			}
			slices.Sort(paths)
			paths = slices.Compact(paths)
			if len(paths) == 0 {
				return fmt.Errorf("snapshot %s holds no path of %s (it has %s)", snap.ShortID, strings.Join(serviceNames(svcs), ", "), strings.Join(snap.Paths, ", "))
			}
			res.Paths = paths
			obs.Note("find snapshot", fmt.Sprintf("snapshot %s of %s: %s", snap.ShortID, snap.Time.Format(time.RFC3339), strings.Join(paths, ", ")))
			return nil
		}},
		step.Step{Name: "safety snapshot", Run: func(ctx context.Context) error {
			cr, err := b.create(ctx, CreateOptions{App: o.App, Service: o.Service, Safety: true})
			if err != nil {
				return hint.With(fmt.Errorf("safety snapshot of the current data: %w", err), "nothing was changed; fix the cause and restore again")
			}
			res.SafetySnapshotID = cr.SnapshotID
			res.GoBack = fmt.Sprintf("abra app restore <domain> --snapshot %s", ShortID(cr.SnapshotID))
			if o.Service != "" {
				res.GoBack = fmt.Sprintf("abra app restore <domain> %s --snapshot %s", o.Service, ShortID(cr.SnapshotID))
			}
			obs.Note("safety snapshot", "current data saved as snapshot "+ShortID(cr.SnapshotID))
			return nil
		}},
		step.Step{Name: "restore pre-hooks", Run: func(ctx context.Context) error {
			for _, s := range svcs {
				if s.RestorePreHook != "" {
					if _, err := b.runHookIfRunning(ctx, "restore pre-hooks", o.App, s, "restore pre-hook", s.RestorePreHook); err != nil {
						return err
					}
				}
			}
			return nil
		}},
		step.Step{Name: "stop services", Run: func(ctx context.Context) error {
			scaledDown = true
			if err := b.scale(ctx, o.App, stop, replicas, true); err != nil {
				return err
			}
			return b.waitStopped(ctx, o.App, stop, replicas)
		}},
		step.Step{Name: "restore volumes", Run: func(ctx context.Context) error {
			for _, p := range paths {
				// A volume's root is a directory; a path label may name a file.
				if !isVolumeRoot(b.root(), p) {
					kind, err := b.Restic.NodeType(ctx, snap.ID, p)
					if err != nil {
						return err
					}
					if kind != "dir" {
						if err := b.Restic.RestoreFile(ctx, snap.ID, p); err != nil {
							return err
						}
						obs.Note("restore volumes", p+": restored")
						continue
					}
				}
				if err := os.MkdirAll(p, 0o755); err != nil {
					return fmt.Errorf("restore %s: %w", p, err)
				}
				sum, err := b.Restic.Restore(ctx, snap.ID, p, p, true)
				if err != nil {
					return err
				}
				obs.Note("restore volumes", fmt.Sprintf("%s: %d files restored, %d unchanged, %d deleted", p, sum.FilesRestored, sum.FilesSkipped, sum.FilesDeleted))
			}
			return nil
		}},
		step.Step{Name: "start services", Run: func(ctx context.Context) error {
			scaledDown = false
			if err := b.scale(ctx, o.App, stop, replicas, false); err != nil {
				return err
			}
			return b.waitRunning(ctx, o.App, stop, replicas)
		}},
		step.Step{Name: "restore post-hooks", Run: func(ctx context.Context) error {
			for _, s := range svcs {
				if s.RestorePostHook == "" {
					continue
				}
				if n, ok := replicas[s.SwarmName]; ok && n == 0 {
					// Scaled to 0 before the restore, and left so.
					if _, err := b.runHookIfRunning(ctx, "restore post-hooks", o.App, s, "restore post-hook", s.RestorePostHook); err != nil {
						return err
					}
					continue
				}
				if err := b.runHook(ctx, "restore post-hooks", o.App, s, "restore post-hook", s.RestorePostHook); err != nil {
					return err
				}
			}
			return nil
		}},
	)
	if err != nil {
		if scaledDown {
			bg := context.WithoutCancel(ctx)
			if serr := b.scale(bg, o.App, stop, replicas, false); serr != nil {
				b.warn("start services", "", "scale back: %v", serr)
			}
		}
		err = fmt.Errorf("restore %s: %w", o.App, err)
		if res.SafetySnapshotID != "" {
			err = hint.With(err, fmt.Sprintf("the data as it was before this restore is in safety snapshot %s: %s",
				ShortID(res.SafetySnapshotID), res.GoBack))
		}
		return nil, err
	}
	return res, nil
}

func volumeDir(root string, v Volume) string { return root + "/" + v.Source }

// isVolumeRoot reports whether p is <root>/<volume>/_data.
func isVolumeRoot(root, p string) bool {
	rest, ok := strings.CutPrefix(p, strings.TrimSuffix(root, "/")+"/")
	name, data, _ := strings.Cut(rest, "/")
	return ok && name != "" && data == "_data"
}

func isUnder(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// scale sets the replicated services to 0 (down) or back to the replicas
// recorded when scaling down. Global services cannot be scaled: a warning says so.
func (b *Bot) scale(ctx context.Context, stack string, svcs []Service, replicas map[string]uint64, down bool) error {
	current, err := b.Cluster.Services(ctx, stack)
	if err != nil {
		return fmt.Errorf("list services of %s: %w", stack, err)
	}
	for _, s := range svcs {
		i := slices.IndexFunc(current, func(c mobyswarm.Service) bool { return c.Spec.Name == s.SwarmName })
		if i < 0 {
			return fmt.Errorf("service %s disappeared", s.SwarmName)
		}
		svc := current[i]
		if svc.Spec.Labels[LabelService] == "true" {
			continue // never stop the backup service itself
		}
		if svc.Spec.Mode.Replicated == nil || svc.Spec.Mode.Replicated.Replicas == nil {
			if down {
				b.warn("stop services", s.Name, "not a replicated service: it keeps running while its data is restored")
			}
			continue
		}
		want := uint64(0)
		if down {
			replicas[s.SwarmName] = *svc.Spec.Mode.Replicated.Replicas
		} else {
			n, ok := replicas[s.SwarmName]
			if !ok {
				continue
			}
			want = n
		}
		if *svc.Spec.Mode.Replicated.Replicas == want {
			continue
		}
		spec := svc.Spec
		mode := *spec.Mode.Replicated
		mode.Replicas = &want
		spec.Mode.Replicated = &mode
		if _, err := b.Cluster.UpdateService(ctx, svc, spec, false); err != nil {
			return fmt.Errorf("scale %s to %d: %w", s.Name, want, err)
		}
		b.report(Event{Event: EventProgress, Step: "scale", Service: s.Name, Message: fmt.Sprintf("scaled to %d", want)})
	}
	return nil
}

// waitStopped waits until the containers of the services scaled down stopped.
func (b *Bot) waitStopped(ctx context.Context, stack string, svcs []Service, replicas map[string]uint64) error {
	return b.waitFor(ctx, orDur(b.StopTimeout, 2*time.Minute), "stop", func() (bool, string, error) {
		cs, err := b.Cluster.Containers(ctx, stack)
		if err != nil {
			return false, "", err
		}
		var running []string
		for _, c := range cs {
			for _, s := range svcs {
				_, scaled := replicas[s.SwarmName]
				if scaled && c.Labels[ServiceNameLabel] == s.SwarmName && (c.State == "running" || c.State == "restarting" || c.State == "removing") {
					running = append(running, s.Name)
				}
			}
		}
		return len(running) == 0, "still running: " + strings.Join(running, ", "), nil
	})
}

func (b *Bot) waitRunning(ctx context.Context, stack string, svcs []Service, replicas map[string]uint64) error {
	return b.waitFor(ctx, orDur(b.StartTimeout, 5*time.Minute), "start", func() (bool, string, error) {
		cs, err := b.Cluster.Containers(ctx, stack)
		if err != nil {
			return false, "", err
		}
		var waiting []string
		for _, s := range svcs {
			want, ok := replicas[s.SwarmName]
			if !ok {
				continue
			}
			n := uint64(0)
			for _, c := range cs {
				if c.Labels[ServiceNameLabel] == s.SwarmName && c.State == "running" && (c.Health == "" || c.Health == "healthy") {
					n++
				}
			}
			if n < want {
				waiting = append(waiting, fmt.Sprintf("%s %d/%d", s.Name, n, want))
			}
		}
		return len(waiting) == 0, "not running (and healthy) yet: " + strings.Join(waiting, ", "), nil
	})
}

func (b *Bot) waitFor(ctx context.Context, timeout time.Duration, what string, done func() (bool, string, error)) error {
	deadline := b.now().Add(timeout)
	for {
		ok, state, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if !b.now().Before(deadline) {
			return hint.With(fmt.Errorf("services did not %s within %s: %s", what, timeout, state),
				"see 'abra app ps <domain>' and the services' logs")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(b.poll()):
		}
	}
}
