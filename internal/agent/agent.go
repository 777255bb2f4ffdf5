// Package agent is the server-side update agent: on a schedule, and through
// its kadabra-compatible commands, it plans and runs updates of the apps on
// its own swarm with the same pipeline as `abra app upgrade` (internal/update).
// It redeploys exactly what the operator deployed: the env record that every
// deploy keeps on the server (app.EnvRecord), never the containers' environment.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/compose/convert"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/atomicfile"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/notify"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/update"
	"coopcloud.tech/abra/internal/update/policy"
)

// Agent plans and runs updates on one swarm.
type Agent struct {
	Cluster  swarm.Cluster
	Dir      string // its own ABRA_DIR: recipe clones and the env files it rebuilds from env records
	Server   string // the server's name as operators call it (messages, events)
	Actor    string // e.g. abra-agent@node1
	Notifier *notify.Sender
	Log      io.Writer
	Now      func() time.Time

	mu    sync.Mutex
	sent  map[string]string // app → the last available/held event sent
	logMu sync.Mutex
}

// Options select what a pass does.
type Options struct {
	Trigger string // agent (schedule), kadabra
	Stack   string // one app's stack ("" = every app)
	Recipe  string // with Stack: kadabra's recipe argument, checked against the app
	// Explicit: an operator named the app (kadabra upgrade <stack> <recipe>): the opt-in gate does not apply.
	Explicit bool
	Major    bool // allow major updates (kadabra --major), within each app's policy
	Chaos    bool // chaos deploys may be upgraded to a release (kadabra --chaos)
	DryRun   bool // plan and report, change nothing (kadabra notify)
}

// Report is one app's outcome in a pass.
type Report struct {
	App     string         `json:"app"`
	Stack   string         `json:"stack"`
	Recipe  string         `json:"recipe"`
	Current string         `json:"current"`
	Target  string         `json:"target,omitempty"`
	Result  string         `json:"result"` // up-to-date, available, held, succeeded, rolled-back, failed, error
	Gate    *update.Gate   `json:"gate,omitempty"`
	Record  *update.Record `json:"record,omitempty"`
	Error   string         `json:"error,omitempty"`
}

func (g *Agent) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Agent) logf(format string, args ...any) { logLine(&g.logMu, g.Log, g.now(), format, args...) }

