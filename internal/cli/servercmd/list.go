package servercmd

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/server"
	"coopcloud.tech/abra/internal/ui"
)

type listOptions struct {
	f    *command.Factory
	json bool
}

// serverView is the stable JSON shape of a server.
type serverView struct {
	Name  string `json:"name"`
	Host  string `json:"host"`
	Apps  int    `json:"apps"`
	Local bool   `json:"local"`
}

func newListCmd(f *command.Factory, runF func(context.Context, *listOptions) error) *cobra.Command {
	o := &listOptions{f: f}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List registered servers",
		Args:    command.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runList(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runList(_ context.Context, o *listOptions) error {
	servers := o.f.Store().Servers()
	names, err := servers.List()
	if err != nil {
		return err
	}
	views := []serverView{}
	for _, n := range names {
		apps, err := servers.Apps(n)
		if err != nil {
			return err
		}
		host := n
		if n == server.Local {
			host = "local"
		}
		views = append(views, serverView{Name: n, Host: host, Apps: len(apps), Local: n == server.Local})
	}
	if o.json {
		return ui.JSON(o.f.IO, views)
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		rows = append(rows, []string{v.Name, v.Host, strconv.Itoa(v.Apps)})
	}
	return ui.Table(o.f.IO, []string{"server", "host", "apps"}, rows)
}
