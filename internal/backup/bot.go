package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/swarm"
)

// Snapshot tags written by the backup service. TagCoopCloud is the tag
// backup-bot-two puts on its snapshots too; retention only touches snapshots
// carrying it.
const (
	TagCoopCloud = "coop-cloud"
	TagSafety    = "safety"
	tagApp       = "app:"
	tagService   = "service:"
)

// DefaultStateDir holds the latest manifest of each app inside the backup
// service's container; the manifest is backed up with the app's volumes.
const DefaultStateDir = "/var/lib/backupbot"

// Errors callers branch on.
var (
	ErrBackupsDisabled = errors.New("backups are not enabled")
	ErrNoSnapshot      = errors.New("no snapshot")
	ErrEmptyDump       = errors.New("empty or shrunken dump")
	ErrHookFailed      = errors.New("hook failed")
	ErrNotRunning      = errors.New("no running container")
	ErrVerifyFailed    = errors.New("verification failed")
)

// Bot is the backup service's core. Fields left zero get the defaults named.
type Bot struct {
	Cluster  swarm.Cluster
	Restic   *Restic
	Reporter Reporter  // default Discard
	Notifier *Notifier // nil: no push notifications

	VolumeRoot string // DefaultVolumeRoot
	StateDir   string // DefaultStateDir
	ScratchDir string // where verify restores; os.TempDir()
	// MinSizeRatio: a dump written by a pre-hook smaller than this share of the
	// same file in the previous snapshot fails the backup (default 0.5; negative disables).
	MinSizeRatio float64
	// ContainerWait bounds the wait for a running container to run a hook in (default 30s).
	ContainerWait time.Duration
	StopTimeout   time.Duration // services scaled to 0 stop within (default 2m)
	StartTimeout  time.Duration // services scaled back run (and are healthy) within (default 5m)
	// VerifyReadData is passed to restic check: "" structure only, "all", or a subset like "10%".
	VerifyReadData string
	// Nodes runs the work of services whose volumes live on another node of a
	// multi-node swarm (their hooks and volumes) on that node; nil: every
	// service is this node's (a single-node swarm).
	Nodes NodeRunner
	Poll  time.Duration // default 1s
	Now   func() time.Time
}

func (b *Bot) root() string  { return or(b.VolumeRoot, DefaultVolumeRoot) }
func (b *Bot) state() string { return or(b.StateDir, DefaultStateDir) }
func (b *Bot) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}
func (b *Bot) poll() time.Duration { return orDur(b.Poll, time.Second) }

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func (b *Bot) report(e Event) {
	if e.Time.IsZero() {
		e.Time = b.now()
	}
	if b.Reporter != nil {
		b.Reporter.Report(e)
	}
}

func (b *Bot) warn(stepName, service, format string, args ...any) {
	b.report(Event{Event: EventWarning, Step: stepName, Service: service, Message: fmt.Sprintf(format, args...)})
}

// observer turns step starts and notes into events.
type observer struct{ b *Bot }

func (o observer) Started(s string) { o.b.report(Event{Event: EventStep, Step: s, Message: s}) }
func (o observer) Finished(s string, err error, d time.Duration) {
	if err == nil {
		o.b.report(Event{Event: EventProgress, Step: s, Message: fmt.Sprintf("%s: done in %s", s, d.Round(time.Millisecond))})
	}
}
func (o observer) Note(s, m string) { o.b.report(Event{Event: EventProgress, Step: s, Message: m}) }

// ManifestPath is where the app's manifest lives in the container and in its snapshots.
func (b *Bot) ManifestPath(stack string) string { return path.Join(b.state(), stack, "manifest.json") }

// allServices asks services for every service of the app, backups enabled or not.
const allServices = "\x00all"

