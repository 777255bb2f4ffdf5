package catalogue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"go.yaml.in/yaml/v3"

	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/recipe"
)

// Source is a recipe to put in the catalogue.
type Source struct {
	Name string
	// URL is the git URL the recipe is cloned from when Dir does not exist
	// yet; it is also the catalogue's "repository".
	URL string
	// Dir is the recipe's local clone ($ABRA_DIR/recipes/<name>), or with
	// InPlace a directory read as it is.
	Dir string
	// InPlace reads Dir without cloning or fetching: a git repository's tags
	// are its versions; a plain directory gives one version, named by the
	// coop-cloud.${STACK_NAME}.version label of its compose.yml.
	InPlace bool
}

// Event is a progress report of Generate.
type Event struct {
	Recipe  string
	Message string
	Warning bool
}

// Warning is something that went wrong without stopping the run: a digest
// set to "unknown", a fetch that failed so the local clone was used.
type Warning struct {
	Recipe  string
	Message string
}

func (w Warning) String() string { return w.Recipe + ": " + w.Message }

// Result of a Generate run.
type Result struct {
	// Catalogue holds the recipes that were generated (not the failed ones).
	Catalogue Catalogue
	Warnings  []Warning
	// Failed are the recipes that could not be read at all (no clone and
	// the remote unreachable, not a recipe), with why.
	Failed map[string]error
	// Requests is the number of registry requests made; Reused the number
	// of versions taken from the previous catalogue without reading them.
	Requests int
	Reused   int
}

// Generator builds catalogue entries from recipe sources.
type Generator struct {
	// Resolver asks registries for digests; nil behaves as Offline.
	Resolver Resolver
	// Cache remembers digests across runs; nil asks the registry for every
	// service of every version (no merging of equal references either).
	Cache *DigestCache
	// Previous is the catalogue being regenerated: a version it already
	// lists with known digests is reused without reading the recipe's
	// compose file or asking a registry.
	Previous Catalogue
	// Concurrency bounds both the recipes read at once and the registry
	// requests in flight; below 1 means 1.
	Concurrency int
	// SkipUpdates uses existing clones as they are (missing ones are still
	// cloned); Offline touches no network at all: no clone, no fetch, no
	// registry (digests come from Cache or Previous, else "unknown").
	SkipUpdates bool
	Offline     bool
	// Observe receives progress; calls are serialised.
	Observe func(Event)
}

// Generate reads every source, concurrently, and returns their catalogue
// entries. Failures of single recipes are collected in Result.Failed and
// never stop the others; the error is only for a cancelled context.
func (g *Generator) Generate(ctx context.Context, sources []Source) (Result, error) {
	n := max(g.Concurrency, 1)
	run := &genRun{g: g, dig: newDigester(g.Resolver, g.Cache, g.Offline, n),
		res: Result{Catalogue: Catalogue{}, Failed: map[string]error{}}, warned: map[string]bool{}}
	jobs := make(chan Source)
	var wg sync.WaitGroup
	for range min(n, max(len(sources), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				meta, reused, err := run.recipe(ctx, s)
				run.mu.Lock()
				if err != nil {
					run.res.Failed[s.Name] = err
				} else {
					run.res.Catalogue[s.Name] = meta
					run.res.Reused += reused
				}
				run.mu.Unlock()
				if err != nil {
					run.event(Event{Recipe: s.Name, Message: err.Error(), Warning: true})
				} else {
					run.event(Event{Recipe: s.Name, Message: fmt.Sprintf("%d versions (%d reused)", len(meta.Versions), reused)})
				}
			}
		}()
	}
