// Package webhook receives forge webhooks for the update agent: pushes of
// branches and tags from Gitea, Forgejo, GitHub and GitLab, and events signed
// as Standard Webhooks specify.
//
// Every hook is configured with one signature scheme and a secret; the
// request never chooses how it is verified (a GitHub hook ignores Gitea
// headers). Signatures are checked in constant time on the raw body, read up
// to a size limit, before anything in it is parsed. The payload is untrusted
// even when signed: Receive returns plain, validated strings (refs limited
// to what git allows, commits as lowercase hex) and nothing else, and callers
// must pass them on as data, never to a shell or a template.
package webhook

import (
	"container/list"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"coopcloud.tech/abra/internal/notify"
)

// Scheme is how a hook's deliveries are authenticated.
type Scheme string

// Schemes.
const (
	// Gitea: X-Gitea-Signature is the hex HMAC-SHA256 of the body.
	Gitea Scheme = "gitea"
	// Forgejo: X-Forgejo-Signature is the hex HMAC-SHA256 of the body.
	Forgejo Scheme = "forgejo"
	// GitHub: X-Hub-Signature-256 is "sha256=" and the hex HMAC-SHA256 of
	// the body.
	GitHub Scheme = "github"
	// GitLab: X-Gitlab-Token is the secret itself (GitLab does not sign).
	GitLab Scheme = "gitlab"
	// Standard: Standard Webhooks (webhook-id, webhook-timestamp,
	// webhook-signature), see notify.Verify.
	Standard Scheme = "standard"
)

// Limits used when a Hook leaves them at zero.
const (
	DefaultMaxBody int64 = 1 << 20
	DefaultMaxAge        = 5 * time.Minute
)

// Normalised event names in Delivery.Event.
const (
	// Push: a branch was pushed.
	Push = "push"
	// Tag: a tag was pushed or created.
	Tag = "tag"
)

// Errors returned by Receive and Hook.Check, for errors.Is. Status maps them
// to HTTP statuses.
var (
	// ErrNoSecret: the hook has no secret. A hook without one is a
	// configuration error; it never accepts everything.
	ErrNoSecret = errors.New("webhook has no secret")
	// ErrUnknownScheme: the hook's scheme is not one of the Scheme
	// constants, or its secret does not suit the scheme.
	ErrUnknownScheme = errors.New("unknown webhook scheme")
	// ErrTooLarge: the body is longer than the hook's MaxBody.
	ErrTooLarge = errors.New("webhook body too large")
	// ErrMissingSignature: the scheme's signature header (for Standard
	// Webhooks, any of its three headers) is absent or empty.
	ErrMissingSignature = errors.New("webhook signature missing")
	// ErrBadSignature: the signature does not match the body and secret.
	ErrBadSignature = errors.New("webhook signature does not match")
	// ErrStale: a Standard Webhooks timestamp is further from now than
	// the hook's MaxAge.
	ErrStale = errors.New("webhook timestamp outside the tolerance")
	// ErrBadPayload: the delivery is authentic but malformed: not JSON, a
	// missing delivery id or event header, a ref or commit that is not
	// acceptable.
	ErrBadPayload = errors.New("bad webhook payload")
	// ErrUnsupportedEvent: an authentic event that is not a push of a
	// branch or tag (a ping, an issue, a deleted branch or tag, …); the
	// agent ignores it.
	ErrUnsupportedEvent = errors.New("unsupported webhook event")
)

// Hook is the configuration of one webhook endpoint.
type Hook struct {
	Name   string // e.g. "recipes"; used in error messages
	Scheme Scheme
	// Secret is the HMAC key (gitea, forgejo, github), the token
	// (gitlab), or a Standard Webhooks secret ("whsec_<base64>" or raw
	// key bytes). It is used exactly as given.
	Secret string
	// MaxBody is the longest body accepted in bytes; 0 or less means
	// DefaultMaxBody.
	MaxBody int64
	// MaxAge is how far a Standard Webhooks timestamp may be from now in
	// either direction; 0 or less means DefaultMaxAge. The forges' own
	// schemes carry no signed timestamp.
	MaxAge time.Duration
}