// logLine writes one timestamped line to w (nil: nowhere), one writer at a
// time: passes, webhook jobs and the HTTP handler log concurrently.
func logLine(mu *sync.Mutex, w io.Writer, now time.Time, format string, args ...any) {
	if w == nil {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(w, "%s %s\n", now.UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

// event sends an available or held event unless the same one was the last
// sent for the app: a schedule every few minutes does not repeat itself.
func (g *Agent) event(ctx context.Context, r *update.Runner, typ string, a *app.App, from, to string, gt *update.Gate, msg string) {
	key := typ + "|" + from + "|" + to
	if gt != nil {
		key += "|" + gt.Code
	}
	g.mu.Lock()
	if g.sent == nil {
		g.sent = map[string]string{}
	}
	same := g.sent[a.Domain] == key
	g.sent[a.Domain] = key
	g.mu.Unlock()
	if !same {
		r.Event(ctx, typ, a, from, to, gt, nil, msg)
	}
}

// deployedApp is an app as the cluster shows it.
type deployedApp struct {
	stack  string
	state  app.Deployed
	labels map[string]string
}

func (g *Agent) deployed(ctx context.Context) ([]deployedApp, error) {
	services, err := g.Cluster.Services(ctx, "")
	if err != nil {
		return nil, err
	}
	byStack := map[string][]mobyswarm.Service{}
	appLabels := map[string]map[string]string{}
	for _, svc := range services {
		st := svc.Spec.Labels[swarm.StackLabel]
		if st == "" {
			continue
		}
		byStack[st] = append(byStack[st], svc)
		if _, ok := svc.Spec.Labels["coop-cloud."+st+".recipe"]; ok && convert.NewNamespace(st).Descope(svc.Spec.Name) == "app" {
			appLabels[st] = svc.Spec.Labels
		}
	}
	stacks := slices.Sorted(maps.Keys(appLabels))
	out := make([]deployedApp, 0, len(stacks))
	for _, st := range stacks {
		out = append(out, deployedApp{stack: st, state: app.StateOf(st, byStack[st]), labels: appLabels[st]})
	}
	return out, nil
}

// Pass plans every selected app and, unless DryRun, runs the ready updates
// one app at a time.
func (g *Agent) Pass(ctx context.Context, o Options) ([]Report, error) {
	apps, err := g.deployed(ctx)
	if err != nil {
		return nil, fmt.Errorf("list apps on %s: %w", g.Server, err)
	}
	var reports []Report
	found := false
	fetched := map[string]bool{} // a recipe several apps follow is fetched once per pass
	for _, d := range apps {
		if o.Stack != "" && d.stack != o.Stack {
			continue
		}
		found = true
		rep := g.one(ctx, d, o, fetched)
		g.logf("%s %s: %s%s", rep.App, rep.Current, rep.Result, detail(rep))
		reports = append(reports, rep)
	}
	if o.Stack != "" && !found {
		return reports, fmt.Errorf("no deployed app with stack %s on %s", o.Stack, g.Server)
	}
	return reports, nil
}

func detail(r Report) string {
	switch {
	case r.Gate != nil:
		return fmt.Sprintf(" → %s (%s: %s)", r.Target, r.Gate.Code, r.Gate.Reason)
	case r.Error != "":
		return " → " + r.Target + ": " + r.Error
	case r.Target != "":
		return " → " + r.Target
	}
	return ""
}

func (g *Agent) one(ctx context.Context, d deployedApp, o Options, fetched map[string]bool) Report {
	rep := Report{Stack: d.stack, App: d.stack, Recipe: d.state.Recipe, Current: d.state.Version}
	fail := func(err error) Report { rep.Result, rep.Error = "error", err.Error(); return rep }
	hold := func(gt update.Gate, target string) Report {
		rep.Result, rep.Gate, rep.Target = "held", &gt, target
		return rep
	}
	if o.Recipe != "" && o.Recipe != d.state.Recipe {
		return fail(fmt.Errorf("%s runs recipe %s, not %s", d.stack, d.state.Recipe, o.Recipe))
	}
	pol, err := policy.FromLabels(d.stack, d.labels)
	if err != nil {
		return hold(update.Gate{Code: update.GateBadPolicy, Reason: err.Error()}, "")
	}
	rec, ok, err := app.LoadEnvRecord(ctx, g.Cluster, d.stack)
	if err != nil {
		return fail(err)
	}
	if ok {
		rep.App = rec.Domain
	}
	if pol.Branch != "" {
		return hold(update.Gate{Code: update.GateFollowsBranch, Reason: rep.App + " follows branch " + pol.Branch + " (" + policy.KeyBranch + "): pushes to it redeploy it, releases do not"}, "")
	}
	if !pol.Enabled && !o.Explicit && !o.DryRun {
		return hold(update.Gate{Code: update.GateNotOptedIn, Reason: rep.App + " is not opted in (" + policy.KeyEnable + "=true in its env file turns automatic updates on)"}, "")
	}
	if !ok {
		return hold(update.Gate{Code: update.GateNoRecord, Reason: d.stack + " was deployed by an abra that keeps no env record on the server; deploy it once with this abra"}, "")
	}
	a, repo, err := g.materialise(ctx, rec, fetched)
	if err != nil {
		return fail(err)
	}
	current := d.state.Release(a)
	rep.Current = current
	if current == "" {
		return hold(update.Gate{Code: update.GateChaos, Reason: rec.Domain + " runs a chaos deploy without a pinned release"}, "")
	}
	mode := update.Mode{Automatic: true, Cap: policy.Minor, Chaos: o.Chaos, Now: g.now()}
	if o.Major {
		mode.Cap = policy.Major
	}
	if o.Explicit {
		pol.Enabled = true // named by an operator: opted in for this run
		if pol.Class == policy.Notify {
			pol.Class = policy.Major
		}
	}
	plan, err := update.PlanFor(ctx, g.Cluster, repo, rec.Domain, d.stack, current, d.state.Chaos, pol, mode)
	if err != nil {
		return fail(err)
	}
	if len(plan.Candidates) == 0 {
		rep.Result = "up-to-date"
		return rep
	}
	runner := g.runner(o.Trigger, rec.Domain)
	newest := plan.Candidates[len(plan.Candidates)-1].Version
	gt, blocked := plan.Blocked()
	if blocked && gt.Code == update.GateNotifyOnly && plan.Target != nil {
		rep.Result, rep.Target, rep.Gate = "available", plan.Target.Version, &gt
		g.event(ctx, runner, notify.Available, a, current, plan.Target.Version, &gt,
			fmt.Sprintf("%s can be updated from %s to %s; its policy is notify: install it with 'abra app upgrade %s'", rec.Domain, current, plan.Target.Version, rec.Domain))
		return rep
	}
	if blocked && (plan.Target == nil || gt.Code == update.GateNotOptedIn) {
		if gt.Code != update.GateNotOptedIn {
			g.event(ctx, runner, notify.Held, a, current, newest, &gt, gt.Reason)
		}
		return hold(gt, newest)
	}
	target := plan.Target.Version
	rep.Target = target
	if blocked {
		g.event(ctx, runner, notify.Held, a, current, target, &gt, gt.Reason)
		return hold(gt, target)
	}
	if o.DryRun {
		rep.Result = "available"
		g.event(ctx, runner, notify.Available, a, current, target, nil, fmt.Sprintf("%s can be updated from %s to %s", rec.Domain, current, target))
		return rep
	}
	if gates := runner.Preflight(ctx, a, target); len(gates) > 0 {
		g.event(ctx, runner, notify.Held, a, current, target, &gates[0], gates[0].Reason)
		return hold(gates[0], target)
	}
	out, err := runner.Run(ctx, update.Job{App: a, From: current, To: target, Policy: pol})
	rep.Record = &out
	var h *update.Held
	switch {
	case errors.As(err, &h):
		rep.Result, rep.Gate = "held", &h.Gate
	case err != nil:
		rep.Result, rep.Error = string(out.State), err.Error()
	default:
		rep.Result = "succeeded"
	}
	return rep
}

// materialise writes the env file of an env record into the agent's own
// ABRA_DIR and brings its recipe clone up to date, unless fetched says it
// already is (fetched records the recipes fetched). The record comes from the
// cluster, so its names pass the same checks as an operator's input.
func (g *Agent) materialise(ctx context.Context, rec app.EnvRecord, fetched map[string]bool) (*app.App, *recipe.Repo, error) {
	for _, check := range []error{guard.Domain(rec.Domain), guard.ServerName(rec.Server), guard.RecipeName(rec.Recipe)} {
		if check != nil {
			return nil, nil, fmt.Errorf("env record: %w", check)
		}
	}
	store := app.Store{Root: g.Dir}
	dir := filepath.Join(g.Dir, "servers", rec.Server)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, rec.Domain+".env"), []byte(rec.Env), 0o600); err != nil {
		return nil, nil, err
	}
	a, err := store.Get(rec.Domain)
	if err != nil {
		return nil, nil, err
	}
	repo, err := store.OpenRecipe(rec.Recipe)
	if err == nil {
		if !fetched[rec.Recipe] {
			if ferr := repo.Fetch(ctx); ferr != nil {
				g.logf("%s: warning: %v (planning with the releases already fetched)", rec.Domain, ferr)
			}
			fetched[rec.Recipe] = true
		}
		return a, repo, nil
	}
	if rec.Remote == "" {
		return nil, nil, fmt.Errorf("%s: the env record names no recipe remote to fetch %s from", rec.Domain, rec.Recipe)
	}
	repo, err = store.CloneRecipe(ctx, rec.Recipe, rec.Remote)
	if err != nil {
		return nil, nil, err
	}
	fetched[rec.Recipe] = true
	return a, repo, nil
}

// runner is the update pipeline as the agent runs it: no person watching, so
// a backup is required and the lock is not waited for.
func (g *Agent) runner(trigger, domain string) *update.Runner {
	return &update.Runner{Store: app.Store{Root: g.Dir}, Cluster: g.Cluster, Observer: &logObserver{g: g, app: domain},
		Notifier: g.Notifier, Actor: g.Actor, Trigger: trigger, Server: g.Server, RequireBackup: true,
		Deploy: app.DeployOptions{NoDomainChecks: true}}
}

// logObserver writes the pipeline's steps to the agent's log.
type logObserver struct {
	g   *Agent
	app string
}

func (o *logObserver) Started(s string) {}
func (o *logObserver) Finished(s string, err error, d time.Duration) {
	if err != nil {
		o.g.logf("%s: %s failed after %s: %v", o.app, s, d.Round(time.Second), err)
		return
	}
	o.g.logf("%s: %s done (%s)", o.app, s, d.Round(time.Millisecond))
}
func (o *logObserver) Note(s, msg string) {
	o.g.logf("%s: %s: %s", o.app, s, strings.ReplaceAll(msg, "\n", " "))
}

var _ step.Observer = (*logObserver)(nil)

// Resume finishes the agent's interrupted operations (see update.Runner.Resume).
func (g *Agent) Resume(ctx context.Context) ([]Report, error) {
	recs, err := update.Records{Cluster: g.Cluster}.Unfinished(ctx)
	if err != nil {
		return nil, err
	}
	apps, err := g.deployed(ctx)
	if err != nil {
		return nil, err
	}
	var reports []Report
	for _, rec := range recs {
		if rec.Trigger != "agent" && rec.Trigger != "kadabra" && rec.Trigger != "webhook" {
			continue // a person's abra was interrupted: 'abra app history' shows it
		}
		rep := Report{App: rec.App, Stack: rec.Stack, Recipe: rec.Recipe, Current: rec.From, Target: rec.To}
		env, ok, err := app.LoadEnvRecord(ctx, g.Cluster, rec.Stack)
		if err == nil && !ok {
			err = fmt.Errorf("no env record for %s", rec.Stack)
		}
		var a *app.App
		if err == nil {
			a, _, err = g.materialise(ctx, env, map[string]bool{})
		}
		if err != nil {
			rep.Result, rep.Error = "error", err.Error()
			reports = append(reports, rep)
			continue
		}
		pol := policy.Policy{Verify: policy.DefaultVerify}
		if i := slices.IndexFunc(apps, func(d deployedApp) bool { return d.stack == rec.Stack }); i >= 0 {
			if p, perr := policy.FromLabels(rec.Stack, apps[i].labels); perr == nil {
				pol = p
			}
		}
		out, err := g.runner(rec.Trigger, rec.App).Resume(ctx, rec, update.Job{App: a, From: rec.From, To: rec.To, Policy: pol})
		rep.Record, rep.Result = &out, string(out.State)
		if err != nil {
			rep.Error = err.Error()
		}
		g.logf("%s: resumed operation %s: %s %s", rec.App, rec.ID, out.State, rep.Error)
		reports = append(reports, rep)
	}
	return reports, nil
}
