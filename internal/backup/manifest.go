package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"coopcloud.tech/abra/internal/atomicfile"
)

// Manifest records every regular file of a backup at backup time. It is
// stored in the snapshot itself, so a restore can be checked against it
// without trusting the repository.
type Manifest struct {
	App     string          `json:"app"`
	Created time.Time       `json:"created"`
	Paths   []string        `json:"paths"`
	Files   []ManifestEntry `json:"files"`
}

// ManifestEntry is one file.
type ManifestEntry struct {
	Path    string `json:"path"` // absolute, as in the snapshot
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	ModTime int64  `json:"mtime_ns"`
}

// Totals returns the number of files and their bytes.
func (m *Manifest) Totals() (files, bytes int64) {
	for _, f := range m.Files {
		files++
		bytes += f.Size
	}
	return files, bytes
}

// Lookup returns the entry of path.
func (m *Manifest) Lookup(path string) (ManifestEntry, bool) {
	i := sort.Search(len(m.Files), func(i int) bool { return m.Files[i].Path >= path })
	if i < len(m.Files) && m.Files[i].Path == path {
		return m.Files[i], true
	}
	return ManifestEntry{}, false
}

// fileStat is what a walk sees of a file without reading it.
type fileStat struct {
	Size    int64
	ModTime int64
}

// statTree lists the regular files under the paths (missing paths are an error).
func statTree(paths []string) (map[string]fileStat, error) {
	out := map[string]fileStat{}
	for _, root := range paths {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil // removed while walking
				}
				return err
			}
			out[p] = fileStat{Size: info.Size(), ModTime: info.ModTime().UnixNano()}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", root, err)
		}
	}
	return out, nil
}

// BuildManifest hashes every regular file under the paths. A file whose size
// and modification time equal its entry in prev keeps prev's checksum without
// being read again (as restic itself skips unchanged files).
func BuildManifest(app string, paths []string, prev *Manifest, now time.Time) (*Manifest, error) {
	stats, err := statTree(paths)
	if err != nil {
		return nil, err
	}
	m := &Manifest{App: app, Created: now.UTC(), Paths: paths}
	names := make([]string, 0, len(stats))
	for p := range stats {
		names = append(names, p)
	}
	sort.Strings(names)
	entries := make([]ManifestEntry, len(names))
	var todo []int
	for i, p := range names {
		st := stats[p]
		entries[i] = ManifestEntry{Path: p, Size: st.Size, ModTime: st.ModTime}
		if prev != nil {
			if old, ok := prev.Lookup(p); ok && old.Size == st.Size && old.ModTime == st.ModTime && old.SHA256 != "" {
				entries[i].SHA256 = old.SHA256
				continue
			}
		}
		todo = append(todo, i)
	}
	// Hash on every core: on a first backup hashing is a full read of the data.
	errs := make([]error, len(entries))
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), len(todo))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				entries[i].SHA256, entries[i].Size, errs[i] = hashFile(entries[i].Path)
			}
		}()
	}
	for _, i := range todo {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, e := range entries {
		switch {
		case errors.Is(errs[i], fs.ErrNotExist):
			continue // removed since the walk
		case errs[i] != nil:
			return nil, errs[i]
		}
		m.Files = append(m.Files, e)
	}
	return m, nil
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ReadManifest parses a manifest.
func ReadManifest(r io.Reader) (*Manifest, error) {
	var m Manifest
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	return &m, nil
}

// WriteManifestFile writes the manifest atomically.
func WriteManifestFile(path string, m *Manifest) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// Mismatch is one way a restored tree differs from its manifest.
type Mismatch struct {
	Path   string
	Reason string
}

// CompareTree checks the files restored under root (the snapshot's paths
// joined to root) against the manifest: every file present, same size, same
// sha256. A file whose restored modification time differs from the manifest's
// was changed by the app while it was backed up; it is reported in changed,
// not as a mismatch.
func CompareTree(root string, m *Manifest) (mismatches []Mismatch, changed []string, err error) {
	for _, e := range m.Files {
		p := filepath.Join(root, e.Path)
		info, err := os.Lstat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				mismatches = append(mismatches, Mismatch{e.Path, "missing from the restored snapshot"})
				continue
			}
			return nil, nil, err
		}
		if info.ModTime().UnixNano() != e.ModTime {
			changed = append(changed, e.Path)
			continue
		}
		if info.Size() != e.Size {
			mismatches = append(mismatches, Mismatch{e.Path, fmt.Sprintf("size %d, recorded %d", info.Size(), e.Size)})
			continue
		}
		sum, _, err := hashFile(p)
		if err != nil {
			return nil, nil, err
		}
		if sum != e.SHA256 {
			mismatches = append(mismatches, Mismatch{e.Path, "sha256 differs from the one recorded at backup time"})
		}
	}
	return mismatches, changed, nil
}

func describeMismatches(ms []Mismatch) string {
	var parts []string
	for i, m := range ms {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ms)-5))
			break
		}
		parts = append(parts, m.Path+": "+m.Reason)
	}
	return strings.Join(parts, "; ")
}
