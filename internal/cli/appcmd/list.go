package appcmd

import (
	"context"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/ui"
)

type listOptions struct {
	f      *command.Factory
	server string
	recipe string
	json   bool
}

// appView is the stable JSON shape of an app in `app ls`.
type appView struct {
	Server  string `json:"server"`
	Recipe  string `json:"recipe"`
	Domain  string `json:"domain"`
	Version string `json:"version"`
	Path    string `json:"path"`
}

func newListCmd(f *command.Factory, runF func(context.Context, *listOptions) error) *cobra.Command {
	o := &listOptions{f: f}
	cmd := &cobra.Command{
		Use:     "ls [-s <server>] [-r <recipe>]",
		Aliases: []string{"list"},
		Short:   "List apps",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runList(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.server, "server", "s", "", "only apps on this server")
	cmd.Flags().StringVarP(&o.recipe, "recipe", "r", "", "only apps of this recipe")
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runList(_ context.Context, o *listOptions) error {
	store := o.f.Store()
	if o.server != "" {
		if err := store.Servers().Check(o.server); err != nil {
			return err
		}
	}
	refs, err := store.Refs()
	if err != nil {
		return err
	}
	views := []appView{}
	for _, r := range refs {
		if o.server != "" && r.Server != o.server {
			continue
		}
		a, err := r.Load()
		if err != nil {
			return err
		}
		if o.recipe != "" && a.Recipe() != o.recipe {
			continue
		}
		views = append(views, appView{Server: a.Server, Recipe: a.Recipe(), Domain: a.Domain, Version: a.PinnedVersion(), Path: a.Path})
	}
	if o.json {
		return ui.JSON(o.f.IO, views)
	}
	rows := [][]string{}
	for _, v := range views {
		ver := v.Version
		if ver == "" {
			ver = "-"
		}
		rows = append(rows, []string{v.Server, v.Recipe, v.Domain, ver})
	}
	return ui.Table(o.f.IO, []string{"server", "recipe", "app", "version"}, rows)
}
