package agent

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/webhook"
)

const (
	hookSecret = "s3cret"
	hookSHA    = "0123456789abcdef0123456789abcdef01234567"
	webRepo    = "https://git.example.org/coop-cloud/web.git"
)

var hookNow = time.Unix(1_700_000_000, 0)

func hookMAC(body string) string {
	m := hmac.New(sha256.New, []byte(hookSecret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// giteaDelivery builds a delivery as Gitea sends it, signed with hookSecret.
func giteaDelivery(event, id, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/recipes", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Gitea-Delivery", id)
	r.Header.Set("X-Gitea-Event", event)
	r.Header.Set("X-Gitea-Signature", hookMAC(body))
	return r
}

func giteaPushBody(ref string) string {
	return fmt.Sprintf(`{"ref":%q,"before":"%s","after":"%s","repository":{"full_name":"coop-cloud/web","clone_url":%q}}`,
		ref, strings.Repeat("1", 40), hookSHA, webRepo)
}

// tagPush is a signed Gitea push of tag.
func tagPush(id, tag string) *http.Request {
	return giteaDelivery("push", id, giteaPushBody("refs/tags/"+tag))
}

// tagCreate is the create delivery Gitea sends next to the push of a tag.
func tagCreate(id, tag string) *http.Request {
	body := fmt.Sprintf(`{"sha":"%s","ref":%q,"ref_type":"tag","repository":{"full_name":"coop-cloud/web","clone_url":%q}}`, hookSHA, tag, webRepo)
	return giteaDelivery("create", id, body)
}

// call is one call of a fakeRun.
type call struct {
	stack, tag string // tag or commit
	explicit   bool
}

// fakeRun records its calls and how many run at once, per app and in all.
// Each call blocks until gate is closed (a nil gate never blocks) and
// reports its start on started when that is not nil.
type fakeRun struct {
	gate    chan struct{}
	started chan string

	mu      sync.Mutex
	calls   []call
	perApp  map[string]*atomic.Int32
	maxApp  atomic.Int32 // most calls of one app at once
	all     atomic.Int32
	maxAll  atomic.Int32 // most calls at once
	tooMany atomic.Bool
}

func raise(max *atomic.Int32, n int32) {
	for {
		m := max.Load()
		if n <= m || max.CompareAndSwap(m, n) {
			return
		}
	}
}

func (f *fakeRun) Run(ctx context.Context, stack string, ref Ref) error {
	f.mu.Lock()
	if f.perApp == nil {
		f.perApp = map[string]*atomic.Int32{}
	}
	c := f.perApp[stack]
	if c == nil {
		c = new(atomic.Int32)
		f.perApp[stack] = c
	}
	f.calls = append(f.calls, call{stack, ref.String(), ref.Explicit})
	f.mu.Unlock()

	n := c.Add(1)
	defer c.Add(-1)
	raise(&f.maxApp, n)
	raise(&f.maxAll, f.all.Add(1))
	defer f.all.Add(-1)

	if f.started != nil {
		f.started <- stack
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fakeRun) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// syncBuffer is a log both the server and the jobs write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeMatch matches the web recipe's repository to stacks and counts calls.
type fakeMatch struct {
	stacks []string
	calls  atomic.Int32
}

func (m *fakeMatch) Match(ctx context.Context, d webhook.Delivery) ([]string, error) {
	m.calls.Add(1)
	if sameRepo(webRepo, d.Repo) {
		return m.stacks, nil
	}
	return nil, nil
}

// harness is a HookServer for the "recipes" Gitea hook with started Jobs.
type harness struct {
	srv   *HookServer
	run   *fakeRun
	match *fakeMatch
	log   *syncBuffer
	clock atomic.Int64 // seconds since hookNow
}

func newHarness(t *testing.T, parallel int, stacks ...string) *harness {
	t.Helper()
	h := &harness{run: &fakeRun{}, match: &fakeMatch{stacks: stacks}, log: &syncBuffer{}}
	jobs := &Jobs{Run: h.run.Run, Parallel: parallel, Log: h.log}
	h.srv = &HookServer{
		Hooks: map[string]webhook.Hook{"recipes": {Name: "recipes", Scheme: webhook.Gitea, Secret: hookSecret, MaxBody: 4096}},
		Match: h.match.Match,
		Jobs:  jobs,
		Now:   func() time.Time { return hookNow.Add(time.Duration(h.clock.Load()) * time.Second) },
		Log:   h.log,
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		jobs.Wait()
	})
	jobs.Start(ctx)
	return h
}

func (h *harness) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, r)
	return w
}

