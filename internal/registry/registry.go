// Package registry reads image tags and digests from OCI/Docker registries,
// an adapter over go-containerregistry. Credentials come from Docker's
// config (~/.docker/config.json, or $DOCKER_CONFIG), as `docker pull` uses
// them; registries on the loopback interface are spoken to over plain http.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"coopcloud.tech/abra/internal/hint"
)

var (
	// ErrNotFound is wrapped when the registry has no such repository or tag.
	ErrNotFound = errors.New("not found in registry")
	// ErrUnauthorized is wrapped when the registry refuses the credentials
	// (or their absence).
	ErrUnauthorized = errors.New("not authorised by registry")
)

// Client reads tags and digests. It is safe for concurrent use by several
// goroutines, and authenticates once per repository: use one Client for many
// lookups.
type Client struct {
	keychain  authn.Keychain
	transport http.RoundTripper

	once    sync.Once
	puller  *remote.Puller
	initErr error
}

// Option configures a Client.
type Option func(*Client)

// WithKeychain replaces Docker's config as the source of credentials.
func WithKeychain(k authn.Keychain) Option { return func(c *Client) { c.keychain = k } }

// WithTransport replaces the HTTP transport (tests, proxies).
func WithTransport(t http.RoundTripper) Option { return func(c *Client) { c.transport = t } }

// New returns a Client using Docker's credentials and the default transport.
func New(opts ...Option) *Client {
	c := &Client{keychain: authn.DefaultKeychain, transport: remote.DefaultTransport}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Tags lists the tags of repository ("nginx" means docker.io/library/nginx,
// "127.0.0.1:5000/e2e/app" a local registry), in the registry's order.
func (c *Client) Tags(ctx context.Context, repository string) ([]string, error) {
	repo, err := name.NewRepository(repository, nameOptions(repository)...)
	if err != nil {
		return nil, fmt.Errorf("image repository %q: %w", repository, err)
	}
	p, err := c.pull()
	if err != nil {
		return nil, err
	}
	tags, err := p.List(ctx, repo)
	if err != nil {
		return nil, wrap(err, repo.RegistryStr(), "list tags of "+repo.RepositoryStr())
	}
	return tags, nil
}

// Digest returns the digest ("sha256:…") of the manifest that ref
// ("repo:tag") names; for a multi-platform image that is the index's digest,
// the one `docker pull` and swarm pin.
func (c *Client) Digest(ctx context.Context, ref string) (string, error) {
	r, err := name.ParseReference(ref, nameOptions(ref)...)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	p, err := c.pull()
	if err != nil {
		return "", err
	}
	desc, err := p.Head(ctx, r)
	if err != nil && ctx.Err() == nil && !isStatus(err, http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden) {
		// Some registries answer HEAD badly (no Docker-Content-Digest);
		// GET always carries the manifest whose digest we compute.
		if d, gerr := p.Get(ctx, r); gerr == nil {
			return d.Digest.String(), nil
		}
	}
	if err != nil {
		return "", wrap(err, r.Context().RegistryStr(), "resolve "+strings.TrimPrefix(r.String(), r.Context().RegistryStr()+"/"))
	}
	return desc.Digest.String(), nil
}

// pull returns the Puller shared by every lookup, which keeps each
// repository's authenticated transport.
func (c *Client) pull() (*remote.Puller, error) {
	c.once.Do(func() {
		c.puller, c.initErr = remote.NewPuller(
			remote.WithAuthFromKeychain(c.keychain),
			remote.WithTransport(c.transport),
			remote.WithUserAgent("abra"),
		)
	})
	return c.puller, c.initErr
}

// nameOptions makes registries on the loopback interface plain http, like
// dockerd does for 127.0.0.0/8.
func nameOptions(ref string) []name.Option {
	host, _, _ := strings.Cut(ref, "/")
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return nil // no registry part: Docker Hub
	}
	if isLoopback(host) {
		return []name.Option{name.Insecure}
	}
	return nil
}

func isLoopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func isStatus(err error, codes ...int) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, c := range codes {
		if te.StatusCode == c {
			return true
		}
	}
	return false
}

// wrap names the registry host in every error, so that someone offline sees
// which remote failed, and attaches the likely remedy.
func wrap(err error, host, what string) error {
	e := fmt.Errorf("registry %s: %s: %w", host, what, err)
	switch {
	case isStatus(err, http.StatusNotFound):
		return fmt.Errorf("registry %s: %s: %w", host, what, ErrNotFound)
	case isStatus(err, http.StatusUnauthorized, http.StatusForbidden):
		return hint.With(fmt.Errorf("%w: %w", e, ErrUnauthorized),
			"log in with 'docker login "+host+"' (credentials are read from ~/.docker/config.json or $DOCKER_CONFIG)")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return e
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) {
		return hint.With(e, "check that "+host+" is up and reachable from here")
	}
	return e
}
