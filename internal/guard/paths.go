package guard

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrOutside is wrapped by every error about a path that leaves the
// directory it must stay in (a recipe).
var ErrOutside = errors.New("outside the recipe")

// OutsideError names a path that leaves the recipe, and how it does.
type OutsideError struct {
	Path   string // as the recipe (or abra) named it
	Reason string // e.g. "nginx.conf links to /etc/shadow"; "" when Path itself says it
}

func (e *OutsideError) Error() string {
	if e.Reason == "" {
		return e.Path + " is outside the recipe"
	}
	return fmt.Sprintf("%s is outside the recipe (%s)", e.Path, e.Reason)
}

func (e *OutsideError) Unwrap() error { return ErrOutside }

// Hint says what the operator can do: abra never reads the operator's files
// for a recipe, so the recipe itself has to change.
func (e *OutsideError) Hint() string {
	return "a recipe may only read files inside it: ask its maintainer to fix it (check it with 'abra recipe lint <recipe>'), or fix your copy with --chaos"
}

// maxLinks bounds the symlinks followed for one path, as the kernel does (ELOOP).
const maxLinks = 40

// Inside checks that p, absolute or relative to dir, stays inside dir once
// every symlink on the way is followed: an absolute path elsewhere, ".." that
// climbs out, or a symlink that is absolute or resolves outside dir is an
// *OutsideError. A symlink is refused when absolute even if it points into
// dir, because os.Root (ReadFile) refuses it too, and a recipe is checked out
// in a different place on every machine.
//
// A path that does not exist, or only partly, passes as long as what exists
// of it stays inside: whether it exists is the reader's business.
func Inside(dir, p string) error {
	_, err := locate(dir, p)
	return err
}

// ReadFile reads name, absolute or relative to dir, refusing it when it is
// not Inside dir. The read itself goes through os.Root, so that no symlink
// or ".." can leave dir even if the tree changes after the check. A missing
// file is an error that errors.Is fs.ErrNotExist.
func ReadFile(dir, name string) ([]byte, error) {
	return inRoot(dir, name, (*os.Root).ReadFile)
}

// Stat returns the FileInfo of name (symlinks followed), absolute or relative
// to dir, refusing it when it is not Inside dir.
func Stat(dir, name string) (fs.FileInfo, error) {
	return inRoot(dir, name, (*os.Root).Stat)
}

// inRoot runs op on name through an os.Root at dir, once locate has checked
// that name stays inside; errors name the path as the caller gave it.
func inRoot[T any](dir, name string, op func(*os.Root, string) (T, error)) (T, error) {
	var zero T
	rel, err := locate(dir, name)
	if err != nil {
		return zero, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return zero, err
	}
	defer root.Close()
	v, err := op(root, rel)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Path = name
		}
		return zero, err
	}
	return v, nil
}

// locate returns p relative to dir, after checking that it stays inside.
func locate(dir, p string) (string, error) {
	outside := func(reason string) error { return &OutsideError{Path: p, Reason: reason} }
	if p == "" {
		return "", &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	rel := filepath.Clean(p)
	if filepath.IsAbs(p) {
		r, ok := under(dir, p)
		if !ok {
			return "", outside("")
		}
		rel = r
	} else if !filepath.IsLocal(rel) {
		return "", outside("")
	}

	// Walk rel component by component, following symlinks: resolved holds
	// the components of where we are, relative to dir.
	var resolved []string
	todo := splitPath(rel)
	via := "" // the last symlink followed, which is how a ".." gets above dir
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".", "":
			continue
		case "..":
			if len(resolved) == 0 {
				return "", outside(via)
			}
			resolved = resolved[:len(resolved)-1]
			continue
		}
		here := filepath.Join(append([]string{dir}, append(resolved, c)...)...)
		st, err := os.Lstat(here)
		if err != nil {
			// Missing (or not a directory): nothing below it can be followed.
			return rel, nil
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			resolved = append(resolved, c)
			continue
		}
		if links++; links > maxLinks {
			return "", outside("too many levels of symlinks")
		}
		target, err := os.Readlink(here)
		if err != nil {
			return "", err
		}
		via = filepath.Join(append(resolved, c)...) + " links to " + target
		if filepath.IsAbs(target) {
			return "", outside(via)
		}
		// The target is relative to the link's directory, which resolved is.
		todo = append(splitPath(target), todo...)
	}
	return rel, nil
}

// under returns p relative to dir when the absolute path p lies in dir,
// as written or with dir's own symlinks resolved.
func under(dir, p string) (string, bool) {
	p = filepath.Clean(p)
	candidates := []string{dir}
	if abs, err := filepath.Abs(dir); err == nil {
		candidates = append(candidates, abs)
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		candidates = append(candidates, real)
	}
	for _, d := range candidates {
		if r, err := filepath.Rel(d, p); err == nil && filepath.IsLocal(r) {
			return r, true
		}
		if filepath.Clean(d) == p {
			return ".", true
		}
	}
	return "", false
}

func splitPath(p string) []string {
	return strings.Split(filepath.ToSlash(p), "/")
}
