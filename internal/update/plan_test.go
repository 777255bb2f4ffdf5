package update

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/update/policy"
)

// planNow is a Wednesday, 03:00 UTC.
var planNow = time.Date(2024, 6, 5, 3, 0, 0, 0, time.UTC)

func release(t *testing.T, v string, age time.Duration) recipe.Release {
	t.Helper()
	pv, err := recipe.ParseVersion(v)
	if err != nil {
		t.Fatal(err)
	}
	r := recipe.Release{Version: pv, Tag: pv.String()}
	if age >= 0 {
		r.Time = planNow.Add(-age)
	}
	return r
}

// planInput is an app on 1.0.0+1 that opted in to major updates, with a
// patch, a minor and a major release out for a month.
func planInput(t *testing.T) Input {
	month := 30 * 24 * time.Hour
	return Input{
		App:     "blog.example.org",
		Current: "1.0.0+1",
		Policy:  policy.Policy{Enabled: true, Class: policy.Major, Verify: policy.DefaultVerify},
		Releases: []recipe.Release{
			release(t, "0.9.0+1", month), release(t, "1.0.0+1", month),
			release(t, "1.0.1+1", month), release(t, "1.1.0+1", month), release(t, "2.0.0+1", month),
		},
	}
}

func mustWindows(t *testing.T, s string) policy.Windows {
	t.Helper()
	w, err := policy.ParseWindows(s)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func gateCodes(gs []Gate) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Code)
	}
	return out
}