// services reads the app's services with backups enabled, or the named one.
func (b *Bot) services(ctx context.Context, stack, only string) ([]Service, error) {
	svcs, err := b.Cluster.Services(ctx, stack)
	if err != nil {
		return nil, fmt.Errorf("list services of %s: %w", stack, err)
	}
	if len(svcs) == 0 {
		return nil, hint.With(fmt.Errorf("stack %s has no services on this server", stack),
			"deploy the app first; --app takes the stack name (the domain with dots replaced by '_')")
	}
	all, err := ParseStack(stack, b.root(), svcs)
	if err != nil {
		return nil, err
	}
	if only == allServices {
		return all, nil
	}
	var names []string
	var out []Service
	for _, s := range all {
		names = append(names, s.Name)
		if only != "" && s.Name != only {
			continue
		}
		if s.Enabled {
			out = append(out, s)
		}
	}
	if only != "" && !slices.Contains(names, only) {
		return nil, fmt.Errorf("stack %s has no service %q (services: %s)", stack, only, strings.Join(names, ", "))
	}
	if len(out) == 0 {
		what := "no service of " + stack
		if only != "" {
			what = "service " + only + " of " + stack
		}
		return nil, hint.With(fmt.Errorf("%w: %s has the deploy label %s=true", ErrBackupsDisabled, what, LabelBackup),
			"add the deploy label "+LabelBackup+"=true to the services to back up in the recipe, and redeploy")
	}
	return out, nil
}

// runningContainer waits (up to ContainerWait) for a running container of the service.
func (b *Bot) runningContainer(ctx context.Context, stack string, s Service) (string, error) {
	deadline := b.now().Add(orDur(b.ContainerWait, 30*time.Second))
	for {
		cs, err := b.Cluster.Containers(ctx, stack)
		if err != nil {
			return "", fmt.Errorf("list containers of %s: %w", stack, err)
		}
		for _, c := range cs {
			if c.Labels[ServiceNameLabel] == s.SwarmName && c.State == "running" {
				return c.ID, nil
			}
		}
		if !b.now().Before(deadline) {
			return "", hint.With(fmt.Errorf("service %s: %w after %s", s.Name, ErrNotRunning, orDur(b.ContainerWait, 30*time.Second)),
				"see why with 'abra app ps <domain>' and 'abra app logs <domain> "+s.Name+"'")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(b.poll()):
		}
	}
}

// running reports whether the service has a running container now.
func (b *Bot) running(ctx context.Context, stack string, s Service) (bool, error) {
	cs, err := b.Cluster.Containers(ctx, stack)
	if err != nil {
		return false, fmt.Errorf("list containers of %s: %w", stack, err)
	}
	return slices.ContainsFunc(cs, func(c swarm.Container) bool {
		return c.Labels[ServiceNameLabel] == s.SwarmName && c.State == "running"
	}), nil
}

// runHookIfRunning runs the hook when the service runs, and otherwise says
// it skipped it: a restore must be able to bring back an app that crashed.
func (b *Bot) runHookIfRunning(ctx context.Context, stepName, stack string, s Service, kind, cmd string) (bool, error) {
	ok, err := b.running(ctx, stack, s)
	if err != nil {
		return false, err
	}
	if !ok {
		b.warn(stepName, s.Name, "no running container: %s skipped", kind)
		return false, nil
	}
	return true, b.runHook(ctx, stepName, stack, s, kind, cmd)
}

// runHook runs a hook with sh -c in the service's running container; a
// non-zero exit is an error carrying the hook's output.
func (b *Bot) runHook(ctx context.Context, stepName, stack string, s Service, kind, cmd string) error {
	id, err := b.runningContainer(ctx, stack, s)
	if err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	b.report(Event{Event: EventHook, Step: stepName, Service: s.Name, Message: fmt.Sprintf("%s: %s", kind, cmd),
		Data: map[string]any{"hook": kind, "command": cmd}})
	var out tail
	code, err := b.Cluster.Exec(ctx, id, swarm.ExecOptions{Cmd: []string{"sh", "-c", cmd}, Stdout: &out, Stderr: &out})
	output := strings.TrimSpace(out.String())
	if err != nil {
		return fmt.Errorf("service %s: %s %q: %w", s.Name, kind, cmd, err)
	}
	if code != 0 {
		msg := fmt.Sprintf("service %s: %s %q exited %d", s.Name, kind, cmd, code)
		if output != "" {
			msg += ": " + output
		}
		return hint.With(fmt.Errorf("%w: %s", ErrHookFailed, msg),
			"run the hook by hand to see what it needs: 'abra app run <domain> "+s.Name+" -- sh -c '<hook>''")
	}
	if output != "" {
		b.report(Event{Event: EventHook, Step: stepName, Service: s.Name, Message: kind + " output: " + output})
	}
	return nil
}

// CreateOptions select what Create backs up.
type CreateOptions struct {
	App     string // stack name
	Service string // "" for every service with backups enabled
	Tags    []string
	// Safety marks a safety snapshot taken before a restore: size checks are
	// skipped (the current data is what it is) and no notification is sent.
	Safety bool
}

