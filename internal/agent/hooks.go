package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/update"
	"coopcloud.tech/abra/internal/update/policy"
	"coopcloud.tech/abra/internal/webhook"
)

// tagWindow is how long a (hook, app, tag) is remembered. Gitea, Forgejo and
// GitHub send two deliveries with different ids for one new tag (a push and
// a create), often seconds apart; the second must not cause a second run.
const tagWindow = 10 * time.Minute

// HookServer serves forge webhooks at /hooks/<name>; each name is one
// configured webhook.Hook (scheme fixed by configuration). A verified tag
// push asks Jobs for one run for every app Match finds; nothing from the
// payload is executed or interpolated into commands, and the answers never
// echo the payload. A HookServer is safe for concurrent use; its fields
// must not change once it serves.
type HookServer struct {
	Hooks map[string]webhook.Hook
	// Explicit names the hooks whose tag pushes upgrade the matched apps
	// even when they have not opted in (as 'kadabra upgrade <stack>' does);
	// the other hooks respect each app's policy.
	Explicit map[string]bool
	// Match returns the stacks of the apps a delivery concerns; an error
	// answers 500 and leaves the delivery id unrecorded, so that a
	// redelivery is tried again. Agent.MatchRecipe is the agent's.
	Match func(ctx context.Context, d webhook.Delivery) ([]string, error)
	Jobs  *Jobs
	Now   func() time.Time
	// Log receives one line per delivery; when it is shared with Jobs it
	// must be safe for concurrent use (os.Stderr is).
	Log io.Writer

	mu    sync.Mutex
	ids   map[string]*webhook.Dedup // hook name → delivery ids seen
	refs  *webhook.Dedup            // hook, stack and tag or commit seen within tagWindow
	logMu sync.Mutex
}

// hookResponse is the answer to a tag push.
type hookResponse struct {
	Queued   []string `json:"queued"`
	Delivery string   `json:"delivery"`
}

func (s *HookServer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *HookServer) logf(format string, args ...any) {
	logLine(&s.logMu, s.Log, s.now(), format, args...)
}

// seenID records a delivery id of hook name and reports whether it was
// already recorded. Ids of different hooks may collide, so each hook has its
// own Dedup.
func (s *HookServer) seenID(name, id string, now time.Time) bool {
	s.mu.Lock()
	if s.ids == nil {
		s.ids = map[string]*webhook.Dedup{}
	}
	d := s.ids[name]
	if d == nil {
		d = webhook.NewDedup(0, 0)
		s.ids[name] = d
	}
	s.mu.Unlock()
	return d.Seen(id, now)
}

// seenRef records that hook name asked for a run of stack at ref (a tag or
// a commit) and reports whether it did so within tagWindow.
func (s *HookServer) seenRef(name, stack, ref string, now time.Time) bool {
	s.mu.Lock()
	if s.refs == nil {
		s.refs = webhook.NewDedup(0, tagWindow)
	}
	d := s.refs
	s.mu.Unlock()
	// NUL appears in none of the three (hook names are configuration,
	// stacks, tags and commits are validated), so the key is unambiguous.
	return d.Seen(name+"\x00"+stack+"\x00"+ref, now)
}

// text answers with a short plain-text reason.
func text(w http.ResponseWriter, code int, msg string) {
	http.Error(w, msg, code)
}

// reason is the answer for an error of webhook.Hook.Receive: short, fixed
// text, because the error itself may quote parts of the payload.
func reason(err error) string {
	switch {
	case errors.Is(err, webhook.ErrTooLarge):
		return "body too large"
	case errors.Is(err, webhook.ErrMissingSignature):
		return "signature missing"
	case errors.Is(err, webhook.ErrBadSignature):
		return "signature does not match"
	case errors.Is(err, webhook.ErrStale):
		return "timestamp outside the tolerance"
	case errors.Is(err, webhook.ErrBadPayload):
		return "bad payload"
	case errors.Is(err, webhook.ErrUnsupportedEvent):
		return "event ignored"
	}
	return "webhook misconfigured on the server"
}

