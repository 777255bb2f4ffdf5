package app

import (
	"context"
	"strings"

	"github.com/docker/cli/cli/compose/convert"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
)

// Deployed is what the cluster says about an app.
type Deployed struct {
	Deployed     bool
	Version      string // coop-cloud.<stack>.version, or the 2021 per-service label
	Chaos        bool
	ChaosVersion string
	Recipe       string
	Services     int
}

// DeployedState reads the app's labels from its services on the cluster. Both
// label generations are understood: coop-cloud.<stack>.version=<recipe>+<upstream>
// on the app service, and 2021's coop-cloud.<stack>.<service>.version=<tag>-<digest>.
func DeployedState(ctx context.Context, c swarm.Cluster, stackName string) (Deployed, error) {
	services, err := c.Services(ctx, stackName)
	if err != nil {
		return Deployed{}, err
	}
	return StateOf(stackName, services), nil
}

// StateOf reads the deployed state from a stack's services, already listed.
func StateOf(stackName string, services []mobyswarm.Service) Deployed {
	st := Deployed{Deployed: len(services) > 0, Services: len(services)}
	ns := convert.NewNamespace(stackName)
	prefix := "coop-cloud." + stackName + "."
	for _, svc := range services {
		labels := svc.Spec.Labels
		short := ns.Descope(svc.Spec.Name)
		if v, ok := labels[prefix+"version"]; ok && (short == "app" || st.Version == "") {
			st.Version = v
		}
		if v, ok := labels[prefix+short+".version"]; ok && st.Version == "" {
			// 2021 labels: <tag>-<digest>; keep the tag.
			if i := strings.LastIndex(v, "-"); i > 0 {
				v = v[:i]
			}
			st.Version = v
		}
		if labels[prefix+"chaos"] == "true" {
			st.Chaos = true
			st.ChaosVersion = labels[prefix+"chaos-version"]
		}
		if v, ok := labels[prefix+"recipe"]; ok {
			st.Recipe = v
		}
	}
	return st
}

// Release is the release an upgrade starts from: the version label, or for a
// chaos deploy (or one without labels) the release the env file pins; "" when
// neither says.
func (d Deployed) Release(a *App) string {
	if d.Chaos || d.Version == "" {
		return a.PinnedVersion()
	}
	return d.Version
}
