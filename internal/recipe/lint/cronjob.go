package lint

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"coopcloud.tech/abra/internal/cronjob"
)

// checkJobDeploy (R016): a scheduled job's service rests at 0 replicas and
// is not restarted by swarm; the scheduler scales it up for a run.
func checkJobDeploy(r *Recipe) Result {
	if r.Compose == nil {
		return skip(notLoaded)
	}
	var bad, jobs []string
	for _, svc := range r.Compose.Services {
		if !cronjob.Enabled(svc.Deploy.Labels) {
			continue
		}
		jobs = append(jobs, svc.Name)
		var why []string
		if m := svc.Deploy.Mode; m != "" && m != "replicated" {
			why = append(why, fmt.Sprintf("mode %s, want replicated (a run sets the replicas)", m))
		}
		switch n := svc.Deploy.Replicas; {
		case n == nil:
			why = append(why, "no replicas: 1 by default, want 0 (with more, every deploy runs the job too)")
		case *n != 0:
			why = append(why, fmt.Sprintf("replicas %d, want 0 (with more, every deploy runs the job too)", *n))
		}
		cond := "any (the default)"
		if p := svc.Deploy.RestartPolicy; p != nil && p.Condition != "" {
			cond = p.Condition
		}
		if cond != "none" {
			why = append(why, fmt.Sprintf("restart_policy.condition %s, want none (swarm would restart a failed run, or any run, in a loop)", cond))
		}
		if len(why) > 0 {
			bad = append(bad, svc.Name+": "+strings.Join(why, ", "))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fail(strings.Join(bad, "; "))
	}
	if len(jobs) == 0 {
		return pass("no scheduled jobs")
	}
	slices.Sort(jobs)
	return pass(strings.Join(jobs, ", "))
}

// checkJobLabels (R017): the swarm.cronjob labels of a job parse, the
// schedule above all. A label whose value comes from a variable that
// .env.sample leaves empty is the app's to set: the deploy checks it.
func checkJobLabels(r *Recipe) Result {
	if r.Compose == nil {
		return skip(notLoaded)
	}
	type labels struct{ raw, interpolated map[string]string }
	byService := map[string]labels{}
	var services []string
	for _, l := range r.labels() {
		ls, ok := byService[l.Service]
		if !ok {
			ls = labels{map[string]string{}, map[string]string{}}
			byService[l.Service] = ls
			services = append(services, l.Service)
		}
		ls.raw[l.IKey], ls.interpolated[l.IKey] = l.Val, l.IVal
	}
	var bad, good []string
	for _, svc := range services {
		ls := byService[svc]
		if _, set := ls.interpolated[cronjob.LabelEnable]; !set {
			continue
		}
		job, isJob, err := cronjob.ParseLabels(svc, ls.interpolated)
		var le *cronjob.LabelError
		switch {
		case errors.As(err, &le):
			vars := variables(ls.raw[le.Label])
			switch {
			case len(vars) > 0 && strings.TrimSpace(le.Value) == "":
				good = append(good, fmt.Sprintf("%s: %s from ${%s}, checked at deploy", svc, le.Label, vars[0].Name))
			case len(vars) > 0:
				bad = append(bad, fmt.Sprintf("%s: %s=%q (from ${%s} in .env.sample): %s", svc, le.Label, le.Value, vars[0].Name, le.Want))
			default:
				bad = append(bad, fmt.Sprintf("%s: %s=%q: %s", svc, le.Label, le.Value, le.Want))
			}
		case err != nil:
			bad = append(bad, svc+": "+err.Error())
		case isJob:
			good = append(good, fmt.Sprintf("%s: %s", svc, job.Schedule))
		}
	}
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "))
	}
	if len(good) == 0 {
		return pass("no scheduled jobs")
	}
	return pass(strings.Join(good, "; "))
}