// CreateResult is the result of Create.
type CreateResult struct {
	SnapshotID string `json:"snapshot_id"`
	// Snapshots are every snapshot the backup took: one per node holding the
	// app's volumes (SnapshotID is the first).
	Snapshots []string `json:"snapshots,omitempty"`
	Services  []string `json:"services"`
	Paths     []string `json:"paths"`
	Files     int64    `json:"files"`
	Bytes     int64    `json:"bytes"`
	DataAdded int64    `json:"data_added"`
}

// Create backs the app up: pre-hooks, manifest, restic backup, post-hooks.
// It fails when a hook fails, when a service has no running container to run
// its hook in, when a dump is empty or much smaller than in the previous
// snapshot, or when restic could not read every file.
func (b *Bot) Create(ctx context.Context, o CreateOptions) (*CreateResult, error) {
	unlock, err := b.lock(ctx, o.App)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !o.Safety {
		b.notify("start", "backup of "+o.App+" started")
	}
	res, err := b.create(ctx, o)
	if !o.Safety {
		if err != nil {
			b.notify("fail", fmt.Sprintf("backup of %s failed: %v", o.App, err))
		} else {
			b.notify("success", fmt.Sprintf("backup of %s: snapshot %s, %d files, %d bytes", o.App, ShortID(res.SnapshotID), res.Files, res.Bytes))
		}
	}
	return res, err
}

func (b *Bot) notify(kind, msg string) {
	if err := b.Notifier.Notify(kind, msg); err != nil {
		b.warn("notify", "", "%v", err)
	}
}

func (b *Bot) create(ctx context.Context, o CreateOptions) (*CreateResult, error) {
	if b.Nodes != nil {
		svcs, err := b.services(ctx, o.App, o.Service)
		if err != nil {
			return nil, fmt.Errorf("back up %s: %w", o.App, err)
		}
		groups, err := b.placement(ctx, o.App, svcs)
		if err != nil {
			return nil, fmt.Errorf("back up %s: %w", o.App, err)
		}
		if len(groups) > 1 || !groups[0].local {
			return b.createAcross(ctx, o, groups)
		}
	}
	return b.createOn(ctx, o, nil)
}

