package recipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Export writes the files of the tree at rev (a tag, branch or commit; tag
// names win) into dest, which must be an empty or not yet existing
// directory. Executable bits and symlinks are kept; submodules are skipped.
//
// Only git objects are read: the clone's work tree, index and HEAD are left
// alone, so concurrent deploys of different versions of one recipe do not
// clobber each other. On error, whatever Export wrote is removed again
// (dest itself too when Export created it).
func (r *Repo) Export(ctx context.Context, rev, dest string) (err error) {
	c, err := r.commitAt(rev)
	if err != nil {
		return err
	}
	tree, err := c.Tree()
	if err != nil {
		return fmt.Errorf("%s: read tree: %w", rev, err)
	}
	created, err := prepareDest(dest)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			clearDest(dest, created)
		}
	}()
	// os.Root keeps every write inside dest even if the tree holds a
	// symlink to elsewhere and a path through it.
	root, err := os.OpenRoot(dest)
	if err != nil {
		return err
	}
	defer root.Close()

	// Symlinks are made last so that no file is ever written through one.
	var links []*object.File
	files := tree.Files()
	defer files.Close()
	for {
		f, err := files.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: read tree: %w", rev, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name, err := localPath(f.Name)
		if err != nil {
			return fmt.Errorf("%s: %w", rev, err)
		}
		switch f.Mode {
		case filemode.Regular, filemode.Deprecated:
			err = writeBlob(root, name, f, 0o644)
		case filemode.Executable:
			err = writeBlob(root, name, f, 0o755)
		case filemode.Symlink:
			links = append(links, f)
		}
		if err != nil {
			return fmt.Errorf("%s: write %s: %w", rev, f.Name, err)
		}
	}
	for _, f := range links {
		target, err := f.Contents()
		if err != nil {
			return fmt.Errorf("%s: read %s: %w", rev, f.Name, err)
		}
		name, _ := localPath(f.Name)
		if err := mkdirParent(root, name); err != nil {
			return fmt.Errorf("%s: write %s: %w", rev, f.Name, err)
		}
		if err := root.Symlink(target, name); err != nil {
			return fmt.Errorf("%s: write %s: %w", rev, f.Name, err)
		}
	}
	return nil
}

// localPath turns a tree path into a relative OS path, refusing ones that
// git itself would refuse to check out.
func localPath(name string) (string, error) {
	p := filepath.FromSlash(name)
	if !filepath.IsLocal(p) || slices.ContainsFunc(strings.Split(name, "/"), func(s string) bool {
		return strings.EqualFold(s, ".git")
	}) {
		return "", fmt.Errorf("refusing to export unsafe path %q", name)
	}
	return p, nil
}

func writeBlob(root *os.Root, name string, f *object.File, perm fs.FileMode) error {
	if err := mkdirParent(root, name); err != nil {
		return err
	}
	rc, err := f.Reader()
	if err != nil {
		return err
	}
	defer rc.Close()
	// O_EXCL: a malformed tree listing one path twice is an error, not an
	// overwrite.
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func mkdirParent(root *os.Root, name string) error {
	if dir := filepath.Dir(name); dir != "." {
		return root.MkdirAll(dir, 0o755)
	}
	return nil
}

// prepareDest makes sure dest is an empty directory, creating it if needed.
func prepareDest(dest string) (created bool, err error) {
	entries, err := os.ReadDir(dest)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return false, fmt.Errorf("export: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("export: %w", err)
	case len(entries) > 0:
		return false, fmt.Errorf("export: %s is not empty", dest)
	}
	return false, nil
}

func clearDest(dest string, created bool) {
	if created {
		_ = os.RemoveAll(dest)
		return
	}
	entries, _ := os.ReadDir(dest)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dest, e.Name()))
	}
}
