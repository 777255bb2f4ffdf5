package recipe

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// FileAt returns the content of the file at name (slash-separated, relative
// to the recipe's root) in the tree of rev: a tag, branch or commit, tag
// names winning as in Export. Only git objects are read. A name the tree
// does not hold as a regular file (missing, a directory, a symlink or a
// submodule) gives an error wrapping fs.ErrNotExist, so that callers comparing
// a file with an older release can tell "did not exist then" from failures.
func (r *Repo) FileAt(rev, name string) ([]byte, error) {
	c, err := r.commitAt(rev)
	if err != nil {
		return nil, err
	}
	clean := path.Clean(name)
	if !fs.ValidPath(clean) || clean == "." {
		return nil, fmt.Errorf("%s: invalid path %q", rev, name)
	}
	f, err := c.File(clean)
	if errors.Is(err, object.ErrFileNotFound) {
		return nil, fmt.Errorf("%s: %s: %w", rev, clean, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", rev, clean, err)
	}
	if f.Mode != filemode.Regular && f.Mode != filemode.Deprecated && f.Mode != filemode.Executable {
		return nil, fmt.Errorf("%s: %s is not a regular file: %w", rev, clean, fs.ErrNotExist)
	}
	s, err := f.Contents()
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", rev, clean, err)
	}
	return []byte(s), nil
}