func TestMakePlan(t *testing.T) {
	auto := Mode{Automatic: true, Now: planNow}
	person := Mode{Now: planNow}
	tests := []struct {
		name      string
		edit      func(*Input)
		mode      Mode
		appGates  []string
		target    string              // "" for none
		candGates map[string][]string // version → gate codes; unlisted candidates have none
	}{
		{name: "opted in to major", mode: auto, target: "2.0.0+1"},
		{
			name: "not opted in", mode: auto,
			edit:     func(in *Input) { in.Policy.Enabled = false },
			appGates: []string{GateNotOptedIn}, target: "2.0.0+1",
		},
		{
			name: "notify only", mode: auto,
			edit:     func(in *Input) { in.Policy.Class = policy.Notify },
			appGates: []string{GateNotifyOnly}, target: "2.0.0+1",
		},
		{
			name: "not opted in and notify", mode: auto,
			edit:     func(in *Input) { in.Policy.Enabled, in.Policy.Class = false, policy.Notify },
			appGates: []string{GateNotOptedIn}, target: "2.0.0+1",
		},
		{
			name: "outside the window", mode: auto,
			edit:     func(in *Input) { in.Policy.Window = mustWindows(t, "Sat,Sun 10:00-12:00") },
			appGates: []string{GateWindow}, target: "2.0.0+1",
		},
		{
			name: "inside the window", mode: auto,
			edit:   func(in *Input) { in.Policy.Window = mustWindows(t, "Mon-Fri 02:00-05:00") },
			target: "2.0.0+1",
		},
		{
			name: "not opted in and outside the window", mode: auto,
			edit: func(in *Input) {
				in.Policy.Enabled, in.Policy.Window = false, mustWindows(t, "Sat 10:00-12:00")
			},
			appGates: []string{GateNotOptedIn, GateWindow}, target: "2.0.0+1",
		},
		{
			name: "chaos deploy", mode: person,
			edit:     func(in *Input) { in.Chaos = true },
			appGates: []string{GateChaos}, target: "2.0.0+1",
		},
		{
			name: "chaos deploy with chaos mode", mode: Mode{Chaos: true, Now: planNow},
			edit:   func(in *Input) { in.Chaos = true },
			target: "2.0.0+1",
		},
		{
			name: "policy patch blocks minor and major", mode: auto,
			edit:   func(in *Input) { in.Policy.Class = policy.Patch },
			target: "1.0.1+1",
			candGates: map[string][]string{
				"1.1.0+1": {GatePolicy}, "2.0.0+1": {GatePolicy},
			},
		},
		{
			name: "policy minor blocks major", mode: auto,
			edit:      func(in *Input) { in.Policy.Class = policy.Minor },
			target:    "1.1.0+1",
			candGates: map[string][]string{"2.0.0+1": {GatePolicy}},
		},
		{
			name: "cap minor blocks major under a major policy", mode: Mode{Automatic: true, Cap: policy.Minor, Now: planNow},
			target:    "1.1.0+1",
			candGates: map[string][]string{"2.0.0+1": {GatePolicy}},
		},
		{
			name: "cap major keeps a minor policy", mode: Mode{Automatic: true, Cap: policy.Major, Now: planNow},
			edit:      func(in *Input) { in.Policy.Class = policy.Minor },
			target:    "1.1.0+1",
			candGates: map[string][]string{"2.0.0+1": {GatePolicy}},
		},
		{
			name: "fleet applies the policy class, not the opt-in or window", mode: Mode{Fleet: true, Cap: policy.Major, Now: planNow},
			edit: func(in *Input) {
				in.Policy.Enabled, in.Policy.Class, in.Policy.Window = false, policy.Patch, mustWindows(t, "Sat 10:00-12:00")
			},
			target:    "1.0.1+1",
			candGates: map[string][]string{"1.1.0+1": {GatePolicy}, "2.0.0+1": {GatePolicy}},
		},
		{
			name: "fleet holds a notify-only app", mode: Mode{Fleet: true, Now: planNow},
			edit:     func(in *Input) { in.Policy.Class = policy.Notify },
			appGates: []string{GateNotifyOnly}, target: "2.0.0+1",
		},
		{
			name: "cap minor for a person", mode: Mode{Cap: policy.Minor, Now: planNow},
			target:    "1.1.0+1",
			candGates: map[string][]string{"2.0.0+1": {GatePolicy}},
		},
		{
			name: "cap patch for a person", mode: Mode{Cap: policy.Patch, Now: planNow},
			target:    "1.0.1+1",
			candGates: map[string][]string{"1.1.0+1": {GatePolicy}, "2.0.0+1": {GatePolicy}},
		},
		{
			name: "held version skipped", mode: auto,
			edit:      func(in *Input) { in.Policy.Hold = []string{"1.1.0+1"} },
			target:    "2.0.0+1",
			candGates: map[string][]string{"1.1.0+1": {GateHeld}},
		},
		{
			name: "newest held", mode: auto,
			edit:      func(in *Input) { in.Policy.Hold = []string{"2.0.0+1"} },
			target:    "1.1.0+1",
			candGates: map[string][]string{"2.0.0+1": {GateHeld}},
		},
		{
			name: "held applies to a person too", mode: person,
			edit:      func(in *Input) { in.Policy.Hold = []string{"2.0.0+1"} },
			target:    "1.1.0+1",
			candGates: map[string][]string{"2.0.0+1": {GateHeld}},
		},
		{
			name: "quarantined version skipped", mode: auto,
			edit:      func(in *Input) { in.Quarantined = []string{"1.1.0+1"} },
			target:    "2.0.0+1",
			candGates: map[string][]string{"1.1.0+1": {GateQuarantined}},
		},
		{
			name: "too new", mode: auto,
			edit: func(in *Input) {
				in.Policy.MinAge = 72 * time.Hour
				in.Releases[3] = release(t, "1.1.0+1", 72*time.Hour) // exactly old enough
				in.Releases[4] = release(t, "2.0.0+1", 71*time.Hour)
			},
			target:    "1.1.0+1",
			candGates: map[string][]string{"2.0.0+1": {GateTooNew}},
		},
		{
			name: "release without a time is not too new", mode: auto,
			edit: func(in *Input) {
				in.Policy.MinAge = 72 * time.Hour
				in.Releases[4] = release(t, "2.0.0+1", -1)
			},
			target: "2.0.0+1",
		},
		{
			name: "manual step holds itself and newer", mode: auto,
			edit: func(in *Input) {
				in.Notes = func(r recipe.Release) string {
					if r.Tag == "1.1.0+1" {
						return "Fixes.\n\n- Manual step: run 'abra app cmd blog.example.org app migrate'\n"
					}
					return "Fixes."
				}
			},
			target:    "1.0.1+1",
			candGates: map[string][]string{"1.1.0+1": {GateManualStep}, "2.0.0+1": {GateManualStep}},
		},
		{
			name: "manual step in the first candidate holds all", mode: person,
			edit: func(in *Input) {
				in.Notes = func(r recipe.Release) string {
					if r.Tag == "1.0.1+1" {
						return "Manual step: rotate the keys"
					}
					return ""
				}
			},
			candGates: map[string][]string{"1.0.1+1": {GateManualStep}, "1.1.0+1": {GateManualStep}, "2.0.0+1": {GateManualStep}},
		},
		{
			name: "manual step in a release already deployed does not count", mode: auto,
			edit: func(in *Input) {
				in.Notes = func(r recipe.Release) string {
					if r.Tag == "1.0.0+1" {
						return "Manual step: run the migration"
					}
					return ""
				}
			},
			target: "2.0.0+1",
		},
		{
			name: "a person ignores opt-in, window, class and age", mode: person,
			edit: func(in *Input) {
				in.Policy = policy.Policy{Class: policy.Patch, Window: mustWindows(t, "Sat 10:00-12:00"), MinAge: 365 * 24 * time.Hour}
			},
			target: "2.0.0+1",
		},
		{
			name: "gates add up", mode: Mode{Automatic: true, Cap: policy.Minor, Now: planNow},
			edit: func(in *Input) {
				in.Policy.Hold = []string{"2.0.0+1"}
				in.Quarantined = []string{"2.0.0+1"}
				in.Policy.MinAge = 24 * time.Hour
				in.Releases[4] = release(t, "2.0.0+1", time.Hour)
			},
			target:    "1.1.0+1",
			candGates: map[string][]string{"2.0.0+1": {GatePolicy, GateHeld, GateQuarantined, GateTooNew}},
		},
		{
			name: "up to date", mode: auto,
			edit: func(in *Input) { in.Current = "2.0.0+1" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := planInput(t)
			if tt.edit != nil {
				tt.edit(&in)
			}
			p, err := MakePlan(in, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			if p.App != in.App || p.Current != in.Current {
				t.Fatalf("plan is for %s on %s, want %s on %s", p.App, p.Current, in.App, in.Current)
			}
			if got := gateCodes(p.Gates); !slices.Equal(got, tt.appGates) {
				t.Errorf("app gates = %v, want %v", got, tt.appGates)
			}
			var versions []string
			for _, c := range in.Releases {
				cur, _ := recipe.ParseVersion(in.Current)
				if c.Version.Compare(cur) > 0 {
					versions = append(versions, c.Tag)
				}
			}
			var got []string
			for _, c := range p.Candidates {
				got = append(got, c.Version)
				if codes := gateCodes(c.Gates); !slices.Equal(codes, tt.candGates[c.Version]) {
					t.Errorf("gates of %s = %v, want %v (%v)", c.Version, codes, tt.candGates[c.Version], c.Gates)
				}
				for _, g := range c.Gates {
					if g.Reason == "" {
						t.Errorf("gate %s of %s has no reason", g.Code, c.Version)
					}
				}
			}
			if !slices.Equal(got, versions) {
				t.Errorf("candidates = %v, want %v", got, versions)
			}
			switch {
			case tt.target == "" && p.Target != nil:
				t.Errorf("target = %s, want none", p.Target.Version)
			case tt.target != "" && p.Target == nil:
				t.Errorf("no target, want %s", tt.target)
			case tt.target != "" && p.Target.Version != tt.target:
				t.Errorf("target = %s, want %s", p.Target.Version, tt.target)
			}
			if want := tt.target != "" && len(tt.appGates) == 0; p.Ready() != want {
				t.Errorf("Ready = %v, want %v", p.Ready(), want)
			}
		})
	}
}

func TestMakePlanCandidates(t *testing.T) {
	in := planInput(t)
	in.Notes = func(r recipe.Release) string { return "notes of " + r.Tag }
	p, err := MakePlan(in, Mode{Automatic: true, Now: planNow})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		version string
		step    policy.Class
	}{{"1.0.1+1", policy.Patch}, {"1.1.0+1", policy.Minor}, {"2.0.0+1", policy.Major}}
	if len(p.Candidates) != len(want) {
		t.Fatalf("candidates = %+v, want %v", p.Candidates, want)
	}
	for i, w := range want {
		c := p.Candidates[i]
		if c.Version != w.version || c.Step != w.step || c.Notes != "notes of "+w.version ||
			c.Release.Tag != w.version || !c.Time.Equal(in.Releases[i+2].Time) {
			t.Errorf("candidate %d = %+v, want %s, a %s step, its notes and its release", i, c, w.version, w.step)
		}
	}
	if p.Target != &p.Candidates[2] {
		t.Error("Target does not point at the newest candidate")
	}
}

