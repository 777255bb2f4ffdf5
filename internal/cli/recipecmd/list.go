package recipecmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/catalogue"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type listOptions struct {
	f      *command.Factory
	getenv func(string) string

	pattern string
	json    bool
}

func newListCmd(f *command.Factory, runF func(context.Context, *listOptions) error) *cobra.Command {
	o := &listOptions{f: f, getenv: os.Getenv}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the recipes of the catalogue",
		Long: `List the recipes of the catalogue, $ABRA_DIR/catalogue/recipes.json. Online,
the local copy (a git clone of $ABRA_CATALOGUE_URL) is first brought up to
date; when the remote cannot be reached, or with --offline, the local copy is
used as it is. --json prints the catalogue itself, in recipes.json's format.`,
		Example: "  abra recipe ls\n  abra recipe ls --pattern wiki\n  abra recipe ls --json",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runList(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.pattern, "pattern", "p", "", "only recipes whose name, description or category contain this text")
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runList(ctx context.Context, o *listOptions) error {
	cfg := catalogue.ConfigFromEnv(o.getenv)
	local := catalogue.Local{Dir: filepath.Join(o.f.AbraDir, "catalogue"), URL: cfg.URL}
	warn, err := local.Refresh(ctx, o.f.Offline)
	if err != nil {
		return err
	}
	if warn != nil {
		fmt.Fprintf(o.f.IO.Err, "warning: catalogue: %v; using the local copy\n", warn)
	}
	c, err := local.Read()
	if err != nil {
		return err
	}
	c = c.Filter(o.pattern)
	if o.json {
		b, err := c.Encode()
		if err != nil {
			return err
		}
		_, err = o.f.IO.Out.Write(b)
		return err
	}
	rows := [][]string{}
	for _, name := range c.Names() {
		r := c[name]
		status := "?"
		if r.Features.Status > 0 {
			status = strconv.Itoa(r.Features.Status)
		}
		rows = append(rows, []string{name, dash(r.Category), status, dash(r.Features.Healthcheck), dash(r.Features.Backups),
			dash(r.Features.Email), dash(r.Features.Tests), dash(r.Features.SSO), dash(r.Latest())})
	}
	return ui.Table(o.f.IO, []string{"name", "category", "status", "healthcheck", "backups", "email", "tests", "sso", "latest"}, rows)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
