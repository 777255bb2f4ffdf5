package dashboard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/journal"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/update"
)

// destructive are the actions whose confirmation needs the app's domain
// typed: they stop the app or put older code or data back.
var destructive = map[string]bool{"deploy": false, "upgrade": false, "rollback": true, "undeploy": true, "backup": false, "restore": true}

// planToken is a plan shown to a session: confirming it runs exactly this
// action on this target, once, before it expires.
type planToken struct {
	session, domain, action string
	target, from            string // the version (or snapshot) planned, and what ran then
	noDomainChecks          bool
	expires                 time.Time
}

// planView is the plan page: what the action will do, and the confirm form.
type planView struct {
	App         string          `json:"app"`
	Server      string          `json:"server"`
	Recipe      string          `json:"recipe"`
	Action      string          `json:"action"`
	From        string          `json:"from,omitempty"`   // the version running
	Target      string          `json:"target,omitempty"` // the version (or snapshot) it will run
	Changes     []stack.Change  `json:"changes"`          // deploy --dry-run's diff
	Notes       []app.Note      `json:"notes,omitempty"`
	Major       bool            `json:"major_change,omitempty"`
	Services    []string        `json:"services,omitempty"` // undeploy: removed; backup: backed up
	BackupFirst bool            `json:"backup_first,omitempty"`
	Warning     string          `json:"warning,omitempty"`
	Lock        *app.LockInfo   `json:"lock,omitempty"` // held: no confirm
	Error       string          `json:"error,omitempty"`
	Hint        string          `json:"hint,omitempty"`
	Token       string          `json:"-"`
	Destructive bool            `json:"destructive"`
	NameError   bool            `json:"-"` // the typed domain was wrong
	Expires     time.Time       `json:"-"`
	Lines       []string        `json:"-"` // Changes as the CLI prints them
	Options     planViewOptions `json:"-"`
}

type planViewOptions struct{ NoDomainChecks bool }

func (s *Server) planTTL() time.Duration { return cmp.Or(s.PlanTTL, 10*time.Minute) }

// plan shows what an action on the app would do; nothing changes.
func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if _, ok := destructive[action]; !ok {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("no action %q (deploy, upgrade, rollback, undeploy, backup, restore)", action))
		return
	}
	a, ok := s.loadApp(w, r)
	if !ok {
		return
	}
	session, _ := s.session(r)
	p := s.makePlan(r.Context(), a, action, r.PostFormValue("no_domain_checks") != "")
	s.showPlan(w, r, http.StatusOK, session, a, p)
}

