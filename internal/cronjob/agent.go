package cronjob

import (
	"strconv"
	"strings"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"
)

// AgentRecipe is the recipe whose service runs the schedules (abra-agent serve).
const AgentRecipe = "abra-agent"

// Agent is the scheduler deployed on a swarm, as its service says.
type Agent struct {
	Service  string
	Enabled  bool           // CRON is not false
	Location *time.Location // its TZ (UTC when unset or unknown here)
}

// FindAgent finds the abra-agent service among services (abra labels an
// app's service with its recipe) and reads its CRON and TZ environment.
func FindAgent(services []mobyswarm.Service) (Agent, bool) {
	for _, svc := range services {
		if !isAgent(svc.Spec.Labels) {
			continue
		}
		ag := Agent{Service: svc.Spec.Name, Enabled: true, Location: time.UTC}
		if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
			for _, kv := range cs.Env {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "CRON":
					if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
						ag.Enabled = b
					}
				case "TZ":
					if loc, err := time.LoadLocation(strings.TrimSpace(v)); err == nil && v != "" {
						ag.Location = loc
					}
				}
			}
		}
		return ag, true
	}
	return Agent{Location: time.UTC}, false
}

func isAgent(labels map[string]string) bool {
	for k, v := range labels {
		if v == AgentRecipe && strings.HasPrefix(k, "coop-cloud.") && strings.HasSuffix(k, ".recipe") {
			return true
		}
	}
	return false
}