func decodeQueued(t *testing.T, w *httptest.ResponseRecorder) hookResponse {
	t.Helper()
	if w.Code != http.StatusAccepted {
		t.Fatalf("status %d %q, want 202", w.Code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var resp hookResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return resp
}

func TestHookTagPushQueuesEveryMatchedApp(t *testing.T) {
	h := newHarness(t, 1, "a_example_org", "b_example_org")
	resp := decodeQueued(t, h.serve(tagPush("d1", "1.1.0+1.26")))
	if !slices.Equal(resp.Queued, []string{"a_example_org", "b_example_org"}) || resp.Delivery != "d1" {
		t.Errorf("response %+v", resp)
	}
	h.srv.Jobs.Wait()
	got := h.run.Calls()
	slices.SortFunc(got, func(a, b call) int { return strings.Compare(a.stack, b.stack) })
	want := []call{{"a_example_org", "1.1.0+1.26", false}, {"b_example_org", "1.1.0+1.26", false}}
	if !slices.Equal(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
}

func TestHookRefusesDeliveries(t *testing.T) {
	body := giteaPushBody("refs/tags/1.1.0+1.26")
	badSig := giteaDelivery("push", "d1", body)
	badSig.Header.Set("X-Gitea-Signature", hookMAC(body+" "))
	get := tagPush("d2", "1.1.0+1.26")
	get.Method = http.MethodGet
	unknown := tagPush("d3", "1.1.0+1.26")
	unknown.URL.Path = "/hooks/other"
	nested := tagPush("d4", "1.1.0+1.26")
	nested.URL.Path = "/hooks/recipes/x"
	big := giteaPushBody("refs/tags/1.1.0+1.26")
	big = strings.Replace(big, `"after"`, `"padding":"`+strings.Repeat("x", 5000)+`","after"`, 1)

	tests := []struct {
		name string
		req  *http.Request
		code int
	}{
		{"bad signature", badSig, http.StatusUnauthorized},
		{"get", get, http.StatusMethodNotAllowed},
		{"unknown hook", unknown, http.StatusNotFound},
		{"path below a hook", nested, http.StatusNotFound},
		{"oversized body", giteaDelivery("push", "d5", big), http.StatusRequestEntityTooLarge},
		{"unsupported event", giteaDelivery("release", "d6", body), http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 1, "a_example_org")
			w := h.serve(tt.req)
			if w.Code != tt.code {
				t.Errorf("status %d %q, want %d", w.Code, w.Body.String(), tt.code)
			}
			if tt.code == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow %q", w.Header().Get("Allow"))
			}
			if out := w.Body.String() + h.log.String(); strings.Contains(out, hookSecret) || strings.Contains(out, "coop-cloud/web") {
				t.Errorf("answer or log echoes the secret or the payload: %q", out)
			}
			h.srv.Jobs.Wait()
			if calls := h.run.Calls(); len(calls) != 0 || h.match.calls.Load() != 0 {
				t.Errorf("runs %v, %d matches, want none", calls, h.match.calls.Load())
			}
		})
	}
}