// ServeHTTP handles one delivery: only POST to /hooks/<name> of a configured
// hook. Answers: 405, 404, the status of webhook.Status for a delivery
// Receive refuses or ignores, 200 for a delivery id (or a tag or commit)
// already handled, 202 with a reason when nothing is queued, and 202 with
// {"queued": [stacks], "delivery": id} for a tag push or a push of a branch
// that staging apps follow.
func (s *HookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		text(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/hooks/")
	hook, known := s.Hooks[name]
	if !ok || name == "" || strings.Contains(name, "/") || !known {
		text(w, http.StatusNotFound, "no such webhook")
		return
	}
	now := s.now()
	d, err := hook.Receive(r, now)
	if err != nil {
		code := webhook.Status(err)
		if errors.Is(err, webhook.ErrUnsupportedEvent) {
			s.logf("hook %q: delivery %q: event %q ignored", name, d.ID, d.Event)
		} else {
			s.logf("hook %q: refused (%d): %q", name, code, err.Error())
		}
		text(w, code, reason(err))
		return
	}
	// What a delivery asks for: a release (a tag that is a recipe version)
	// for the apps that follow releases, or a commit for the staging apps
	// that follow the pushed branch.
	key, ref := d.Tag, Ref{Tag: d.Tag, Explicit: s.Explicit[name]}
	if d.Event == webhook.Tag {
		if _, err := recipe.ParseVersion(d.Tag); err != nil {
			s.seenID(name, d.ID, now)
			s.logf("hook %q: delivery %q: tag %q of %q is not a recipe version: nothing queued", name, d.ID, d.Tag, d.Repo)
			text(w, http.StatusAccepted, "tag is not a recipe version, nothing queued")
			return
		}
	} else {
		if !recipe.IsCommitID(d.Commit) {
			s.seenID(name, d.ID, now)
			s.logf("hook %q: delivery %q: push of branch %q of %q names no commit: nothing queued", name, d.ID, d.Branch, d.Repo)
			text(w, http.StatusAccepted, "push names no commit, nothing queued")
			return
		}
		key, ref = d.Commit, Ref{Commit: d.Commit}
	}
	if s.Match == nil || s.Jobs == nil {
		s.logf("hook %q: no Match or Jobs configured", name)
		text(w, http.StatusInternalServerError, "webhook misconfigured on the server")
		return
	}
	// Matching before the id is recorded: a failed lookup leaves the
	// delivery to be redelivered.
	stacks, err := s.Match(r.Context(), d)
	if err != nil {
		s.logf("hook %q: delivery %q: find the apps of %q: %q", name, d.ID, d.Repo, err.Error())
		text(w, http.StatusInternalServerError, "could not look up the apps of this repository")
		return
	}
	if s.seenID(name, d.ID, now) {
		text(w, http.StatusOK, "duplicate delivery, ignored")
		return
	}
	if len(stacks) == 0 && d.Event != webhook.Tag {
		s.logf("hook %q: delivery %q: no app follows branch %q of %q: nothing queued", name, d.ID, d.Branch, d.Repo)
		text(w, http.StatusAccepted, "no app follows this branch, nothing queued")
		return
	}
	s.queue(w, name, d, stacks, now, key, ref)
}

// queue asks Jobs for ref on each stack that hook name has not asked for
// key (a tag, or a commit) within tagWindow, and answers.
func (s *HookServer) queue(w http.ResponseWriter, name string, d webhook.Delivery, stacks []string, now time.Time, key string, ref Ref) {
	queued := []string{}
	for _, stack := range stacks {
		if s.seenRef(name, stack, key, now) {
			continue
		}
		s.Jobs.Request(stack, ref)
		queued = append(queued, stack)
	}
	if len(stacks) > 0 && len(queued) == 0 {
		s.logf("hook %q: delivery %q: %q of %q already received: nothing queued", name, d.ID, d.Ref, d.Repo)
		text(w, http.StatusOK, "duplicate tag or commit, ignored")
		return
	}
	s.logf("hook %q: delivery %q: %q of %q at %q: queued %q", name, d.ID, d.Ref, d.Repo, d.Commit, queued)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(hookResponse{Queued: queued, Delivery: d.ID})
}

// Jobs runs at most one job per app at a time and coalesces requests: while
// an app's job runs, further requests only remember the newest tag (by
// recipe version order: recipe.ParseVersion + Compare; unparsable tags are
// ignored with a log line); when the job ends and a newer tag was requested,
// one more job runs. Different apps run concurrently up to Parallel
// (default 1). Its methods are safe for concurrent use; its fields must not
// change after the first Request.
type Jobs struct {
	// Run runs one app's job. The agent wires it to Agent.WebhookJob: the
	// pipeline then picks the newest release the app's policy allows, and
	// the tag only decides whether another run is needed. A panic in Run is
	// logged as its error.
	Run      func(ctx context.Context, stack string, ref Ref) error
	Parallel int
	// Log receives a line per finished job and per ignored request; when
	// it is shared with a HookServer it must be safe for concurrent use.
	Log io.Writer

	mu      sync.Mutex
	cond    *sync.Cond // signals every change of the fields below
	apps    map[string]*appJob
	queue   []string // stacks ready to run, oldest request first
	running int
	started bool
	stopped bool // Start's context ended: no new job starts
	logMu   sync.Mutex
}

// Ref is what a job was requested for: a released tag (the app's policy
// picks the release; Explicit: as if an operator named the app), or a
// commit of the branch a staging app follows.
type Ref struct {
	Tag      string
	Commit   string
	Explicit bool
}

func (r Ref) String() string { return cmp.Or(r.Tag, r.Commit) }

// appJob is one app's state in Jobs; it is removed once the app has neither
// a running nor a pending job.
type appJob struct {
	running    bool
	runningRef Ref
	runningTag recipe.Version // the running job's tag, parsed
	pending    *Ref           // newest request since; nil for none
	pendingTag recipe.Version
	queued     bool // in Jobs.queue
}

func (j *Jobs) init() {
	if j.cond == nil {
		j.cond = sync.NewCond(&j.mu)
		j.apps = map[string]*appJob{}
	}
}

func (j *Jobs) logf(format string, args ...any) {
	logLine(&j.logMu, j.Log, time.Now(), format, args...)
}

// Request asks for a job for stack. It never blocks on a running job. A
// tag request for an app whose job is pending or running only raises the
// pending tag to the newest one (recipe.ParseVersion + Compare; a tag that
// is no recipe version is ignored with a log line), and a tag not newer than
// the running job's is dropped. A commit request replaces what is pending
// (pushes arrive in order; the last one is the branch's head) unless it is
// the running job's commit. Explicit is kept if any coalesced request had
// it. Requests made before Start wait for it.
func (j *Jobs) Request(stack string, ref Ref) {
	var v recipe.Version
	if ref.Commit == "" {
		var err error
		if v, err = recipe.ParseVersion(ref.Tag); err != nil {
			j.logf("%s: request for tag %q ignored: not a recipe version", stack, ref.Tag)
			return
		}
	} else if ref.Tag != "" || !recipe.IsCommitID(ref.Commit) {
		j.logf("%s: request for commit %q ignored: not a commit id", stack, ref.String())
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.init()
	a := j.apps[stack]
	if a == nil {
		a = &appJob{}
		j.apps[stack] = a
	}
	p := a.pending
	switch {
	case ref.Commit == "" && p != nil && p.Commit == "" && v.Compare(a.pendingTag) <= 0:
		p.Explicit = p.Explicit || ref.Explicit
		return // a newer or the same tag is pending already
	case ref.Commit == "" && a.running && p == nil && a.runningRef.Commit == "" && v.Compare(a.runningTag) <= 0:
		return // the running job saw this release already
	case ref.Commit != "" && p != nil && p.Commit == ref.Commit,
		ref.Commit != "" && a.running && p == nil && a.runningRef.Commit == ref.Commit:
		return // that commit is pending or running already
	}
	if p != nil && p.Explicit {
		ref.Explicit = true
	}
	a.pending, a.pendingTag = &ref, v
	if !a.running && !a.queued {
		a.queued = true
		j.queue = append(j.queue, stack)
	}
	j.cond.Broadcast()
}

// Start starts Parallel workers that run jobs until ctx ends; a job that is
// running then sees the ended ctx. Calls after the first do nothing.
func (j *Jobs) Start(ctx context.Context) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.init()
	if j.started {
		return
	}
	j.started = true
	n := j.Parallel
	if n <= 0 {
		n = 1
	}
	for range n {
		go j.work(ctx)
	}
	go func() {
		<-ctx.Done()
		j.mu.Lock()
		j.stopped = true
		j.cond.Broadcast()
		j.mu.Unlock()
	}()
}

// Wait returns when no job runs and none is pending, or, once Start's
// context has ended, when no job runs. Before Start it returns only if
// nothing was requested.
func (j *Jobs) Wait() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.init()
	for j.running > 0 || (len(j.queue) > 0 && !j.stopped) {
		j.cond.Wait()
	}
}