// Delivery is a verified, parsed event. It holds plain data only: nothing in
// it is meant to be run or interpolated into commands or templates.
type Delivery struct {
	// ID is the delivery id: X-Gitea-Delivery, X-Forgejo-Delivery,
	// X-GitHub-Delivery, Idempotency-Key (else X-Gitlab-Event-UUID) or
	// webhook-id. Only Standard Webhooks sign it; for the other schemes a
	// replayed body may come with a new id.
	ID string
	// Event is Push or Tag, or the raw event name of an unsupported event.
	Event  string
	Ref    string // full ref: refs/heads/<branch> or refs/tags/<tag>
	Tag    string // tag name when Ref is a tag
	Branch string // branch name when Ref is a branch
	// Commit is the pushed object id (40 or 64 lowercase hex) when the
	// payload has one; for an annotated tag some forges give the tag
	// object, not the commit.
	Commit string
	Repo   string // clone URL, else full name, as the payload says
}

// forge describes the headers of a scheme other than Standard.
type forge struct {
	signature string   // signature or token header
	event     string   // event name header
	ids       []string // delivery id headers, preferred first
	verify    func(secret, sig string, body []byte) bool
	// push maps the event header to how the payload is read: "" for an
	// unsupported event.
	push func(event string) string
}

const (
	anyPush    = "push"   // a push payload with a branch or tag ref
	branchPush = "branch" // a push payload with a branch ref
	tagPush    = "tagpush"
	create     = "create" // a create payload (short ref and ref_type)
)

func forgeEvents(event string) string {
	switch event {
	case "push":
		return anyPush
	case "create":
		return create
	}
	return ""
}

var forges = map[Scheme]forge{
	Gitea: {
		signature: "X-Gitea-Signature",
		event:     "X-Gitea-Event",
		ids:       []string{"X-Gitea-Delivery"},
		verify:    hexHMAC(""),
		push:      forgeEvents,
	},
	Forgejo: {
		signature: "X-Forgejo-Signature",
		event:     "X-Forgejo-Event",
		ids:       []string{"X-Forgejo-Delivery"},
		verify:    hexHMAC(""),
		push:      forgeEvents,
	},
	GitHub: {
		signature: "X-Hub-Signature-256",
		event:     "X-GitHub-Event",
		ids:       []string{"X-GitHub-Delivery"},
		verify:    hexHMAC("sha256="),
		push:      forgeEvents,
	},
	GitLab: {
		signature: "X-Gitlab-Token",
		event:     "X-Gitlab-Event",
		// Idempotency-Key stays the same when GitLab retries a delivery.
		ids:    []string{"Idempotency-Key", "X-Gitlab-Event-UUID"},
		verify: tokenEqual,
		push: func(event string) string {
			switch event {
			case "Push Hook":
				return branchPush
			case "Tag Push Hook":
				return tagPush
			}
			return ""
		},
	},
}

// Standard Webhooks headers.
var standardHeaders = []string{"webhook-id", "webhook-timestamp", "webhook-signature"}

// hexHMAC verifies a hex HMAC-SHA256 of the body after prefix.
func hexHMAC(prefix string) func(secret, sig string, body []byte) bool {
	return func(secret, sig string, body []byte) bool {
		rest, ok := strings.CutPrefix(sig, prefix)
		if !ok {
			return false
		}
		got, err := hex.DecodeString(rest)
		if err != nil {
			return false
		}
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		return hmac.Equal(got, m.Sum(nil))
	}
}

// tokenEqual compares digests so that neither the content nor the length of
// the secret shows in the time taken.
func tokenEqual(secret, token string, _ []byte) bool {
	a := sha256.Sum256([]byte(secret))
	b := sha256.Sum256([]byte(token))
	return hmac.Equal(a[:], b[:])
}