// showPlan renders the plan with a fresh single-use token when it can be
// confirmed (it could be made and the app is not locked).
func (s *Server) showPlan(w http.ResponseWriter, r *http.Request, code int, session string, a *app.App, p planView) {
	if p.Error == "" && p.Lock == nil {
		tok, err := randomHex(16)
		if err != nil {
			s.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		p.Token, p.Expires = tok, s.now().Add(s.planTTL())
		s.mu.Lock()
		for k, t := range s.plans { // forget expired plans
			if s.now().After(t.expires) {
				delete(s.plans, k)
			}
		}
		s.plans[tok] = planToken{session: session, domain: a.Domain, action: p.Action, target: p.Target, from: p.From,
			noDomainChecks: p.Options.NoDomainChecks, expires: p.Expires}
		s.mu.Unlock()
	}
	if r.URL.Query().Get("format") == "json" {
		writeJSON(w, p)
		return
	}
	s.renderTitled(w, r, code, "plan", s.text(s.language(r), "action."+p.Action)+" "+a.Domain, true, p)
}

// makePlan computes the plan of action on a: the same calls as the CLI's
// dry runs. A plan that cannot be made carries the error and its remedy.
func (s *Server) makePlan(ctx context.Context, a *app.App, action string, noDomainChecks bool) planView {
	p := planView{App: a.Domain, Server: a.Server, Recipe: a.Recipe(), Action: action, Destructive: destructive[action],
		Changes: []stack.Change{}, Options: planViewOptions{NoDomainChecks: noDomainChecks}}
	fail := func(err error) planView {
		p.Error, p.Hint = err.Error(), hint.Of(err)
		return p
	}
	ctx, cancel := context.WithTimeout(ctx, 2*s.timeout())
	defer cancel()
	c, err := s.connect(ctx, a.Server)
	if err != nil {
		return fail(err)
	}
	if l, locked, err := app.ReadLock(ctx, c, a.StackName()); err != nil {
		return fail(err)
	} else if locked {
		p.Lock = &l
	}
	st, err := app.DeployedState(ctx, c, a.StackName())
	if err != nil {
		return fail(err)
	}
	if st.Deployed {
		p.From = cmp.Or(st.Release(a), st.ChaosVersion)
	}
	opts := app.DeployOptions{DryRun: true, NoDomainChecks: noDomainChecks, Offline: s.Offline}
	switch action {
	case "deploy":
		// The same choice as 'abra app deploy <domain>': the pinned
		// version, else the newest; a downgrade is refused here as there.
	case "upgrade", "rollback":
		dir := map[string]app.Direction{"upgrade": app.Up, "rollback": app.Down}[action]
		vc, err := s.Store.PlanVersionChange(ctx, c, a, dir, "")
		if err != nil {
			return fail(err)
		}
		p.From, p.Target, p.Major = vc.Current, vc.Target.Tag, app.MajorChange(vc.Current, vc.Target)
		if src, err := s.Store.CheckoutApp(ctx, a, vc.Target.Tag, false); err == nil {
			p.Notes = app.ReleaseNotes(src.Dir, vc.Candidates, vc.Target, dir)
			src.Close()
		}
		opts.Version, opts.Force = vc.Target.Tag, true
		if dir == app.Up {
			take, warning, err := app.NeedsPreUpgradeBackup(ctx, c, a)
			if err != nil {
				return fail(err)
			}
			p.BackupFirst = take
			if warning != nil {
				p.Warning = warning.Error()
			}
			// as 'abra app upgrade' warns: the release failed here before
			if qs, err := (update.Records{Cluster: c}).Quarantined(ctx, a.StackName()); err == nil {
				for _, q := range qs {
					if q.Version == p.Target {
						p.Warning = strings.TrimPrefix(p.Warning+"; ", "; ") + fmt.Sprintf("%s is quarantined on %s since %s: %s", q.Version, a.Domain, q.Since.Local().Format(time.DateTime), q.Reason)
					}
				}
			}
		}
	case "undeploy":
		if !st.Deployed {
			return fail(hint.With(fmt.Errorf("undeploy %s: %w", a.Domain, app.ErrNotDeployed), "nothing to stop"))
		}
		svcs, err := app.Services(ctx, c, a)
		if err != nil {
			return fail(err)
		}
		for _, sv := range svcs {
			p.Services = append(p.Services, sv.Name)
		}
		return p
	case "backup":
		if _, err := app.FindBackupService(ctx, c, a.Server); err != nil {
			return fail(err)
		}
		if p.Services, err = app.BackupServices(ctx, c, a); err != nil {
			return fail(err)
		}
		return p
	case "restore":
		snaps, err := (&app.Backups{Cluster: c}).List(ctx, a)
		if err != nil {
			return fail(err)
		}
		latest, ok := app.Latest(snaps)
		if !ok {
			return fail(hint.With(fmt.Errorf("restore %s: %w", a.Domain, app.ErrNoSnapshot), "take one with the backup action or 'abra app backup create "+a.Domain+"'"))
		}
		p.Target, p.Services = latest.ID, latest.Services
		return p
	}
	d := &app.Deployer{Store: s.Store, Cluster: c, Resolver: s.Resolver}
	res, err := d.Deploy(ctx, a, opts)
	if err != nil {
		return fail(err)
	}
	if res.Chaos != "" || res.Version == "" {
		return fail(hint.With(fmt.Errorf("deploy %s: the dashboard deploys releases; this would be a chaos deploy", a.Domain), "deploy the work tree with 'abra app deploy "+a.Domain+" --chaos'"))
	}
	p.Target = res.Version
	// A service's environment is part of the diff: no env secret leaves.
	secrets := app.SecretValues(a, nil)
	for _, ch := range res.Plan {
		for i, f := range ch.Fields {
			ch.Fields[i].Old, ch.Fields[i].New = app.Redact(f.Old, secrets), app.Redact(f.New, secrets)
		}
		p.Changes = append(p.Changes, ch)
		p.Lines = append(p.Lines, app.Redact(ch.String(), secrets))
	}
	return p
}

// run confirms a plan: its token must be this session's, for this app and
// action, unused and unexpired; a destructive action needs the domain typed.
// The operation runs in the background; the answer is 303 to its page.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	a, ok := s.loadApp(w, r)
	if !ok {
		return
	}
	if s.Journal == nil {
		s.fail(w, r, http.StatusServiceUnavailable, errors.New("no operations journal: the dashboard cannot follow an operation"))
		return
	}
	session, _ := s.session(r)
	tok := r.PostFormValue("token")
	s.mu.Lock()
	pt, found := s.plans[tok]
	valid := found && pt.session == session && pt.domain == a.Domain && pt.action == action && !s.now().After(pt.expires)
	if found && !valid {
		delete(s.plans, tok) // a token tried where it does not belong is spent
	}
	s.mu.Unlock()
	if !valid {
		s.fail(w, r, http.StatusForbidden, hint.With(fmt.Errorf("%s %s: this confirmation is not valid (used already, expired, or of another plan); nothing was started", action, a.Domain),
			"make the plan again from the app's page"))
		return
	}
	if destructive[action] && strings.TrimSpace(r.PostFormValue("confirm_domain")) != a.Domain {
		s.mu.Lock()
		delete(s.plans, tok)
		s.mu.Unlock()
		p := s.makePlan(r.Context(), a, action, pt.noDomainChecks)
		p.NameError = true
		s.showPlan(w, r, http.StatusUnprocessableEntity, session, a, p)
		return
	}
	s.mu.Lock()
	_, still := s.plans[tok]
	delete(s.plans, tok)
	base := s.base
	s.mu.Unlock()
	if !still { // another request confirmed it meanwhile
		s.fail(w, r, http.StatusForbidden, fmt.Errorf("%s %s: this confirmation was used already; nothing was started", action, a.Domain))
		return
	}
	if err := s.unchanged(r.Context(), a, pt); err != nil {
		s.fail(w, r, http.StatusConflict, err)
		return
	}
	op := s.Journal.Begin(action, a.Domain, a.Server, app.Holder())
	s.ops.Add(1)
	go func() {
		defer s.ops.Done()
		s.runAction(base, op, a, pt)
	}()
	http.Redirect(w, r, "/operations/"+op.ID(), http.StatusSeeOther)
}

