package update

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/cronjob"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/notify"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/update/policy"
)

// Runner runs updates: one pipeline for `abra app upgrade`, the fleet, the
// agent and kadabra. Steps are reported to Observer and every state change
// is saved as the operation's record on the server.
type Runner struct {
	Store    app.Store
	Cluster  swarm.Cluster
	Observer step.Observer
	Backup   app.BackupObserver // progress of backups and restores (nil: none)
	Notifier *notify.Sender     // nil: no events
	Actor    string             // who: user@host pid N, abra-agent@node
	Trigger  string             // cli, fleet, agent, kadabra, webhook
	Server   string
	// RequireBackup turns "backups are enabled but no backup service runs"
	// into a gate (automatic updates) instead of a warning (a person).
	RequireBackup bool
	NoBackup      bool // the operator's --no-backup
	Deploy        app.DeployOptions
	LockWait      time.Duration // 0: do not wait (the lock gate holds the update)
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Job is one app's update.
type Job struct {
	App    *app.App
	From   string
	To     string
	Policy policy.Policy
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) records() Records { return Records{Cluster: r.Cluster} }

func (r *Runner) note(name, format string, args ...any) {
	if r.Observer != nil {
		r.Observer.Note(name, fmt.Sprintf(format, args...))
	}
}

// Event sends an event about a job (best effort; a failure is noted).
func (r *Runner) Event(ctx context.Context, typ string, a *app.App, from, to string, g *Gate, rec *Record, msg string) {
	if r.Notifier == nil {
		return
	}
	e := notify.Event{ID: notify.NewID(), Type: typ, Time: r.now().UTC(), Server: r.Server, App: a.Domain, Stack: a.StackName(),
		Recipe: a.Recipe(), From: from, To: to, Message: msg, Actor: r.Actor}
	if g != nil {
		e.Reason = g.Code
	}
	if rec != nil {
		e.Operation, e.Snapshot = rec.ID, rec.Snapshot
	}
	if err := r.Notifier.Send(ctx, e); err != nil {
		r.note("notify", "warning: %v", err)
	}
}

// Preflight checks the target release before anything changes: it must pass
// lint, and the app must have the env keys and secrets it needs.
func (r *Runner) Preflight(ctx context.Context, a *app.App, to string) []Gate {
	src, err := r.Store.CheckoutApp(ctx, a, to, false)
	if err != nil {
		return []Gate{{GateLint, fmt.Sprintf("%s: %v", to, err)}}
	}
	defer src.Close()
	var gates []Gate
	if _, err := app.LintRelease(ctx, r.Store, a, src); err != nil {
		gates = append(gates, Gate{GateLint, err.Error()})
	}
	env, err := app.Env(a, src.Dir)
	if err != nil {
		return append(gates, Gate{GateLint, err.Error()})
	}
	var missing []string
	for _, f := range stack.ComposeFiles(env["COMPOSE_FILE"]) {
		data, err := guard.ReadFile(src.Dir, f)
		if err != nil {
			gates = append(gates, Gate{GateLint, fmt.Sprintf("%s: %v", f, err)})
			continue
		}
		for _, v := range RequiredVariables(data) {
			if _, ok := env[v]; !ok && !slices.Contains(missing, v) {
				missing = append(missing, v)
			}
		}
	}
	if len(missing) > 0 {
		gates = append(gates, Gate{GateMissingEnv, fmt.Sprintf("%s needs env keys %s has not set: %s; add them with 'abra app config %s' (see the recipe's .env.sample)",
			to, a.Domain, strings.Join(missing, ", "), a.Domain)})
		return gates
	}
	loaded, err := app.LoadCompose(a, src)
	if err != nil {
		return append(gates, Gate{GateLint, err.Error()})
	}
	var ms *stack.MissingSecretsError
	if err := stack.CheckExternalSecrets(ctx, r.Cluster, loaded.Config); errors.As(err, &ms) {
		gates = append(gates, Gate{GateMissingSecrets, fmt.Sprintf("%s needs secrets %s has not: %s; generate them with 'abra app secret generate %s --all'",
			to, a.Domain, strings.Join(ms.Names, ", "), a.Domain)})
	} else if err != nil {
		gates = append(gates, Gate{GateLint, err.Error()})
	}
	return gates
}

// variable matches ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}
// and $NAME; $$ escapes a dollar.
var variable = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// RequiredVariables are the variables a compose file uses without a default.
func RequiredVariables(data []byte) []string {
	var out []string
	for _, m := range variable.FindAllSubmatch(data, -1) {
		name, mod := string(m[1]), string(m[2])
		if name == "" {
			name = string(m[3])
		}
		if name == "" || strings.HasPrefix(mod, "-") || strings.HasPrefix(mod, ":-") || strings.HasPrefix(mod, "+") || strings.HasPrefix(mod, ":+") {
			continue
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// Run updates one app: record → lock → verified backup → deploy → verify →
// commit, or roll back (previous version, then the pre-update snapshot) and
// quarantine the release. A *Held error means nothing was changed.
func (r *Runner) Run(ctx context.Context, j Job) (Record, error) {
	a := j.App
	rec := Record{ID: NewID(r.now()), App: a.Domain, Stack: a.StackName(), Server: r.Server, Recipe: a.Recipe(),
		From: j.From, To: j.To, Actor: r.Actor, Trigger: r.Trigger, State: Planned}
	rec.Holder = r.Actor + " op " + rec.ID
	held := func(g Gate) (Record, error) {
		rec.State, rec.Error = Abandoned, g.Code+": "+g.Reason
		_ = r.records().Save(ctx, &rec)
		r.Event(ctx, notify.Held, a, j.From, j.To, &g, &rec, g.Reason)
		return rec, &Held{Gate: g}
	}
	if err := r.records().Save(ctx, &rec); err != nil {
		return rec, err
	}
	unlock, err := app.Lock(ctx, r.Cluster, a.StackName(), rec.Holder, r.LockWait, func(holder string, since time.Time) {
		r.note("lock app", "waiting: %s has been working on %s since %s", holder, a.Domain, since.Local().Format(time.TimeOnly))
	})
	if errors.Is(err, app.ErrLocked) {
		return held(Gate{GateLocked, err.Error()})
	}
	if err != nil {
		return r.abandon(ctx, &rec, "lock app", err)
	}
	defer unlock()
	return r.runLocked(ctx, j, &rec, held)
}

func (r *Runner) runLocked(ctx context.Context, j Job, rec *Record, held func(Gate) (Record, error)) (Record, error) {
	a := j.App
	if !r.NoBackup {
		take, warning, err := app.NeedsPreUpgradeBackup(ctx, r.Cluster, a)
		if err != nil {
			return r.abandon(ctx, rec, "back up", err)
		}
		if warning != nil && r.RequireBackup {
			return held(Gate{GateNoBackup, warning.Error()})
		}
		if warning != nil {
			r.note("back up", "warning: %v", warning)
		}
		if take {
			rec.State, rec.Step = BackingUp, "back up"
			if err := r.records().Save(ctx, rec); err != nil {
				return *rec, err
			}
			if err := r.backup(ctx, a, j.From, rec); err != nil {
				if r.RequireBackup {
					return held(Gate{GateNoBackup, err.Error()})
				}
				return r.abandon(ctx, rec, "back up", hint.With(fmt.Errorf("upgrade %s stopped before any change: %w", a.Domain, err),
					"fix the backup (try 'abra app backup create "+a.Domain+"'), or pass --no-backup to upgrade without one"))
			}
		}
	}
	rec.State, rec.Step = Deploying, "deploy"
	if err := r.records().Save(ctx, rec); err != nil {
		return *rec, err
	}
	err := r.deploy(ctx, a, j.To)
	if app.ChangedNothing(err) {
		// Nothing reached the server: no rollback, no restore, no quarantine.
		var failed *step.Failed
		errors.As(err, &failed)
		return r.abandon(ctx, rec, failed.Step, err)
	}
	if err == nil {
		rec.State, rec.Step = Verifying, "verify"
		if err = r.records().Save(ctx, rec); err == nil {
			err = r.verify(ctx, a, j.To, j.Policy)
		}
	}
	if err != nil {
		return r.rollback(ctx, j, rec, err)
	}
	rec.State, rec.Step, rec.Error = Succeeded, "", ""
	if err := r.records().Save(ctx, rec); err != nil {
		r.note("verify", "warning: %v", err)
	}
	r.Event(ctx, notify.Succeeded, a, j.From, j.To, nil, rec, fmt.Sprintf("%s runs %s (was %s)", a.Domain, j.To, j.From))
	return *rec, nil
}

// abandon ends an operation that changed nothing.
func (r *Runner) abandon(ctx context.Context, rec *Record, stepName string, err error) (Record, error) {
	rec.State, rec.Step, rec.Error = Abandoned, stepName, err.Error()
	_ = r.records().Save(context.WithoutCancel(ctx), rec)
	return *rec, err
}

// backup takes the pre-update snapshot and verifies it restores.
func (r *Runner) backup(ctx context.Context, a *app.App, from string, rec *Record) error {
	b := &app.Backups{Cluster: r.Cluster, Observer: r.Backup}
	return step.Run(ctx, r.Observer, step.Step{Name: "back up", Run: func(ctx context.Context) error {
		res, err := b.Create(ctx, a, app.CreateBackupOptions{Tags: app.PreUpgradeTags(from)})
		if err != nil {
			return err
		}
		rec.Snapshot = res.SnapshotID
		r.note("back up", "snapshot %s: %d files", backup.ShortID(res.SnapshotID), res.Files)
		return nil
	}}, step.Step{Name: "verify backup", Run: func(ctx context.Context) error {
		// Restored to scratch space and compared with its manifest: an
		// update only goes ahead with a backup known to restore.
		_, err := b.Verify(ctx, a, rec.Snapshot)
		return err
	}})
}

func (r *Runner) deployer() *app.Deployer {
	return &app.Deployer{Store: r.Store, Cluster: r.Cluster, Observer: r.Observer, Locked: true, Actor: r.Actor}
}

// deploy deploys version: a release, or a commit of the recipe's clone (a
// staging app that follows a branch).
func (r *Runner) deploy(ctx context.Context, a *app.App, version string) error {
	o := r.Deploy
	o.Version, o.Force, o.Upgrade, o.DryRun, o.Chaos, o.Commit = version, true, true, false, false, ""
	if recipe.IsCommitID(version) {
		o.Version, o.Commit = "", version
	}
	_, err := r.deployer().Deploy(ctx, a, o)
	return err
}

// Runs reports whether the deployed state is version: a release by its
// version label, a commit by the chaos-version label (its first digits; a
// dirty work tree's "+U" is not that commit).
func Runs(st app.Deployed, version string) bool {
	if recipe.IsCommitID(version) {
		return st.Chaos && len(st.ChaosVersion) >= 7 && recipe.IsCommitID(st.ChaosVersion) && strings.HasPrefix(version, st.ChaosVersion)
	}
	return st.Version == version
}

// verify: converged (the deploy waited), then no task fails or restarts for
// the verify window, then the probe and the check answer.
func (r *Runner) verify(ctx context.Context, a *app.App, to string, p policy.Policy) error {
	window := p.Verify
	if window <= 0 {
		window = policy.DefaultVerify
	}
	steps := []step.Step{{Name: "verify stable", Run: func(ctx context.Context) error {
		r.note("verify stable", "no task may fail or restart for %s", window)
		return WatchStable(ctx, r.Cluster, a.StackName(), window)
	}}}
	if p.Probe != "" {
		steps = append(steps, step.Step{Name: "verify probe", Run: func(ctx context.Context) error {
			return Probe(ctx, strings.ReplaceAll(p.Probe, "${DOMAIN}", a.Domain))
		}})
	}
	if p.Check != "" {
		steps = append(steps, step.Step{Name: "verify check", Run: func(ctx context.Context) error {
			return r.deployer().RunCommands(ctx, a, to, policy.KeyCheck, p.Check)
		}})
	}
	return step.Run(ctx, r.Observer, steps...)
}

// WatchStable fails when, within d, a task of the stack that was running
// stops or a new task is started (a restart or a replacement).
func WatchStable(ctx context.Context, c swarm.Cluster, stackName string, d time.Duration) error {
	start, err := c.Tasks(ctx, stackName)
	if err != nil {
		return err
	}
	jobs, err := cronjob.JobServices(ctx, c, stackName) // a scheduled run is no restart
	if err != nil {
		return err
	}
	running := map[string]bool{}
	for _, t := range start {
		if t.DesiredState == mobyswarm.TaskStateRunning && t.Status.State == mobyswarm.TaskStateRunning {
			running[t.ID] = true
		}
	}
	began := time.Now()
	deadline := began.Add(d)
	for {
		tasks, err := c.Tasks(ctx, stackName)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if jobs[t.ServiceID] {
				continue
			}
			if running[t.ID] && t.Status.State != mobyswarm.TaskStateRunning {
				return fmt.Errorf("task %s.%d stopped (%s) within the verify window: %s", t.ServiceID, t.Slot, t.Status.State, cmp.Or(t.Status.Err, t.Status.Message))
			}
			if !running[t.ID] && t.CreatedAt.After(began) && t.Status.State != mobyswarm.TaskStateShutdown {
				return fmt.Errorf("a task was restarted within the verify window (%s: %s)", t.Status.State, cmp.Or(t.Status.Err, t.Status.Message))
			}
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(2*time.Second, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// Probe GETs url until it answers 2xx or 3xx (5 tries, 2 s apart).
func Probe(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	var last error
	for i := range 5 {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(2 * time.Second):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("probe %s: %w", url, err)
		}
		res, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if res.StatusCode < 400 {
			return nil
		}
		last = fmt.Errorf("status %s", res.Status)
	}
	return fmt.Errorf("probe %s: %w", url, last)
}

// rollback puts the previous version back, then the pre-update snapshot (data
// and code go back together), and quarantines the release.
func (r *Runner) rollback(ctx context.Context, j Job, rec *Record, cause error) (Record, error) {
	a := j.App
	// The update's own deadline may be what failed: finish the rollback anyway.
	ctx = context.WithoutCancel(ctx)
	rec.State, rec.Error = RollingBack, cause.Error()
	_ = r.records().Save(ctx, rec)
	var problems []string
	st, err := app.DeployedState(ctx, r.Cluster, a.StackName())
	switch {
	case err != nil:
		problems = append(problems, err.Error())
	case !Runs(st, j.From):
		r.note("roll back", "deploying %s again", j.From)
		if err := r.deploy(ctx, a, j.From); err != nil {
			problems = append(problems, "redeploy "+j.From+": "+err.Error())
		}
	}
	if rec.Snapshot != "" && len(problems) == 0 {
		err := step.Run(ctx, r.Observer, step.Step{Name: "restore data", Run: func(ctx context.Context) error {
			b := &app.Backups{Cluster: r.Cluster, Observer: r.Backup}
			_, err := b.Restore(ctx, a, app.RestoreOptions{Snapshot: rec.Snapshot})
			return err
		}})
		if err != nil {
			problems = append(problems, "restore snapshot "+backup.ShortID(rec.Snapshot)+": "+err.Error())
		}
	}
	if err := r.records().Quarantine(ctx, Quarantine{Stack: a.StackName(), Version: j.To, Reason: cause.Error(), Operation: rec.ID}); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) == 0 {
		rec.State = RolledBack
		_ = r.records().Save(ctx, rec)
		msg := fmt.Sprintf("update of %s to %s failed and was rolled back: %v", a.Domain, j.To, cause)
		if rec.Snapshot != "" {
			msg = fmt.Sprintf("update of %s to %s failed; %s and its data (snapshot %s) are back: %v", a.Domain, j.To, j.From, backup.ShortID(rec.Snapshot), cause)
		}
		r.Event(ctx, notify.RolledBack, a, j.From, j.To, nil, rec, msg)
		return *rec, hint.With(&RolledBackError{Version: j.To, Snapshot: rec.Snapshot, Err: cause},
			fmt.Sprintf("see why with 'abra app logs %s'; 'abra app history %s' shows the operation", a.Domain, a.Domain))
	}
	rec.State, rec.Error = Failed, cause.Error()+"; rollback: "+strings.Join(problems, "; ")
	_ = r.records().Save(ctx, rec)
	msg := fmt.Sprintf("update of %s to %s failed and putting %s back failed too: %s", a.Domain, j.To, j.From, strings.Join(problems, "; "))
	r.Event(ctx, notify.Failed, a, j.From, j.To, nil, rec, msg)
	recover := fmt.Sprintf("redeploy with 'abra app deploy %s %s --force'", a.Domain, j.From)
	if rec.Snapshot != "" {
		recover += fmt.Sprintf(", then restore the data with 'abra app restore %s --snapshot %s'", a.Domain, backup.ShortID(rec.Snapshot))
	}
	return *rec, hint.With(fmt.Errorf("%s: %w", strings.Join(problems, "; "), cause), recover)
}

// RolledBackError says an update failed and everything was put back.
type RolledBackError struct {
	Version  string
	Snapshot string
	Err      error
}

func (e *RolledBackError) Error() string {
	data := ""
	if e.Snapshot != "" {
		data = " with its data (snapshot " + backup.ShortID(e.Snapshot) + ")"
	}
	return fmt.Sprintf("%v; the previous version is back%s and %s is quarantined", e.Err, data, e.Version)
}

func (e *RolledBackError) Unwrap() error { return e.Err }

// Resume finishes an operation that was interrupted (its process was killed):
// before the deploy nothing changed and it is abandoned; during the deploy or
// the verification, the version that runs is verified again and kept, or
// rolled back with the data; a rollback is done again.
func (r *Runner) Resume(ctx context.Context, rec Record, j Job) (Record, error) {
	a := j.App
	if _, err := app.BreakLock(ctx, r.Cluster, rec.Stack, rec.Holder); err != nil {
		return rec, err
	}
	rec.Holder = r.Actor + " op " + rec.ID
	unlock, err := app.Lock(ctx, r.Cluster, rec.Stack, rec.Holder, r.LockWait, nil)
	if err != nil {
		return rec, err
	}
	defer unlock()
	r.note("resume", "operation %s (%s → %s) was interrupted while %s", rec.ID, rec.From, rec.To, rec.State)
	switch rec.State {
	case Planned, BackingUp:
		rec.State, rec.Error = Abandoned, "interrupted before the deploy; nothing was changed"
		return rec, r.records().Save(ctx, &rec)
	case RollingBack:
		return r.rollback(ctx, j, &rec, errors.New(cmp.Or(rec.Error, "interrupted")))
	}
	st, err := app.DeployedState(ctx, r.Cluster, a.StackName())
	if err != nil {
		return rec, err
	}
	if !Runs(st, j.To) {
		return r.rollback(ctx, j, &rec, fmt.Errorf("interrupted during the deploy of %s", j.To))
	}
	// The new version's spec is in place: wait for swarm to finish the
	// update the dead process started, then verify it again.
	err = r.deployer().WaitConverged(ctx, a)
	if err == nil {
		rec.State = Verifying
		_ = r.records().Save(ctx, &rec)
		err = r.verify(ctx, a, j.To, j.Policy)
	}
	if err != nil {
		return r.rollback(ctx, j, &rec, err)
	}
	rec.State, rec.Step, rec.Error = Succeeded, "", ""
	if err := r.records().Save(ctx, &rec); err != nil {
		return rec, err
	}
	r.Event(ctx, notify.Succeeded, a, j.From, j.To, nil, &rec, fmt.Sprintf("%s runs %s (was %s; finished after an interruption)", a.Domain, j.To, j.From))
	return rec, nil
}
