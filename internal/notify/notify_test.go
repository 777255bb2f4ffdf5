package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	retryBackoff = time.Millisecond
	os.Exit(m.Run())
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestSignPublishedExample(t *testing.T) {
	got := Sign(testSecret, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestSignMatchesHMAC(t *testing.T) {
	rawKey := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name   string
		secret string
		key    []byte
	}{
		{"whsec secret is base64 decoded", "whsec_" + base64.StdEncoding.EncodeToString(rawKey), rawKey},
		{"other secret is raw key bytes", "plain shared secret", []byte("plain shared secret")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ts, body := "evt_1", time.Unix(1700000000, 0), []byte(`{"a":1}`)
			m := hmac.New(sha256.New, tt.key)
			m.Write([]byte("evt_1.1700000000.{\"a\":1}"))
			want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
			if got := Sign(tt.secret, id, ts, body); got != want {
				t.Errorf("Sign = %q, want %q", got, want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1700000000, 0)
	body := []byte(`{"id":"evt_1"}`)
	good := Sign(testSecret, "evt_1", now, body)
	other := Sign("whsec_"+base64.StdEncoding.EncodeToString([]byte("another key")), "evt_1", now, body)
	headers := func(id string, ts time.Time, sig string) http.Header {
		h := http.Header{}
		if id != "" {
			h.Set("webhook-id", id)
		}
		if !ts.IsZero() {
			h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		}
		if sig != "" {
			h.Set("webhook-signature", sig)
		}
		return h
	}
	tests := []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		want   error
	}{
		{"good", testSecret, headers("evt_1", now, good), body, nil},
		{"clock skew within tolerance", testSecret, headers("evt_1", now, good), body, nil},
		{"changed body", testSecret, headers("evt_1", now, good), []byte(`{"id":"evt_2"}`), ErrBadSignature},
		{"changed id", testSecret, headers("evt_2", now, good), body, ErrBadSignature},
		{"wrong secret", "whsec_" + base64.StdEncoding.EncodeToString([]byte("wrong")), headers("evt_1", now, good), body, ErrBadSignature},
		{"stale timestamp", testSecret, headers("evt_1", now.Add(-6*time.Minute), Sign(testSecret, "evt_1", now.Add(-6*time.Minute), body)), body, ErrStaleTimestamp},
		{"future timestamp", testSecret, headers("evt_1", now.Add(6*time.Minute), Sign(testSecret, "evt_1", now.Add(6*time.Minute), body)), body, ErrStaleTimestamp},
		{"no id", testSecret, headers("", now, good), body, ErrMissingHeaders},
		{"no timestamp", testSecret, headers("evt_1", time.Time{}, good), body, ErrMissingHeaders},
		{"no signature", testSecret, headers("evt_1", now, ""), body, ErrMissingHeaders},
		{"no headers", testSecret, http.Header{}, body, ErrMissingHeaders},
		{"timestamp not a number", testSecret, http.Header{"Webhook-Id": {"evt_1"}, "Webhook-Timestamp": {"soon"}, "Webhook-Signature": {good}}, body, ErrMissingHeaders},
		{"correct one of several", testSecret, headers("evt_1", now, other+" v1,bm9wZQ== "+good), body, nil},
		{"only wrong ones of several", testSecret, headers("evt_1", now, other+" v1,bm9wZQ== v1,!!!"), body, ErrBadSignature},
		{"other version ignored", testSecret, headers("evt_1", now, "v2,"+strings.TrimPrefix(good, "v1,")), body, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verifyAt := now
			if tt.name == "clock skew within tolerance" {
				verifyAt = now.Add(4 * time.Minute)
			}
			err := Verify(tt.secret, tt.h, tt.body, verifyAt, 5*time.Minute)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyDefaultTolerance(t *testing.T) {
	now := time.Unix(1700000000, 0)
	h := http.Header{}
	h.Set("webhook-id", "evt_1")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", Sign(testSecret, "evt_1", now, nil))
	if err := Verify(testSecret, h, nil, now.Add(4*time.Minute), 0); err != nil {
		t.Errorf("within 5 minutes: %v", err)
	}
	if err := Verify(testSecret, h, nil, now.Add(6*time.Minute), 0); !errors.Is(err, ErrStaleTimestamp) {
		t.Errorf("after 6 minutes: %v, want ErrStaleTimestamp", err)
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if !regexp.MustCompile(`^evt_[0-9a-f]{32}$`).MatchString(a) {
		t.Errorf("NewID = %q, want evt_ and 32 hex digits", a)
	}
	if a == b {
		t.Errorf("two NewID calls gave %q", a)
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name string
		e    Event
		want string
	}{
		{
			"rolled back",
			Event{Type: RolledBack, App: "cloud.example.org", From: "1.2.0+3", To: "1.3.0+3", Message: "healthcheck failed", Snapshot: "1a2b3c4d5e6f7a8b9c0d"},
			"cloud.example.org: update 1.2.0+3 → 1.3.0+3 rolled back: healthcheck failed (snapshot 1a2b3c4d)",
		},
		{
			"available",
			Event{Type: Available, App: "cloud.example.org", From: "1.2.0+3", To: "1.3.0+3"},
			"cloud.example.org: update 1.2.0+3 → 1.3.0+3 available",
		},
		{
			"held with reason",
			Event{Type: Held, App: "wiki.example.org", From: "2.0.0+1", To: "3.0.0+1", Reason: "manual-step", Message: "the release notes ask for a manual step"},
			"wiki.example.org: update 2.0.0+1 → 3.0.0+1 held: the release notes ask for a manual step (manual-step)",
		},
		{
			"failed needs a person",
			Event{Type: Failed, App: "a.example.org", To: "1.0.0+1", Message: "restore failed:\nvolume busy"},
			"a.example.org: update to 1.0.0+1 failed, rollback failed too: restore failed: volume busy",
		},
		{
			"succeeded",
			Event{Type: Succeeded, App: "a.example.org", From: "1.0.0+1", To: "1.1.0+1"},
			"a.example.org: update 1.0.0+1 → 1.1.0+1 succeeded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Summary(); got != tt.want {
				t.Errorf("Summary =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// recorder is an httptest handler that keeps every request and answers with
// the next status of its script (200 once the script is used up).
type recorder struct {
	mu       sync.Mutex
	statuses []int
	reqs     []recorded
}

type recorded struct {
	header http.Header
	body   []byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, recorded{req.Header.Clone(), body})
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status = r.statuses[0]
		if len(r.statuses) > 1 {
			r.statuses = r.statuses[1:]
		}
	}
	w.WriteHeader(status)
}

func (r *recorder) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func serve(t *testing.T, statuses ...int) (*recorder, string) {
	t.Helper()
	rec := &recorder{statuses: statuses}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

func testEvent() Event {
	return Event{
		ID:        "evt_0123456789abcdef0123456789abcdef",
		Type:      RolledBack,
		Time:      time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Server:    "node1.example.org",
		App:       "cloud.example.org",
		Stack:     "cloud_example_org",
		Recipe:    "nextcloud",
		From:      "1.2.0+3",
		To:        "1.3.0+3",
		Message:   "healthcheck failed",
		Operation: "op_42",
		Snapshot:  "1a2b3c4d",
		Actor:     "auto-update",
	}
}

func TestSendWebhookIsSignedJSON(t *testing.T) {
	rec, url := serve(t)
	s := &Sender{WebhookURL: url + "/hook", WebhookSecret: testSecret}
	e := testEvent()
	if err := s.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("webhook got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if err := Verify(testSecret, r.header, r.body, time.Now(), time.Minute); err != nil {
		t.Errorf("Verify on the received request: %v", err)
	}
	var got Event
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body is not an event: %v\n%s", err, r.body)
	}
	if !got.Time.Equal(e.Time) {
		t.Errorf("time = %v, want %v", got.Time, e.Time)
	}
	got.Time = e.Time
	if !reflect.DeepEqual(got, e) {
		t.Errorf("received event\n%+v\nwant\n%+v", got, e)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json",
		"User-Agent":   "abra-agent",
		"webhook-id":   e.ID,
	} {
		if v := r.header.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}
}

func TestSendFillsIDAndTime(t *testing.T) {
	rec, url := serve(t)
	s := &Sender{WebhookURL: url, WebhookSecret: "raw key"}
	if err := s.Send(context.Background(), Event{Type: Succeeded, App: "a.example.org"}); err != nil {
		t.Fatal(err)
	}
	r := rec.requests()[0]
	var got Event
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.ID, "evt_") || got.ID != r.header.Get("webhook-id") {
		t.Errorf("id = %q, webhook-id header = %q", got.ID, r.header.Get("webhook-id"))
	}
	if got.Time.IsZero() {
		t.Error("time not set")
	}
	if err := Verify("raw key", r.header, r.body, time.Now(), time.Minute); err != nil {
		t.Error(err)
	}
}

func TestSendPush(t *testing.T) {
	rec, url := serve(t)
	s := &Sender{PushURLs: []string{url + "/abra-updates"}}
	e := testEvent()
	if err := s.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("push got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if string(r.body) != e.Summary() {
		t.Errorf("body = %q, want %q", r.body, e.Summary())
	}
	for name, want := range map[string]string{
		"Title":        "abra: cloud.example.org",
		"Tags":         RolledBack,
		"Content-Type": "text/plain; charset=utf-8",
		"User-Agent":   "abra-agent",
	} {
		if v := r.header.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}
}

func TestSendRetriesServerErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
	}{
		{"500", http.StatusInternalServerError},
		{"429", http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			push, pushURL := serve(t, tt.status, http.StatusOK)
			hook, hookURL := serve(t, tt.status, http.StatusOK)
			s := &Sender{PushURLs: []string{pushURL}, WebhookURL: hookURL, WebhookSecret: testSecret}
			if err := s.Send(context.Background(), testEvent()); err != nil {
				t.Fatalf("Send = %v, want success after a retry", err)
			}
			if n := len(push.requests()); n != 2 {
				t.Errorf("push got %d requests, want 2", n)
			}
			reqs := hook.requests()
			if len(reqs) != 2 {
				t.Fatalf("webhook got %d requests, want 2", len(reqs))
			}
			if reqs[0].header.Get("webhook-id") != reqs[1].header.Get("webhook-id") {
				t.Error("retry changed webhook-id")
			}
			if err := Verify(testSecret, reqs[1].header, reqs[1].body, time.Now(), time.Minute); err != nil {
				t.Errorf("retried webhook: %v", err)
			}
		})
	}
}

func TestSendDoesNotRetryClientErrors(t *testing.T) {
	rec, url := serve(t, http.StatusNotFound)
	err := (&Sender{PushURLs: []string{url}}).Send(context.Background(), testEvent())
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Errorf("Send = %v, want a 404 StatusError", err)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestSendFailingDestinationIsNamedRedacted(t *testing.T) {
	failing, failingURL := serve(t, http.StatusServiceUnavailable)
	push, pushURL := serve(t)
	hook, hookURL := serve(t)
	failingBase := strings.TrimPrefix(failingURL, "http://")
	s := &Sender{
		PushURLs:      []string{"http://alice:hunter2@" + failingBase + "/topic?token=tok3n", pushURL},
		WebhookURL:    hookURL,
		WebhookSecret: testSecret,
	}
	err := s.Send(context.Background(), testEvent())
	if err == nil {
		t.Fatal("Send = nil, want an error")
	}
	msg := err.Error()
	t.Log(msg)
	if !strings.Contains(msg, "push http://"+failingBase+"/topic: ") {
		t.Errorf("error does not name the redacted URL: %s", msg)
	}
	if !strings.Contains(msg, "503") {
		t.Errorf("error does not give the status: %s", msg)
	}
	for _, leak := range []string{"tok3n", "token", "hunter2", "alice", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error contains %q: %s", leak, msg)
		}
	}
	if n := len(failing.requests()); n != 3 {
		t.Errorf("failing destination got %d requests, want 3", n)
	}
	if n := len(push.requests()); n != 1 {
		t.Errorf("other push destination got %d requests, want 1", n)
	}
	if n := len(hook.requests()); n != 1 {
		t.Errorf("webhook got %d requests, want 1", n)
	}
	var se *SendError
	if !errors.As(err, &se) || se.Total != 3 || len(se.Failed) != 1 {
		t.Errorf("error = %#v, want a SendError with 1 of 3 failed", err)
	}
}

func TestSendErrorsNeverShowSecrets(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	badSecret := "whsec_not*base64*s3cr3t"
	tests := []struct {
		name   string
		s      *Sender
		leaks  []string
		reason string
	}{
		{
			"unreachable webhook",
			&Sender{WebhookURL: "http://bob:pw0rd@" + strings.TrimPrefix(closedURL, "http://") + "/hook?sig=q5ery", WebhookSecret: testSecret, Attempts: 2},
			[]string{"pw0rd", "bob", "q5ery", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
			"after 2 attempts",
		},
		{
			"secret not base64",
			&Sender{WebhookURL: closedURL, WebhookSecret: badSecret},
			[]string{"s3cr3t", "not*base64"},
			"not base64",
		},
		{
			"no secret",
			&Sender{WebhookURL: closedURL},
			nil,
			"no webhook secret",
		},
		{
			"unparseable URL",
			&Sender{PushURLs: []string{"http://carol:l3tme1n@[::1/x?key=k3y"}},
			[]string{"l3tme1n", "carol", "k3y"},
			"not an http or https URL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Send(context.Background(), testEvent())
			if err == nil {
				t.Fatal("Send = nil, want an error")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tt.reason) {
				t.Errorf("error does not say %q: %s", tt.reason, msg)
			}
			for _, leak := range tt.leaks {
				if strings.Contains(msg, leak) {
					t.Errorf("error contains %q: %s", leak, msg)
				}
			}
		})
	}
}

func TestSendStopsWhenContextEnds(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := (&Sender{PushURLs: []string{srv.URL}, Attempts: 5}).Send(ctx, testEvent())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send = %v, want context.Canceled", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("got %d requests after the context ended", n)
	}
}

func TestEmptySenderSendsNothing(t *testing.T) {
	var nilSender *Sender
	for _, s := range []*Sender{{}, nilSender} {
		if err := s.Send(context.Background(), testEvent()); err != nil {
			t.Errorf("Send = %v, want nil", err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "https://ntfy.sh/abra", "https://ntfy.sh/abra"},
		{"userinfo and query", "https://u:p@gotify.example.org/message?token=abc#x", "https://gotify.example.org/message"},
		{"port kept", "http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/hook"},
		{"unparseable", "http://u:p@[::1/x?token=abc", "http://[::1/x"},
		{"no scheme", "u:p@host/x?token=abc", "<invalid URL>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactURL(tt.in); got != tt.want {
				t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
