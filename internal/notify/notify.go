// Package notify tells people about app updates: a one-line message to push
// URLs (ntfy, gotify or anything that takes a plain POST body) and the full
// event as JSON to a webhook signed as Standard Webhooks specify
// (https://www.standardwebhooks.com).
//
// Delivery is best effort: every destination is tried, a failing one never
// stops the others, and Send reports which ones failed. Errors name a
// destination by its redacted URL (scheme://host/path) and never contain the
// webhook secret, URL credentials or query strings.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event types.
const (
	// Available: a newer version of the app's recipe exists.
	Available = "update.available"
	// Held: an update exists but a gate holds it back (see Event.Reason).
	Held = "update.held"
	// Succeeded: the app runs the new version.
	Succeeded = "update.succeeded"
	// Failed: the update failed and the rollback failed too; a person is needed.
	Failed = "update.failed"
	// RolledBack: the update failed; the previous version and its data were put back.
	RolledBack = "update.rolled_back"
)

// Event is one thing that happened to an app's update. Its JSON form is the
// webhook body.
type Event struct {
	ID        string    `json:"id"` // unique per event; see NewID
	Type      string    `json:"type"`
	Time      time.Time `json:"time"`
	Server    string    `json:"server,omitempty"`
	App       string    `json:"app"` // domain
	Stack     string    `json:"stack,omitempty"`
	Recipe    string    `json:"recipe,omitempty"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Reason    string    `json:"reason,omitempty"`    // a gate's reason code, e.g. "manual-step"
	Message   string    `json:"message"`             // one sentence for people
	Operation string    `json:"operation,omitempty"` // the operation record's id
	Snapshot  string    `json:"snapshot,omitempty"`  // backup snapshot id
	Actor     string    `json:"actor,omitempty"`
}

// NewID returns a new random event ID: "evt_" and 16 random bytes in hex.
func NewID() string {
	var b [16]byte
	// crypto/rand.Read never returns an error (it crashes the program
	// instead when the system's randomness source fails).
	_, _ = rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}

// Summary is the one-line text used for push messages, e.g.
//
//	cloud.example.org: update 1.2.0+3 → 1.3.0+3 rolled back: healthcheck failed (snapshot 1a2b3c4d)
//
// The reason code and the short form (8 characters) of the snapshot id go in
// parentheses at the end when set.
func (e Event) Summary() string {
	var b strings.Builder
	if name := firstNonEmpty(e.App, e.Stack); name != "" {
		b.WriteString(name)
		b.WriteString(": ")
	}
	b.WriteString("update")
	switch {
	case e.From != "" && e.To != "":
		b.WriteString(" " + e.From + " → " + e.To)
	case e.To != "":
		b.WriteString(" to " + e.To)
	case e.From != "":
		b.WriteString(" from " + e.From)
	}
	b.WriteString(" " + verb(e.Type))
	if msg := oneLine(e.Message); msg != "" {
		b.WriteString(": " + msg)
	}
	var details []string
	if e.Reason != "" {
		details = append(details, e.Reason)
	}
	if e.Snapshot != "" {
		details = append(details, "snapshot "+shortID(e.Snapshot))
	}
	if len(details) > 0 {
		b.WriteString(" (" + strings.Join(details, ", ") + ")")
	}
	return oneLine(b.String())
}

func verb(eventType string) string {
	switch eventType {
	case Available:
		return "available"
	case Held:
		return "held"
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed, rollback failed too"
	case RolledBack:
		return "rolled back"
	case "":
		return "event"
	}
	return strings.TrimPrefix(eventType, "update.")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// oneLine folds line breaks and tabs into single spaces so text fits a push
// message line and an HTTP header.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// retryBackoff is the wait before the second attempt at a destination; it
// doubles for each attempt after that. Tests shorten it.
var retryBackoff = 200 * time.Millisecond

const (
	defaultAttempts = 3
	// defaultTolerance is the Standard Webhooks recommendation.
	defaultTolerance = 5 * time.Minute
	userAgent        = "abra-agent"
	secretPrefix     = "whsec_"
)

var defaultClient = &http.Client{Timeout: 10 * time.Second}

// Sender delivers events to push URLs and a webhook. Its fields are read, not
// changed, by Send, so one Sender may be used by several goroutines at once.
type Sender struct {
	// PushURLs each get an HTTP POST whose body is Event.Summary
	// (text/plain; charset=utf-8) with the headers "Title: abra: <app>" and
	// "Tags: <type>" (ntfy-compatible; gotify and other services take the
	// plain body). Credentials in a URL (userinfo or query) are sent as
	// given and never shown in errors.
	PushURLs []string
	// WebhookURL gets the Event as JSON, signed with WebhookSecret as
	// Standard Webhooks specify.
	WebhookURL string
	// WebhookSecret is "whsec_<base64>" (the decoded base64 part is the
	// key) or any other non-empty string, used as the raw key bytes.
	WebhookSecret string
	// Client sends the requests; nil means a client with a 10 s timeout.
	Client *http.Client
	// Attempts is the number of tries per destination; 0 or less means 3.
	// Network errors, 5xx and 429 responses are retried after a short
	// backoff (200 ms, 400 ms, …); other responses are final.
	Attempts int
}

// Send delivers e to every destination at once and returns nil when all of
// them took it (2xx). Otherwise it returns one error that names each failed
// destination by its redacted URL and says why (status code or error); the
// per-destination errors are reachable with errors.Is and errors.As. A
// failing destination never stops the others. An empty or nil Sender sends
// nothing and returns nil.
//
// An event without an ID gets one from NewID and one without a Time gets the
// current time, so that every destination sees the same values. The webhook
// is not sent without a secret or with a "whsec_" secret that is not base64.
func (s *Sender) Send(ctx context.Context, e Event) error {
	if s == nil || (len(s.PushURLs) == 0 && s.WebhookURL == "") {
		return nil
	}
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}

	type job struct {
		kind, url string
		send      func() error
	}
	var jobs []job
	for _, u := range s.PushURLs {
		jobs = append(jobs, job{"push", u, func() error { return s.push(ctx, u, e) }})
	}
	if s.WebhookURL != "" {
		jobs = append(jobs, job{"webhook", s.WebhookURL, func() error { return s.webhook(ctx, s.WebhookURL, e) }})
	}

	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			if err := j.send(); err != nil {
				errs[i] = &DestinationError{Kind: j.kind, URL: redactURL(j.url), Err: err}
			}
		})
	}
	wg.Wait()

	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &SendError{Type: e.Type, Total: len(jobs), Failed: failed}
}

// DestinationError says why one destination did not take an event.
type DestinationError struct {
	Kind string // "push" or "webhook"
	URL  string // redacted: scheme://host/path
	Err  error
}

func (e *DestinationError) Error() string { return e.Kind + " " + e.URL + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *DestinationError) Unwrap() error { return e.Err }

// SendError is returned by Send when at least one destination failed.
type SendError struct {
	Type   string  // the event type
	Total  int     // destinations tried
	Failed []error // one *DestinationError per failed destination
}

func (e *SendError) Error() string {
	msgs := make([]string, len(e.Failed))
	for i, err := range e.Failed {
		msgs[i] = err.Error()
	}
	return fmt.Sprintf("notify %s: %d of %d destinations failed: %s",
		e.Type, len(e.Failed), e.Total, strings.Join(msgs, "; "))
}

// Unwrap returns the per-destination errors.
func (e *SendError) Unwrap() []error { return e.Failed }

func (s *Sender) push(ctx context.Context, rawURL string, e Event) error {
	body := []byte(e.Summary())
	title := "abra"
	if name := oneLine(firstNonEmpty(e.App, e.Stack)); name != "" {
		title += ": " + name
	}
	return s.post(ctx, rawURL, func() (*http.Request, error) {
		req, err := newRequest(ctx, rawURL, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		req.Header.Set("Title", title)
		req.Header.Set("Tags", oneLine(e.Type))
		return req, nil
	})
}

func (s *Sender) webhook(ctx context.Context, rawURL string, e Event) error {
	if s.WebhookSecret == "" {
		return errors.New("no webhook secret set")
	}
	key, err := webhookKey(s.WebhookSecret)
	if err != nil {
		return err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return s.post(ctx, rawURL, func() (*http.Request, error) {
		req, err := newRequest(ctx, rawURL, body)
		if err != nil {
			return nil, err
		}
		// Each attempt is signed anew: receivers reject old timestamps,
		// and the unchanged webhook-id lets them drop duplicates.
		ts := time.Now()
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", e.ID)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set("webhook-signature", sign(key, e.ID, ts, body))
		return req, nil
	})
}

func newRequest(ctx context.Context, rawURL string, body []byte) (*http.Request, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The parse error would quote the whole URL, credentials included.
		return nil, errors.New("not an http or https URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("build request: invalid URL")
	}
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

// post sends the requests newReq builds until one gets a 2xx response, the
// response is final, the attempts are used up or ctx ends.
func (s *Sender) post(ctx context.Context, rawURL string, newReq func() (*http.Request, error)) error {
	client := s.Client
	if client == nil {
		client = defaultClient
	}
	attempts := s.Attempts
	if attempts <= 0 {
		attempts = defaultAttempts
	}
	wait := retryBackoff
	var last error
	for i := 1; i <= attempts; i++ {
		if i == 1 && ctx.Err() != nil {
			return ctx.Err()
		}
		if i > 1 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (after %d attempts, last: %v)", ctx.Err(), i-1, last)
			case <-t.C:
			}
			wait *= 2
		}
		req, err := newReq()
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			last = stripURL(err)
			if ctx.Err() != nil {
				return fmt.Errorf("%w (after %d attempts)", last, i)
			}
			continue
		}
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return nil
		}
		last = &StatusError{Code: resp.StatusCode}
		if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
			return last
		}
	}
	if attempts == 1 {
		return last
	}
	return fmt.Errorf("%w (after %d attempts)", last, attempts)
}

// StatusError is a response status that a destination answered with instead
// of 2xx.
type StatusError struct {
	Code int
}

func (e *StatusError) Error() string {
	if text := http.StatusText(e.Code); text != "" {
		return fmt.Sprintf("status %d %s", e.Code, text)
	}
	return fmt.Sprintf("status %d", e.Code)
}

// stripURL drops the *url.Error layer that net/http adds: its message quotes
// the request URL, query string (tokens) included.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// redactURL returns scheme://host/path of rawURL: no userinfo, query or
// fragment.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		// Best effort for what url.Parse rejects: cut the query and
		// fragment, then anything up to an "@" in the authority.
		s := rawURL
		if i := strings.IndexAny(s, "?#"); i >= 0 {
			s = s[:i]
		}
		scheme, rest, ok := strings.Cut(s, "://")
		if !ok {
			return "<invalid URL>"
		}
		authority, path, _ := strings.Cut(rest, "/")
		if i := strings.LastIndex(authority, "@"); i >= 0 {
			authority = authority[i+1:]
		}
		s = scheme + "://" + authority
		if path != "" {
			s += "/" + path
		}
		return s
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}

// webhookKey returns the HMAC key that secret stands for.
func webhookKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	if key, err := base64.StdEncoding.DecodeString(rest); err == nil {
		return key, nil
	}
	if key, err := base64.RawStdEncoding.DecodeString(rest); err == nil {
		return key, nil
	}
	// Not the decode error: it quotes the secret's bytes.
	return nil, errors.New("webhook secret: the part after " + secretPrefix + " is not base64")
}

// Sign returns the Standard Webhooks signature header value
// "v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>", where
// timestamp is ts in unix seconds and key comes from secret as
// Sender.WebhookSecret describes. A "whsec_" secret whose rest is not base64
// is used as raw key bytes, whole.
func Sign(secret, id string, ts time.Time, body []byte) string {
	key, err := webhookKey(secret)
	if err != nil {
		key = []byte(secret)
	}
	return sign(key, id, ts, body)
}

func sign(key []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body))
}

func mac(key []byte, id string, unix int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(unix, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors returned by Verify.
var (
	// ErrMissingHeaders: webhook-id, webhook-timestamp or webhook-signature
	// is absent, or the timestamp is not unix seconds.
	ErrMissingHeaders = errors.New("missing or malformed webhook headers")
	// ErrStaleTimestamp: webhook-timestamp is further from now than the
	// tolerance, in the past or the future.
	ErrStaleTimestamp = errors.New("webhook timestamp outside the tolerance")
	// ErrBadSignature: no v1 entry of webhook-signature matches the body.
	ErrBadSignature = errors.New("webhook signature does not match")
)

// Verify checks a received webhook: the Standard Webhooks headers
// (webhook-id, webhook-timestamp, and webhook-signature, which may hold
// several space-separated "v1,<sig>" entries; one match is enough) against
// the raw body and secret. The timestamp must lie within tolerance of now in
// either direction; a tolerance of 0 or less means 5 minutes. Signatures are
// compared in constant time.
//
// The error is, for errors.Is, ErrMissingHeaders, ErrStaleTimestamp or
// ErrBadSignature, or says that a "whsec_" secret is not base64.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id := h.Get("webhook-id")
	tsText := h.Get("webhook-timestamp")
	sigs := h.Get("webhook-signature")
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	unix, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp is not unix seconds", ErrMissingHeaders)
	}
	if tolerance <= 0 {
		tolerance = defaultTolerance
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrStaleTimestamp
	}
	key, err := webhookKey(secret)
	if err != nil {
		return err
	}
	want := mac(key, id, unix, body)
	for _, entry := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}