// Check reports whether h can verify anything: its scheme is known and its
// secret is set (ErrNoSecret otherwise). Receive checks too, before it reads
// the request.
func (h Hook) Check() error {
	if strings.TrimSpace(h.Secret) == "" {
		return fmt.Errorf("webhook %s: %w", h.Name, ErrNoSecret)
	}
	if h.Scheme == Standard {
		if rest, ok := strings.CutPrefix(h.Secret, "whsec_"); ok {
			_, err1 := base64.StdEncoding.DecodeString(rest)
			_, err2 := base64.RawStdEncoding.DecodeString(rest)
			if err1 != nil && err2 != nil {
				// notify.Verify would refuse it on every request.
				return fmt.Errorf("webhook %s: %w: the secret's part after whsec_ is not base64", h.Name, ErrUnknownScheme)
			}
		}
		return nil
	}
	if _, ok := forges[h.Scheme]; !ok {
		return fmt.Errorf("webhook %s: %w %q", h.Name, ErrUnknownScheme, h.Scheme)
	}
	return nil
}

// Receive authenticates and parses one delivery. It checks that the
// signature headers of h.Scheme are present, reads at most MaxBody+1 bytes
// of r.Body (more is ErrTooLarge; a Content-Length above MaxBody is refused
// before reading), verifies the signature on those raw bytes and only then
// parses them as JSON. Headers of other schemes are ignored. now is the time
// Standard Webhooks timestamps are compared with.
//
// Errors wrap, for errors.Is: ErrNoSecret or ErrUnknownScheme (h is
// misconfigured), ErrMissingSignature, ErrTooLarge, ErrBadSignature,
// ErrStale, ErrBadPayload or ErrUnsupportedEvent. With ErrUnsupportedEvent
// the Delivery holds the ID and the raw Event name, so that the caller can
// log the delivery; with any other error it is zero. Receive does not close
// r.Body.
func (h Hook) Receive(r *http.Request, now time.Time) (Delivery, error) {
	if err := h.Check(); err != nil {
		return Delivery{}, err
	}
	fail := func(err error, format string, args ...any) (Delivery, error) {
		if format != "" {
			err = fmt.Errorf("%w: "+format, append([]any{err}, args...)...)
		}
		return Delivery{}, fmt.Errorf("webhook %s: %w", h.Name, err)
	}

	// Unsigned requests are refused before their body is read.
	f, isForge := forges[h.Scheme]
	var sig string
	if isForge {
		s, err := single(r.Header, f.signature)
		if err != nil {
			return fail(err, "%s", f.signature)
		}
		sig = s
	} else {
		for _, name := range standardHeaders {
			if _, err := single(r.Header, name); err != nil {
				return fail(err, "%s", name)
			}
		}
	}

	body, err := readBody(r, h.MaxBody)
	if err != nil {
		return fail(err, "")
	}

	if !isForge {
		err := notify.Verify(h.Secret, r.Header, body, now, h.maxAge())
		switch {
		case err == nil:
		case errors.Is(err, notify.ErrStaleTimestamp):
			return fail(ErrStale, "")
		case errors.Is(err, notify.ErrBadSignature):
			return fail(ErrBadSignature, "")
		case errors.Is(err, notify.ErrMissingHeaders):
			// Present but malformed (a timestamp that is not a number).
			return fail(ErrMissingSignature, "%v", err)
		default:
			return fail(err, "")
		}
		d, err := parseStandard(r.Header.Get("webhook-id"), body)
		if err != nil {
			return d, fmt.Errorf("webhook %s: %w", h.Name, err)
		}
		return d, nil
	}

	if !f.verify(h.Secret, sig, body) {
		return fail(ErrBadSignature, "%s", f.signature)
	}
	d, err := f.parse(r.Header, body)
	if err != nil {
		return d, fmt.Errorf("webhook %s: %w", h.Name, err)
	}
	return d, nil
}

