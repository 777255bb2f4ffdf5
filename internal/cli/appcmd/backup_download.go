package appcmd

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
)

type backupDownloadOptions struct {
	f      *command.Factory
	domain string
	output string // file, "-" for stdout, "" for <domain>-<snapshot>.tar
	opts   app.DownloadOptions
}

func newBackupDownloadCmd(f *command.Factory, runF func(context.Context, *backupDownloadOptions) error) *cobra.Command {
	o := &backupDownloadOptions{f: f}
	cmd := &cobra.Command{
		Use:   "download <domain>",
		Short: "Download a snapshot's files as a tar archive",
		Long: `Download a snapshot (the latest unless --snapshot) as a tar archive, to
<domain>-<snapshot>.tar in the current directory, the file named with --output
(compressed with gzip when it ends in .gz or .tgz), or stdout with --output -.
The file appears only once the whole archive has arrived.`,
		Example: "  abra app backup download blog.example.org\n" +
			"  abra app backup download blog.example.org --snapshot 1a2b3c4d --volumes --output blog.tar.gz\n" +
			"  abra app backup download blog.example.org --include-path /var/lib/docker/volumes/blog_example_org_data --output - | tar -t",
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runBackupDownload(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.opts.Snapshot, "snapshot", "s", "", "snapshot ID (default: the app's latest)")
	fl.BoolVarP(&o.opts.Volumes, "volumes", "v", false, "include the volumes")
	fl.BoolVarP(&o.opts.Secrets, "secrets", "c", false, "include the app's secrets")
	fl.StringArrayVarP(&o.opts.IncludePaths, "include-path", "i", nil, "only this path of the snapshot (repeatable)")
	// -o is the global --offline.
	fl.StringVarP(&o.output, "output", "O", "", "file to write, - for stdout (default <domain>-<snapshot>.tar)")
	return cmd
}

func runBackupDownload(ctx context.Context, o *backupDownloadOptions) error {
	a, b, p, err := backupsFor(ctx, o.f, o.domain, false)
	if err != nil {
		return err
	}
	defer p.done()
	b.Logs = o.f.IO.Err // the service's progress
	opts := o.opts
	if opts.Snapshot == "" && o.output == "" {
		// Name the file after the snapshot, and download that very snapshot
		// even if a backup finishes in between.
		snaps, err := b.List(ctx, a)
		if err != nil {
			return err
		}
		latest, ok := app.Latest(snaps)
		if !ok {
			return hint.With(fmt.Errorf("download backup of %s: %w", a.Domain, app.ErrNoSnapshot), "make one with 'abra app backup create "+a.Domain+"'")
		}
		opts.Snapshot = latest.ShortID
		if opts.Snapshot == "" {
			opts.Snapshot = latest.ID
		}
	}
	if o.output == "-" {
		return b.Download(ctx, a, opts, o.f.IO.Out)
	}
	path := o.output
	if path == "" {
		path = a.Domain + "-" + opts.Snapshot + ".tar"
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return fmt.Errorf("download backup of %s: %w", a.Domain, err)
	}
	defer os.Remove(tmp.Name())
	var w io.Writer = tmp
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") || strings.HasSuffix(path, ".tgz") {
		zw = gzip.NewWriter(tmp)
		w = zw
	}
	cw := &countingWriter{w: w}
	err = b.Download(ctx, a, opts, cw)
	if err == nil && zw != nil {
		err = zw.Close()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("download backup of %s: %w", a.Domain, err)
	}
	fmt.Fprintf(o.f.IO.Err, "%s: wrote %s (%s of tar)\n", a.Domain, path, humanBytes(cw.n))
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