func (j *Jobs) work(ctx context.Context) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for {
		for len(j.queue) == 0 && !j.stopped {
			j.cond.Wait()
		}
		// ctx is checked too: the goroutine that sets stopped may not
		// have run yet when a job ends because ctx did.
		if j.stopped || ctx.Err() != nil {
			return
		}
		stack := j.queue[0]
		j.queue = j.queue[1:]
		a := j.apps[stack]
		ref := *a.pending
		a.queued, a.running, a.runningRef, a.runningTag = false, true, ref, a.pendingTag
		a.pending, a.pendingTag = nil, recipe.Version{}
		j.running++
		j.cond.Broadcast()
		j.mu.Unlock()

		start := time.Now()
		err := j.run(ctx, stack, ref)
		if err != nil {
			j.logf("%s: webhook job for %q failed after %s: %v", stack, ref.String(), time.Since(start).Round(time.Millisecond), err)
		} else {
			j.logf("%s: webhook job for %q done (%s)", stack, ref.String(), time.Since(start).Round(time.Millisecond))
		}

		j.mu.Lock()
		a.running = false
		j.running--
		if a.pending != nil {
			a.queued = true
			j.queue = append(j.queue, stack)
		} else {
			delete(j.apps, stack)
		}
		j.cond.Broadcast()
	}
}