// unchanged refuses a confirmation when the app runs another version than
// when it was planned (someone or the update agent changed it since): the
// plan would not be what happens, e.g. a deploy of the planned release would
// downgrade what was installed meanwhile.
func (s *Server) unchanged(ctx context.Context, a *app.App, pt planToken) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	c, err := s.connect(ctx, a.Server)
	if err != nil {
		return err
	}
	st, err := app.DeployedState(ctx, c, a.StackName())
	if err != nil {
		return err
	}
	now := ""
	if st.Deployed {
		now = cmp.Or(st.Release(a), st.ChaosVersion)
	}
	if now != pt.from {
		return hint.With(fmt.Errorf("%s %s: the app changed since the plan (it ran %s, it runs %s now); nothing was started",
			pt.action, a.Domain, cmp.Or(pt.from, "nothing"), cmp.Or(now, "nothing")), "make the plan again from the app's page")
	}
	return nil
}

// runAction runs a confirmed plan with the same core calls as the CLI's
// verb, journalled as the CLI journals it, then checks what the server runs
// and ends the operation with that verified result.
func (s *Server) runAction(ctx context.Context, op *journal.Op, a *app.App, pt planToken) {
	c, err := s.connect(ctx, a.Server)
	var msg string
	if err == nil {
		msg, err = s.act(ctx, c, op, a, pt)
	}
	s.forgetSnapshots(a.Server) // a backup, a restore's safety snapshot, an upgrade's pre-upgrade backup
	outcome, version := s.verify(ctx, c, a, pt.action, err)
	op.EndVerified(err, outcome, version, msg)
}

