package appcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/update"
	"coopcloud.tech/abra/internal/update/policy"
)

// fleetOptions are upgrade --all's flags.
type fleetOptions struct {
	server    string
	major     bool
	perServer int
	stopAfter int
	json      bool
}

// fleetResult is one app's line of a fleet upgrade.
type fleetResult struct {
	App     string       `json:"app"`
	Server  string       `json:"server"`
	Current string       `json:"current,omitempty"`
	Target  string       `json:"target,omitempty"`
	Result  string       `json:"result"` // up-to-date, held, succeeded, rolled-back, failed, skipped, error, not-deployed
	Gate    *update.Gate `json:"gate,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// runUpgradeAll upgrades every deployed app (of one server with --server) to
// the newest release within its policy class (minor unless --major), held
// versions, quarantine and manual steps respected, one app per server at a
// time, stopping after --stop-after failures.
func runUpgradeAll(ctx context.Context, o *upgradeOptions) error {
	w := o.f.IO.Err
	if o.fleet.server != "" {
		if err := o.f.Store().Servers().Check(o.fleet.server); err != nil {
			return err
		}
	}
	refs, err := o.f.Store().Refs()
	if err != nil {
		return err
	}
	limit := policy.Minor
	if o.fleet.major {
		limit = policy.Major
	}
	type job struct {
		res  *fleetResult
		a    *app.App
		plan update.Plan
		pol  policy.Policy
	}
	var (
		results []*fleetResult
		jobs    []job
		fetched = map[string]*recipe.Repo{}
	)
	for _, ref := range refs {
		if o.fleet.server != "" && ref.Server != o.fleet.server {
			continue
		}
		res := &fleetResult{App: ref.Domain, Server: ref.Server}
		results = append(results, res)
		fail := func(err error) { res.Result, res.Error = "error", err.Error() }
		a, err := o.f.Store().Get(ref.Domain)
		if err != nil {
			fail(err)
			continue
		}
		c, err := o.f.Cluster(ctx, a.Server)
		if err != nil {
			fail(err)
			continue
		}
		st, err := app.DeployedState(ctx, c, a.StackName())
		if err != nil {
			fail(err)
			continue
		}
		if !st.Deployed {
			res.Result = "not-deployed"
			continue
		}
		current := st.Release(a)
		res.Current = current
		if current == "" {
			res.Result, res.Gate = "held", &update.Gate{Code: update.GateChaos, Reason: "chaos deploy without a pinned release"}
			continue
		}
		pol, err := app.PersonPolicy(a)
		if err != nil {
			fail(err)
			continue
		}
		repo, ok := fetched[a.Recipe()]
		if !ok {
			if repo, err = o.f.Store().AppRecipe(a); err != nil {
				fail(err)
				continue
			}
			if !o.f.Offline {
				if err := repo.Fetch(ctx); err != nil {
					fmt.Fprintf(w, "warning: could not fetch new versions of %s: %v\n", a.Recipe(), err)
				}
			}
			fetched[a.Recipe()] = repo
		}
		plan, err := update.PlanFor(ctx, c, repo, a.Domain, a.StackName(), current, st.Chaos, pol, update.Mode{Fleet: true, Cap: limit, Now: time.Now()})
		if err != nil {
			fail(err)
			continue
		}
		switch g, blocked := plan.Blocked(); {
		case len(plan.Candidates) == 0:
			res.Result = "up-to-date"
		case blocked:
			res.Result, res.Gate = "held", &g
			res.Target = plan.Candidates[len(plan.Candidates)-1].Version
		default:
			res.Target = plan.Target.Version
			// Lint, env keys and secrets of the target, before anyone confirms.
			if gates := (&update.Runner{Store: o.f.Store(), Cluster: c}).Preflight(ctx, a, res.Target); len(gates) > 0 {
				res.Result, res.Gate = "held", &gates[0]
				continue
			}
			res.Result = "planned"
			jobs = append(jobs, job{res: res, a: a, plan: plan, pol: pol})
		}
	}
	for _, r := range results {
		if r.Result == "planned" {
			fmt.Fprintf(w, "%s (%s): %s → %s\n", r.App, r.Server, r.Current, r.Target)
		}
	}
	if len(jobs) > 0 && !o.f.NoInput && !o.force && !o.opts.DryRun {
		ok, err := o.f.Confirm(fmt.Sprintf("upgrade these %d apps", len(jobs)), "-f/--force")
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("upgrade cancelled")
		}
	}
	if o.opts.DryRun {
		return printFleet(o, results)
	}
	var mu sync.Mutex
	items := make([]update.FleetItem, len(jobs))
	for i, j := range jobs {
		items[i] = update.FleetItem{Server: j.a.Server, Run: func(ctx context.Context) error {
			c, err := o.f.Cluster(ctx, j.a.Server)
			if err != nil {
				return err
			}
			obs := &prefixSteps{w: w, prefix: j.a.Domain, mu: &mu}
			r := &update.Runner{Store: o.f.Store(), Cluster: c, Observer: obs, Actor: app.Holder(), Trigger: "fleet",
				Server: j.a.Server, NoBackup: o.noBackup, Deploy: o.opts}
			_, err = r.Run(ctx, update.Job{App: j.a, From: j.plan.Current, To: j.plan.Target.Version, Policy: j.pol})
			return err
		}}
	}
	errs := update.RunFleet(ctx, items, update.FleetOptions{PerServer: o.fleet.perServer, StopAfter: o.fleet.stopAfter})
	failed := 0
	for i, err := range errs {
		res := jobs[i].res
		var h *update.Held
		var rb *update.RolledBackError
		switch {
		case err == nil:
			res.Result = "succeeded"
		case errors.Is(err, update.ErrSkipped):
			res.Result = "skipped"
		case errors.As(err, &h):
			res.Result, res.Gate = "held", &h.Gate
		case errors.As(err, &rb):
			res.Result, res.Error = "rolled-back", err.Error()
			failed++
		default:
			res.Result, res.Error = "failed", err.Error()
			failed++
		}
	}
	if err := printFleet(o, results); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d upgrades failed; 'abra app history <domain>' shows each operation", failed, len(jobs))
	}
	return nil
}

func printFleet(o *upgradeOptions, results []*fleetResult) error {
	return printList(o.f, o.fleet.json, results, "", []string{"app", "server", "current", "target", "result", "why"}, func(r *fleetResult) []string {
		why := r.Error
		if r.Gate != nil {
			why = r.Gate.Code + ": " + r.Gate.Reason
		}
		return []string{r.App, r.Server, r.Current, r.Target, r.Result, why}
	})
}

// prefixSteps reports one app's steps of a fleet upgrade, one line each.
type prefixSteps struct {
	w      io.Writer
	prefix string
	mu     *sync.Mutex
}

func (p *prefixSteps) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s: %s\n", p.prefix, s)
}

func (p *prefixSteps) Started(s string) {}
func (p *prefixSteps) Finished(s string, err error, d time.Duration) {
	if err != nil {
		p.line(fmt.Sprintf("✗ %s (%s): %v", s, d.Round(time.Millisecond), err))
		return
	}
	p.line(fmt.Sprintf("✓ %s (%s)", s, d.Round(time.Millisecond)))
}
func (p *prefixSteps) Note(s, msg string) { p.line(s + ": " + strings.ReplaceAll(msg, "\n", " ")) }
