// Package lint checks a recipe against Co-op Cloud's packaging rules. The
// rules are data (Rules): each has a stable id, a severity, a description,
// how to resolve a failure, and a check over a Recipe view. Ids R001–R015
// keep the meaning they have in the original abra (R013, which there asks
// git.coopcloud.tech whether the repository exists, here checks offline that
// the clone has an origin remote); R101 and up are rules of this abra.
//
// A failed critical rule means a deploy of the recipe would fail or misbehave,
// so `abra app deploy` may refuse it (Report.CriticalFailures). A recipe is
// outside input: files it makes abra read must lie inside it (R107), and
// lint reads none that does not.
package lint

import (
	"context"
	"slices"
	"strings"

	"coopcloud.tech/abra/internal/recipe"
)

// Severity says how much a failed rule matters.
type Severity string

const (
	// Warn marks a rule whose failure is worth fixing but does not break a deploy.
	Warn Severity = "warn"
	// Critical marks a rule whose failure breaks a deploy, or makes it misbehave.
	Critical Severity = "critical"
)

// Status is the outcome of one rule.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	// Skip means the rule could not be checked; the detail says why.
	Skip Status = "skip"
)

// Result is what a check returns.
type Result struct {
	Status Status
	// Detail is short and names what failed: a service, an image, a tag.
	Detail string
	// Severity, when Warn, lowers a critical rule to a warning for this
	// result (R106 warns when there is no release to compare with). It can
	// never raise a rule's severity.
	Severity Severity
}

func pass(detail string) Result { return Result{Status: Pass, Detail: detail} }
func fail(detail string) Result { return Result{Status: Fail, Detail: detail} }
func skip(why string) Result    { return Result{Status: Skip, Detail: why} }

// Rule is one lint rule.
type Rule struct {
	ID           string // stable: R001…
	Severity     Severity
	Description  string // what a recipe should do, e.g. "all images use a tag"
	HowToResolve string
	Check        func(*Recipe) Result
}

// Finding is a rule's outcome for one recipe.
type Finding struct {
	ID           string
	Severity     Severity // the rule's, or lower when its check said so
	Status       Status
	Description  string
	Detail       string
	HowToResolve string
}

// Report holds a finding for every rule, in rule order.
type Report struct {
	Findings []Finding
}

// Failures returns the failed findings.
func (r Report) Failures() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Status == Fail {
			out = append(out, f)
		}
	}
	return out
}

// CriticalFailures returns the failed findings of critical severity: the
// ones that make a recipe unfit to deploy.
func (r Report) CriticalFailures() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Status == Fail && f.Severity == Critical {
			out = append(out, f)
		}
	}
	return out
}

// OfAbra reports whether a rule id is one of the original abra's (R001–R099):
// a deploy refuses only those of them that are critical, as abra does; this
// abra's own rules (R101 and up) only warn at deploy time, so that a release
// abra deploys also deploys here. 'abra recipe lint' keeps every severity.
func OfAbra(id string) bool { return len(id) == 4 && id[0] == 'R' && id[1] == '0' }

// IDs returns the rule ids of findings, e.g. for an error message.
func IDs(findings []Finding) []string {
	ids := make([]string, len(findings))
	for i, f := range findings {
		ids[i] = f.ID
	}
	return ids
}

// Option changes how Run reads a recipe.
type Option func(*options)

type options struct {
	release   string
	stackName string
}

// AtRelease says that dir holds the files of the release tagged tag, as
// exported for a deploy, rather than the work tree or HEAD. Rules that
// compare with "the last release" then compare with tag itself (R106) or with
// the release before it (R104).
func AtRelease(tag string) Option { return func(o *options) { o.release = tag } }

// WithStackName checks secret and config name lengths (R015) for the app
// with this STACK_NAME, as a deploy knows it, instead of for the longest
// STACK_NAME abra may derive from a domain.
func WithStackName(name string) Option { return func(o *options) { o.stackName = name } }

// Run lints the recipe files in dir (a work tree, or a version exported from
// repo). repo supplies the tags and the files of earlier releases; with a nil
// repo the rules that need git are skipped. An error means the recipe could
// not be read at all; a recipe that breaks rules is a Report with failures.
func Run(ctx context.Context, dir string, repo *recipe.Repo, opts ...Option) (Report, error) {
	r, err := Load(ctx, dir, repo, opts...)
	if err != nil {
		return Report{}, err
	}
	return Check(r, rules), nil
}

// Check applies rules to a loaded recipe.
func Check(r *Recipe, rs []Rule) Report {
	rep := Report{Findings: make([]Finding, 0, len(rs))}
	for _, rule := range rs {
		res := rule.Check(r)
		sev := rule.Severity
		if res.Severity == Warn {
			sev = Warn
		}
		rep.Findings = append(rep.Findings, Finding{
			ID:           rule.ID,
			Severity:     sev,
			Status:       res.Status,
			Description:  rule.Description,
			Detail:       res.Detail,
			HowToResolve: rule.HowToResolve,
		})
	}
	return rep
}

// Rules returns the rule table, in id order.
func Rules() []Rule { return slices.Clone(rules) }

// RuleByID returns the rule with the given id.
func RuleByID(id string) (Rule, bool) {
	i := slices.IndexFunc(rules, func(r Rule) bool { return strings.EqualFold(r.ID, id) })
	if i < 0 {
		return Rule{}, false
	}
	return rules[i], true
}