// run calls Run, turning a panic into an error so that the worker and the
// app's state survive it.
func (j *Jobs) run(ctx context.Context, stack string, ref Ref) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	if j.Run == nil {
		return errors.New("no Run configured")
	}
	return j.Run(ctx, stack, ref)
}

// WebhookJob is the agent's Jobs.Run. For a tag: one pass over stack with
// the trigger "webhook", planned from the app's policy as a scheduled pass
// is (an app that is not opted in is held unless ref is Explicit), so the
// tag itself only appears in the log. For a commit: BranchJob. Errors are
// the pass's and the app's.
func (g *Agent) WebhookJob(ctx context.Context, stack string, ref Ref) error {
	if ref.Commit != "" {
		return g.BranchJob(ctx, stack, ref.Commit)
	}
	g.logf("%s: webhook: tag %q released", stack, ref.Tag)
	reps, err := g.Pass(ctx, Options{Stack: stack, Trigger: "webhook", Explicit: ref.Explicit})
	if err != nil {
		return err
	}
	for _, r := range reps {
		if r.Error != "" {
			return fmt.Errorf("%s: %s: %s", r.App, r.Result, r.Error)
		}
	}
	return nil
}

// BranchJob redeploys a staging app (AUTO_UPDATE_BRANCH) at commit, on the
// update pipeline (lock, backup when the app has backups, deploy, verify,
// rollback to the commit it ran). The commit must be in the recipe's
// repository once fetched; a commit the app runs already changes nothing.
func (g *Agent) BranchJob(ctx context.Context, stack, commit string) error {
	apps, err := g.deployed(ctx)
	if err != nil {
		return fmt.Errorf("list apps on %s: %w", g.Server, err)
	}
	i := slices.IndexFunc(apps, func(d deployedApp) bool { return d.stack == stack })
	if i < 0 {
		return fmt.Errorf("no deployed app with stack %s on %s", stack, g.Server)
	}
	d := apps[i]
	pol, err := policy.FromLabels(stack, d.labels)
	if err != nil {
		return err
	}
	if pol.Branch == "" {
		return fmt.Errorf("%s follows no branch (%s is not set)", stack, policy.KeyBranch)
	}
	rec, ok, err := app.LoadEnvRecord(ctx, g.Cluster, stack)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s was deployed by an abra that keeps no env record on the server; deploy it once with this abra", stack)
	}
	a, repo, err := g.materialise(ctx, rec, map[string]bool{})
	if err != nil {
		return err
	}
	full, err := repo.ResolveCommit(commit)
	if err != nil {
		return fmt.Errorf("%s: %w", rec.Domain, err)
	}
	if update.Runs(d.state, full) {
		g.logf("%s: webhook: runs %s of %s already", rec.Domain, full, pol.Branch)
		return nil
	}
	from := d.state.Version
	if d.state.Chaos {
		from = strings.TrimSuffix(d.state.ChaosVersion, "+U")
	}
	g.logf("%s: webhook: push to %s: %s → %s", rec.Domain, pol.Branch, cmp.Or(from, "?"), full)
	_, err = g.runner("webhook", rec.Domain).Run(ctx, update.Job{App: a, From: from, To: full, Policy: pol})
	return err
}

