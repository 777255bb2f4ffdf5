package envfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"coopcloud.tech/abra/internal/atomicfile"
)

// Save writes the file back to Path with WriteFile.
func (f *File) Save() error { return f.WriteFile(f.path) }

// WriteFile writes the file's bytes to path atomically: into a temporary
// file in the same directory, synced, given the mode of the file it replaces
// (0600 for a new file, since env files reference secrets) and renamed over
// path. On error path is left as it was and the temporary file is removed.
// A symlink at path is followed, so the link survives.
func (f *File) WriteFile(path string) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	mode := fs.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write env file: %w", err)
	}

	if err := atomicfile.Write(path, f.src, mode); err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	return nil
}
