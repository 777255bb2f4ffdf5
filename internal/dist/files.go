package dist

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// File is one entry of an archive or an image layer.
type File struct {
	Name string // slash-separated, relative: "usr/bin/restic"
	Mode int64  // permission bits with setuid/setgid/sticky: 0o755, 0o1777
	Data []byte // a regular file's content
	Link string // a symbolic link's target (then Data is unused)
	Dir  bool
}

// writeTar writes files as a tar stream that depends on nothing but its
// input: entries sorted by name, parent directories made explicit (0755),
// every time mtime, owner root. Two builds of the same files are the same
// bytes, which is what makes archive checksums and layer digests reproducible.
func writeTar(w io.Writer, files []File, mtime time.Time) error {
	byName := map[string]File{}
	for _, f := range files {
		name := strings.Trim(path.Clean("/"+f.Name), "/")
		if name == "" {
			return fmt.Errorf("tar entry %q: empty name", f.Name)
		}
		if _, dup := byName[name]; dup {
			return fmt.Errorf("tar entry %q twice", name)
		}
		f.Name = name
		byName[name] = f
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if _, ok := byName[dir]; !ok {
				byName[dir] = File{Name: dir, Mode: 0o755, Dir: true}
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	mtime = mtime.UTC().Truncate(time.Second)
	for _, n := range names {
		f := byName[n]
		if f.Dir && (f.Data != nil || f.Link != "") {
			return fmt.Errorf("tar entry %q: a directory with content", n)
		}
		h := &tar.Header{Name: n, Mode: f.Mode, ModTime: mtime, Uname: "root", Gname: "root"}
		switch {
		case f.Dir:
			h.Typeflag, h.Name = tar.TypeDir, n+"/"
		case f.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// writeTarGz is writeTar through gzip with an empty header (no name, no
// time), so the compressed bytes are as reproducible as the tar.
func writeTarGz(w io.Writer, files []File, mtime time.Time) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := writeTar(zw, files, mtime); err != nil {
		return err
	}
	return zw.Close()
}