// MatchRecipe is the agent's HookServer.Match: the stacks of the deployed
// apps whose env record names d.Repo as the recipe's remote (compared as
// sameRepo does), or, for a record without a remote, whose recipe is named
// like the repository. A tag matches the apps that follow releases; a
// branch push matches the staging apps that follow that branch
// (AUTO_UPDATE_BRANCH). An app whose env record cannot be read is skipped
// with a log line: the scheduled pass still covers it.
func (g *Agent) MatchRecipe(ctx context.Context, d webhook.Delivery) ([]string, error) {
	if d.Repo == "" {
		return nil, nil
	}
	apps, err := g.deployed(ctx)
	if err != nil {
		return nil, fmt.Errorf("list apps on %s: %w", g.Server, err)
	}
	var stacks []string
	for _, a := range apps {
		pol, err := policy.FromLabels(a.stack, a.labels)
		if err != nil {
			g.logf("%s: webhook: skipped: %v", a.stack, err)
			continue
		}
		if d.Event == webhook.Tag && pol.Branch != "" || d.Event != webhook.Tag && (pol.Branch == "" || pol.Branch != d.Branch) {
			continue
		}
		rec, ok, err := app.LoadEnvRecord(ctx, g.Cluster, a.stack)
		if err != nil {
			g.logf("%s: webhook: skipped: %v", a.stack, err)
			continue
		}
		if !ok {
			continue // a pass would hold it: deployed without an env record
		}
		if rec.Remote != "" {
			if sameRepo(rec.Remote, d.Repo) {
				stacks = append(stacks, a.stack)
			}
			continue
		}
		if strings.EqualFold(repoName(d.Repo), rec.Recipe) {
			stacks = append(stacks, a.stack)
		}
	}
	return stacks, nil
}

// normaliseRepo reduces a repository URL to host and path, so that the
// spellings of one repository compare equal: without scheme, credentials or
// port, with the host in lowercase, without trailing "/" and ".git". An
// scp-like address (git@host:owner/name) becomes host/owner/name, as git
// reads it; a local path stays a path.
func normaliseRepo(s string) string {
	s = strings.TrimSpace(s)
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	} else if colon := strings.IndexByte(s, ':'); colon > 0 && !strings.Contains(s[:colon], "/") {
		s = s[:colon] + "/" + s[colon+1:]
	}
	host, path, _ := strings.Cut(s, "/")
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end > 0 {
			host = host[:end+1]
		}
	} else if colon := strings.IndexByte(host, ':'); colon >= 0 {
		host = host[:colon]
	}
	for {
		p := strings.TrimSuffix(strings.TrimSuffix(path, "/"), ".git")
		if p == path {
			break
		}
		path = p
	}
	if path == "" {
		return strings.ToLower(host)
	}
	return strings.ToLower(host) + "/" + path
}

// sameRepo reports whether remote (an env record's) and repo (a delivery's:
// a clone URL, or a full name such as coop-cloud/web when the forge sends
// no URL) name the same repository. A full name is recognised by its first
// component, which has no dot where a host has; it matches the path of
// remote, ignoring case as the forges do.
func sameRepo(remote, repo string) bool {
	r, d := normaliseRepo(remote), normaliseRepo(repo)
	if r == "" || d == "" {
		return false
	}
	if r == d {
		return true
	}
	first, _, _ := strings.Cut(d, "/")
	if strings.Contains(repo, "://") || strings.Contains(repo, "@") || strings.Contains(first, ".") || !strings.Contains(d, "/") {
		return false
	}
	_, path, _ := strings.Cut(r, "/")
	return strings.EqualFold(path, d)
}

// repoName is the last component of a repository URL or full name.
func repoName(repo string) string {
	n := normaliseRepo(repo)
	return n[strings.LastIndexByte(n, '/')+1:]
}
