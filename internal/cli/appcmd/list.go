package appcmd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/ui"
)

type listOptions struct {
	f       *command.Factory
	server  string
	recipe  string
	json    bool
	status  bool
	timeout time.Duration
}

// appView is an app in `app ls --json`: abra's fields and names (camelCase,
// as scripts written for abra read them: jq '.[].apps[].appName'), then ours
// as additions.
type appView struct {
	Server       string `json:"server"`
	Recipe       string `json:"recipe"`
	AppName      string `json:"appName"`
	Domain       string `json:"domain"`
	Status       string `json:"status"`
	Chaos        string `json:"chaos"`
	ChaosVersion string `json:"chaosVersion"`
	AutoUpdate   string `json:"autoUpdate"`
	Version      string `json:"version"`
	Upgrade      string `json:"upgrade"`
	// Ours: the env file, and why the status is what it is.
	Path   string `json:"path"`
	Reason string `json:"reason,omitempty"`
}

// serverView is one server's entry in `app ls --json`, keyed by server
// name, with abra's counts.
type serverView struct {
	Apps             []appView `json:"apps"`
	AppCount         int       `json:"appCount"`
	VersionCount     int       `json:"versionCount"`
	UnversionedCount int       `json:"unversionedCount"`
	LatestCount      int       `json:"latestCount"`
	UpgradeCount     int       `json:"upgradeCount"`
}

func byServer(views []appView) map[string]*serverView {
	out := map[string]*serverView{}
	for _, v := range views {
		s := out[v.Server]
		if s == nil {
			s = &serverView{Apps: []appView{}}
			out[v.Server] = s
		}
		s.Apps = append(s.Apps, v)
		s.AppCount++
		switch {
		case v.Version == "" || v.Version == "unknown":
			s.UnversionedCount++
		default:
			s.VersionCount++
			if v.Upgrade == "" || v.Upgrade == "latest" {
				s.LatestCount++
			} else {
				s.UpgradeCount++
			}
		}
	}
	return out
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
	cmd.Flags().BoolVarP(&o.status, "status", "S", false, "ask every server, concurrently, what is deployed (status, version, upgrades)")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 15*time.Second, "with --status: how long to wait for each server")
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runList(ctx context.Context, o *listOptions) error {
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
	var apps []*app.App
	var broken []string
	for _, r := range refs {
		if o.server != "" && r.Server != o.server {
			continue
		}
		if err := guard.Domain(strings.ToLower(r.Domain)); err != nil {
			fmt.Fprintf(o.f.IO.Err, "abra: %s: not an app env file: %v\n", r.Path, err)
			broken = append(broken, r.Path)
			continue
		}
		a, err := r.Load()
		if err != nil {
			// One broken env file must not hide the other apps.
			fmt.Fprintf(o.f.IO.Err, "abra: %v\n", err)
			broken = append(broken, r.Path)
			continue
		}
		if o.recipe != "" && a.Recipe() != o.recipe {
			continue
		}
		auto, _ := a.Env.Get("ENABLE_AUTO_UPDATE")
		views = append(views, appView{Server: a.Server, Recipe: a.Recipe(), AppName: a.Domain, Domain: a.Domain, Version: a.PinnedVersion(), Path: a.Path,
			Status: "unknown", Chaos: "false", AutoUpdate: strconv.FormatBool(auto == "true" || auto == "1")})
		apps = append(apps, a)
	}
	var statusErr error
	if len(broken) > 0 {
		statusErr = hint.With(fmt.Errorf("%w: %d env files could not be read: %s", command.ErrPartial, len(broken), strings.Join(broken, ", ")),
			"fix them with 'abra app config <domain>' (or your editor) as said above; a file whose name is not <domain>.env belongs elsewhere")
	}
	if o.status {
		rows, err := app.FleetStatus(ctx, store, apps, o.f.Connect, app.StatusOptions{Timeout: o.timeout})
		for i, r := range rows {
			views[i].Version, views[i].ChaosVersion, views[i].Status, views[i].Reason, views[i].Upgrade = r.Version, r.Chaos, r.State, r.Reason, r.Upgrade
			views[i].Chaos = strconv.FormatBool(r.Chaos != "")
		}
		if err != nil {
			statusErr = errors.Join(statusErr, fmt.Errorf("%w: %w", command.ErrPartial, err))
		}
	}
	if o.json {
		if err := ui.JSON(o.f.IO, byServer(views)); err != nil {
			return err
		}
		return statusErr
	}
	rows := [][]string{}
	for _, v := range views {
		row := []string{v.Server, v.Recipe, v.Domain, orDash(v.Version)}
		if o.status {
			status := v.Status
			if v.Reason != "" {
				status += " (" + v.Reason + ")"
			}
			row = append(row, orDash(v.ChaosVersion), status, orDash(v.Upgrade), v.AutoUpdate)
		}
		rows = append(rows, row)
	}
	headers := []string{"server", "recipe", "domain", "version"}
	if o.status {
		headers = append(headers, "chaos", "status", "upgrade", "autoupdate")
	}
	if err := ui.Table(o.f.IO, headers, rows); err != nil {
		return err
	}
	return statusErr
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
