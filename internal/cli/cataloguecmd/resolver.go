package cataloguecmd

import (
	"context"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryResolver asks registries for manifest digests with a HEAD
// request, with the credentials of ~/.docker/config.json. Registries on
// localhost or private addresses are spoken to over plain HTTP. One
// Puller serves every request, so that each repository is pinged and
// authenticated once, not once per tag.
type registryResolver struct {
	once   sync.Once
	puller *remote.Puller
	err    error
}

func (r *registryResolver) Digest(ctx context.Context, ref string) (string, error) {
	r.once.Do(func() {
		r.puller, r.err = remote.NewPuller(remote.WithAuthFromKeychain(authn.DefaultKeychain))
	})
	if r.err != nil {
		return "", r.err
	}
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	desc, err := r.puller.Head(ctx, parsed)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}