func TestHookDuplicateDeliveryRunsOnce(t *testing.T) {
	h := newHarness(t, 1, "a_example_org")
	decodeQueued(t, h.serve(tagPush("d1", "1.1.0+1.26")))
	h.srv.Jobs.Wait()
	w := h.serve(tagPush("d1", "1.1.0+1.26"))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "duplicate delivery, ignored") {
		t.Errorf("second delivery: %d %q", w.Code, w.Body.String())
	}
	h.srv.Jobs.Wait()
	if calls := h.run.Calls(); len(calls) != 1 {
		t.Errorf("runs %v, want one", calls)
	}
}

func TestHookPushAndCreateOfOneTagRunOnce(t *testing.T) {
	h := newHarness(t, 1, "a_example_org")
	decodeQueued(t, h.serve(tagPush("d1", "1.1.0+1.26")))
	h.srv.Jobs.Wait()
	h.clock.Add(30)
	w := h.serve(tagCreate("d2", "1.1.0+1.26"))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "duplicate tag or commit, ignored") {
		t.Errorf("create delivery: %d %q", w.Code, w.Body.String())
	}
	h.srv.Jobs.Wait()
	if calls := h.run.Calls(); len(calls) != 1 {
		t.Fatalf("runs %v, want one", calls)
	}

	// After the window, a redelivery with a new id (an operator's retry)
	// runs again.
	h.clock.Add(int64(tagWindow / time.Second))
	resp := decodeQueued(t, h.serve(tagPush("d3", "1.1.0+1.26")))
	if !slices.Equal(resp.Queued, []string{"a_example_org"}) {
		t.Errorf("after the window: %+v", resp)
	}
	h.srv.Jobs.Wait()
	if calls := h.run.Calls(); len(calls) != 2 {
		t.Errorf("runs %v, want two", calls)
	}
}

func TestHookConcurrentDeliveriesForOneAppCoalesce(t *testing.T) {
	h := newHarness(t, 4, "a_example_org")
	h.run.gate = make(chan struct{})
	ts := httptest.NewServer(h.srv)
	defer ts.Close()

	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, i := range rand.Perm(n) {
		wg.Go(func() {
			tag := fmt.Sprintf("1.0.%d+1", i+1)
			body := giteaPushBody("refs/tags/" + tag)
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/hooks/recipes", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			req.Header.Set("X-Gitea-Delivery", fmt.Sprintf("d%d", i))
			req.Header.Set("X-Gitea-Event", "push")
			req.Header.Set("X-Gitea-Signature", hookMAC(body))
			resp, err := ts.Client().Do(req)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				errs <- fmt.Errorf("%s: %d %q", tag, resp.StatusCode, b)
			}
		})
	}
	// Every delivery is answered while the first run still blocks: the
	// handler never waits for a job.
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	close(h.run.gate)
	h.srv.Jobs.Wait()

	calls := h.run.Calls()
	t.Logf("runs: %v", calls)
	if len(calls) == 0 || len(calls) > 2 {
		t.Fatalf("%d runs %v, want one or two (the rest coalesce while the first runs)", len(calls), calls)
	}
	if last := calls[len(calls)-1]; last.tag != "1.0.40+1" {
		t.Errorf("last run for %s, want 1.0.40+1 (runs %v)", last.tag, calls)
	}
	if m := h.run.maxApp.Load(); m != 1 {
		t.Errorf("%d runs of the app at once, want 1", m)
	}
}

