package backup

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// DownloadOptions select what Download writes.
type DownloadOptions struct {
	App          string
	Snapshot     string // "" for the app's latest
	Volumes      bool   // the volume paths
	Secrets      bool   // the secrets of the running services (/run/secrets), under secrets/<service>/
	IncludePaths []string
}

// Download writes a tar stream of the snapshot to w: with no selection, the
// whole snapshot; otherwise the volumes, the given paths and the current
// secrets as asked.
func (b *Bot) Download(ctx context.Context, o DownloadOptions, w io.Writer) error {
	snap, err := b.FindSnapshot(ctx, o.App, o.Snapshot)
	if err != nil {
		return err
	}
	var keep []string
	all := !o.Volumes && !o.Secrets && len(o.IncludePaths) == 0
	if o.Volumes {
		for _, p := range snap.Paths {
			if p != b.ManifestPath(o.App) {
				keep = append(keep, p)
			}
		}
	}
	for _, p := range o.IncludePaths {
		if !strings.HasPrefix(p, "/") {
			// A path inside the volumes: under any of the snapshot's paths.
			for _, sp := range snap.Paths {
				keep = append(keep, path.Join(sp, p))
			}
			continue
		}
		keep = append(keep, path.Clean(p))
	}
	tw := tar.NewWriter(w)
	if all || len(keep) > 0 {
		pr, pw := io.Pipe()
		dumped := make(chan error, 1)
		go func() {
			err := b.Restic.DumpTar(ctx, snap.ID, "/", pw)
			pw.CloseWithError(err)
			dumped <- err
		}()
		n, err := copyTar(tw, tar.NewReader(pr), func(name string) (string, bool) {
			abs := "/" + strings.TrimPrefix(path.Clean("/"+name), "/")
			if all {
				return name, true
			}
			for _, k := range keep {
				if isUnder(abs, k) || isUnder(k, abs) && strings.HasSuffix(name, "/") {
					return name, true
				}
			}
			return "", false
		})
		// Read restic's output to its end (the tar trailer and padding follow
		// the last entry) and wait for it to exit: restic removes its lock on
		// the repository only then, and a lock left behind blocks the next run.
		_, _ = io.Copy(io.Discard, pr)
		dumpErr := <-dumped
		_ = pr.Close()
		if err == nil {
			err = dumpErr
		}
		if err != nil {
			return fmt.Errorf("download snapshot %s: %w", snap.ShortID, err)
		}
		if n == 0 && len(o.IncludePaths) > 0 {
			return fmt.Errorf("download snapshot %s: %w: no file matches %s", snap.ShortID, ErrNoSnapshot, strings.Join(o.IncludePaths, ", "))
		}
	}
	if o.Secrets {
		svcs, err := b.services(ctx, o.App, "")
		if err != nil {
			return err
		}
		for _, s := range svcs {
			id, err := b.runningContainer(ctx, o.App, s)
			if err != nil {
				return fmt.Errorf("secrets: %w", err)
			}
			rc, err := b.Cluster.CopyFrom(ctx, id, "/run/secrets")
			if err != nil {
				b.warn("download", s.Name, "no secrets: %v", err)
				continue
			}
			_, err = copyTar(tw, tar.NewReader(rc), func(name string) (string, bool) {
				rel := strings.TrimPrefix(strings.TrimPrefix(name, "secrets"), "/")
				return path.Join("secrets", s.Name, rel), true
			})
			rc.Close()
			if err != nil {
				return fmt.Errorf("secrets of %s: %w", s.Name, err)
			}
		}
	}
	return tw.Close()
}

// copyTar copies the entries rename keeps (under their new names).
func copyTar(tw *tar.Writer, tr *tar.Reader, rename func(string) (string, bool)) (int, error) {
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		name, ok := rename(h.Name)
		if !ok {
			continue
		}
		h.Name = name
		if err := tw.WriteHeader(h); err != nil {
			return n, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return n, err
		}
		n++
	}
}
