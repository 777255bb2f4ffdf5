package appcmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type envOptions struct {
	f      *command.Factory
	domain string
	json   bool
}

func newEnvCmd(f *command.Factory, runF func(context.Context, *envOptions) error) *cobra.Command {
	o := &envOptions{f: f}
	cmd := &cobra.Command{
		Use:     "env <domain>",
		Aliases: []string{"e"},
		Short:   "Print the app's environment (its env file, expanded)",
		Args:    command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runEnv(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runEnv(_ context.Context, o *envOptions) error {
	a, err := o.f.Store().Get(o.domain)
	if err != nil {
		return err
	}
	values := a.Env.Values()
	if o.json {
		return ui.JSON(o.f.IO, values)
	}
	for _, k := range a.Env.Keys() {
		fmt.Fprintf(o.f.IO.Out, "%s=%s\n", k, values[k])
	}
	return nil
}
