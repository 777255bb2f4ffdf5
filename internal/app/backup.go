package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

// Labels of the backup system, compatible with backup-bot-two.
const (
	// BackupServiceLabel marks the backup service of a server (a deploy label).
	BackupServiceLabel = "coop-cloud.backupbot.enabled"
	// BackupLabel turns backups of an app's service on (deploy label, "true").
	BackupLabel = "backupbot.backup"
	// BackupBinary is the backup service's program inside its container.
	BackupBinary = "/backupbot"
)

// Errors of the backup commands; callers branch on them with errors.Is.
var (
	// ErrNoBackupService: no service on the server carries BackupServiceLabel=true.
	ErrNoBackupService = errors.New("no backup service on the server")
	// ErrBackupServiceDown: the backup service exists but has no running container here.
	ErrBackupServiceDown = errors.New("backup service is not running")
	// ErrBackupsDisabled: none of the app's services has backupbot.backup=true.
	ErrBackupsDisabled = errors.New("backups are not enabled")
	// ErrNoSnapshot: the repository holds no snapshot of the app (matching the filter).
	ErrNoSnapshot = errors.New("no snapshot")
)

// BackupEvent is one line of the backup service's JSON Lines output.
type BackupEvent struct {
	Time    time.Time       `json:"time"`
	Event   string          `json:"event"` // step, hook, progress, warning, error, result; "log" for a line that is not JSON
	Step    string          `json:"step,omitempty"`
	Service string          `json:"service,omitempty"`
	Message string          `json:"message,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	// Raw is the line as the service wrote it (without the newline).
	Raw []byte `json:"-"`
}

// BackupObserver is told about every event of a backup operation as it
// arrives, from the goroutine running the operation.
type BackupObserver interface {
	BackupEvent(e BackupEvent)
}

// BackupService is the backup service found on a server.
type BackupService struct {
	Name        string // swarm service name, e.g. backups_example_org_app
	Stack       string
	ContainerID string
}

// The backup service's results, decoded from its JSON output: the service's
// own types, so the two ends of the wire cannot drift apart.
type (
	Snapshot      = backup.Snapshot
	BackupResult  = backup.CreateResult
	RestoreResult = backup.RestoreResult
	VerifyResult  = backup.VerifyResult
)

// CreateBackupOptions select what `create` backs up.
type CreateBackupOptions struct {
	Service string   // one service; "" for every service with backups enabled
	Tags    []string // extra snapshot tags
}

// RestoreOptions select what `restore` restores.
type RestoreOptions struct {
	Service  string // one service; "" for all
	Snapshot string // "" for the app's latest
}

// DownloadOptions select what `download` puts in the tar stream.
type DownloadOptions struct {
	Snapshot     string // "" for the app's latest
	Volumes      bool
	Secrets      bool
	IncludePaths []string
}

// Backups drives the backup service of the server an app runs on. It needs no
// Docker client: everything goes through the Cluster's Exec.
type Backups struct {
	Cluster  swarm.Cluster
	Observer BackupObserver // nil: events are dropped
	// Logs receives the service's stderr (restic's own messages); nil drops
	// it. Its end is kept either way, to explain failures.
	Logs io.Writer
}

// FindBackupService finds the backup service on the server (named in hints)
// and a running container of it on the node the cluster talks to.
func FindBackupService(ctx context.Context, c swarm.Cluster, server string) (BackupService, error) {
	all, err := c.Services(ctx, "")
	if err != nil {
		return BackupService{}, fmt.Errorf("find backup service: %w", err)
	}
	var svcs []mobyswarm.Service
	for _, s := range all {
		if s.Spec.Labels[BackupServiceLabel] == "true" {
			svcs = append(svcs, s)
		}
	}
	if len(svcs) == 0 {
		return BackupService{}, hint.With(fmt.Errorf("%w (no service has the deploy label %s=true)", ErrNoBackupService, BackupServiceLabel),
			fmt.Sprintf("deploy the backup-bot recipe on server %s: 'abra app new backup-bot --server %s --domain <backups domain>', "+
				"then 'abra app secret generate <backups domain> --all' and 'abra app deploy <backups domain>'", server, server))
	}
	var names []string
	for _, s := range svcs {
		stack := s.Spec.Labels[swarm.StackLabel]
		containers, err := c.Containers(ctx, stack)
		if err != nil {
			return BackupService{}, fmt.Errorf("find backup service: %w", err)
		}
		for _, ct := range containers {
			if ct.Labels["com.docker.swarm.service.name"] == s.Spec.Name && ct.State == "running" {
				return BackupService{Name: s.Spec.Name, Stack: stack, ContainerID: ct.ID}, nil
			}
		}
		names = append(names, s.Spec.Name)
	}
	return BackupService{}, hint.With(fmt.Errorf("%w: service %s has no running container on this server", ErrBackupServiceDown, strings.Join(names, ", ")),
		"see why with 'docker service ps "+names[0]+"' on the server, or 'abra app ps' of the backup-bot app")
}

// BackupServices lists the app's deployed services that have backups enabled
// (deploy label backupbot.backup=true).
func BackupServices(ctx context.Context, c swarm.Cluster, a *App) ([]string, error) {
	_, enabled, err := backupServices(ctx, c, a)
	return enabled, err
}

// backupServices names the app's deployed services, all and those with backups enabled.
func backupServices(ctx context.Context, c swarm.Cluster, a *App) (names, enabled []string, err error) {
	services, err := Services(ctx, c, a)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range services {
		names = append(names, s.Name)
		if s.Labels[BackupLabel] == "true" {
			enabled = append(enabled, s.Name)
		}
	}
	return names, enabled, nil
}

// checkBackupsEnabled fails unless the app (or the named service) has backups enabled.
func checkBackupsEnabled(ctx context.Context, c swarm.Cluster, a *App, service string) error {
	names, enabled, err := backupServices(ctx, c, a)
	if err != nil {
		return err
	}
	if service != "" && !slices.Contains(names, service) {
		return fmt.Errorf("%s has no service %q (services: %s)", a.Domain, service, strings.Join(names, ", "))
	}
	if len(enabled) == 0 || service != "" && !slices.Contains(enabled, service) {
		what := "no service of " + a.Domain + " has"
		if service != "" {
			what = "service " + service + " of " + a.Domain + " does not have"
		}
		return hint.With(fmt.Errorf("%w: %s the deploy label %s=true", ErrBackupsDisabled, what, BackupLabel),
			"add it under deploy.labels of the service(s) to back up in the recipe's compose file (\"backupbot.backup=true\"), then redeploy")
	}
	return nil
}

// Create backs the app up and returns the new snapshot.
func (b *Backups) Create(ctx context.Context, a *App, o CreateBackupOptions) (BackupResult, error) {
	var res BackupResult
	if err := checkBackupsEnabled(ctx, b.Cluster, a, o.Service); err != nil {
		return res, fmt.Errorf("backup %s: %w", a.Domain, err)
	}
	args := []string{}
	if o.Service != "" {
		args = append(args, "--service", o.Service)
	}
	for _, t := range o.Tags {
		args = append(args, "--tag", t)
	}
	err := b.call(ctx, a, "create", args, &res)
	return res, wrapVerb("backup", a, err)
}

// List returns the app's snapshots, oldest first.
func (b *Backups) List(ctx context.Context, a *App) ([]Snapshot, error) {
	var res struct {
		Snapshots []Snapshot `json:"snapshots"`
	}
	if err := b.call(ctx, a, "ls", nil, &res); err != nil {
		return nil, wrapVerb("list snapshots of", a, err)
	}
	slices.SortStableFunc(res.Snapshots, func(x, y Snapshot) int { return x.Time.Compare(y.Time) })
	if res.Snapshots == nil {
		res.Snapshots = []Snapshot{}
	}
	return res.Snapshots, nil
}

// ListServer returns the snapshots of every app of the server's backup
// service, oldest first, each naming its app's stack: one call for a
// server's view (the dashboard's last backup per app).
func (b *Backups) ListServer(ctx context.Context, server string) ([]Snapshot, error) {
	var res struct {
		Snapshots []Snapshot `json:"snapshots"`
	}
	if err := b.call(ctx, &App{Server: server}, "ls", []string{"--all"}, &res); err != nil {
		return nil, fmt.Errorf("list the snapshots of server %s: %w", server, err)
	}
	slices.SortStableFunc(res.Snapshots, func(x, y Snapshot) int { return x.Time.Compare(y.Time) })
	return res.Snapshots, nil
}

// Latest returns the newest snapshot carrying all the tags (any, when none).
func Latest(snaps []Snapshot, tags ...string) (Snapshot, bool) {
	for i := len(snaps) - 1; i >= 0; i-- {
		ok := true
		for _, t := range tags {
			ok = ok && snaps[i].HasTag(t)
		}
		if ok {
			return snaps[i], true
		}
	}
	return Snapshot{}, false
}

// Restore restores a snapshot of the app (the latest by default). The backup
// service takes a safety snapshot of the current data first.
func (b *Backups) Restore(ctx context.Context, a *App, o RestoreOptions) (RestoreResult, error) {
	var res RestoreResult
	if err := checkBackupsEnabled(ctx, b.Cluster, a, o.Service); err != nil {
		return res, fmt.Errorf("restore %s: %w", a.Domain, err)
	}
	var args []string
	if o.Service != "" {
		args = append(args, "--service", o.Service)
	}
	if o.Snapshot != "" {
		args = append(args, "--snapshot", o.Snapshot)
	}
	err := b.call(ctx, a, "restore", args, &res)
	return res, wrapVerb("restore", a, err)
}

// Verify restores a snapshot (the latest by default) into scratch space on the
// server and checks it against what was recorded at backup time.
func (b *Backups) Verify(ctx context.Context, a *App, snapshot string) (VerifyResult, error) {
	var res VerifyResult
	var args []string
	if snapshot != "" {
		args = append(args, "--snapshot", snapshot)
	}
	err := b.call(ctx, a, "verify", args, &res)
	if err == nil && !res.OK {
		err = fmt.Errorf("snapshot %s did not verify", res.SnapshotID)
	}
	return res, wrapVerb("verify backup of", a, err)
}

// Download writes a tar stream of a snapshot's files to w. The service's
// human-readable progress goes to Logs.
func (b *Backups) Download(ctx context.Context, a *App, o DownloadOptions, w io.Writer) error {
	svc, err := FindBackupService(ctx, b.Cluster, a.Server)
	if err != nil {
		return wrapVerb("download backup of", a, err)
	}
	args := []string{"--app", a.StackName()}
	if o.Snapshot != "" {
		args = append(args, "--snapshot", o.Snapshot)
	}
	if o.Volumes {
		args = append(args, "--volumes")
	}
	if o.Secrets {
		args = append(args, "--secrets")
	}
	for _, p := range o.IncludePaths {
		args = append(args, "--include-path", p)
	}
	tail, stderr := b.stderr()
	code, err := b.Cluster.Exec(ctx, svc.ContainerID, swarm.ExecOptions{Cmd: append([]string{BackupBinary, "download"}, args...), Stdout: w, Stderr: stderr})
	if err == nil && code != 0 {
		err = exitError(svc, code, "", tail.String())
	}
	return wrapVerb("download backup of", a, err)
}

func wrapVerb(verb string, a *App, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", verb, a.Domain, err)
}

// call runs one verb with --json in the backup service's container, streams
// its events to the observer and decodes the result event's data into out.
func (b *Backups) call(ctx context.Context, a *App, verb string, args []string, out any) error {
	svc, err := FindBackupService(ctx, b.Cluster, a.Server)
	if err != nil {
		return err
	}
	cmd := []string{BackupBinary, verb}
	if a.Domain != "" {
		cmd = append(cmd, "--app", a.StackName())
	}
	cmd = append(cmd, args...)
	cmd = append(cmd, "--json")
	var (
		result  *BackupEvent
		failure *BackupEvent
	)
	lines := &lineWriter{line: func(line []byte) {
		e := ParseBackupEvent(line)
		switch e.Event {
		case "result":
			result = &e
		case "error":
			failure = &e
		}
		if b.Observer != nil {
			b.Observer.BackupEvent(e)
		}
	}}
	tail, stderr := b.stderr()
	code, err := b.Cluster.Exec(ctx, svc.ContainerID, swarm.ExecOptions{Cmd: cmd, Stdout: lines, Stderr: stderr})
	lines.Flush()
	if err != nil {
		return fmt.Errorf("run %s in %s: %w", verb, svc.Name, err)
	}
	reason := ""
	if failure != nil {
		reason = failure.Message
		if failure.Service != "" && !strings.Contains(reason, failure.Service) {
			reason = "service " + failure.Service + ": " + reason
		}
	}
	if code != 0 {
		return exitError(svc, code, reason, tail.String())
	}
	if failure != nil {
		return errors.New(reason)
	}
	if result == nil {
		return hint.With(fmt.Errorf("%s in %s exited 0 without a result", verb, svc.Name),
			"the backup service's image may be older than this abra: redeploy the backup-bot app")
	}
	if out != nil && len(result.Data) > 0 {
		if err := json.Unmarshal(result.Data, out); err != nil {
			return fmt.Errorf("%s in %s: read result: %w", verb, svc.Name, err)
		}
	}
	return nil
}

// stderr is where the service's stderr goes: Logs, and a tail kept to
// explain failures.
func (b *Backups) stderr() (*tailWriter, io.Writer) {
	tail := &tailWriter{max: 4096}
	if b.Logs == nil {
		return tail, tail
	}
	return tail, io.MultiWriter(b.Logs, tail)
}

// exitError explains a non-zero exit of the backup service: its error event,
// else the end of its stderr.
func exitError(svc BackupService, code int, reason, stderr string) error {
	if reason == "" {
		reason = lastLine(stderr)
	}
	switch {
	case code == 126 || code == 127:
		return hint.With(fmt.Errorf("service %s has no %s (exit %d): it is not abra's backup service", svc.Name, BackupBinary, code),
			"deploy abra's backup-bot recipe (its image abra-backupbot comes with abra's releases)")
	case reason == "":
		return fmt.Errorf("backup service %s exited with %d", svc.Name, code)
	}
	return fmt.Errorf("%s (exit %d)", reason, code)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// ParseBackupEvent decodes one JSON Lines event. A line that is not a JSON
// object becomes a "log" event carrying the line as its message.
func ParseBackupEvent(line []byte) BackupEvent {
	line = bytes.TrimRight(line, "\r\n")
	var e BackupEvent
	if err := json.Unmarshal(line, &e); err != nil || e.Event == "" {
		e = BackupEvent{Event: "log", Message: string(line)}
	}
	e.Raw = slices.Clone(line)
	return e
}

// lineWriter calls line for every complete line written to it.
type lineWriter struct {
	buf  []byte
	line func([]byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if l := w.buf[:i]; len(bytes.TrimSpace(l)) > 0 {
			w.line(l)
		}
		w.buf = w.buf[i+1:]
	}
}

// Flush hands over a last line without a newline.
func (w *lineWriter) Flush() {
	if len(bytes.TrimSpace(w.buf)) > 0 {
		w.line(w.buf)
	}
	w.buf = nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = w.b[len(w.b)-w.max:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}

// PreUpgradeTags are the tags of the backup an upgrade from a version takes first.
func PreUpgradeTags(from string) []string { return []string{"pre-upgrade", "from:" + from} }

// NeedsPreUpgradeBackup reports whether upgrading the app takes a backup
// first: when one of its services has backups enabled and the server has a
// backup service. Backups enabled without a backup service (most recipes
// enable them by default) is not an error, as in abra: the upgrade goes on
// without one, and warning says so and how to add the service.
func NeedsPreUpgradeBackup(ctx context.Context, c swarm.Cluster, a *App) (take bool, warning error, err error) {
	enabled, err := BackupServices(ctx, c, a)
	if err != nil || len(enabled) == 0 {
		return false, nil, err
	}
	if _, err := FindBackupService(ctx, c, a.Server); err != nil {
		if !errors.Is(err, ErrNoBackupService) {
			return false, nil, err
		}
		return false, hint.With(fmt.Errorf("upgrade %s without a backup: backups are enabled (%s has %s=true), but: %w", a.Domain, strings.Join(enabled, ", "), BackupLabel, err),
			"deploy the backup-bot recipe on this server ('abra app new backup-bot ...') so that upgrades take a verified backup first"), nil
	}
	return true, nil, nil
}

// BackupNotes passes the backup service's events on to BackupObserver (nil:
// none) and its steps, hooks, warnings and errors, not its progress, to Note
// (an operations journal's notes: a front end journals backups this way).
type BackupNotes struct {
	BackupObserver
	Note func(step, msg string)
}

// BackupEvent implements BackupObserver.
func (n BackupNotes) BackupEvent(e BackupEvent) {
	if n.BackupObserver != nil {
		n.BackupObserver.BackupEvent(e)
	}
	switch e.Event {
	case "step", "hook", "warning", "error":
		msg := e.Message
		if e.Service != "" {
			msg = e.Service + ": " + msg
		}
		n.Note(e.Event, msg)
	}
}