func TestJobsRunAppsConcurrently(t *testing.T) {
	for _, parallel := range []int{1, 2} {
		t.Run(fmt.Sprintf("parallel %d", parallel), func(t *testing.T) {
			run := &fakeRun{gate: make(chan struct{}), started: make(chan string, 2)}
			jobs := &Jobs{Run: run.Run, Parallel: parallel}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Requests before Start wait for it.
			jobs.Request("a_example_org", Ref{Tag: "1.1.0+1.26"})
			jobs.Request("b_example_org", Ref{Tag: "1.1.0+1.26"})
			jobs.Start(ctx)

			<-run.started
			// With Parallel 1 the second start can never come: a short
			// wait shows it; with Parallel 2 it comes without the gate.
			patience := 100 * time.Millisecond
			if parallel > 1 {
				patience = 10 * time.Second
			}
			select {
			case <-run.started:
				if parallel == 1 {
					t.Error("a second app started with Parallel 1")
				}
			case <-time.After(patience):
				if parallel == 2 {
					t.Error("the second app did not start while the first ran with Parallel 2")
				}
			}
			close(run.gate)
			jobs.Wait()
			if calls := run.Calls(); len(calls) != 2 {
				t.Errorf("runs %v, want two", calls)
			}
			if m := run.maxAll.Load(); m != int32(parallel) {
				t.Errorf("%d jobs at once, want %d", m, parallel)
			}
		})
	}
}

