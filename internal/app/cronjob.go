package app

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/docker/cli/cli/compose/loader"
	composetypes "github.com/docker/cli/cli/compose/types"

	"coopcloud.tech/abra/internal/cronjob"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/update/policy"
)

// CheckJobs refuses scheduled jobs (swarm.cronjob.* labels) whose labels do
// not parse: the scheduler would never run them. Lint checks the labels a
// recipe writes out; a label set from the app's env file (a schedule of
// ${BACKUP_SCHEDULE}) only the deploy sees, and the error names the env
// file, its line and the key, as the update policy's do.
func CheckJobs(a *App, src *Source, cfg *composetypes.Config) error {
	for _, svc := range cfg.Services {
		if _, set := svc.Deploy.Labels[cronjob.LabelEnable]; !set {
			continue
		}
		_, _, err := cronjob.ParseLabels(svc.Name, svc.Deploy.Labels)
		var le *cronjob.LabelError
		if !errors.As(err, &le) {
			continue
		}
		want := fmt.Sprintf("%s of service %s: %s", le.Label, svc.Name, le.Want)
		if key, ok := envKeyOf(a, src, svc.Name, le.Label); ok {
			v, _ := a.Env.Get(key)
			return hint.With(&policy.PolicyError{Where: fmt.Sprintf("%s:%d", a.Path, a.Env.Line(key)), Key: key, Value: v, Want: want},
				"fix it in "+a.Path+" ('abra app config "+a.Domain+"'); a schedule is 5 cron fields (0 3 * * *), 6 with seconds first, or @daily, @every 6h")
		}
		return fmt.Errorf("recipe %s: service %s: label %s=%q: %s", src.Recipe, svc.Name, le.Label, le.Value, le.Want)
	}
	return nil
}

// variable matches what compose interpolation substitutes: $VAR, ${VAR…}.
var variable = regexp.MustCompile(`\$\{?([_a-zA-Z][_a-zA-Z0-9]*)`)

// envKeyOf finds the key of the app's env file that a service's deploy
// label is interpolated from: the label as the compose files write it (the
// last file that sets it), its first variable set in the env file.
func envKeyOf(a *App, src *Source, service, label string) (string, bool) {
	env, err := Env(a, src.Dir)
	if err != nil {
		return "", false
	}
	raw := ""
	for _, f := range stack.ComposeFiles(env["COMPOSE_FILE"]) {
		b, err := guard.ReadFile(src.Dir, f)
		if err != nil {
			continue
		}
		dict, err := loader.ParseYAML(b)
		if err != nil {
			continue
		}
		services, _ := dict["services"].(map[string]any)
		svc, _ := services[service].(map[string]any)
		deploy, _ := svc["deploy"].(map[string]any)
		if v, ok := rawLabel(deploy["labels"], label); ok {
			raw = v
		}
	}
	for _, m := range variable.FindAllStringSubmatch(strings.ReplaceAll(raw, "$$", ""), -1) {
		if a.Env.Line(m[1]) > 0 {
			return m[1], true
		}
	}
	return "", false
}

// rawLabel reads one label of a compose file's labels, in list or map form.
func rawLabel(labels any, key string) (string, bool) {
	switch l := labels.(type) {
	case []any:
		for _, e := range l {
			s, _ := e.(string)
			if k, v, _ := strings.Cut(s, "="); strings.TrimSpace(k) == key {
				return v, true
			}
		}
	case map[string]any:
		if v, ok := l[key]; ok {
			return fmt.Sprint(v), true
		}
	}
	return "", false
}