func (h Hook) maxAge() time.Duration {
	if h.MaxAge <= 0 {
		return DefaultMaxAge
	}
	return h.MaxAge
}

// single returns the one value of header name: ErrMissingSignature when it
// is absent or empty, ErrBadSignature when it is repeated (no forge sends
// two).
func single(h http.Header, name string) (string, error) {
	vals := h.Values(name)
	switch {
	case len(vals) == 0 || vals[0] == "":
		return "", ErrMissingSignature
	case len(vals) > 1:
		return "", fmt.Errorf("%w: header repeated", ErrBadSignature)
	}
	return vals[0], nil
}

// readBody reads at most maxBody+1 bytes so that an endless body costs no more.
func readBody(r *http.Request, maxBody int64) ([]byte, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if r.ContentLength > maxBody {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, r.ContentLength, maxBody)
	}
	if r.Body == nil {
		return nil, nil
	}
	limit := maxBody
	if limit < math.MaxInt64 {
		limit++
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, fmt.Errorf("%w: limit %d", ErrTooLarge, maxBody)
	case err != nil:
		return nil, fmt.Errorf("%w: read body: %w", ErrBadPayload, err)
	case int64(len(body)) > maxBody:
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxBody)
	}
	return body, nil
}

// forgePayload holds the fields read from Gitea, Forgejo, GitHub and GitLab
// payloads; everything else is ignored.
type forgePayload struct {
	Ref         string `json:"ref"`
	After       string `json:"after"`
	CheckoutSHA string `json:"checkout_sha"` // GitLab
	SHA         string `json:"sha"`          // Gitea and Forgejo create
	RefType     string `json:"ref_type"`     // create
	Deleted     bool   `json:"deleted"`      // GitHub
	Repository  struct {
		CloneURL string `json:"clone_url"`
		FullName string `json:"full_name"`
	} `json:"repository"`
	Project struct { // GitLab
		GitHTTPURL        string `json:"git_http_url"`
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
}

func (f forge) parse(h http.Header, body []byte) (Delivery, error) {
	var d Delivery
	for _, name := range f.ids {
		if d.ID = h.Get(name); d.ID != "" {
			break
		}
	}
	if d.ID == "" {
		return Delivery{}, fmt.Errorf("%w: no %s header", ErrBadPayload, strings.Join(f.ids, " or "))
	}
	if !validHeader(d.ID, false) {
		return Delivery{}, fmt.Errorf("%w: malformed delivery id", ErrBadPayload)
	}
	event := h.Get(f.event)
	if event == "" {
		return Delivery{}, fmt.Errorf("%w: no %s header", ErrBadPayload, f.event)
	}
	if !validHeader(event, true) {
		return Delivery{}, fmt.Errorf("%w: malformed %s header", ErrBadPayload, f.event)
	}
	kind := f.push(event)
	if kind == "" {
		return Delivery{ID: d.ID, Event: event}, fmt.Errorf("%w: %q", ErrUnsupportedEvent, event)
	}

	var p forgePayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Delivery{}, fmt.Errorf("%w: not a JSON push payload (the hook's content type must be application/json)", ErrBadPayload)
	}
	commit := p.After
	if p.CheckoutSHA != "" {
		commit = p.CheckoutSHA
	}
	if kind == create {
		switch p.RefType {
		case "tag":
		case "branch":
			// The push event of the same branch carries the commit.
			return Delivery{ID: d.ID, Event: event}, fmt.Errorf("%w: branch created", ErrUnsupportedEvent)
		default:
			return Delivery{}, fmt.Errorf("%w: create event with ref_type %q", ErrBadPayload, clip(p.RefType))
		}
		if !strings.HasPrefix(p.Ref, "refs/") {
			p.Ref = tagPrefix + p.Ref
		}
		commit = p.SHA
		kind = tagPush
	}
	repo := firstNonEmpty(p.Repository.CloneURL, p.Repository.FullName, p.Project.GitHTTPURL, p.Project.PathWithNamespace)
	return fill(d.ID, event, kind, p.Ref, commit, repo, p.Deleted)
}

