package appcmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/archive"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/swarm"
)

func newCpCmd(f *command.Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "cp <domain> <src> <dst>",
		Aliases: []string{"c"},
		Short:   "Copy files or directories between this machine and a service container",
		Long: `Copy a file or directory into or out of a running container of the app.

One side is <service>:<path>. docker cp's rules apply, both ways:
  a file to a path that does not exist: copied under that name (its folder must exist)
  a file to an existing file: overwritten; to an existing folder: copied into it
  a folder to a path that does not exist: created under that name, with the contents
  a folder to an existing folder: copied into it as a subfolder
  folder/. : the folder's contents are copied, not the folder itself
  a destination ending in / must be a folder; a folder cannot replace a file.`,
		Example: "  abra app cp blog.example.org ./themes app:/var/www/html/wp-content\n  abra app cp blog.example.org db:/var/lib/mysql/dump.sql ./backups",
		Args:    command.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCp(cmd.Context(), f, args[0], args[1], args[2])
		},
	}
}

func splitServicePath(s string) (service, path string, ok bool) {
	service, path, ok = strings.Cut(s, ":")
	if !ok || service == "" || !strings.HasPrefix(path, "/") || strings.ContainsAny(service, "/.") {
		return "", "", false
	}
	return service, path, true
}

func runCp(ctx context.Context, f *command.Factory, domain, src, dst string) error {
	srcSvc, srcPath, fromContainer := splitServicePath(src)
	dstSvc, dstPath, toContainer := splitServicePath(dst)
	if fromContainer == toContainer {
		for _, arg := range []string{src, dst} {
			if svc, _, ok := strings.Cut(arg, ":"); ok {
				if err := guard.ServiceName(svc); err != nil {
					return &command.UsageError{Err: fmt.Errorf("%q: %w", arg, err)}
				}
			}
		}
		return command.Usagef("exactly one of <src> (%q) and <dst> (%q) must be <service>:/absolute/path, the other a local path", src, dst)
	}
	a, c, err := loadApp(ctx, f, domain)
	if err != nil {
		return err
	}
	if toContainer {
		ct, err := app.ServiceContainer(ctx, c, a, dstSvc)
		if err != nil {
			return err
		}
		err = copyToContainer(ctx, c, ct.ID, src, dstPath)
		if err != nil {
			return fmt.Errorf("copy %s to %s: %w", src, dst, err)
		}
	} else {
		ct, err := app.ServiceContainer(ctx, c, a, srcSvc)
		if err != nil {
			return err
		}
		if err := copyFromContainer(ctx, c, ct.ID, srcPath, dst); err != nil {
			return fmt.Errorf("copy %s to %s: %w", src, dst, err)
		}
	}
	fmt.Fprintf(f.IO.Err, "copied %s to %s\n", src, dst)
	return nil
}

// copyContents reports docker cp's "SRC_PATH ends with /.": the contents of
// the directory are copied, not the directory itself.
func copyContents(p string) bool {
	return p == "." || strings.HasSuffix(p, "/.")
}

// target decides, by docker cp's rules, into which existing directory a copy
// is unpacked and under which name its top entry lands there ("" for a
// directory's contents). dstIsDir/dstErr describe the destination as it is
// (dstErr wraps notFound when it is missing), parentIsDir its parent.
func target(srcIsDir, contents bool, srcBase, dst string, dstIsDir bool, dstErr, notFound error, parentIsDir func(string) (bool, error)) (into, name string, err error) {
	clean := path.Clean(dst)
	switch {
	case dstErr == nil && dstIsDir:
		if srcIsDir && contents {
			return dst, "", nil
		}
		return dst, srcBase, nil
	case dstErr == nil && srcIsDir:
		return "", "", fmt.Errorf("cannot copy a directory onto the file %s", dst)
	case dstErr == nil && strings.HasSuffix(dst, "/"):
		return "", "", fmt.Errorf("%s is not a directory", dst)
	case dstErr == nil:
		return path.Dir(clean), path.Base(clean), nil // overwrite the file
	case !errors.Is(dstErr, notFound):
		return "", "", dstErr
	case !srcIsDir && strings.HasSuffix(dst, "/"):
		return "", "", fmt.Errorf("destination directory %s does not exist", dst)
	}
	parent := path.Dir(clean)
	ok, err := parentIsDir(parent)
	if err != nil || !ok {
		return "", "", fmt.Errorf("the folder %s of %s does not exist", parent, dst)
	}
	// A missing destination is created under its own name: a file's copy,
	// or a directory holding the source directory's contents.
	return parent, path.Base(clean), nil
}

func copyToContainer(ctx context.Context, c swarm.Cluster, ctr, src, dst string) error {
	abs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	info, err := os.Stat(abs)
	if err != nil {
		return err
	}
	contents := copyContents(filepath.ToSlash(src))
	if contents && !info.IsDir() {
		return fmt.Errorf("%s is not a directory", strings.TrimSuffix(src, "/."))
	}
	st, dstErr := c.StatPath(ctx, ctr, dst)
	into, name, err := target(info.IsDir(), contents, filepath.Base(abs), dst, st.Mode.IsDir(), dstErr, swarm.ErrNotFound,
		func(dir string) (bool, error) {
			st, err := c.StatPath(ctx, ctr, dir)
			return err == nil && st.Mode.IsDir(), nil
		})
	if err != nil {
		return err
	}
	packed := archive.Pack(abs)
	defer packed.Close()
	rebased := archive.Rebase(packed, filepath.Base(abs), name)
	defer rebased.Close()
	return c.CopyTo(ctx, ctr, into, rebased)
}

func copyFromContainer(ctx context.Context, c swarm.Cluster, ctr, src, dst string) error {
	st, err := c.StatPath(ctx, ctr, src)
	if err != nil {
		return err
	}
	contents := copyContents(src)
	if contents && !st.Mode.IsDir() {
		return fmt.Errorf("%s is not a directory", strings.TrimSuffix(src, "/."))
	}
	clean := path.Clean(src)
	var dstIsDir bool
	info, dstErr := os.Stat(dst)
	if dstErr == nil {
		dstIsDir = info.IsDir()
	}
	into, name, err := target(st.Mode.IsDir(), contents, path.Base(clean), filepath.ToSlash(dst), dstIsDir, dstErr, fs.ErrNotExist,
		func(dir string) (bool, error) {
			info, err := os.Stat(filepath.FromSlash(dir))
			return err == nil && info.IsDir(), nil
		})
	if err != nil {
		return err
	}
	rc, err := c.CopyFrom(ctx, ctr, clean)
	if err != nil {
		return err
	}
	defer rc.Close()
	rebased := archive.Rebase(rc, path.Base(clean), name)
	defer rebased.Close()
	return archive.Unpack(rebased, filepath.FromSlash(into))
}