feed:
	for _, s := range sources {
		select {
		case jobs <- s:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	run.res.Requests = int(run.dig.requests.Load())
	slices.SortStableFunc(run.res.Warnings, func(a, b Warning) int { return strings.Compare(a.Recipe, b.Recipe) })
	return run.res, ctx.Err()
}

type genRun struct {
	g   *Generator
	dig *digester

	mu     sync.Mutex
	res    Result
	warned map[string]bool // warnings already given, so that one bad image warns once
}

func (run *genRun) event(e Event) {
	if run.g.Observe == nil {
		return
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	run.g.Observe(e)
}

func (run *genRun) warn(recipeName, msg string) {
	run.mu.Lock()
	key := recipeName + "\x00" + msg
	seen := run.warned[key]
	if !seen {
		run.warned[key] = true
		run.res.Warnings = append(run.res.Warnings, Warning{Recipe: recipeName, Message: msg})
	}
	run.mu.Unlock()
	if !seen {
		run.event(Event{Recipe: recipeName, Message: msg, Warning: true})
	}
}

// recipe builds the entry of one source.
func (run *genRun) recipe(ctx context.Context, s Source) (RecipeMeta, int, error) {
	if err := ctx.Err(); err != nil {
		return RecipeMeta{}, 0, err
	}
	if s.InPlace {
		if _, err := os.Stat(filepath.Join(s.Dir, ".git")); err != nil {
			return run.workTree(ctx, s)
		}
	} else if err := run.update(ctx, s); err != nil {
		return RecipeMeta{}, 0, err
	}
	repo, err := recipe.Open(s.Dir)
	if err != nil {
		return RecipeMeta{}, 0, err
	}
	meta := RecipeMeta{Name: s.Name, Repository: s.URL}
	branch, origin := gitInfo(s.Dir)
	meta.DefaultBranch = branch
	if meta.Repository == "" {
		meta.Repository = origin
	}
	meta.SSHURL = sshURL(meta.Repository)
	run.readme(s, &meta, readmeAt(repo, s.Dir, branch))

	rels, err := repo.Versions()
	if err != nil {
		return RecipeMeta{}, 0, err
	}
	prev := run.g.Previous[s.Name].Versions
	versions := make([]Version, len(rels))
	todo := map[int][]recipe.ServiceImage{}
	reused := 0
	for i, rel := range rels {
		if v, ok := prev.Find(rel.Tag); ok && digestsKnown(v) {
			versions[i] = v
			reused++
			continue
		}
		images, err := repo.Images(rel.Tag)
		if err != nil {
			run.warn(s.Name, fmt.Sprintf("version %s skipped: %v", rel.Tag, err))
			continue
		}
		todo[i] = images
	}
	for i, images := range todo {
		versions[i] = Version{Name: rels[i].Tag, Services: map[string]ServiceMeta{}}
		for _, im := range images {
			versions[i].Services[im.Service] = ServiceMeta{Image: im.Image, Tag: im.Tag}
		}
	}
	run.resolve(ctx, s.Name, versions)
	meta.Versions = slices.DeleteFunc(versions, func(v Version) bool { return v.Name == "" })
	return meta, reused, ctx.Err()
}

// update clones a missing recipe, or fetches its new versions. A failed
// fetch is a warning: the local clone is used as it is.
func (run *genRun) update(ctx context.Context, s Source) error {
	if _, err := os.Stat(s.Dir); isNotExist(err) {
		if run.g.Offline {
			return fmt.Errorf("not fetched yet and offline: run 'abra recipe fetch %s' when online", s.Name)
		}
		if s.URL == "" {
			return fmt.Errorf("not fetched yet and no URL to clone it from")
		}
		run.event(Event{Recipe: s.Name, Message: "cloning " + s.URL})
		if err := os.MkdirAll(filepath.Dir(s.Dir), 0o755); err != nil {
			return err
		}
		if _, err := recipe.Clone(ctx, s.URL, s.Dir); err != nil {
			_ = os.RemoveAll(s.Dir)
			return err
		}
		return nil
	}
	if run.g.Offline || run.g.SkipUpdates {
		return nil
	}
	repo, err := recipe.Open(s.Dir)
	if err != nil {
		return err
	}
	if err := repo.Fetch(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		run.warn(s.Name, fmt.Sprintf("%v; using the local clone as it is", err))
	}
	return nil
}

// resolve fills in the digests of every service that lacks one, all
// lookups of the recipe at once (the digester bounds them).
func (run *genRun) resolve(ctx context.Context, recipeName string, versions []Version) {
	type slot struct{ v, svc string }
	refs := map[string][]slot{}
	var order []string // one lookup per reference without a cache, one per service with
	for _, v := range versions {
		for svc, m := range v.Services {
			if m.Digest != "" {
				continue
			}
			ref := m.Image
			if m.Tag != "" {
				ref += ":" + m.Tag
			}
			if _, ok := refs[ref]; !ok || run.g.Cache == nil {
				order = append(order, ref)
			}
			refs[ref] = append(refs[ref], slot{v.Name, svc})
		}
	}
	digests := make([]string, len(order))
	var wg sync.WaitGroup
	for i, ref := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			digests[i] = run.lookup(ctx, recipeName, ref)
		}()
	}
	wg.Wait()
	found := map[string]string{}
	for i, ref := range order {
		if d := digests[i]; d != UnknownDigest || found[ref] == "" {
			found[ref] = d
		}
	}
	byName := map[string]int{}
	for i, v := range versions {
		byName[v.Name] = i
	}
	for ref, slots := range refs {
		for _, sl := range slots {
			v := versions[byName[sl.v]]
			m := v.Services[sl.svc]
			m.Digest = found[ref]
			v.Services[sl.svc] = m
		}
	}
}

// lookup returns the digest of ref, or UnknownDigest with a warning naming
// the registry.
func (run *genRun) lookup(ctx context.Context, recipeName, ref string) string {
	if strings.Contains(ref, "$") {
		run.warn(recipeName, fmt.Sprintf("image %s is set from variables: digest unknown", ref))
		return UnknownDigest
	}
	d, err := run.dig.digest(ctx, ref)
	switch {
	case errors.Is(err, errOffline):
		run.warn(recipeName, fmt.Sprintf("image %s: offline, registry %s not asked: digest unknown", ref, registryOf(ref)))
		return UnknownDigest
	case err != nil:
		msg := err.Error()
		if host := registryOf(ref); !strings.Contains(msg, "registry "+host) {
			msg = "registry " + host + ": " + msg
		}
		run.warn(recipeName, fmt.Sprintf("image %s: %s: digest unknown", ref, msg))
		return UnknownDigest
	}
	return d
}

