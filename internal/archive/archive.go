// Package archive packs files into tar streams and unpacks them, for copying
// into and out of containers (the Engine API speaks tar).
package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Pack streams a tar of src (a file, or a directory with everything below it),
// with entries named from src's base name.
func Pack(src string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(pack(src, pw)) }()
	return pr
}

func pack(src string, w io.Writer) error {
	tw := tar.NewWriter(w)
	base := filepath.Dir(filepath.Clean(src))
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// Unpack extracts a tar stream into dest, which is created if missing. Entries
// cannot escape dest: absolute names, ".." and links pointing outside are refused.
func Unpack(r io.Reader, dest string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "/"))
		if name == "." || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("unpack: refusing entry %q outside the destination", hdr.Name)
		}
		mode := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if dir := path.Dir(name); dir != "." {
				if err := root.MkdirAll(dir, 0o755); err != nil {
					return err
				}
			}
			f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
		default:
			// devices, fifos, hard links: not needed to move app data around
		}
	}
}

// Rebase rewrites a tar stream whose entries all lie under the top entry from
// (from, from/…), as Pack and the Engine API's container copy produce them, so
// that they lie under to instead. With to == "" the top entry is dropped and
// what was below it comes out at the top: the contents of a directory. This is
// how a copy gets a new name (docker cp's "file or folder to a new name").
func Rebase(r io.Reader, from, to string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rebase(r, pw, from, to)) }()
	return pr
}

func rebase(r io.Reader, w io.Writer, from, to string) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
		var rest string
		switch {
		case name == from:
		case strings.HasPrefix(name, from+"/"):
			rest = strings.TrimPrefix(name, from+"/")
		default:
			return fmt.Errorf("rebase: entry %q is not under %q", hdr.Name, from)
		}
		switch {
		case rest == "" && to == "":
			continue // the directory itself: only its contents are copied
		case rest == "":
			name = to
		case to == "":
			name = rest
		default:
			name = to + "/" + rest
		}
		if hdr.Typeflag == tar.TypeDir {
			name += "/"
		}
		hdr.Name = name
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}
