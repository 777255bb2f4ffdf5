package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"coopcloud.tech/abra/internal/guard"
)

// FleetApp is an app in the fleet listing (`abra app ls --json`, the
// dashboard's fleet page with ?format=json): abra's fields and names
// (camelCase, as scripts written for abra read them: jq
// '.[].apps[].appName'), then ours as additions.
type FleetApp struct {
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

// FleetServer is one server's entry, keyed by server name, with abra's
// counts.
type FleetServer struct {
	Apps             []FleetApp `json:"apps"`
	AppCount         int        `json:"appCount"`
	VersionCount     int        `json:"versionCount"`
	UnversionedCount int        `json:"unversionedCount"`
	LatestCount      int        `json:"latestCount"`
	UpgradeCount     int        `json:"upgradeCount"`
}

// FleetOptions select and tune the listing.
type FleetOptions struct {
	Server, Recipe string // only these ("" for all)
	// Status asks every server (FleetStatus); without it the listing is
	// the env files only.
	Status  bool
	Connect Connector
	Timeout time.Duration
}

// BrokenEnv is an env file the listing could not read.
type BrokenEnv struct {
	Path string
	Err  error
}

// Fleet lists the operator's apps. Broken are the env files that could not
// be read, which do not hide the others; statusErr says which servers did
// not answer (their apps are "unknown").
func Fleet(ctx context.Context, store Store, o FleetOptions) (apps []FleetApp, broken []BrokenEnv, statusErr error, err error) {
	if o.Server != "" {
		if err := store.Servers().Check(o.Server); err != nil {
			return nil, nil, nil, err
		}
	}
	refs, err := store.Refs()
	if err != nil {
		return nil, nil, nil, err
	}
	apps = []FleetApp{}
	var loaded []*App
	for _, r := range refs {
		if o.Server != "" && r.Server != o.Server {
			continue
		}
		if err := guard.Domain(strings.ToLower(r.Domain)); err != nil {
			broken = append(broken, BrokenEnv{r.Path, fmt.Errorf("%s: not an app env file: %w", r.Path, err)})
			continue
		}
		a, err := r.Load()
		if err != nil {
			broken = append(broken, BrokenEnv{r.Path, err})
			continue
		}
		if o.Recipe != "" && a.Recipe() != o.Recipe {
			continue
		}
		auto, _ := a.Env.Get("ENABLE_AUTO_UPDATE")
		apps = append(apps, FleetApp{Server: a.Server, Recipe: a.Recipe(), AppName: a.Domain, Domain: a.Domain, Version: a.PinnedVersion(), Path: a.Path,
			Status: "unknown", Chaos: "false", AutoUpdate: strconv.FormatBool(auto == "true" || auto == "1")})
		loaded = append(loaded, a)
	}
	if o.Status {
		rows, err := FleetStatus(ctx, store, loaded, o.Connect, StatusOptions{Timeout: o.Timeout})
		for i, r := range rows {
			apps[i].Version, apps[i].ChaosVersion, apps[i].Status, apps[i].Reason, apps[i].Upgrade = r.Version, r.Chaos, r.State, r.Reason, r.Upgrade
			apps[i].Chaos = strconv.FormatBool(r.Chaos != "")
		}
		statusErr = err
	}
	return apps, broken, statusErr, nil
}

// ByServer groups the listing by server, with abra's counts.
func ByServer(apps []FleetApp) map[string]*FleetServer {
	out := map[string]*FleetServer{}
	for _, v := range apps {
		s := out[v.Server]
		if s == nil {
			s = &FleetServer{Apps: []FleetApp{}}
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
