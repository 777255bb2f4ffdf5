package update

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/update/policy"
)

// Reason codes of the gates that keep an update from running. Each gate
// carries one of these and a sentence for people.
const (
	GateNotOptedIn     = "not-opted-in"    // ENABLE_AUTO_UPDATE is not true
	GateNotifyOnly     = "notify-only"     // AUTO_UPDATE_POLICY=notify
	GateChaos          = "chaos"           // deployed from a work tree
	GatePolicy         = "outside-policy"  // the step is larger than the policy (or the caller) allows
	GateHeld           = "held"            // listed in AUTO_UPDATE_HOLD
	GateQuarantined    = "quarantined"     // failed before on this app
	GateWindow         = "outside-window"  // not inside AUTO_UPDATE_WINDOW now
	GateTooNew         = "too-new"         // younger than AUTO_UPDATE_MIN_AGE
	GateManualStep     = "manual-step"     // its release notes ask for a manual step
	GateLint           = "lint"            // fails a critical lint rule
	GateMissingSecrets = "missing-secrets" // needs secrets the app does not have
	GateMissingEnv     = "missing-env"     // needs env keys the app does not have
	GateLocked         = "locked"          // someone else is changing the app
	GateNoBackup       = "no-backup"       // backups are enabled but cannot be taken
	GateNoRecord       = "no-env-record"   // the server holds no record of the operator's env (deployed by another abra)
	GateBadPolicy      = "bad-policy"      // the policy labels do not parse
	GateFollowsBranch  = "follows-branch"  // a staging app: pushes to AUTO_UPDATE_BRANCH redeploy it, not releases
)

// Gate is a reason an update does not run now.
type Gate struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

func (g Gate) Error() string { return g.Reason }

// Held wraps a gate as an error: the update was not started.
type Held struct{ Gate Gate }

func (h *Held) Error() string { return "held (" + h.Gate.Code + "): " + h.Gate.Reason }

// manualStep matches the marker recipe maintainers put in release notes
// (release/<version>) for a step a person must take: a line starting with
// "Manual step:" (any case, optionally as a list item).
var manualStep = regexp.MustCompile(`(?im)^[ \t]*(?:[-*][ \t]+)?manual step:[ \t]*(.*)$`)

// ManualStep returns the first manual step a release note asks for.
func ManualStep(notes string) (string, bool) {
	m := manualStep.FindStringSubmatch(notes)
	if m == nil {
		return "", false
	}
	return strings.TrimSpace(m[1]), true
}

// Candidate is a release newer than the deployed one.
type Candidate struct {
	Version string         `json:"version"`
	Step    policy.Class   `json:"step"`
	Time    time.Time      `json:"time"`
	Notes   string         `json:"notes,omitempty"`
	Gates   []Gate         `json:"gates,omitempty"`
	Release recipe.Release `json:"-"`
}

// Plan is what an update of one app would do.
type Plan struct {
	App        string      `json:"app"`
	Current    string      `json:"current"`
	Candidates []Candidate `json:"candidates"`
	// Gates are the app's own: not opted in, notify only, chaos, window.
	Gates []Gate `json:"gates,omitempty"`
	// Target is the newest candidate no candidate gate holds, or nil.
	Target *Candidate `json:"target,omitempty"`
}

// Ready reports whether the plan has a target and no app gate.
func (p Plan) Ready() bool { return p.Target != nil && len(p.Gates) == 0 }

// Blocked is the first gate that stops the plan: an app gate, or the gate of
// the newest candidate when no candidate can be installed.
func (p Plan) Blocked() (Gate, bool) {
	if len(p.Gates) > 0 {
		return p.Gates[0], true
	}
	if p.Target == nil && len(p.Candidates) > 0 {
		last := p.Candidates[len(p.Candidates)-1]
		if len(last.Gates) > 0 {
			return last.Gates[0], true
		}
	}
	return Gate{}, false
}

// Input is what a plan is made from.
type Input struct {
	App      string
	Current  string // the deployed release
	Chaos    bool   // deployed from a work tree
	Policy   policy.Policy
	Releases []recipe.Release // ascending, as recipe.Repo.Versions gives them
	// Notes returns a release's notes (release/<version>), "" when it has none.
	Notes func(r recipe.Release) string
	// Quarantined versions of this app.
	Quarantined []string
}

// Mode says who asks, which decides the gates that apply.
type Mode struct {
	// Automatic: the agent or kadabra, no person watching: opt-in, the policy
	// class, the window and the release age apply.
	Automatic bool
	// Fleet: `abra app upgrade --all`: the policy class applies (and notify
	// holds), not the opt-in, window or age: a person runs it now.
	Fleet bool
	// Cap is the largest step the caller allows ("" = no cap): kadabra and
	// `upgrade --all` cap at minor unless --major.
	Cap policy.Class
	// Chaos lets chaos deploys be upgraded to a release (kadabra --chaos).
	Chaos bool
	// Now is the time windows and ages are measured at.
	Now time.Time
}

