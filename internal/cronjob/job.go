// Package cronjob runs scheduled jobs as crazy-max's swarm-cronjob does:
// services labelled swarm.cronjob.* that a schedule scales up (replicas from
// the label, ForceUpdate+1), on the labels swarm-cronjob reads. It fixes what
// swarm-cronjob gets wrong: a changed, added or removed schedule counts at
// once (the services are listed every few seconds, nothing to restart), a
// finished job is scaled back to 0 replicas (a failed one never restarts in
// a loop, and the next deploy finds the service as its compose file says),
// and every run is recorded on the swarm with its exit code and, when it
// failed, its last log lines.
//
// The package talks to Docker only through the swarm.Cluster port.
package cronjob

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	mobyswarm "github.com/moby/moby/api/types/swarm"
	"github.com/robfig/cron/v3"

	"coopcloud.tech/abra/internal/swarm"
)

// The labels swarm-cronjob reads on a service (deploy labels in a compose file).
const (
	LabelEnable        = "swarm.cronjob.enable"         // true: the service is a job
	LabelSchedule      = "swarm.cronjob.schedule"       // when: cron (5 fields, or 6 with seconds first) or a descriptor
	LabelSkipRunning   = "swarm.cronjob.skip-running"   // true: no new run while a task of the service runs
	LabelReplicas      = "swarm.cronjob.replicas"       // tasks per run in replicated mode (default 1)
	LabelRegistryAuth  = "swarm.cronjob.registry-auth"  // swarm-cronjob: send registry credentials (read, not acted on)
	LabelQueryRegistry = "swarm.cronjob.query-registry" // true: the daemon resolves the image digest again on each run
)

// Labels are all the labels a job is configured with, in documentation order.
var Labels = []string{LabelEnable, LabelSchedule, LabelSkipRunning, LabelReplicas, LabelRegistryAuth, LabelQueryRegistry}

// parser is swarm-cronjob's: five fields, or six with leading seconds, and
// descriptors (@daily, @every 10s).
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a schedule as swarm-cronjob does. A schedule without a
// CRON_TZ= or TZ= prefix is evaluated in the zone of the time given to its
// Next (the scheduler's Location).
func ParseSchedule(s string) (cron.Schedule, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty schedule")
	}
	sched, err := parser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w (want 5 cron fields, 6 with seconds first, or @daily, @every 10m, …)", err)
	}
	return sched, nil
}

// Job is a service's job configuration, read from its labels.
type Job struct {
	ServiceID     string `json:"service_id"`
	Service       string `json:"service"` // the service's full name, <stack>_<name>
	Stack         string `json:"stack"`   // "" for a service outside any stack
	Name          string `json:"name"`    // the name in the compose file
	Schedule      string `json:"schedule"`
	SkipRunning   bool   `json:"skip_running"`
	Replicas      uint64 `json:"replicas"`
	RegistryAuth  bool   `json:"registry_auth"`
	QueryRegistry bool   `json:"query_registry"`
	Global        bool   `json:"global"` // global mode: a run only forces an update (no replicas to set or scale back)
}

// LabelError is a job label with a value that does not parse.
type LabelError struct {
	Service string
	Label   string
	Value   string
	Want    string
}

func (e *LabelError) Error() string {
	return fmt.Sprintf("service %s: label %s=%q: %s", e.Service, e.Label, e.Value, e.Want)
}

// Enabled reports whether labels make a service a job: swarm.cronjob.enable
// parses as true (strconv.ParseBool, as swarm-cronjob reads it).
func Enabled(labels map[string]string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(labels[LabelEnable]))
	return err == nil && b
}

// Parse reads a service's job labels. ok is false for a service that is not
// a job (no swarm.cronjob.enable=true). A label that does not parse is an
// error naming the service and the label: unlike swarm-cronjob, which logs
// it and runs with the default, the job is not run on a guess.
func Parse(svc mobyswarm.Service) (job Job, ok bool, err error) {
	stack := svc.Spec.Labels[swarm.StackLabel]
	job, ok, err = ParseLabels(svc.Spec.Name, svc.Spec.Labels)
	job.ServiceID, job.Service, job.Stack, job.Name = svc.ID, svc.Spec.Name, stack, ShortName(stack, svc.Spec.Name)
	if err != nil || !ok {
		return job, false, err
	}
	switch m := svc.Spec.Mode; {
	case m.Global != nil:
		job.Global = true
	case m.Replicated != nil:
	default:
		return job, false, &LabelError{Service: svc.Spec.Name, Label: LabelEnable, Value: svc.Spec.Labels[LabelEnable],
			Want: "a job must be a replicated or global service (swarm jobs run by themselves)"}
	}
	return job, true, nil
}

// ParseLabels reads job labels (a service's, or a compose file's deploy
// labels); service names the service in errors. See Parse.
func ParseLabels(service string, l map[string]string) (job Job, ok bool, err error) {
	job = Job{Service: service, Replicas: 1}
	bad := func(label, want string) error {
		return &LabelError{Service: service, Label: label, Value: l[label], Want: want}
	}
	boolean := func(label string, p *bool) error {
		v, set := l[label]
		if !set {
			return nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return bad(label, "want true or false")
		}
		*p = b
		return nil
	}
	var enabled bool
	if err := boolean(LabelEnable, &enabled); err != nil || !enabled {
		return job, false, err
	}
	for _, b := range []struct {
		label string
		p     *bool
	}{{LabelSkipRunning, &job.SkipRunning}, {LabelRegistryAuth, &job.RegistryAuth}, {LabelQueryRegistry, &job.QueryRegistry}} {
		if err := boolean(b.label, b.p); err != nil {
			return job, false, err
		}
	}
	if v, set := l[LabelReplicas]; set {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 1 {
			return job, false, bad(LabelReplicas, "want a whole number of at least 1")
		}
		job.Replicas = n
	}
	job.Schedule = strings.TrimSpace(l[LabelSchedule])
	if _, err := ParseSchedule(job.Schedule); err != nil {
		return job, false, bad(LabelSchedule, err.Error())
	}
	return job, true, nil
}

// ShortName is a service's name without its stack's prefix.
func ShortName(stack, service string) string {
	if stack == "" {
		return service
	}
	return strings.TrimPrefix(service, stack+"_")
}

// JobServices returns the IDs of a stack's job services: their tasks come
// and go on the schedule, which watchers of a stack's stability must not
// take for restarts.
func JobServices(ctx context.Context, c swarm.Cluster, stack string) (map[string]bool, error) {
	services, err := c.Services(ctx, stack)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, svc := range services {
		if Enabled(svc.Spec.Labels) {
			ids[svc.ID] = true
		}
	}
	return ids, nil
}