// createOn backs up the services given (nil: those the labels name) on this
// node: their hooks run in this node's containers, their volumes are read here.
func (b *Bot) createOn(ctx context.Context, o CreateOptions, given []Service) (*CreateResult, error) {
	svcs := given
	var prev *Manifest
	var manifest *Manifest
	var paths []string
	var sum BackupSummary
	preDone := map[string]bool{}
	obs := observer{b}

	runPostHooks := func(ctx context.Context) error {
		var errs []error
		for _, s := range svcs {
			// A post-hook undoes what its pre-hook started, even a failed one;
			// it never runs when its pre-hook was not reached.
			if s.PostHook == "" || (s.PreHook != "" && !preDone[s.Name]) {
				continue
			}
			var err error
			if o.Safety {
				_, err = b.runHookIfRunning(ctx, "post-hooks", o.App, s, "backup post-hook", s.PostHook)
			} else {
				err = b.runHook(ctx, "post-hooks", o.App, s, "backup post-hook", s.PostHook)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}

	err := step.Run(ctx, obs,
		step.Step{Name: "read labels", Run: func(ctx context.Context) error {
			if svcs == nil {
				var err error
				if svcs, err = b.services(ctx, o.App, o.Service); err != nil {
					return err
				}
			}
			for _, s := range svcs {
				for _, p := range s.Paths() {
					if _, err := os.Stat(p); err != nil {
						if o.Safety && errors.Is(err, os.ErrNotExist) {
							b.warn("read labels", s.Name, "%s does not exist yet: nothing of it to save", p)
							continue
						}
						return hint.With(fmt.Errorf("service %s: volume path %s: %w", s.Name, p, err),
							"the backup service must run on the node holding the app's volumes, with "+b.root()+" mounted")
					}
					paths = append(paths, p)
				}
			}
			obs.Note("read labels", fmt.Sprintf("services %s; paths %s", serviceNames(svcs), strings.Join(paths, ", ")))
			// The repository's copy is only worth a restic run (which opens the
			// repository: a key derivation) when a pre-hook's dump is to be compared.
			hooks := slices.ContainsFunc(svcs, func(s Service) bool { return s.PreHook != "" })
			prev = b.previousManifest(ctx, o.App, hooks && !o.Safety)
			return nil
		}},
		step.Step{Name: "pre-hooks", Run: func(ctx context.Context) error {
			for _, s := range svcs {
				if s.PreHook == "" {
					continue
				}
				preDone[s.Name] = true
				if o.Safety {
					// Before a restore the app may be down (that may be why it is
					// restored): its data is saved as it is.
					ran, err := b.runHookIfRunning(ctx, "pre-hooks", o.App, s, "backup pre-hook", s.PreHook)
					preDone[s.Name] = ran
					if err != nil {
						return err
					}
					continue
				}
				before, err := statTree(s.Paths())
				if err != nil {
					return err
				}
				if err := b.runHook(ctx, "pre-hooks", o.App, s, "backup pre-hook", s.PreHook); err != nil {
					return err
				}
				after, err := statTree(s.Paths())
				if err != nil {
					return err
				}
				if err := b.checkDumps(s, before, after, prev); err != nil {
					return err
				}
			}
			return nil
		}},
		step.Step{Name: "manifest", Run: func(ctx context.Context) error {
			var err error
			manifest, err = BuildManifest(o.App, paths, prev, b.now())
			if err != nil {
				return fmt.Errorf("build manifest: %w", err)
			}
			files, bytes := manifest.Totals()
			if bytes == 0 && !o.Safety {
				return hint.With(fmt.Errorf("%w: nothing to back up: %d files, 0 bytes under %s", ErrEmptyDump, files, strings.Join(paths, ", ")),
					"check that the app wrote its data to the volumes (and that pre-hooks write their dumps there)")
			}
			obs.Note("manifest", fmt.Sprintf("%d files, %d bytes", files, bytes))
			return WriteManifestFile(b.ManifestPath(o.App), manifest)
		}},
		step.Step{Name: "restic backup", Run: func(ctx context.Context) error {
			tags := []string{TagCoopCloud, tagApp + o.App}
			for _, s := range svcs {
				tags = append(tags, tagService+s.Name)
			}
			if o.Safety {
				tags = append(tags, TagSafety)
			}
			tags = append(tags, o.Tags...)
			var err error
			sum, err = b.Restic.Backup(ctx, BackupOptions{Host: o.App, Tags: tags, Paths: append(slices.Clone(paths), b.ManifestPath(o.App))})
			if err != nil {
				return err
			}
			obs.Note("restic backup", fmt.Sprintf("snapshot %s: %d new, %d changed, %d unmodified files, %d bytes added",
				ShortID(sum.SnapshotID), sum.FilesNew, sum.FilesChanged, sum.FilesUnmodified, sum.DataAdded))
			return nil
		}},
		step.Step{Name: "post-hooks", Run: runPostHooks},
	)
	if err != nil {
		var failed *step.Failed
		if errors.As(err, &failed) && failed.Step != "post-hooks" {
			// A pre-hook may have put the app in a maintenance mode its post-hook ends.
			if perr := runPostHooks(context.WithoutCancel(ctx)); perr != nil {
				b.warn("post-hooks", "", "%v", perr)
			}
		}
		return nil, fmt.Errorf("back up %s: %w", o.App, err)
	}
	files, bytes := manifest.Totals()
	return &CreateResult{SnapshotID: sum.SnapshotID, Services: serviceNames(svcs), Paths: paths, Files: files, Bytes: bytes, DataAdded: sum.DataAdded}, nil
}

// checkDumps fails when a file the pre-hook wrote is empty, or smaller than
// MinSizeRatio of the same file in the previous snapshot.
func (b *Bot) checkDumps(s Service, before, after map[string]fileStat, prev *Manifest) error {
	ratio := b.MinSizeRatio
	if ratio == 0 {
		ratio = 0.5
	}
	var written []string
	for p, st := range after {
		if old, ok := before[p]; ok && old == st {
			continue
		}
		written = append(written, p)
	}
	sort.Strings(written)
	if len(written) == 0 {
		b.warn("pre-hooks", s.Name, "the pre-hook wrote no file under %s", strings.Join(s.Paths(), ", "))
	}
	for _, p := range written {
		size := after[p].Size
		if size == 0 {
			return hint.With(fmt.Errorf("%w: service %s: the pre-hook %q left an empty dump %s (0 bytes)", ErrEmptyDump, s.Name, s.PreHook, p),
				"run the pre-hook by hand and check its errors (database credentials, disk space); the backup was not taken")
		}
		if prev == nil || ratio < 0 {
			continue
		}
		if old, ok := prev.Lookup(p); ok && float64(size) < ratio*float64(old.Size) {
			return hint.With(fmt.Errorf("%w: service %s: dump %s is %d bytes, less than %.0f%% of the %d bytes in the previous snapshot",
				ErrEmptyDump, s.Name, p, size, ratio*100, old.Size),
				"if the data really shrank, back up with MIN_SIZE_RATIO=-1 once; otherwise check the pre-hook's output")
		}
	}
	return nil
}

// previousManifest is the app's manifest of its last backup: the local copy,
// else (fromRepo) the one in the latest snapshot, else nil.
func (b *Bot) previousManifest(ctx context.Context, stack string, fromRepo bool) *Manifest {
	if f, err := os.Open(b.ManifestPath(stack)); err == nil {
		defer f.Close()
		if m, err := ReadManifest(f); err == nil {
			return m
		}
	}
	if !fromRepo {
		return nil
	}
	snaps, err := b.AppSnapshots(ctx, stack)
	if err != nil || len(snaps) == 0 {
		return nil
	}
	latest := snaps[len(snaps)-1]
	if !slices.Contains(latest.Paths, b.ManifestPath(stack)) {
		return nil
	}
	var buf bytes.Buffer
	if err := b.Restic.Dump(ctx, latest.ID, b.ManifestPath(stack), &buf); err != nil {
		return nil
	}
	m, err := ReadManifest(&buf)
	if err != nil {
		return nil
	}
	return m
}

func serviceNames(svcs []Service) []string {
	out := []string{}
	for _, s := range svcs {
		out = append(out, s.Name)
	}
	return out
}

// Snapshot is a snapshot of an app.
type Snapshot struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
	Time     time.Time `json:"time"`
	App      string    `json:"app"`
	Services []string  `json:"services"`
	Tags     []string  `json:"tags"`
	Paths    []string  `json:"paths"`
}

// HasTag reports whether the snapshot carries the tag.
func (s Snapshot) HasTag(tag string) bool { return slices.Contains(s.Tags, tag) }

// AppSnapshots lists the app's snapshots, oldest first: those this service
// took (host or app tag) and backup-bot-two's, recognised by their volume paths.
func (b *Bot) AppSnapshots(ctx context.Context, stack string) ([]Snapshot, error) {
	all, err := b.Restic.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	prefix := path.Join(b.root(), stack+"_")
	var out []Snapshot
	for _, s := range all {
		mine := s.Hostname == stack || slices.Contains(s.Tags, tagApp+stack)
		for _, p := range s.Paths {
			mine = mine || strings.HasPrefix(p, prefix)
		}
		if !mine {
			continue
		}
		out = append(out, snapshotOf(stack, s))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// AllSnapshots lists the snapshots this service took of every app (by their
// app tag), oldest first: one repository read for a whole server's view.
func (b *Bot) AllSnapshots(ctx context.Context) ([]Snapshot, error) {
	all, err := b.Restic.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	out := []Snapshot{}
	for _, s := range all {
		for _, t := range s.Tags {
			if stack, ok := strings.CutPrefix(t, tagApp); ok {
				out = append(out, snapshotOf(stack, s))
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// FindSnapshot returns the app's snapshot with the given id (full or short),
// or the latest one that is not a safety snapshot when id is "".
func (b *Bot) FindSnapshot(ctx context.Context, stack, id string) (Snapshot, error) {
	snaps, err := b.AppSnapshots(ctx, stack)
	if err != nil {
		return Snapshot{}, err
	}
	if id == "" {
		for i := len(snaps) - 1; i >= 0; i-- {
			if !slices.Contains(snaps[i].Tags, TagSafety) {
				return snaps[i], nil
			}
		}
		return Snapshot{}, hint.With(fmt.Errorf("%w of %s in the repository", ErrNoSnapshot, stack),
			"take one with 'abra app backup create <domain>'")
	}
	for _, s := range snaps {
		if s.ID == id || s.ShortID == id || (len(id) >= 4 && strings.HasPrefix(s.ID, id)) {
			return s, nil
		}
	}
	return Snapshot{}, hint.With(fmt.Errorf("%w %s of %s in the repository", ErrNoSnapshot, id, stack),
		"list the app's snapshots with 'abra app backup ls <domain>'")
}

// VerifyResult is the result of Verify.
type VerifyResult struct {
	SnapshotID string `json:"snapshot_id"`
	Files      int64  `json:"files"`
	Bytes      int64  `json:"bytes"`
	OK         bool   `json:"ok"`
	// Changed lists files the app changed while they were backed up (their
	// restored content is not the one hashed; not an error).
	Changed []string `json:"changed,omitempty"`
}

// Verify proves a snapshot restores: restic check of the repository, then a
// restore into a scratch directory compared file by file (presence, size,
// sha256) with the manifest recorded at backup time.
func (b *Bot) Verify(ctx context.Context, stack, snapshot string) (*VerifyResult, error) {
	var snap Snapshot
	var scratch string
	res := &VerifyResult{}
	obs := observer{b}
	defer func() {
		if scratch != "" {
			_ = os.RemoveAll(scratch)
		}
	}()
	err := step.Run(ctx, obs,
		step.Step{Name: "find snapshot", Run: func(ctx context.Context) error {
			var err error
			snap, err = b.FindSnapshot(ctx, stack, snapshot)
			res.SnapshotID = snap.ID
			return err
		}},
		step.Step{Name: "check repository", Run: func(ctx context.Context) error {
			return b.Restic.Check(ctx, b.VerifyReadData)
		}},
		step.Step{Name: "restore into scratch", Run: func(ctx context.Context) error {
			var err error
			if scratch, err = os.MkdirTemp(b.ScratchDir, "backupbot-verify-"); err != nil {
				return fmt.Errorf("scratch directory: %w", err)
			}
			sum, err := b.Restic.Restore(ctx, snap.ID, "", scratch, false)
			if err != nil {
				return hint.With(err, "the snapshot does not restore: its data in the repository is damaged; run 'restic check --read-data' and take a new backup")
			}
			obs.Note("restore into scratch", fmt.Sprintf("%d files, %d bytes restored", sum.FilesRestored, sum.BytesRestored))
			return nil
		}},
		step.Step{Name: "compare with manifest", Run: func(ctx context.Context) error {
			mp := b.ManifestPath(stack)
			f, err := os.Open(filepath.Join(scratch, mp))
			if err != nil {
				// backup-bot-two's snapshots carry no manifest: count what restored.
				st, err := statTree(existing(scratch, snap.Paths))
				if err != nil {
					return err
				}
				for _, s := range st {
					res.Files++
					res.Bytes += s.Size
				}
				b.warn("compare with manifest", "", "snapshot %s has no manifest (taken by another tool?): restored %d files, %d bytes, not compared with checksums", snap.ShortID, res.Files, res.Bytes)
				if res.Files == 0 {
					return fmt.Errorf("%w: snapshot %s restored no file", ErrVerifyFailed, snap.ShortID)
				}
				return nil
			}
			defer f.Close()
			m, err := ReadManifest(f)
			if err != nil {
				return fmt.Errorf("%w: snapshot %s: %v", ErrVerifyFailed, snap.ShortID, err)
			}
			bad, changed, err := CompareTree(scratch, m)
			if err != nil {
				return err
			}
			res.Files, res.Bytes = m.Totals()
			res.Changed = changed
			if len(changed) > 0 {
				b.warn("compare with manifest", "", "%d files changed while they were backed up (not compared): %s", len(changed), strings.Join(first(changed, 5), ", "))
			}
			if len(bad) > 0 {
				return hint.With(fmt.Errorf("%w: snapshot %s: %d of %d files differ from the manifest: %s", ErrVerifyFailed, snap.ShortID, len(bad), len(m.Files), describeMismatches(bad)),
					"do not rely on this snapshot: take a new backup and check the repository's storage")
			}
			obs.Note("compare with manifest", fmt.Sprintf("%d files, %d bytes match the manifest", res.Files, res.Bytes))
			return nil
		}},
	)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", stack, err)
	}
	res.OK = true
	return res, nil
}

func existing(root string, paths []string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			out = append(out, filepath.Join(root, p))
		}
	}
	return out
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// snapshotOf is restic's snapshot as one of the app's.
func snapshotOf(stack string, s ResticSnapshot) Snapshot {
	snap := Snapshot{ID: s.ID, ShortID: s.ShortID, Time: s.Time, App: stack, Services: []string{}, Tags: s.Tags, Paths: s.Paths}
	if snap.Tags == nil {
		snap.Tags = []string{}
	}
	for _, t := range s.Tags {
		if name, ok := strings.CutPrefix(t, tagService); ok {
			snap.Services = append(snap.Services, name)
		}
	}
	return snap
}
