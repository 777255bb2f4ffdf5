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
	SnapshotID string `json:"snapshot_id"`
	// Snapshots are the snapshots restored when the app's volumes live on
	// several nodes (one each); SnapshotID is the first.
	Snapshots        []string `json:"snapshots,omitempty"`
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
	var groups []nodeGroup
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
			if groups, err = b.placement(ctx, o.App, svcs); err != nil {
				return err
			}
			if groups, err = b.restoreSources(ctx, o, groups); err != nil {
				return err
			}
			svcs = nil
			for _, g := range groups {
				svcs = append(svcs, g.svcs...)
				res.Paths = append(res.Paths, g.paths...)
				res.Snapshots = append(res.Snapshots, g.snap.ID)
				obs.Note("find snapshot", fmt.Sprintf("snapshot %s of %s%s: %s", g.snap.ShortID, g.snap.Time.Format(time.RFC3339), g.on(), strings.Join(g.paths, ", ")))
			}
			res.SnapshotID, res.Services = groups[0].snap.ID, serviceNames(svcs)
			if len(res.Snapshots) == 1 {
				res.Snapshots = nil
			}
			return nil
		}},
		step.Step{Name: "safety snapshot", Run: func(ctx context.Context) error {
			cr, err := b.create(ctx, CreateOptions{App: o.App, Service: o.Service, Safety: true})
			if err != nil {
				return hint.With(fmt.Errorf("safety snapshot of the current data: %w", err), "nothing was changed; fix the cause and restore again")
			}
			res.SafetySnapshotID = cr.SnapshotID
			var back []string
			ids := cr.Snapshots
			if len(ids) == 0 {
				ids = []string{cr.SnapshotID}
			}
			for _, id := range ids {
				if o.Service != "" {
					back = append(back, fmt.Sprintf("abra app restore <domain> %s --snapshot %s", o.Service, ShortID(id)))
				} else {
					back = append(back, fmt.Sprintf("abra app restore <domain> --snapshot %s", ShortID(id)))
				}
				obs.Note("safety snapshot", "current data saved as snapshot "+ShortID(id))
			}
			res.GoBack = strings.Join(back, " && ")
			return nil
		}},
		step.Step{Name: "restore pre-hooks", Run: func(ctx context.Context) error {
			for _, g := range groups {
				var hooks []NodeHook
				for _, s := range g.svcs {
					if s.RestorePreHook != "" {
						hooks = append(hooks, NodeHook{Step: "restore pre-hooks", Service: s.Name, Kind: "restore pre-hook", Command: s.RestorePreHook, IfRunning: true})
					}
				}
				if err := b.hooksOn(ctx, o.App, g, hooks); err != nil {
					return err
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
			for _, g := range groups {
				if g.local {
					if err := b.restorePaths(ctx, g.snap.ID, g.paths); err != nil {
						return err
					}
					continue
				}
				spec := NodeSpec{App: o.App, Services: g.svcs, Snapshot: g.snap.ID, Paths: g.paths}
				if _, err := b.Nodes.RunOnNode(ctx, g.node, NodeRestore, spec, b.report); err != nil {
					return err
				}
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
			for _, g := range groups {
				var hooks []NodeHook
				for _, s := range g.svcs {
					if s.RestorePostHook == "" {
						continue
					}
					// Scaled to 0 before the restore, and left so: run it only if something runs.
					n, ok := replicas[s.SwarmName]
					hooks = append(hooks, NodeHook{Step: "restore post-hooks", Service: s.Name, Kind: "restore post-hook", Command: s.RestorePostHook, IfRunning: ok && n == 0})
				}
				if err := b.hooksOn(ctx, o.App, g, hooks); err != nil {
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

// restoreSources chooses each node group's snapshot and the paths of its
// services in it. On one node: the snapshot named, or the app's latest. On
// several: the snapshot named restores the groups whose paths it holds; by
// default each group gets the latest snapshot holding all its services.
func (b *Bot) restoreSources(ctx context.Context, o RestoreOptions, groups []nodeGroup) ([]nodeGroup, error) {
	if len(groups) == 1 || o.Snapshot != "" {
		snap, err := b.FindSnapshot(ctx, o.App, o.Snapshot)
		if err != nil {
			return nil, err
		}
		var out []nodeGroup
		var names []string
		for _, g := range groups {
			names = append(names, serviceNames(g.svcs)...)
			g.snap, g.paths = snap, snapshotPaths(b.root(), snap, g.svcs)
			if len(g.paths) > 0 {
				out = append(out, g)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("snapshot %s holds no path of %s (it has %s)", snap.ShortID, strings.Join(names, ", "), strings.Join(snap.Paths, ", "))
		}
		return out, nil
	}
	snaps, err := b.AppSnapshots(ctx, o.App)
	if err != nil {
		return nil, err
	}
	for i, g := range groups {
		for j := len(snaps) - 1; j >= 0 && groups[i].paths == nil; j-- {
			s := snaps[j]
			lacks := slices.ContainsFunc(g.svcs, func(sv Service) bool { return !s.HasTag(tagService + sv.Name) })
			if s.HasTag(TagSafety) || lacks {
				continue
			}
			if p := snapshotPaths(b.root(), s, g.svcs); len(p) > 0 {
				groups[i].snap, groups[i].paths = s, p
			}
		}
		if groups[i].paths == nil {
			return nil, hint.With(fmt.Errorf("%w of %s%s in the repository", ErrNoSnapshot, strings.Join(serviceNames(g.svcs), ", "), g.on()),
				"take one with 'abra app backup create <domain>', or name one with --snapshot")
		}
	}
	return groups, nil
}

// snapshotPaths lists the snapshot's paths that belong to the services' volumes.
func snapshotPaths(root string, snap Snapshot, svcs []Service) []string {
	var paths []string
	for _, s := range svcs {
		for _, v := range s.Volumes {
			for _, p := range snap.Paths {
				if p == v.Paths[0] || isUnder(p, volumeDir(root, v)) {
					paths = append(paths, p)
				}
			}
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths)
}

// restorePaths puts the paths back from the snapshot on this node, exactly:
// files the snapshot lacks are deleted.
func (b *Bot) restorePaths(ctx context.Context, snapshot string, paths []string) error {
	obs := observer{b}
	for _, p := range paths {
		// A volume's root is a directory; a path label may name a file.
		if !isVolumeRoot(b.root(), p) {
			kind, err := b.Restic.NodeType(ctx, snapshot, p)
			if err != nil {
				return err
			}
			if kind != "dir" {
				if err := b.Restic.RestoreFile(ctx, snapshot, p); err != nil {
					return err
				}
				obs.Note("restore volumes", p+": restored")
				continue
			}
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("restore %s: %w", p, err)
		}
		sum, err := b.Restic.Restore(ctx, snapshot, p, p, true)
		if err != nil {
			return err
		}
		obs.Note("restore volumes", fmt.Sprintf("%s: %d files restored, %d unchanged, %d deleted", p, sum.FilesRestored, sum.FilesSkipped, sum.FilesDeleted))
	}
	return nil
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
// waitStopped and waitRunning read the services' tasks, which the manager
// knows on every node (containers are only this node's).
func (b *Bot) waitStopped(ctx context.Context, stack string, svcs []Service, replicas map[string]uint64) error {
	return b.waitFor(ctx, orDur(b.StopTimeout, 2*time.Minute), "stop", func() (bool, string, error) {
		tasks, err := b.Cluster.Tasks(ctx, stack)
		if err != nil {
			return false, "", err
		}
		var running []string
		for _, s := range svcs {
			_, scaled := replicas[s.SwarmName]
			if scaled && slices.ContainsFunc(tasks, func(t mobyswarm.Task) bool { return t.ServiceID == s.ID && !ended(t.Status.State) }) {
				running = append(running, s.Name)
			}
		}
		return len(running) == 0, "still running: " + strings.Join(running, ", "), nil
	})
}

// ended reports whether a task in this state has no container that runs or will.
func ended(st mobyswarm.TaskState) bool {
	switch st {
	case mobyswarm.TaskStateComplete, mobyswarm.TaskStateShutdown, mobyswarm.TaskStateFailed,
		mobyswarm.TaskStateRejected, mobyswarm.TaskStateRemove, mobyswarm.TaskStateOrphaned:
		return true
	}
	return false
}

func (b *Bot) waitRunning(ctx context.Context, stack string, svcs []Service, replicas map[string]uint64) error {
	return b.waitFor(ctx, orDur(b.StartTimeout, 5*time.Minute), "start", func() (bool, string, error) {
		tasks, err := b.Cluster.Tasks(ctx, stack)
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
			for _, t := range tasks {
				// Swarm reports a task with a healthcheck running once it is healthy.
				if t.ServiceID == s.ID && t.DesiredState == mobyswarm.TaskStateRunning && t.Status.State == mobyswarm.TaskStateRunning {
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