func TestMakePlanGateReasons(t *testing.T) {
	in := planInput(t)
	in.Policy.Class = policy.Minor
	in.Notes = func(r recipe.Release) string {
		if r.Tag == "1.0.1+1" {
			return "Manual step: back up the uploads by hand"
		}
		return ""
	}
	p, err := MakePlan(in, Mode{Automatic: true, Now: planNow})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, c := range p.Candidates {
		for _, g := range c.Gates {
			reasons[c.Version+" "+g.Code] += g.Reason
		}
	}
	for key, want := range map[string]string{
		"1.0.1+1 manual-step":    "back up the uploads by hand",
		"1.1.0+1 manual-step":    "comes after 1.0.1+1",
		"2.0.0+1 outside-policy": "1.0.0+1 → 2.0.0+1 is a major update; the app's policy (AUTO_UPDATE_POLICY) allows minor updates",
	} {
		if !strings.Contains(reasons[key], want) {
			t.Errorf("reason of %s = %q, want it to contain %q", key, reasons[key], want)
		}
	}
	p, err = MakePlan(planInput(t), Mode{Cap: policy.Minor, Now: planNow})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Candidates[2].Gates[0].Reason; !strings.Contains(r, "minor updates only without --major") {
		t.Errorf("capped reason = %q, want it to name --major", r)
	}
}