// standardPayload is what a Standard Webhooks sender posts.
type standardPayload struct {
	Type  string `json:"type"` // "push" or "tag"
	Ref   string `json:"ref"`
	After string `json:"after"`
	Repo  string `json:"repo"`
}

func parseStandard(id string, body []byte) (Delivery, error) {
	if !validHeader(id, false) {
		return Delivery{}, fmt.Errorf("%w: malformed webhook-id", ErrBadPayload)
	}
	var p standardPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Delivery{}, fmt.Errorf("%w: not a JSON object with type, ref and after", ErrBadPayload)
	}
	var kind string
	switch p.Type {
	case Push:
		kind = anyPush
	case Tag:
		kind = tagPush
	case "":
		return Delivery{}, fmt.Errorf("%w: no type", ErrBadPayload)
	default:
		if !validHeader(p.Type, true) {
			return Delivery{}, fmt.Errorf("%w: malformed type", ErrBadPayload)
		}
		return Delivery{ID: id, Event: p.Type}, fmt.Errorf("%w: %q", ErrUnsupportedEvent, p.Type)
	}
	return fill(id, p.Type, kind, p.Ref, p.After, p.Repo, false)
}

const (
	headPrefix = "refs/heads/"
	tagPrefix  = "refs/tags/"
)

// fill validates the payload's values and builds the Delivery.
func fill(id, event, kind, ref, commit, repo string, deleted bool) (Delivery, error) {
	d := Delivery{ID: id, Ref: ref, Repo: repo}
	switch {
	case strings.HasPrefix(ref, headPrefix):
		d.Branch = ref[len(headPrefix):]
		d.Event = Push
	case strings.HasPrefix(ref, tagPrefix):
		d.Tag = ref[len(tagPrefix):]
		d.Event = Tag
	case ref == "":
		return Delivery{}, fmt.Errorf("%w: no ref", ErrBadPayload)
	default:
		return Delivery{}, fmt.Errorf("%w: ref is neither refs/heads/… nor refs/tags/…", ErrBadPayload)
	}
	if err := checkRefName(d.Branch + d.Tag); err != nil {
		return Delivery{}, fmt.Errorf("%w: ref name %w", ErrBadPayload, err)
	}
	what := "tag"
	if d.Event == Push {
		what = "branch"
	}
	if (kind == branchPush && d.Event != Push) || (kind == tagPush && d.Event != Tag) {
		return Delivery{}, fmt.Errorf("%w: %q event for a %s", ErrBadPayload, clip(event), what)
	}
	if commit != "" && !isObjectID(commit) {
		return Delivery{}, fmt.Errorf("%w: commit is not a lowercase hex object id", ErrBadPayload)
	}
	if deleted || (commit != "" && strings.Trim(commit, "0") == "") {
		return Delivery{ID: id, Event: event}, fmt.Errorf("%w: %s deleted", ErrUnsupportedEvent, what)
	}
	d.Commit = commit
	if len(repo) > 1024 || !printable(repo, false) {
		return Delivery{}, fmt.Errorf("%w: malformed repository", ErrBadPayload)
	}
	return d, nil
}

