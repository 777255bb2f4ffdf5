package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/recipe"
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
	tags  *webhook.Dedup            // hook, stack and tag seen within tagWindow
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

// seenTag records that hook name asked for a run of stack at tag and reports
// whether it did so within tagWindow.
func (s *HookServer) seenTag(name, stack, tag string, now time.Time) bool {
	s.mu.Lock()
	if s.tags == nil {
		s.tags = webhook.NewDedup(0, tagWindow)
	}
	d := s.tags
	s.mu.Unlock()
	// NUL appears in none of the three (hook names are configuration,
	// stacks and tags are validated), so the key is unambiguous.
	return d.Seen(name+"\x00"+stack+"\x00"+tag, now)
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
// Receive refuses or ignores, 200 for a delivery id (or a tag) already
// handled, 202 for a branch push, and 202 with {"queued": [stacks],
// "delivery": id} for a tag push.
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
	if d.Event != webhook.Tag {
		if s.seenID(name, d.ID, now) {
			text(w, http.StatusOK, "duplicate delivery, ignored")
			return
		}
		// Branch pushes will redeploy staging apps that track a branch;
		// until that lands they are acknowledged and do nothing.
		s.logf("hook %q: delivery %q: push of branch %q of %q: nothing to do", name, d.ID, d.Branch, d.Repo)
		text(w, http.StatusAccepted, "branch pushes redeploy nothing yet")
		return
	}
	if _, err := recipe.ParseVersion(d.Tag); err != nil {
		s.seenID(name, d.ID, now)
		s.logf("hook %q: delivery %q: tag %q of %q is not a recipe version: nothing queued", name, d.ID, d.Tag, d.Repo)
		text(w, http.StatusAccepted, "tag is not a recipe version, nothing queued")
		return
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
	queued := []string{}
	for _, stack := range stacks {
		if s.seenTag(name, stack, d.Tag, now) {
			continue
		}
		s.Jobs.Request(stack, d.Tag)
		queued = append(queued, stack)
	}
	if len(stacks) > 0 && len(queued) == 0 {
		s.logf("hook %q: delivery %q: tag %q of %q already received: nothing queued", name, d.ID, d.Tag, d.Repo)
		text(w, http.StatusOK, "duplicate tag, ignored")
		return
	}
	s.logf("hook %q: delivery %q: tag %q of %q: queued %q", name, d.ID, d.Tag, d.Repo, queued)
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
	Run      func(ctx context.Context, stack, tag string) error
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

// appJob is one app's state in Jobs; it is removed once the app has neither
// a running nor a pending job.
type appJob struct {
	running    bool
	runningTag recipe.Version // the tag of the running job
	pending    string         // newest tag requested since; "" for none
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

// Request asks for a job for stack because tag was released. It never
// blocks on a running job: a request for an app whose job is pending or
// running only raises the pending tag to the newest one, and a tag not
// newer than the running job's is dropped. Requests made before Start wait
// for it.
func (j *Jobs) Request(stack, tag string) {
	v, err := recipe.ParseVersion(tag)
	if err != nil {
		j.logf("%s: request for tag %q ignored: not a recipe version", stack, tag)
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
	switch {
	case a.pending != "" && v.Compare(a.pendingTag) <= 0:
		return // a newer or the same tag is pending already
	case a.running && a.pending == "" && v.Compare(a.runningTag) <= 0:
		return // the running job saw this release already
	}
	a.pending, a.pendingTag = tag, v
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
		tag := a.pending
		a.queued, a.running, a.runningTag = false, true, a.pendingTag
		a.pending, a.pendingTag = "", recipe.Version{}
		j.running++
		j.cond.Broadcast()
		j.mu.Unlock()

		start := time.Now()
		err := j.run(ctx, stack, tag)
		if err != nil {
			j.logf("%s: webhook job for tag %q failed after %s: %v", stack, tag, time.Since(start).Round(time.Millisecond), err)
		} else {
			j.logf("%s: webhook job for tag %q done (%s)", stack, tag, time.Since(start).Round(time.Millisecond))
		}

		j.mu.Lock()
		a.running = false
		j.running--
		if a.pending != "" {
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
func (j *Jobs) run(ctx context.Context, stack, tag string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	if j.Run == nil {
		return errors.New("no Run configured")
	}
	return j.Run(ctx, stack, tag)
}

// WebhookJob is the agent's Jobs.Run: one pass over stack with the trigger
// "webhook". The pass plans from the app's policy as a scheduled pass does
// (an app that is not opted in is held), so tag, which a forge sent, only
// appears in the log. Errors are the pass's and the app's.
func (g *Agent) WebhookJob(ctx context.Context, stack, tag string) error {
	g.logf("%s: webhook: tag %q released", stack, tag)
	reps, err := g.Pass(ctx, Options{Stack: stack, Trigger: "webhook"})
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

// MatchRecipe is the agent's HookServer.Match: the stacks of the deployed
// apps whose env record names d.Repo as the recipe's remote (compared as
// sameRepo does), or, for a record without a remote, whose recipe is named
// like the repository. An app whose env record cannot be read is skipped
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
