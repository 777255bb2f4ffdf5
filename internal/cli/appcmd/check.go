package appcmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type checkOptions struct {
	f      *command.Factory
	domain string
	chaos  bool
	json   bool
}

type checkView struct {
	App     string   `json:"app"`
	Recipe  string   `json:"recipe"`
	Missing []string `json:"missing"`
}

func newCheckCmd(f *command.Factory, runF func(context.Context, *checkOptions) error) *cobra.Command {
	o := &checkOptions{f: f}
	cmd := &cobra.Command{
		Use:     "check <domain>",
		Aliases: []string{"chk"},
		Short:   "List keys of the recipe's .env.sample missing from the app's env file (exit 1 if any)",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runCheck(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.chaos, "chaos", "C", false, "compare with the recipe's work tree")
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runCheck(ctx context.Context, o *checkOptions) error {
	a, err := o.f.Store().Get(o.domain)
	if err != nil {
		return err
	}
	missing, err := o.f.Store().MissingKeys(ctx, a, a.PinnedVersion(), o.chaos)
	if err != nil {
		return err
	}
	view := checkView{App: a.Domain, Recipe: a.Recipe(), Missing: missing}
	if o.json {
		if err := ui.JSON(o.f.IO, view); err != nil {
			return err
		}
	} else {
		for _, k := range view.Missing {
			fmt.Fprintln(o.f.IO.Out, k)
		}
	}
	if len(view.Missing) > 0 {
		return fmt.Errorf("%s: %d keys of %s's .env.sample are missing from %s", a.Domain, len(view.Missing), a.Recipe(), a.Path)
	}
	fmt.Fprintf(o.f.IO.Err, "%s: all keys of the recipe's .env.sample are set\n", a.Domain)
	return nil
}