func digestsKnown(v Version) bool {
	for _, m := range v.Services {
		if m.Digest == "" || m.Digest == UnknownDigest {
			return false
		}
	}
	return true
}

// readme fills in what the README says.
func (run *genRun) readme(s Source, meta *RecipeMeta, b []byte) {
	if b == nil {
		run.warn(s.Name, "no README.md: category, description and features are empty")
		return
	}
	r := ParseREADME(b)
	for _, w := range r.Warnings {
		run.warn(s.Name, "README.md: "+w)
	}
	meta.Category, meta.Description, meta.Features = r.Category, r.Description, r.Features
	meta.Website, meta.Icon = r.Website, r.Icon
}

// gitInfo returns the branch checked out in the clone (the remote's
// default branch right after a clone) and the URL of its origin.
func gitInfo(dir string) (branch, origin string) {
	r, err := git.PlainOpen(dir)
	if err != nil {
		return "", ""
	}
	if head, err := r.Head(); err == nil && head.Name().IsBranch() {
		branch = head.Name().Short()
	}
	if rem, err := r.Remote(git.DefaultRemoteName); err == nil && len(rem.Config().URLs) > 0 {
		origin = rem.Config().URLs[0]
	}
	return branch, origin
}

// readmeAt reads README.md from the fetched default branch (origin's, so
// that a fetch without a merge is seen), else from HEAD, else from the work
// tree; nil when there is none.
func readmeAt(repo *recipe.Repo, dir, branch string) []byte {
	var revs []string
	if branch != "" {
		revs = append(revs, "origin/"+branch)
	}
	for _, rev := range append(revs, "HEAD") {
		if b, err := repo.FileAt(rev, "README.md"); err == nil {
			return b
		}
	}
	if b, err := guard.ReadFile(dir, "README.md"); err == nil {
		return b
	}
	return nil
}

// sshURL is the ssh clone URL of a recipe repository: the URL itself when
// it is one, the known form for Co-op Cloud's forge, else "".
func sshURL(repo string) string {
	switch {
	case strings.HasPrefix(repo, "ssh://"), strings.HasPrefix(repo, "git@"):
		return repo
	case strings.HasPrefix(repo, "https://git.coopcloud.tech/"):
		return "ssh://git@git.coopcloud.tech:2222/" + strings.TrimPrefix(repo, "https://git.coopcloud.tech/")
	}
	return ""
}

// workTree builds the entry of a plain directory: one version, named by
// the version label of compose.yml, with the images of its services.
func (run *genRun) workTree(ctx context.Context, s Source) (RecipeMeta, int, error) {
	meta := RecipeMeta{Name: s.Name, Repository: s.URL, SSHURL: sshURL(s.URL)}
	readme, err := guard.ReadFile(s.Dir, "README.md")
	if err != nil {
		readme = nil
	}
	run.readme(s, &meta, readme)
	compose, err := guard.ReadFile(s.Dir, "compose.yml")
	if err != nil {
		return RecipeMeta{}, 0, fmt.Errorf("not a recipe: %w", err)
	}
	images, err := recipe.ComposeImages(compose)
	if err != nil {
		return RecipeMeta{}, 0, err
	}
	version := versionLabel(compose)
	if version == "" {
		run.warn(s.Name, "compose.yml has no coop-cloud.${STACK_NAME}.version label: no version listed")
		meta.Versions = Versions{}
		return meta, 0, nil
	}
	v := Version{Name: version, Services: map[string]ServiceMeta{}}
	for _, im := range images {
		v.Services[im.Service] = ServiceMeta{Image: im.Image, Tag: im.Tag}
	}
	if prev, ok := run.g.Previous[s.Name].Versions.Find(version); ok && digestsKnown(prev) && maps.EqualFunc(prev.Services, v.Services,
		func(a, b ServiceMeta) bool { return a.Image == b.Image && a.Tag == b.Tag }) {
		meta.Versions = Versions{prev}
		return meta, 1, nil
	}
	meta.Versions = Versions{v}
	run.resolve(ctx, s.Name, meta.Versions)
	return meta, 0, ctx.Err()
}

// versionLabel finds coop-cloud.${STACK_NAME}.version in the deploy labels
// of any service (a list of "k=v" or a map).
func versionLabel(compose []byte) string {
	var doc struct {
		Services map[string]struct {
			Deploy struct {
				Labels yaml.Node `yaml:"labels"`
			} `yaml:"deploy"`
		} `yaml:"services"`
	}
	if yaml.Unmarshal(compose, &doc) != nil {
		return ""
	}
	const key = "coop-cloud.${STACK_NAME}.version"
	for _, name := range slices.Sorted(maps.Keys(doc.Services)) {
		labels := doc.Services[name].Deploy.Labels
		switch labels.Kind {
		case yaml.SequenceNode:
			for _, n := range labels.Content {
				if k, v, ok := strings.Cut(n.Value, "="); ok && k == key {
					return v
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(labels.Content); i += 2 {
				if labels.Content[i].Value == key {
					return labels.Content[i+1].Value
				}
			}
		}
	}
	return ""
}