// act is the action itself; msg is the CLI's closing line of a success.
func (s *Server) act(ctx context.Context, c swarm.Cluster, op *journal.Op, a *app.App, pt planToken) (msg string, err error) {
	opts := app.DeployOptions{Version: pt.target, Force: true, NoDomainChecks: pt.noDomainChecks, Offline: s.Offline}
	backups := &app.Backups{Cluster: c, Observer: app.BackupNotes{Note: op.Note}}
	switch pt.action {
	case "deploy", "rollback":
		d := &app.Deployer{Store: s.Store, Cluster: c, Observer: op, Resolver: s.Resolver}
		res, err := d.Deploy(ctx, a, opts)
		if err != nil {
			return "", err
		}
		if pt.action == "rollback" {
			return fmt.Sprintf("%s: rollback to %s done", a.Domain, pt.target), nil
		}
		return fmt.Sprintf("%s: %s %s deployed and converged", a.Domain, res.Recipe, res.Version), nil
	case "upgrade":
		pol, err := app.PersonPolicy(a)
		if err != nil {
			return "", err
		}
		opts.DryRun, opts.Version = false, ""
		r := &update.Runner{Store: s.Store, Cluster: c, Observer: op, Backup: app.BackupNotes{Note: op.Note}, Actor: app.Holder(), Trigger: "dashboard",
			Server: a.Server, Deploy: opts, LockWait: 10 * time.Minute}
		if _, err := r.Run(ctx, update.Job{App: a, From: pt.from, To: pt.target, Policy: pol}); err != nil {
			return "", err
		}
		if cleared, _ := (update.Records{Cluster: c}).Clear(ctx, a.StackName(), pt.target); len(cleared) > 0 {
			op.Note("upgrade", fmt.Sprintf("%s is no longer quarantined", pt.target))
		}
		return fmt.Sprintf("%s: upgrade to %s done", a.Domain, pt.target), nil
	case "undeploy":
		err := app.Undeploy(ctx, c, a, func(e stack.Event) { op.Note("undeploy", fmt.Sprintf("%s %s %s", e.Action, e.Kind, e.Name)) })
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s undeployed; volumes and secrets were kept", a.Domain), nil
	case "backup":
		res, err := backups.Create(ctx, a, app.CreateBackupOptions{})
		if err != nil {
			return "", err
		}
		op.Note("backup", fmt.Sprintf("snapshot %s: %d files", backup.ShortID(res.SnapshotID), res.Files))
		return fmt.Sprintf("%s: snapshot %s of %s: %d files", a.Domain, backup.ShortID(res.SnapshotID), strings.Join(res.Services, ", "), res.Files), nil
	case "restore":
		res, err := backups.Restore(ctx, a, app.RestoreOptions{Snapshot: pt.target})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: restored %s from snapshot %s", a.Domain, strings.Join(res.Services, ", "), backup.ShortID(res.SnapshotID)), nil
	}
	return "", fmt.Errorf("no action %q", pt.action)
}

// Outcomes of an operation the dashboard ran, as it checked them afterwards.
const (
	outcomeConverged   = "converged"
	outcomeDone        = "done"
	outcomeRolledBack  = "rolled-back"
	outcomeFailed      = "failed"
	outcomeInterrupted = "interrupted"
)

// verify asks the server what runs after the operation: the outcome and the
// version running ("" when not deployed or unknown).
func (s *Server) verify(ctx context.Context, c swarm.Cluster, a *app.App, action string, err error) (outcome, version string) {
	if c != nil {
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout())
		if st, e := app.DeployedState(vctx, c, a.StackName()); e == nil && st.Deployed {
			version = cmp.Or(st.Release(a), st.Version)
		}
		cancel()
	}
	var rolled *update.RolledBackError
	switch {
	case err == nil && slices.Contains([]string{"deploy", "upgrade", "rollback"}, action):
		return outcomeConverged, version
	case err == nil:
		return outcomeDone, version
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return outcomeInterrupted, version
	case errors.As(err, &rolled), errors.Is(err, app.ErrRolledBack):
		return outcomeRolledBack, version
	}
	return outcomeFailed, version
}
