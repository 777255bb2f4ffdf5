package servercmd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/server"
	"coopcloud.tech/abra/internal/ui"
)

type listOptions struct {
	f       *command.Factory
	json    bool
	status  bool
	timeout time.Duration
}

// serverView is the stable JSON shape of a server.
type serverView struct {
	Name   string         `json:"name"`
	Host   string         `json:"host"`
	Apps   int            `json:"apps"`
	Local  bool           `json:"local"`
	Status *server.Status `json:"status,omitempty"`
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
	cmd.Flags().BoolVarP(&o.status, "status", "S", false, "ask every server, concurrently: reachable, Docker version, swarm role, nodes")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 15*time.Second, "with --status: how long to wait for each server")
	return cmd
}

func runList(ctx context.Context, o *listOptions) error {
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
	var failed []string
	if o.status {
		for i, st := range server.Statuses(ctx, names, o.f.Connect, o.timeout) {
			views[i].Status = &st
			if !st.Reachable {
				failed = append(failed, st.Name)
			}
		}
	}
	var statusErr error
	if len(failed) > 0 {
		statusErr = fmt.Errorf("%w: unreachable: %s", command.ErrPartial, strings.Join(failed, ", "))
	}
	if o.json {
		if err := ui.JSON(o.f.IO, views); err != nil {
			return err
		}
		return statusErr
	}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		row := []string{v.Name, v.Host, strconv.Itoa(v.Apps)}
		if st := v.Status; st != nil {
			if st.Reachable {
				row = append(row, "yes", st.Docker, st.Role, strconv.Itoa(st.Nodes), strconv.FormatBool(st.Proxy))
			} else {
				row = append(row, "no ("+st.Error+")", "-", "-", "-", "-")
			}
		}
		rows = append(rows, row)
	}
	headers := []string{"server", "host", "apps"}
	if o.status {
		headers = append(headers, "reachable", "docker", "role", "nodes", "proxy")
	}
	if err := ui.Table(o.f.IO, headers, rows); err != nil {
		return err
	}
	return statusErr
}