// MakePlan lists the candidates newer than the deployed release with their
// gates and picks the newest one that may be installed. A candidate whose
// notes ask for a manual step holds it and every newer one: an update never
// skips over a manual step.
func MakePlan(in Input, m Mode) (Plan, error) {
	p := Plan{App: in.App, Current: in.Current}
	cur, err := recipe.ParseVersion(in.Current)
	if err != nil {
		return p, fmt.Errorf("%s: deployed version: %w", in.App, err)
	}
	pol := in.Policy
	if m.Automatic {
		if !pol.Enabled {
			p.Gates = append(p.Gates, Gate{GateNotOptedIn, fmt.Sprintf("%s is not opted in (%s=true in its env file turns automatic updates on)", in.App, policy.KeyEnable)})
		} else if pol.Class == policy.Notify {
			p.Gates = append(p.Gates, Gate{GateNotifyOnly, fmt.Sprintf("%s's policy is notify: updates are reported, never installed", in.App)})
		}
		if !pol.Window.Contains(m.Now) {
			p.Gates = append(p.Gates, Gate{GateWindow, fmt.Sprintf("outside the maintenance window (%s)", pol.Window)})
		}
	}
	if in.Chaos && !m.Chaos {
		p.Gates = append(p.Gates, Gate{GateChaos, fmt.Sprintf("%s was deployed from a recipe work tree (chaos); deploy a release first", in.App)})
	}
	allowed := policy.Major
	why := ""
	if m.Fleet && !m.Automatic && pol.Class == policy.Notify {
		p.Gates = append(p.Gates, Gate{GateNotifyOnly, fmt.Sprintf("%s's policy is notify: updates are reported, never installed", in.App)})
	}
	if (m.Automatic || m.Fleet) && pol.Class != policy.Notify {
		allowed, why = pol.Class, "the app's policy ("+policy.KeyPolicy+") allows "+string(pol.Class)+" updates"
	}
	if m.Cap != "" && !m.Cap.Allows(allowed) && m.Cap != policy.Notify {
		allowed, why = m.Cap, string(m.Cap)+" updates only without --major"
	}
	manual := ""
	for _, r := range in.Releases {
		if r.Version.Compare(cur) <= 0 {
			continue
		}
		c := Candidate{Version: r.Tag, Step: policy.StepClass(cur, r.Version), Time: r.Time, Release: r}
		if in.Notes != nil {
			c.Notes = in.Notes(r)
		}
		gate := func(code, format string, args ...any) {
			c.Gates = append(c.Gates, Gate{code, fmt.Sprintf(format, args...)})
		}
		if !allowed.Allows(c.Step) {
			gate(GatePolicy, "%s → %s is a %s update; %s", in.Current, r.Tag, c.Step, why)
		}
		if slices.Contains(pol.Hold, r.Tag) {
			gate(GateHeld, "%s is held (%s)", r.Tag, policy.KeyHold)
		}
		if slices.Contains(in.Quarantined, r.Tag) {
			gate(GateQuarantined, "%s failed on %s before and is quarantined; clear it with 'abra app quarantine %s --clear %s'", r.Tag, in.App, in.App, r.Tag)
		}
		if m.Automatic && pol.MinAge > 0 && !r.Time.IsZero() && m.Now.Sub(r.Time) < pol.MinAge {
			gate(GateTooNew, "%s was released %s ago; the policy waits %s (%s)", r.Tag, m.Now.Sub(r.Time).Round(time.Minute), pol.MinAge, policy.KeyMinAge)
		}
		if step, ok := ManualStep(c.Notes); ok && manual == "" {
			manual = r.Tag
			gate(GateManualStep, "the release notes of %s ask for a manual step: %s", r.Tag, step)
		} else if manual != "" {
			gate(GateManualStep, "%s comes after %s, whose release notes ask for a manual step", r.Tag, manual)
		}
		p.Candidates = append(p.Candidates, c)
	}
	for i := len(p.Candidates) - 1; i >= 0; i-- {
		if len(p.Candidates[i].Gates) == 0 {
			p.Target = &p.Candidates[i]
			break
		}
	}
	return p, nil
}

// PlanFor plans one deployed app from its recipe clone and the cluster's
// quarantine list: the planning every front end shares.
func PlanFor(ctx context.Context, c swarm.Cluster, repo *recipe.Repo, domain, stack, current string, chaos bool, pol policy.Policy, m Mode) (Plan, error) {
	rels, err := repo.Versions()
	if err != nil {
		return Plan{}, err
	}
	qs, err := Records{Cluster: c}.Quarantined(ctx, stack)
	if err != nil {
		return Plan{}, err
	}
	return MakePlan(Input{App: domain, Current: current, Chaos: chaos, Policy: pol, Releases: rels, Quarantined: Versions(qs),
		Notes: func(r recipe.Release) string {
			b, _ := repo.FileAt(r.Commit, "release/"+r.Tag)
			return string(b)
		}}, m)
}
