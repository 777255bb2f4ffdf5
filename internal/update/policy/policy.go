// Package policy is an app's automatic-update policy: env keys in its env
// file, checked at deploy and mirrored to labels the update agent reads.
package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"coopcloud.tech/abra/internal/recipe"
)

// Env keys of an app's update policy. ENABLE_AUTO_UPDATE is abra's key (and
// its coop-cloud.<stack>.autoupdate label); the others are this abra's.
const (
	KeyEnable = "ENABLE_AUTO_UPDATE"
	KeyPolicy = "AUTO_UPDATE_POLICY"  // patch, minor (default), major, notify
	KeyWindow = "AUTO_UPDATE_WINDOW"  // e.g. "Mon-Fri 02:00-05:00 Europe/Berlin"; empty: any time
	KeyMinAge = "AUTO_UPDATE_MIN_AGE" // e.g. "3d", "36h"; a release younger than this waits
	KeyHold   = "AUTO_UPDATE_HOLD"    // versions never installed automatically, comma separated
	KeyVerify = "AUTO_UPDATE_VERIFY"  // how long the new version must run without a task failing (default 30s)
	KeyProbe  = "AUTO_UPDATE_PROBE"   // an http(s) URL that must answer 2xx/3xx after the update
	KeyCheck  = "AUTO_UPDATE_CHECK"   // "<service> <abra.sh function>" that must exit 0 after the update
	// KeyBranch makes a staging app: every push to this branch of its
	// recipe's repository, received by the agent's webhook, redeploys it at
	// the pushed commit (and tag pushes leave it alone).
	KeyBranch = "AUTO_UPDATE_BRANCH"
)

// PolicyKeys are the env keys mirrored to labels, in label order.
var PolicyKeys = []string{KeyEnable, KeyPolicy, KeyWindow, KeyMinAge, KeyHold, KeyVerify, KeyProbe, KeyCheck, KeyBranch}

// labelSuffix names each key's label: coop-cloud.<stack>.autoupdate[.<suffix>].
var labelSuffix = map[string]string{
	KeyEnable: "autoupdate", KeyPolicy: "autoupdate.policy", KeyWindow: "autoupdate.window",
	KeyMinAge: "autoupdate.min-age", KeyHold: "autoupdate.hold", KeyVerify: "autoupdate.verify",
	KeyProbe: "autoupdate.probe", KeyCheck: "autoupdate.check", KeyBranch: "autoupdate.branch",
}

// Class is how far an app may move on its own: the largest step of the
// recipe's own semver (x.y.z of x.y.z+upstream) allowed.
type Class string

// Classes of policy, smallest first. Notify installs nothing: it only reports.
const (
	Notify Class = "notify"
	Patch  Class = "patch"
	Minor  Class = "minor"
	Major  Class = "major"
)

func (c Class) rank() int { return slices.Index([]Class{Notify, Patch, Minor, Major}, c) }

// Allows reports whether a change of class step is within c.
func (c Class) Allows(step Class) bool { return c != Notify && step.rank() <= c.rank() }

// DefaultVerify is how long a new version must run without a failed or
// restarted task before an update counts as done.
const DefaultVerify = 30 * time.Second

// Policy is an app's update policy.
type Policy struct {
	Enabled bool
	Class   Class
	Window  Windows
	MinAge  time.Duration
	Hold    []string
	Verify  time.Duration
	Probe   string
	Check   string // "<service> <function> [args]"
	Branch  string // a staging app follows this branch of its recipe ("" for releases)
	raw     map[string]string
}

// PolicyError names the key, the value and what would be right.
type PolicyError struct {
	Where string // "<env file>:<line>" or "label <name>"
	Key   string
	Value string
	Want  string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("%s: %s=%q: %s", e.Where, e.Key, e.Value, e.Want)
}

// Parse reads the policy from lookup (an env file's Get, or labels).
// where names a key's place for errors. Unknown values are errors.
func Parse(lookup func(key string) (string, bool), where func(key string) string) (Policy, error) {
	p := Policy{Class: Minor, Verify: DefaultVerify, raw: map[string]string{}}
	for _, key := range PolicyKeys {
		v, ok := lookup(key)
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		p.raw[key] = v
		bad := func(want string) error { return &PolicyError{Where: where(key), Key: key, Value: v, Want: want} }
		if v == "" {
			continue
		}
		switch key {
		case KeyEnable:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return p, bad("want true or false")
			}
			p.Enabled = b
		case KeyPolicy:
			c := Class(strings.ToLower(v))
			if c.rank() < 0 {
				return p, bad("want patch, minor, major or notify")
			}
			p.Class = c
		case KeyWindow:
			w, err := ParseWindows(v)
			if err != nil {
				return p, bad(err.Error())
			}
			p.Window = w
		case KeyMinAge:
			d, err := parseAge(v)
			if err != nil {
				return p, bad("want a duration such as 3d, 36h or 90m")
			}
			p.MinAge = d
		case KeyHold:
			for h := range strings.SplitSeq(v, ",") {
				h = strings.TrimSpace(h)
				if h == "" {
					continue
				}
				if _, err := recipe.ParseVersion(h); err != nil {
					return p, bad(fmt.Sprintf("%q is not a recipe version (want e.g. 1.3.0+2.4.1)", h))
				}
				p.Hold = append(p.Hold, h)
			}
		case KeyVerify:
			d, err := parseAge(v)
			if err != nil || d <= 0 {
				return p, bad("want a positive duration such as 30s or 2m")
			}
			p.Verify = d
		case KeyProbe:
			if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
				return p, bad("want an http:// or https:// URL")
			}
			p.Probe = v
		case KeyCheck:
			if len(strings.Fields(v)) < 2 {
				return p, bad("want <service> <abra.sh function> [args]")
			}
			p.Check = v
		case KeyBranch:
			if strings.HasPrefix(v, "-") || plumbing.NewBranchReferenceName(v).Validate() != nil {
				return p, bad("want a branch name such as main")
			}
			p.Branch = v
		}
	}
	return p, nil
}

// parseAge accepts Go durations plus whole days ("3d").
func parseAge(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("bad days %q", v)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q", v)
	}
	return d, nil
}

// Label is the label a policy key is mirrored to.
func Label(stack, key string) string { return "coop-cloud." + stack + "." + labelSuffix[key] }

// Labels mirrors the policy's keys as they were written in the env file;
// ENABLE_AUTO_UPDATE's label is always set, "true" or "false", as abra does.
func (p Policy) Labels(stack string) map[string]string {
	l := map[string]string{Label(stack, KeyEnable): strconv.FormatBool(p.Enabled)}
	for _, key := range PolicyKeys[1:] {
		if v, ok := p.raw[key]; ok && v != "" {
			l[Label(stack, key)] = v
		}
	}
	return l
}

// FromLabels reads the policy mirrored on a service's labels.
func FromLabels(stack string, labels map[string]string) (Policy, error) {
	return Parse(func(key string) (string, bool) {
		v, ok := labels[Label(stack, key)]
		return v, ok
	}, func(key string) string { return "label " + Label(stack, key) })
}

// StepClass is the class of the change from one version to another.
func StepClass(from, to recipe.Version) Class {
	a, b := from.Recipe(), to.Recipe()
	switch {
	case a == nil || b == nil || a.Major() != b.Major():
		return Major
	case a.Minor() != b.Minor():
		return Minor
	}
	return Patch
}

// Smaller returns the smaller of two classes.
func Smaller(a, b Class) Class {
	if a.rank() <= b.rank() {
		return a
	}
	return b
}