func TestJobsRunOnceMoreOnlyForANewerTag(t *testing.T) {
	log := &syncBuffer{}
	run := &fakeRun{gate: make(chan struct{}), started: make(chan string, 4)}
	jobs := &Jobs{Run: run.Run, Log: log}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jobs.Start(ctx)

	jobs.Request("a", Ref{Tag: "1.0.5+1"})
	<-run.started
	jobs.Request("a", Ref{Tag: "1.0.3+1"})    // older than the running job
	jobs.Request("a", Ref{Tag: "1.0.5+1"})    // the running job's
	jobs.Request("a", Ref{Tag: "latest"})     // not a recipe version
	jobs.Request("a", Ref{Tag: "1.0.7+1"})    // newer: one more run
	jobs.Request("a", Ref{Tag: "1.0.6+1"})    // older than the pending one
	jobs.Request("a", Ref{Tag: "1.0.10+1"})   // newest: replaces the pending one
	jobs.Request("a", Ref{Tag: "v1.0.9+1"})   // older, spelt with a v
	jobs.Request("b", Ref{Tag: "not-a-tag!"}) // ignored too
	close(run.gate)
	jobs.Wait()

	want := []call{{"a", "1.0.5+1", false}, {"a", "1.0.10+1", false}}
	if got := run.Calls(); !slices.Equal(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
	if !strings.Contains(log.String(), `request for tag "latest" ignored`) {
		t.Errorf("log has no line for the unparsable tag:\n%s", log)
	}

	// After the app's jobs ended, the same tag runs again: only the
	// HookServer remembers tags, for its window.
	jobs.Request("a", Ref{Tag: "1.0.10+1"})
	jobs.Wait()
	if got := run.Calls(); len(got) != 3 {
		t.Errorf("runs %v, want three", got)
	}
}

func TestJobsSurviveAPanickingRun(t *testing.T) {
	log := &syncBuffer{}
	var n atomic.Int32
	jobs := &Jobs{Log: log, Run: func(ctx context.Context, stack string, ref Ref) error {
		if n.Add(1) == 1 {
			panic("boom")
		}
		return nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jobs.Start(ctx)
	jobs.Request("a", Ref{Tag: "1.0.0+1"})
	jobs.Wait()
	jobs.Request("a", Ref{Tag: "1.0.1+1"})
	jobs.Wait()
	if n.Load() != 2 || !strings.Contains(log.String(), "panic: boom") {
		t.Errorf("%d runs, log:\n%s", n.Load(), log)
	}
}

func TestJobsWaitReturnsAfterTheContextEnds(t *testing.T) {
	run := &fakeRun{gate: make(chan struct{}), started: make(chan string, 1)}
	jobs := &Jobs{Run: run.Run}
	ctx, cancel := context.WithCancel(context.Background())
	jobs.Start(ctx)
	jobs.Request("a", Ref{Tag: "1.0.0+1"})
	<-run.started
	jobs.Request("a", Ref{Tag: "1.0.1+1"}) // pending, never started
	cancel()
	done := make(chan struct{})
	go func() { jobs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait blocks after the context ended")
	}
	if calls := run.Calls(); len(calls) != 1 {
		t.Errorf("runs %v, want one", calls)
	}
}

func TestHookBranchPushQueuesTheCommit(t *testing.T) {
	h := newHarness(t, 1, "a_example_org")
	resp := decodeQueued(t, h.serve(giteaDelivery("push", "d1", giteaPushBody("refs/heads/main"))))
	if !slices.Equal(resp.Queued, []string{"a_example_org"}) {
		t.Fatalf("queued %v", resp.Queued)
	}
	h.srv.Jobs.Wait()
	// The same commit again under another id (a redelivery with a new id,
	// or a replayed body): nothing more.
	if w := h.serve(giteaDelivery("push", "d2", giteaPushBody("refs/heads/main"))); w.Code != http.StatusOK {
		t.Errorf("same commit again: %d %q", w.Code, w.Body.String())
	}
	h.srv.Jobs.Wait()
	want := []call{{"a_example_org", hookSHA, false}}
	if calls := h.run.Calls(); !slices.Equal(calls, want) {
		t.Errorf("runs %v, want %v", calls, want)
	}
}

func TestHookBranchPushFollowedByNobodyQueuesNothing(t *testing.T) {
	h := newHarness(t, 1) // Match finds no app following the branch
	w := h.serve(giteaDelivery("push", "d1", giteaPushBody("refs/heads/feature")))
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), "no app follows this branch") {
		t.Errorf("branch push: %d %q", w.Code, w.Body.String())
	}
	h.srv.Jobs.Wait()
	if calls := h.run.Calls(); len(calls) != 0 {
		t.Errorf("runs %v, want none", calls)
	}
}

func TestHookExplicitHookMarksItsRequests(t *testing.T) {
	h := newHarness(t, 1, "a_example_org")
	h.srv.Explicit = map[string]bool{"recipes": true}
	decodeQueued(t, h.serve(tagPush("d1", "1.1.0+1.26")))
	h.srv.Jobs.Wait()
	want := []call{{"a_example_org", "1.1.0+1.26", true}}
	if calls := h.run.Calls(); !slices.Equal(calls, want) {
		t.Errorf("runs %v, want %v", calls, want)
	}
}

func TestJobsCoalesceCommits(t *testing.T) {
	run := &fakeRun{gate: make(chan struct{}), started: make(chan string, 10)}
	jobs := &Jobs{Run: run.Run}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	jobs.Start(ctx)
	c1, c2, c3 := strings.Repeat("1", 40), strings.Repeat("2", 40), strings.Repeat("3", 40)
	jobs.Request("a", Ref{Commit: c1})
	<-run.started
	jobs.Request("a", Ref{Commit: c1})           // the running job's
	jobs.Request("a", Ref{Commit: c2})           // pending
	jobs.Request("a", Ref{Commit: c3})           // the branch moved on: replaces c2
	jobs.Request("a", Ref{Commit: "main"})       // not a commit id
	jobs.Request("a", Ref{Tag: "x", Commit: c2}) // both: refused
	jobs.Request("b", Ref{Tag: "1.0.0+1"})       // another app, a tag
	jobs.Request("b", Ref{Tag: "1.0.0+1", Explicit: true})
	close(run.gate)
	jobs.Wait()
	got := run.Calls()
	slices.SortStableFunc(got, func(x, y call) int { return strings.Compare(x.stack, y.stack) })
	want := []call{{"a", c1, false}, {"a", c3, false}, {"b", "1.0.0+1", true}}
	if !slices.Equal(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
}

func TestHookTagThatIsNoRecipeVersionQueuesNothing(t *testing.T) {
	h := newHarness(t, 1, "a_example_org")
	w := h.serve(tagPush("d1", "latest"))
	if w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), "not a recipe version") {
		t.Errorf("tag latest: %d %q", w.Code, w.Body.String())
	}
	h.srv.Jobs.Wait()
	if calls := h.run.Calls(); len(calls) != 0 {
		t.Errorf("runs %v, want none", calls)
	}
}

