package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/notify"
)

const (
	secret = "s3cret"
	sha    = "0123456789abcdef0123456789abcdef01234567"
	sha2   = "89abcdef0123456789abcdef0123456789abcdef"
	zeros  = "0000000000000000000000000000000000000000"
	id     = "f0e1d2c3-b4a5-4697-8899-aabbccddeeff"
)

var now = time.Unix(1_700_000_000, 0)

var schemes = []Scheme{Gitea, Forgejo, GitHub, GitLab, Standard}

// pushBody returns a push payload as scheme's forge sends it.
func pushBody(scheme Scheme, ref, after string) string {
	switch scheme {
	case GitLab:
		kind := "push"
		if strings.HasPrefix(ref, "refs/tags/") {
			kind = "tag_push"
		}
		checkout := `"` + after + `"`
		if after == zeros {
			checkout = "null"
		}
		return fmt.Sprintf(`{"object_kind":%s,"ref":%s,"before":%s,"after":%s,"checkout_sha":%s,`+
			`"project":{"git_http_url":"https://gitlab.example.org/coop/recipes.git","path_with_namespace":"coop/recipes"}}`,
			js(kind), js(ref), js(sha2), js(after), checkout)
	case Standard:
		typ := "push"
		if strings.HasPrefix(ref, "refs/tags/") {
			typ = "tag"
		}
		return fmt.Sprintf(`{"type":%s,"ref":%s,"after":%s,"repo":"coop/recipes"}`, js(typ), js(ref), js(after))
	}
	return fmt.Sprintf(`{"ref":%s,"before":%s,"after":%s,"deleted":%t,`+
		`"repository":{"full_name":"coop/recipes","clone_url":"https://git.example.org/coop/recipes.git"}}`,
		js(ref), js(sha2), js(after), after == zeros)
}