func TestPlanBlocked(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Input)
		mode Mode
		want string // gate code; "" for not blocked
	}{
		{"ready", nil, Mode{Automatic: true, Now: planNow}, ""},
		{"app gate first", func(in *Input) { in.Policy.Enabled = false; in.Chaos = true }, Mode{Automatic: true, Now: planNow}, GateNotOptedIn},
		{"app gate with a target", func(in *Input) { in.Chaos = true }, Mode{Now: planNow}, GateChaos},
		{"newest candidate held while an older one is the target", func(in *Input) { in.Policy.Hold = []string{"2.0.0+1"} }, Mode{Now: planNow}, ""},
		{"every candidate held: the newest one's gate", func(in *Input) {
			in.Policy.Hold = []string{"1.0.1+1", "1.1.0+1"}
			in.Quarantined = []string{"2.0.0+1"}
		}, Mode{Now: planNow}, GateQuarantined},
		{"manual step holds all", func(in *Input) {
			in.Notes = func(r recipe.Release) string {
				if r.Tag == "1.0.1+1" {
					return "Manual step: x"
				}
				return ""
			}
		}, Mode{Now: planNow}, GateManualStep},
		{"policy holds all", func(in *Input) {
			in.Releases = in.Releases[:2]
			in.Releases = append(in.Releases, release(t, "2.0.0+1", time.Hour))
			in.Policy.Class = policy.Patch
		}, Mode{Automatic: true, Now: planNow}, GatePolicy},
		{"up to date", func(in *Input) { in.Current = "2.0.0+1" }, Mode{Automatic: true, Now: planNow}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := planInput(t)
			if tt.edit != nil {
				tt.edit(&in)
			}
			p, err := MakePlan(in, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			g, blocked := p.Blocked()
			if blocked != (tt.want != "") || g.Code != tt.want {
				t.Fatalf("Blocked = %+v, %v; want %q", g, blocked, tt.want)
			}
			if blocked && g.Reason == "" {
				t.Fatal("the blocking gate has no reason")
			}
		})
	}
}

func TestMakePlanInvalidCurrent(t *testing.T) {
	for _, cur := range []string{"", "latest", "1.0+1", "abc123def"} {
		in := planInput(t)
		in.Current = cur
		_, err := MakePlan(in, Mode{Now: planNow})
		if !errors.Is(err, recipe.ErrInvalidVersion) {
			t.Errorf("MakePlan on %q: err = %v, want ErrInvalidVersion", cur, err)
			continue
		}
		if !strings.Contains(err.Error(), "blog.example.org: deployed version") {
			t.Errorf("MakePlan on %q: %v, want the app and 'deployed version' named", cur, err)
		}
	}
}

func TestManualStep(t *testing.T) {
	tests := []struct {
		name  string
		notes string
		want  string
		ok    bool
	}{
		{"plain", "Manual step: run the migration", "run the migration", true},
		{"list item dash", "Fixes.\n- Manual step: rotate keys\n", "rotate keys", true},
		{"list item star", "* manual step:   copy the uploads  ", "copy the uploads", true},
		{"any case", "MANUAL STEP: x", "x", true},
		{"indented", "  \tManual step: y", "y", true},
		{"first of two", "Manual step: first\nManual step: second", "first", true},
		{"empty step", "Manual step:", "", true},
		{"windows line ends", "Intro\r\nManual step: z\r\n", "z", true},
		{"none", "Bumps the upstream version.", "", false},
		{"not at line start", "There is no manual step: really", "", false},
		{"plural", "Manual steps: none", "", false},
		{"numbered list", "1. Manual step: not a marker", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ManualStep(tt.notes)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("ManualStep(%q) = %q, %v; want %q, %v", tt.notes, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestHeldError(t *testing.T) {
	var err error = &Held{Gate: Gate{Code: GateLocked, Reason: "alice is upgrading"}}
	if got, want := err.Error(), "held (locked): alice is upgrading"; got != want {
		t.Fatalf("Error = %q, want %q", got, want)
	}
	var h *Held
	if !errors.As(err, &h) || h.Gate.Code != GateLocked {
		t.Fatal("a *Held does not unwrap to its gate")
	}
	if (Gate{Code: GateWindow, Reason: "later"}).Error() != "later" {
		t.Fatal("a gate's error is not its reason")
	}
}