func TestHookMatchFailureLeavesTheDeliveryToBeRetried(t *testing.T) {
	h := newHarness(t, 1, "a_example_org")
	fail := true
	match := h.srv.Match
	h.srv.Match = func(ctx context.Context, d webhook.Delivery) ([]string, error) {
		if fail {
			return nil, fmt.Errorf("cluster unreachable")
		}
		return match(ctx, d)
	}
	if w := h.serve(tagPush("d1", "1.1.0+1.26")); w.Code != http.StatusInternalServerError {
		t.Fatalf("failed match: %d %q", w.Code, w.Body.String())
	}
	fail = false
	decodeQueued(t, h.serve(tagPush("d1", "1.1.0+1.26")))
	h.srv.Jobs.Wait()
	if calls := h.run.Calls(); len(calls) != 1 {
		t.Errorf("runs %v, want one", calls)
	}
}

func TestNormaliseRepo(t *testing.T) {
	same := []string{
		"https://git.example.org/coop-cloud/web.git",
		"git.example.org/coop-cloud/web/",
		"https://user:pw@Git.Example.org/coop-cloud/web",
		"ssh://git@git.example.org:2222/coop-cloud/web.git",
		"git@git.example.org:coop-cloud/web.git",
		"http://git.example.org/coop-cloud/web.git/",
	}
	for _, s := range same {
		if got := normaliseRepo(s); got != "git.example.org/coop-cloud/web" {
			t.Errorf("normaliseRepo(%q) = %q", s, got)
		}
		if !sameRepo(same[0], s) {
			t.Errorf("sameRepo(%q, %q) is false", same[0], s)
		}
	}
	tests := []struct {
		name         string
		remote, repo string
		want         bool
	}{
		{"full name", "https://git.example.org/coop-cloud/web.git", "coop-cloud/web", true},
		{"full name in another case", "https://git.example.org/coop-cloud/web.git", "Coop-Cloud/Web", true},
		{"another owner", "https://git.example.org/coop-cloud/web.git", "https://git.example.org/someone/web.git", false},
		{"another host", "https://git.example.org/coop-cloud/web.git", "https://github.com/coop-cloud/web.git", false},
		{"a name alone", "https://git.example.org/coop-cloud/web.git", "web", false},
		{"a prefix", "https://git.example.org/coop-cloud/web.git", "https://git.example.org/coop-cloud/we", false},
		{"path case matters in urls", "https://git.example.org/coop-cloud/web.git", "https://git.example.org/Coop-Cloud/web.git", false},
		{"local path", "/srv/recipes/web", "file:///srv/recipes/web.git", true},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameRepo(tt.remote, tt.repo); got != tt.want {
				t.Errorf("sameRepo(%q, %q) = %t", tt.remote, tt.repo, got)
			}
		})
	}
	if n := repoName("git@git.example.org:coop-cloud/Web.git"); n != "Web" {
		t.Errorf("repoName = %q", n)
	}
}

// TestMatchRecipeFromEnvRecords runs on the in-memory fake swarm.
func TestMatchRecipeFromEnvRecords(t *testing.T) {
	c, remote := fixture(t)
	g := &Agent{Cluster: c, Dir: t.TempDir(), Server: "srv"}
	ctx := context.Background()
	got, err := g.MatchRecipe(ctx, webhook.Delivery{Event: webhook.Tag, Tag: "1.1.0+1.26", Repo: "file://" + remote + ".git/"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a_example_org", "b_example_org"}; !slices.Equal(got, want) {
		t.Errorf("MatchRecipe = %v, want %v", got, want)
	}
	got, err = g.MatchRecipe(ctx, webhook.Delivery{Event: webhook.Tag, Tag: "1.1.0+1.26", Repo: "https://git.example.org/someone/web.git"})
	if err != nil || len(got) != 0 {
		t.Errorf("another repository named web: %v, %v", got, err)
	}
}
