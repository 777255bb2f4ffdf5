package recipe

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
)

// Clone clones the recipe at remoteURL (a local path, file://, https:// or ssh
// URL) into dir, with all its tags, and checks out the remote's default
// branch so that its work tree can be deployed in chaos mode. dir must not
// exist or be empty. Errors name the URL (without any password in it).
//
// Clone and Fetch are the only functions that use the network: a caller
// working offline simply does not call them.
func Clone(ctx context.Context, remoteURL, dir string) (*Repo, error) {
	_, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{
		URL:  remoteURL,
		Tags: git.AllTags,
	})
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", Redact(remoteURL), err)
	}
	return Open(dir)
}

// tagRefSpec force-updates local tags from the remote's: a retagged release
// upstream replaces the local one. Local-only tags (a release being
// prepared) are kept, as Fetch never prunes.
const tagRefSpec = config.RefSpec("+refs/tags/*:refs/tags/*")

// Fetch fetches new commits and tags from the "origin" remote, replacing
// local tags that origin has moved. The work tree, index and local branches
// are left as they are. Being already up to date is not an error. Errors
// name origin's URL.
func (r *Repo) Fetch(ctx context.Context) error {
	remote, err := r.repo.Remote(git.DefaultRemoteName)
	if err != nil {
		return fmt.Errorf("fetch into %s: remote %q: %w", r.dir, git.DefaultRemoteName, err)
	}
	where := r.dir
	if urls := remote.Config().URLs; len(urls) > 0 {
		where = Redact(urls[0])
	}
	specs := append([]config.RefSpec{tagRefSpec}, remote.Config().Fetch...)
	err = remote.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: specs,
		Tags:     git.AllTags,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch %s: %w", where, err)
	}
	return nil
}

// Redact hides the password of an https://user:password@host URL, for
// messages that name a remote.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
