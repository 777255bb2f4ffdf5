package appcmd

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/archive"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
)

func newCpCmd(f *command.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "cp <domain> <src> <dst>",
		Short: "Copy files or directories between this machine and a service container",
		Long: `Copy a file or directory into or out of a running container of the app.

One side is <service>:<path>. The destination is a directory: the source keeps
its name inside it (created on this machine if missing; it must exist in the
container).`,
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
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		ct, err := app.ServiceContainer(ctx, c, a, dstSvc)
		if err != nil {
			return err
		}
		tar := archive.Pack(src)
		defer tar.Close()
		if err := c.CopyTo(ctx, ct.ID, dstPath, tar); err != nil {
			return fmt.Errorf("copy %s to %s: %w", src, dst, err)
		}
		fmt.Fprintf(f.IO.Err, "copied %s to %s\n", src, dst)
		return nil
	}
	ct, err := app.ServiceContainer(ctx, c, a, srcSvc)
	if err != nil {
		return err
	}
	rc, err := c.CopyFrom(ctx, ct.ID, srcPath)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer rc.Close()
	if err := archive.Unpack(rc, dst); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	fmt.Fprintf(f.IO.Err, "copied %s to %s\n", src, dst)
	return nil
}