// js returns s as a JSON string.
func js(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// pushEvent returns the event header value scheme's forge sends for a push
// of ref.
func pushEvent(scheme Scheme, ref string) string {
	if scheme != GitLab {
		return "push"
	}
	if strings.HasPrefix(ref, "refs/tags/") {
		return "Tag Push Hook"
	}
	return "Push Hook"
}

func hexMAC(key, body string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// request builds a delivery of body for scheme signed with key, as the
// forge sends it.
func request(scheme Scheme, key, event, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hooks/recipes", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	switch scheme {
	case Gitea:
		r.Header.Set("X-Gitea-Delivery", id)
		r.Header.Set("X-Gitea-Event", event)
		r.Header.Set("X-Gitea-Signature", hexMAC(key, body))
		// Gitea also sends a GitHub-style signature.
		r.Header.Set("X-Hub-Signature-256", "sha256="+hexMAC(key, body))
	case Forgejo:
		r.Header.Set("X-Forgejo-Delivery", id)
		r.Header.Set("X-Forgejo-Event", event)
		r.Header.Set("X-Forgejo-Signature", hexMAC(key, body))
		r.Header.Set("X-Gitea-Delivery", id)
		r.Header.Set("X-Gitea-Event", event)
		r.Header.Set("X-Gitea-Signature", hexMAC(key, body))
	case GitHub:
		r.Header.Set("X-GitHub-Delivery", id)
		r.Header.Set("X-GitHub-Event", event)
		r.Header.Set("X-Hub-Signature-256", "sha256="+hexMAC(key, body))
	case GitLab:
		r.Header.Set("X-Gitlab-Event", event)
		r.Header.Set("X-Gitlab-Event-UUID", "recursion-"+id)
		r.Header.Set("Idempotency-Key", id)
		r.Header.Set("X-Gitlab-Token", key)
	case Standard:
		r.Header.Set("webhook-id", id)
		r.Header.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
		r.Header.Set("webhook-signature", notify.Sign(key, id, now, []byte(body)))
	}
	return r
}

func pushRequest(scheme Scheme, ref, after string) *http.Request {
	return request(scheme, secret, pushEvent(scheme, ref), pushBody(scheme, ref, after))
}

func hook(scheme Scheme) Hook {
	return Hook{Name: "recipes", Scheme: scheme, Secret: secret}
}

func TestReceiveAccepts(t *testing.T) {
	wantRepo := map[Scheme]string{
		Gitea:    "https://git.example.org/coop/recipes.git",
		Forgejo:  "https://git.example.org/coop/recipes.git",
		GitHub:   "https://git.example.org/coop/recipes.git",
		GitLab:   "https://gitlab.example.org/coop/recipes.git",
		Standard: "coop/recipes",
	}
	for _, scheme := range schemes {
		tests := []struct {
			name string
			req  *http.Request
			want Delivery
		}{
			{
				"branch push",
				pushRequest(scheme, "refs/heads/main", sha),
				Delivery{ID: id, Event: Push, Ref: "refs/heads/main", Branch: "main", Commit: sha, Repo: wantRepo[scheme]},
			},
			{
				"tag push",
				pushRequest(scheme, "refs/tags/1.2.0+3.4", sha),
				Delivery{ID: id, Event: Tag, Ref: "refs/tags/1.2.0+3.4", Tag: "1.2.0+3.4", Commit: sha, Repo: wantRepo[scheme]},
			},
			{
				"branch with slash",
				pushRequest(scheme, "refs/heads/feature/x_y-1.2", sha),
				Delivery{ID: id, Event: Push, Ref: "refs/heads/feature/x_y-1.2", Branch: "feature/x_y-1.2", Commit: sha, Repo: wantRepo[scheme]},
			},
		}
		for _, tt := range tests {
			t.Run(string(scheme)+" "+tt.name, func(t *testing.T) {
				got, err := hook(scheme).Receive(tt.req, now)
				if err != nil {
					t.Fatalf("Receive: %v", err)
				}
				if got != tt.want {
					t.Errorf("Receive =\n%+v\nwant\n%+v", got, tt.want)
				}
				if s := Status(err); s != http.StatusOK {
					t.Errorf("Status = %d, want 200", s)
				}
			})
		}
	}
}

func TestReceiveForgeSpecifics(t *testing.T) {
	githubCreate := `{"ref":"1.2.0+3.4","ref_type":"tag","master_branch":"main","repository":{"full_name":"coop/recipes"}}`
	giteaCreate := `{"sha":"` + sha + `","ref":"1.2.0+3.4","ref_type":"tag","repository":{"full_name":"coop/recipes","clone_url":"https://git.example.org/coop/recipes.git"}}`
	gitlabBoth := `{"ref":"refs/heads/main","after":"` + sha2 + `","checkout_sha":"` + sha + `","project":{"path_with_namespace":"coop/recipes"}}`
	noUUID := request(GitLab, secret, "Push Hook", gitlabBoth)
	noUUID.Header.Del("Idempotency-Key")
	noCommit := pushBody(GitHub, "refs/heads/main", "")

	tests := []struct {
		name   string
		scheme Scheme
		req    *http.Request
		want   Delivery
	}{
		{"github create tag is a tag", GitHub, request(GitHub, secret, "create", githubCreate),
			Delivery{ID: id, Event: Tag, Ref: "refs/tags/1.2.0+3.4", Tag: "1.2.0+3.4", Repo: "coop/recipes"}},
		{"gitea create tag has the sha", Gitea, request(Gitea, secret, "create", giteaCreate),
			Delivery{ID: id, Event: Tag, Ref: "refs/tags/1.2.0+3.4", Tag: "1.2.0+3.4", Commit: sha, Repo: "https://git.example.org/coop/recipes.git"}},
		{"forgejo create tag", Forgejo, request(Forgejo, secret, "create", giteaCreate),
			Delivery{ID: id, Event: Tag, Ref: "refs/tags/1.2.0+3.4", Tag: "1.2.0+3.4", Commit: sha, Repo: "https://git.example.org/coop/recipes.git"}},
		{"gitlab prefers checkout_sha", GitLab, request(GitLab, secret, "Push Hook", gitlabBoth),
			Delivery{ID: id, Event: Push, Ref: "refs/heads/main", Branch: "main", Commit: sha, Repo: "coop/recipes"}},
		{"gitlab without idempotency key uses event uuid", GitLab, noUUID,
			Delivery{ID: "recursion-" + id, Event: Push, Ref: "refs/heads/main", Branch: "main", Commit: sha, Repo: "coop/recipes"}},
		{"push without after", GitHub, request(GitHub, secret, "push", noCommit),
			Delivery{ID: id, Event: Push, Ref: "refs/heads/main", Branch: "main", Repo: "https://git.example.org/coop/recipes.git"}},
		{"sha-256 object id", Gitea, pushRequest(Gitea, "refs/heads/main", sha+sha[:24]),
			Delivery{ID: id, Event: Push, Ref: "refs/heads/main", Branch: "main", Commit: sha + sha[:24], Repo: "https://git.example.org/coop/recipes.git"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hook(tt.scheme).Receive(tt.req, now)
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			if got != tt.want {
				t.Errorf("Receive =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestReceiveRejects(t *testing.T) {
	type test struct {
		name   string
		scheme Scheme
		req    *http.Request
		want   error
		status int
	}
	var tests []test
	for _, scheme := range schemes {
		body := pushBody(scheme, "refs/heads/main", sha)
		event := pushEvent(scheme, "refs/heads/main")

		changed := request(scheme, secret, event, body)
		changed.Body = io.NopCloser(strings.NewReader(strings.Replace(body, sha, sha2, 1)))
		changed.ContentLength = -1

		unsigned := request(scheme, secret, event, body)
		for _, name := range []string{"X-Gitea-Signature", "X-Forgejo-Signature", "X-Hub-Signature-256", "X-Gitlab-Token", "webhook-signature"} {
			unsigned.Header.Del(name)
		}

		tests = append(tests,
			test{"wrong secret", scheme, request(scheme, "other secret", event, body), ErrBadSignature, 401},
			test{"missing signature", scheme, unsigned, ErrMissingSignature, 401},
			test{"tag deletion", scheme, pushRequest(scheme, "refs/tags/1.2.0+3.4", zeros), ErrUnsupportedEvent, 202},
			test{"branch deletion", scheme, pushRequest(scheme, "refs/heads/main", zeros), ErrUnsupportedEvent, 202},
			test{"not json", scheme, request(scheme, secret, event, "payload=%7B%7D"), ErrBadPayload, 400},
			test{"uppercase commit", scheme, pushRequest(scheme, "refs/heads/main", strings.ToUpper(sha)), ErrBadPayload, 400},
			test{"short commit", scheme, pushRequest(scheme, "refs/heads/main", sha[:7]), ErrBadPayload, 400},
			test{"ref outside heads and tags", scheme, pushRequest(scheme, "refs/remotes/origin/main", sha), ErrBadPayload, 400},
			test{"short ref", scheme, pushRequest(scheme, "main", sha), ErrBadPayload, 400},
		)
		// GitLab's token does not cover the body: a changed body is
		// indistinguishable from a real one.
		if scheme != GitLab {
			tests = append(tests, test{"body changed after signing", scheme, changed, ErrBadSignature, 401})
		}
		for _, ref := range []string{
			"refs/heads/../x",
			"refs/heads/a/../../x",
			"refs/tags/-rf",
			"refs/tags/" + strings.Repeat("a", 300),
			"refs/tags/1.2.0\n; rm -rf /",
			"refs/heads/main\r",
			"refs/heads/with space",
			"refs/heads/$(id)x\x00",
			"refs/tags/",
			"refs/heads/a//b",
			"refs/heads/.hidden",
			"refs/heads/x.lock",
			"refs/heads/x@{1}",
			"refs/tags/a~1",
			"refs/tags/a:b",
			"refs/tags/ünïcode",
		} {
			tests = append(tests, test{fmt.Sprintf("hostile ref %.30q", ref), scheme, pushRequest(scheme, ref, sha), ErrBadPayload, 400})
		}
	}

	giteaBody := pushBody(Gitea, "refs/heads/main", sha)
	giteaOnly := request(Gitea, secret, "push", giteaBody)
	giteaOnly.Header.Del("X-Hub-Signature-256")
	giteaOnly.Header.Set("X-GitHub-Event", "push")
	giteaOnly.Header.Set("X-GitHub-Delivery", id)
	githubOnly := request(GitHub, secret, "push", giteaBody)
	forgejoAsGitea := request(Forgejo, secret, "push", giteaBody)
	forgejoAsGitea.Header.Del("X-Forgejo-Signature")
	tests = append(tests,
		test{"github hook with only a valid gitea signature", GitHub, giteaOnly, ErrMissingSignature, 401},
		test{"gitea hook with only a valid github signature", Gitea, githubOnly, ErrMissingSignature, 401},
		test{"forgejo hook with only gitea headers", Forgejo, forgejoAsGitea, ErrMissingSignature, 401},
	)

	badGiteaWithGoodHub := request(Gitea, secret, "push", giteaBody)
	badGiteaWithGoodHub.Header.Set("X-Gitea-Signature", hexMAC("other", giteaBody))
	prefixed := request(Gitea, secret, "push", giteaBody)
	prefixed.Header.Set("X-Gitea-Signature", "sha256="+hexMAC(secret, giteaBody))
	unprefixed := request(GitHub, secret, "push", giteaBody)
	unprefixed.Header.Set("X-Hub-Signature-256", hexMAC(secret, giteaBody))
	sha1Sig := request(GitHub, secret, "push", giteaBody)
	sha1Sig.Header.Set("X-Hub-Signature-256", "sha1="+hexMAC(secret, giteaBody)[:40])
	repeated := request(GitHub, secret, "push", giteaBody)
	repeated.Header.Add("X-Hub-Signature-256", "sha256="+hexMAC("other", giteaBody))
	notHex := request(Gitea, secret, "push", giteaBody)
	notHex.Header.Set("X-Gitea-Signature", "zz"+hexMAC(secret, giteaBody)[2:])
	tokenPrefix := request(GitLab, secret, "Push Hook", pushBody(GitLab, "refs/heads/main", sha))
	tokenPrefix.Header.Set("X-Gitlab-Token", secret+"x")
	tests = append(tests,
		test{"bad gitea signature next to a good github one", Gitea, badGiteaWithGoodHub, ErrBadSignature, 401},
		test{"gitea signature with a prefix", Gitea, prefixed, ErrBadSignature, 401},
		test{"github signature without its prefix", GitHub, unprefixed, ErrBadSignature, 401},
		test{"github sha1 signature", GitHub, sha1Sig, ErrBadSignature, 401},
		test{"repeated signature header", GitHub, repeated, ErrBadSignature, 401},
		test{"signature not hex", Gitea, notHex, ErrBadSignature, 401},
		test{"gitlab token with a suffix", GitLab, tokenPrefix, ErrBadSignature, 401},
	)

	standardBody := pushBody(Standard, "refs/heads/main", sha)
	stale := request(Standard, secret, "", standardBody)
	stale.Header.Set("webhook-timestamp", fmt.Sprint(now.Add(-6*time.Minute).Unix()))
	stale.Header.Set("webhook-signature", notify.Sign(secret, id, now.Add(-6*time.Minute), []byte(standardBody)))
	future := request(Standard, secret, "", standardBody)
	future.Header.Set("webhook-timestamp", fmt.Sprint(now.Add(6*time.Minute).Unix()))
	future.Header.Set("webhook-signature", notify.Sign(secret, id, now.Add(6*time.Minute), []byte(standardBody)))
	otherID := request(Standard, secret, "", standardBody)
	otherID.Header.Set("webhook-id", "another-id")
	noTimestamp := request(Standard, secret, "", standardBody)
	noTimestamp.Header.Del("webhook-timestamp")
	tests = append(tests,
		test{"stale standard timestamp", Standard, stale, ErrStale, 400},
		test{"future standard timestamp", Standard, future, ErrStale, 400},
		test{"standard id changed after signing", Standard, otherID, ErrBadSignature, 401},
		test{"standard without timestamp", Standard, noTimestamp, ErrMissingSignature, 401},
		test{"standard tag type for a branch", Standard, request(Standard, secret, "", `{"type":"tag","ref":"refs/heads/main","after":"`+sha+`"}`), ErrBadPayload, 400},
		test{"standard without type", Standard, request(Standard, secret, "", `{"ref":"refs/heads/main","after":"`+sha+`"}`), ErrBadPayload, 400},
		test{"standard other type", Standard, request(Standard, secret, "", `{"type":"update.succeeded"}`), ErrUnsupportedEvent, 202},
		test{"standard ref not a string", Standard, request(Standard, secret, "", `{"type":"push","ref":["refs/heads/main"]}`), ErrBadPayload, 400},
		test{"standard trailing data", Standard, request(Standard, secret, "", standardBody+`{}`), ErrBadPayload, 400},
	)

	noDelivery := request(GitHub, secret, "push", giteaBody)
	noDelivery.Header.Del("X-GitHub-Delivery")
	noEvent := request(Gitea, secret, "push", giteaBody)
	noEvent.Header.Del("X-Gitea-Event")
	badDelivery := request(GitHub, secret, "push", giteaBody)
	badDelivery.Header.Set("X-GitHub-Delivery", "a b")
	gitlabBody := pushBody(GitLab, "refs/heads/main", sha)
	tests = append(tests,
		test{"ping", GitHub, request(GitHub, secret, "ping", `{"zen":"Keep it logically awesome."}`), ErrUnsupportedEvent, 202},
		test{"gitea release", Gitea, request(Gitea, secret, "release", giteaBody), ErrUnsupportedEvent, 202},
		test{"github create branch", GitHub, request(GitHub, secret, "create", `{"ref":"main","ref_type":"branch"}`), ErrUnsupportedEvent, 202},
		test{"github create with a hostile tag", GitHub, request(GitHub, secret, "create", `{"ref":"-rf","ref_type":"tag"}`), ErrBadPayload, 400},
		test{"github create with a branch ref as tag", GitHub, request(GitHub, secret, "create", `{"ref":"refs/heads/main","ref_type":"tag"}`), ErrBadPayload, 400},
		test{"gitlab merge request", GitLab, request(GitLab, secret, "Merge Request Hook", gitlabBody), ErrUnsupportedEvent, 202},
		test{"gitlab tag push hook for a branch", GitLab, request(GitLab, secret, "Tag Push Hook", gitlabBody), ErrBadPayload, 400},
		test{"no delivery id", GitHub, noDelivery, ErrBadPayload, 400},
		test{"malformed delivery id", GitHub, badDelivery, ErrBadPayload, 400},
		test{"no event header", Gitea, noEvent, ErrBadPayload, 400},
		test{"repository with a newline", GitHub, request(GitHub, secret, "push",
			`{"ref":"refs/heads/main","after":"`+sha+`","repository":{"clone_url":"https://x\n"}}`), ErrBadPayload, 400},
	)

	for _, tt := range tests {
		t.Run(string(tt.scheme)+" "+tt.name, func(t *testing.T) {
			got, err := hook(tt.scheme).Receive(tt.req, now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Receive = %+v, %v; want %v", got, err, tt.want)
			}
			if s := Status(err); s != tt.status {
				t.Errorf("Status(%v) = %d, want %d", err, s, tt.status)
			}
			if errors.Is(err, ErrUnsupportedEvent) {
				if got.ID == "" || got.Event == "" || got.Ref != "" || got.Commit != "" {
					t.Errorf("ignored delivery = %+v, want only ID and Event", got)
				}
			} else if got != (Delivery{}) {
				t.Errorf("Delivery on error = %+v, want zero", got)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

// endless is a body that never ends and counts what is read from it.
type endless struct{ n atomic.Int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	e.n.Add(int64(len(p)))
	return len(p), nil
}

func TestReceiveTooLarge(t *testing.T) {
	const maxBody = 1024
	for _, scheme := range schemes {
		t.Run(string(scheme)+" endless body", func(t *testing.T) {
			body := &endless{}
			r := pushRequest(scheme, "refs/heads/main", sha)
			r.Body = io.NopCloser(body)
			r.ContentLength = -1
			h := hook(scheme)
			h.MaxBody = maxBody
			_, err := h.Receive(r, now)
			if !errors.Is(err, ErrTooLarge) || Status(err) != http.StatusRequestEntityTooLarge {
				t.Fatalf("Receive = %v (status %d), want ErrTooLarge (413)", err, Status(err))
			}
			if n := body.n.Load(); n > maxBody+1 {
				t.Errorf("read %d bytes, want at most %d", n, maxBody+1)
			}
		})
		t.Run(string(scheme)+" declared length", func(t *testing.T) {
			body := &endless{}
			r := pushRequest(scheme, "refs/heads/main", sha)
			r.Body = io.NopCloser(body)
			r.ContentLength = maxBody + 1
			h := hook(scheme)
			h.MaxBody = maxBody
			if _, err := h.Receive(r, now); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Receive = %v, want ErrTooLarge", err)
			}
			if n := body.n.Load(); n != 0 {
				t.Errorf("read %d bytes, want none", n)
			}
		})
		t.Run(string(scheme)+" exactly the limit", func(t *testing.T) {
			body := pushBody(scheme, "refs/heads/main", sha)
			body += strings.Repeat(" ", maxBody-len(body))
			h := hook(scheme)
			h.MaxBody = maxBody
			if _, err := h.Receive(request(scheme, secret, pushEvent(scheme, "refs/heads/main"), body), now); err != nil {
				t.Fatalf("Receive: %v", err)
			}
			h.MaxBody = maxBody - 1
			if _, err := h.Receive(request(scheme, secret, pushEvent(scheme, "refs/heads/main"), body), now); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Receive with MaxBody %d = %v, want ErrTooLarge", h.MaxBody, err)
			}
		})
	}

	t.Run("default limit", func(t *testing.T) {
		body := &endless{}
		r := pushRequest(GitHub, "refs/heads/main", sha)
		r.Body = io.NopCloser(body)
		r.ContentLength = -1
		if _, err := hook(GitHub).Receive(r, now); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Receive = %v, want ErrTooLarge", err)
		}
		if n := body.n.Load(); n > DefaultMaxBody+1 {
			t.Errorf("read %d bytes, want at most %d", n, DefaultMaxBody+1)
		}
	})

	t.Run("unsigned body is not read", func(t *testing.T) {
		body := &endless{}
		r := pushRequest(GitHub, "refs/heads/main", sha)
		r.Header.Del("X-Hub-Signature-256")
		r.Body = io.NopCloser(body)
		if _, err := hook(GitHub).Receive(r, now); !errors.Is(err, ErrMissingSignature) {
			t.Fatalf("Receive = %v, want ErrMissingSignature", err)
		}
		if n := body.n.Load(); n != 0 {
			t.Errorf("read %d bytes, want none", n)
		}
	})
}

func TestStandardMaxAge(t *testing.T) {
	body := pushBody(Standard, "refs/heads/main", sha)
	r := request(Standard, secret, "", body)
	h := hook(Standard)
	h.MaxAge = time.Minute
	if _, err := h.Receive(r, now.Add(2*time.Minute)); !errors.Is(err, ErrStale) {
		t.Fatalf("Receive 2 minutes later with MaxAge 1m = %v, want ErrStale", err)
	}
	r = request(Standard, secret, "", body)
	h.MaxAge = 0
	if _, err := h.Receive(r, now.Add(4*time.Minute)); err != nil {
		t.Fatalf("Receive 4 minutes later with the default MaxAge: %v", err)
	}
}

func TestStandardWhsecSecret(t *testing.T) {
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := pushBody(Standard, "refs/tags/1.0.0", sha)
	h := Hook{Name: "recipes", Scheme: Standard, Secret: whsec}
	if _, err := h.Receive(request(Standard, whsec, "", body), now); err != nil {
		t.Fatalf("Receive: %v", err)
	}
	h.Secret = "whsec_not base64!"
	if err := h.Check(); !errors.Is(err, ErrUnknownScheme) {
		t.Errorf("Check with a bad whsec secret = %v, want ErrUnknownScheme", err)
	}
}

func TestNoSecret(t *testing.T) {
	for _, scheme := range schemes {
		for _, empty := range []string{"", "  \n"} {
			t.Run(fmt.Sprintf("%s %q", scheme, empty), func(t *testing.T) {
				h := Hook{Name: "recipes", Scheme: scheme, Secret: empty}
				if err := h.Check(); !errors.Is(err, ErrNoSecret) {
					t.Errorf("Check = %v, want ErrNoSecret", err)
				}
				// Signed with the same empty key, and with a gitlab token
				// header that is present but matches the empty secret.
				r := request(scheme, empty, pushEvent(scheme, "refs/heads/main"), pushBody(scheme, "refs/heads/main", sha))
				if scheme == GitLab {
					r.Header.Set("X-Gitlab-Token", empty)
				}
				got, err := h.Receive(r, now)
				if !errors.Is(err, ErrNoSecret) || got != (Delivery{}) {
					t.Fatalf("Receive = %+v, %v; want ErrNoSecret", got, err)
				}
				if s := Status(err); s != http.StatusInternalServerError {
					t.Errorf("Status = %d, want 500", s)
				}
			})
		}
	}
}

func TestUnknownScheme(t *testing.T) {
	for _, scheme := range []Scheme{"", "GitHub", "bitbucket"} {
		h := Hook{Name: "recipes", Scheme: scheme, Secret: secret}
		if err := h.Check(); !errors.Is(err, ErrUnknownScheme) {
			t.Errorf("Check with scheme %q = %v, want ErrUnknownScheme", scheme, err)
		}
		_, err := h.Receive(pushRequest(GitHub, "refs/heads/main", sha), now)
		if !errors.Is(err, ErrUnknownScheme) || Status(err) != http.StatusInternalServerError {
			t.Errorf("Receive with scheme %q = %v, want ErrUnknownScheme (500)", scheme, err)
		}
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 200},
		{fmt.Errorf("webhook x: %w", ErrTooLarge), 413},
		{fmt.Errorf("webhook x: %w", ErrMissingSignature), 401},
		{fmt.Errorf("webhook x: %w", ErrBadSignature), 401},
		{fmt.Errorf("webhook x: %w", ErrBadPayload), 400},
		{fmt.Errorf("webhook x: %w", ErrStale), 400},
		{fmt.Errorf("webhook x: %w", ErrUnsupportedEvent), 202},
		{fmt.Errorf("webhook x: %w", ErrNoSecret), 500},
		{errors.New("disk full"), 500},
	}
	for _, tt := range tests {
		if got := Status(tt.err); got != tt.want {
			t.Errorf("Status(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestDedupSeen(t *testing.T) {
	d := NewDedup(10, time.Hour)
	if d.Seen("a", now) {
		t.Fatal("first Seen(a) = true")
	}
	if !d.Seen("a", now.Add(time.Minute)) {
		t.Fatal("second Seen(a) = false")
	}
	if d.Seen("b", now) {
		t.Fatal("first Seen(b) = true")
	}
	if d.Seen("", now) || d.Seen("", now) {
		t.Fatal("Seen of the empty id = true")
	}
}

func TestDedupExpires(t *testing.T) {
	d := NewDedup(10, time.Hour)
	d.Seen("a", now)
	if !d.Seen("a", now.Add(time.Hour-time.Second)) {
		t.Fatal("Seen(a) within the TTL = false")
	}
	if d.Seen("a", now.Add(time.Hour)) {
		t.Fatal("Seen(a) after the TTL = true")
	}
	if !d.Seen("a", now.Add(time.Hour+time.Second)) {
		t.Fatal("Seen(a) after recording it again = false")
	}
	d.Seen("b", now.Add(3*time.Hour))
	if n := len(d.ids); n != 1 {
		t.Errorf("%d ids kept, want 1 (expired ones dropped)", n)
	}
}

func TestDedupBounded(t *testing.T) {
	const maxIDs = 100
	d := NewDedup(maxIDs, time.Hour)
	for i := range 1000 {
		d.Seen(fmt.Sprint(i), now)
		if n, m := len(d.ids), d.order.Len(); n > maxIDs || m != n {
			t.Fatalf("after %d ids: %d in the map, %d in the list, want at most %d", i+1, n, m, maxIDs)
		}
	}
	if !d.Seen("999", now) || !d.Seen("900", now) {
		t.Error("the newest ids were forgotten")
	}
	if d.Seen("0", now) || d.Seen("899", now) {
		t.Error("the oldest ids were kept")
	}
}

func TestDedupDefaults(t *testing.T) {
	var d Dedup
	d.Seen("a", now)
	if !d.Seen("a", now.Add(23*time.Hour)) || d.Seen("a", now.Add(48*time.Hour)) {
		t.Error("the zero Dedup does not keep ids for 24 hours")
	}
	if d.max != 10_000 {
		t.Errorf("max = %d, want 10000", d.max)
	}
}

func TestDedupConcurrent(t *testing.T) {
	d := NewDedup(1000, time.Hour)
	var firsts [100]atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range firsts {
				if !d.Seen(fmt.Sprint(i), now) {
					firsts[i].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for i := range firsts {
		if n := firsts[i].Load(); n != 1 {
			t.Errorf("id %d was new %d times, want once", i, n)
		}
	}
}