// checkRefName accepts a branch or tag name that git accepts
// (git-check-ref-format) and that is safe to pass around: printable ASCII,
// no spaces, at most 255 bytes, not starting with "-".
func checkRefName(name string) error {
	switch {
	case name == "":
		return errors.New("is empty")
	case len(name) > 255:
		return errors.New("is longer than 255 bytes")
	case !printable(name, false):
		return errors.New("has a space, control or non-ASCII character")
	case strings.ContainsAny(name, `~^:?*[\`):
		return errors.New(`has one of ~^:?*[\`)
	case strings.HasPrefix(name, "-"):
		return errors.New(`starts with "-"`)
	case strings.Contains(name, ".."), strings.Contains(name, "@{"), name == "@":
		return errors.New(`has ".." or "@{" or is "@"`)
	case strings.HasPrefix(name, "/"), strings.HasSuffix(name, "/"), strings.Contains(name, "//"),
		strings.HasSuffix(name, "."):
		return errors.New(`has an empty component or ends with "."`)
	}
	for c := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".lock") {
			return errors.New(`has a component starting with "." or ending with ".lock"`)
		}
	}
	return nil
}

// isObjectID reports whether s is a SHA-1 or SHA-256 object id in lowercase
// hex.
func isObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validHeader accepts a delivery id or event name: 1 to 255 printable ASCII
// bytes; spaces only where allowed (GitLab's event names have them).
func validHeader(s string, spaces bool) bool {
	return s != "" && len(s) <= 255 && printable(s, spaces)
}

func printable(s string, spaces bool) bool {
	for _, c := range []byte(s) {
		if c > '~' || c < ' ' || (c == ' ' && !spaces) {
			return false
		}
	}
	return true
}

// clip shortens untrusted text for an error message.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Status returns the HTTP status for the outcome of Receive: 200 for nil,
// 413 for ErrTooLarge, 401 for ErrMissingSignature and ErrBadSignature, 400
// for ErrBadPayload and ErrStale, 202 (accepted and ignored) for
// ErrUnsupportedEvent and 500 for anything else, a misconfigured hook
// included.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMissingSignature), errors.Is(err, ErrBadSignature):
		return http.StatusUnauthorized
	case errors.Is(err, ErrBadPayload), errors.Is(err, ErrStale):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnsupportedEvent):
		return http.StatusAccepted
	}
	return http.StatusInternalServerError
}

// Dedup remembers delivery ids so that a delivery is handled once. It keeps
// an id for its TTL and at most Max ids, forgetting the oldest first. Ids of
// different hooks may collide: give each hook its own Dedup or prefix ids
// with the hook's name. The zero value uses the defaults of NewDedup. A
// Dedup is safe for concurrent use.
type Dedup struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	order *list.List // of *seen, oldest first
	ids   map[string]*list.Element
}

type seen struct {
	id string
	at time.Time
}

// NewDedup returns a Dedup that remembers at most maxIDs ids (0 or less
// means 10,000) for ttl each (0 or less means 24 hours).
func NewDedup(maxIDs int, ttl time.Duration) *Dedup {
	return &Dedup{max: maxIDs, ttl: ttl}
}

// Seen records id as seen at now and reports whether it was already recorded
// less than the TTL before. The empty id is never recorded and never seen.
func (d *Dedup) Seen(id string, now time.Time) bool {
	if id == "" {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids == nil {
		if d.max <= 0 {
			d.max = 10_000
		}
		if d.ttl <= 0 {
			d.ttl = 24 * time.Hour
		}
		d.order = list.New()
		d.ids = make(map[string]*list.Element)
	}
	for e := d.order.Front(); e != nil && now.Sub(e.Value.(*seen).at) >= d.ttl; e = d.order.Front() {
		d.remove(e)
	}
	if e, ok := d.ids[id]; ok {
		// Only a clock that went back leaves an expired id behind the
		// front of the list.
		if now.Sub(e.Value.(*seen).at) < d.ttl {
			return true
		}
		d.remove(e)
	}
	d.ids[id] = d.order.PushBack(&seen{id: id, at: now})
	for d.order.Len() > d.max {
		d.remove(d.order.Front())
	}
	return false
}

func (d *Dedup) remove(e *list.Element) {
	delete(d.ids, e.Value.(*seen).id)
	d.order.Remove(e)
}
