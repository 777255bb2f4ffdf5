package recipe

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// TagLister lists the tags of an image repository ("nginx",
// "127.0.0.1:5000/e2e/app"). It is called concurrently; errors should name
// the registry that failed.
type TagLister interface {
	Tags(ctx context.Context, repository string) ([]string, error)
}

// UpgradeOptions says how to plan image upgrades.
type UpgradeOptions struct {
	// Policy picks each image's newest candidate within that step
	// (BumpPatch, BumpMinor, BumpMajor); BumpNone picks nothing, leaving the
	// choice to the caller.
	Policy Bump
	// AllTags lists every tag of another shape as a candidate too (never
	// picked by policy).
	AllTags bool
}

// ImageUpgrade is one image line, the tags it could move to and the pick.
type ImageUpgrade struct {
	ImageLine
	Candidates []Candidate `json:"candidates"`
	// Pick is the chosen tag; "" keeps the current one.
	Pick string `json:"pick,omitempty"`
}

// registryLookups bounds concurrent registry requests of one plan.
const registryLookups = 4

// PlanUpgrade lists, for every image line of the recipe at dir, the newer
// tags of the same shape in its registry, and picks one by policy. Each image
// repository is asked once, a few at a time. Image lines that cannot be
// upgraded (see ImageLine.Skip) are listed without candidates. Registry
// failures are joined into the error, after every lookup finished.
func PlanUpgrade(ctx context.Context, dir string, reg TagLister, opts UpgradeOptions) ([]ImageUpgrade, error) {
	lines, err := ComposeImageLines(dir)
	if err != nil {
		return nil, err
	}
	tags := map[string][]string{}
	var repos []string
	for _, l := range lines {
		if _, seen := tags[l.Image]; l.Skip == "" && !seen {
			tags[l.Image] = nil
			repos = append(repos, l.Image)
		}
	}
	errs := make([]error, len(repos))
	results := make([][]string, len(repos))
	sem := make(chan struct{}, registryLookups)
	var wg sync.WaitGroup
	for i, repo := range repos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = reg.Tags(ctx, repo)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("image %s: %w", repo, errs[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, repo := range repos {
		tags[repo] = results[i]
	}
	plan := make([]ImageUpgrade, 0, len(lines))
	for _, l := range lines {
		u := ImageUpgrade{ImageLine: l, Candidates: []Candidate{}}
		if l.Skip == "" {
			u.Candidates = UpgradeCandidates(l.Tag, tags[l.Image], opts.AllTags)
			if c, ok := PickCandidate(u.Candidates, opts.Policy); ok {
				u.Pick = c.Tag
			}
		}
		plan = append(plan, u)
	}
	return plan, nil
}

// ApplyUpgrade writes the picked tags into the compose files and returns
// the changes made.
func ApplyUpgrade(dir string, plan []ImageUpgrade) ([]ImageChange, error) {
	var changes []ImageChange
	for _, u := range plan {
		if u.Pick != "" && u.Pick != u.Tag && u.Skip == "" {
			changes = append(changes, ImageChange{File: u.File, Service: u.Service, From: u.Tag, To: u.Pick})
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	return changes, SetImageTags(dir, changes)
}
