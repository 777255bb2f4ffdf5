package appcmd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/cronjob"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

// newCronCmd: abra app cron ls|run|history, the app's scheduled jobs.
func newCronCmd(f *command.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cron",
		Short: "The app's scheduled jobs (swarm.cronjob labels): list, run now, history",
		Long: `The app's scheduled jobs: services with the labels of swarm-cronjob
(swarm.cronjob.enable=true, swarm.cronjob.schedule=…), which the abra-agent
recipe runs on this server (CRON=false turns that off). Each run is recorded
on the server: state, exit code, and a failed run's last log lines.`,
	}
	cmd.AddCommand(newCronLsCmd(f, nil), newCronRunCmd(f, nil), newCronHistoryCmd(f, nil))
	return cmd
}

// cronRunView is one run of a job as the cron commands print it.
type cronRunView struct {
	App      string    `json:"app"`
	Service  string    `json:"service"`
	ID       string    `json:"id"`
	Trigger  string    `json:"trigger"`
	State    string    `json:"state"`
	ExitCode *int      `json:"exit_code"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	TaskID   string    `json:"task_id,omitempty"`
	NodeID   string    `json:"node_id,omitempty"`
	Schedule string    `json:"schedule,omitempty"`
	Error    string    `json:"error,omitempty"`
	Logs     []string  `json:"logs,omitempty"`
}

func runView(domain string, r cronjob.Record) cronRunView {
	return cronRunView{App: domain, Service: r.Service, ID: r.ID, Trigger: r.Trigger, State: string(r.State), ExitCode: r.ExitCode,
		Started: r.Started, Finished: r.Finished, TaskID: r.Task, NodeID: r.Node, Schedule: r.Schedule, Error: r.Error, Logs: r.Logs}
}

// short is a run's outcome in a table cell: "failed (exit 3)".
func (v cronRunView) short() string {
	s := v.State
	if v.ExitCode != nil {
		s += " (exit " + strconv.Itoa(*v.ExitCode) + ")"
	}
	return s
}

func (v cronRunView) duration() string {
	if v.Finished.IsZero() {
		return "-"
	}
	return v.Finished.Sub(v.Started).Round(100 * time.Millisecond).String()
}

// cronJobView is one job of the app.
type cronJobView struct {
	Service     string       `json:"service"`
	Schedule    string       `json:"schedule"`
	NextRun     time.Time    `json:"next_run,omitzero"`
	SkipRunning bool         `json:"skip_running"`
	Replicas    uint64       `json:"replicas"`
	Running     bool         `json:"running"` // a task of the service runs now
	LastRun     *cronRunView `json:"last_run,omitempty"`
	Error       string       `json:"error,omitempty"` // a label that does not parse: the job does not run
}

type cronLsOptions struct {
	f      *command.Factory
	now    func() time.Time
	domain string
	json   bool
}

func newCronLsCmd(f *command.Factory, runF func(context.Context, *cronLsOptions) error) *cobra.Command {
	o := &cronLsOptions{f: f, now: time.Now}
	cmd := &cobra.Command{
		Use:     "ls <domain>",
		Aliases: []string{"list"},
		Short:   "List the app's scheduled jobs: schedule, next run, last run",
		Long: `List the app's scheduled jobs: schedule, next run (in the time zone of the
server's abra-agent, its TZ), whether a run is skipped while one is running,
and the last run (state, exit code, time). A job whose labels do not parse
is listed with the error: it does not run.`,
		Args: command.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runCronLs(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runCronLs(ctx context.Context, o *cronLsOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	all, err := c.Services(ctx, "")
	if err != nil {
		return err
	}
	tasks, err := c.Tasks(ctx, a.StackName())
	if err != nil {
		return err
	}
	recs, err := cronjob.Records{Cluster: c}.List(ctx, a.StackName(), "")
	if err != nil {
		return err
	}
	agent, found := cronjob.FindAgent(all)
	now := o.now()
	var jobs []cronJobView
	for _, svc := range all {
		if svc.Spec.Labels[swarm.StackLabel] != a.StackName() || !hasJobLabel(svc.Spec.Labels) {
			continue
		}
		job, ok, err := cronjob.Parse(svc)
		if err == nil && !ok {
			continue
		}
		v := cronJobView{Service: job.Name, Schedule: svc.Spec.Labels[cronjob.LabelSchedule], SkipRunning: job.SkipRunning, Replicas: job.Replicas,
			Running: slices.ContainsFunc(tasks, func(t mobyswarm.Task) bool { return t.ServiceID == svc.ID && cronjob.Active(t) })}
		if err != nil {
			v.Error = err.Error()
		} else if agent.Enabled {
			v.NextRun = job.Next(now, agent.Location)
		}
		if i := slices.IndexFunc(recs, func(r cronjob.Record) bool { return r.Service == job.Name }); i >= 0 {
			last := runView(a.Domain, recs[i])
			v.LastRun = &last
		}
		jobs = append(jobs, v)
	}
	slices.SortFunc(jobs, func(x, y cronJobView) int { return strings.Compare(x.Service, y.Service) })
	switch {
	case len(jobs) == 0:
	case !found:
		fmt.Fprintf(o.f.IO.Err, "warning: no abra-agent is deployed on %s: nothing runs these schedules (deploy the abra-agent recipe)\n", a.Server)
	case !agent.Enabled:
		fmt.Fprintf(o.f.IO.Err, "warning: the abra-agent on %s does not run schedules (CRON=false in its env file)\n", a.Server)
	}
	return printList(o.f, o.json, jobs, a.Domain+": no scheduled jobs (services with swarm.cronjob.enable=true)",
		[]string{"service", "schedule", "next run", "skip running", "last run", "at"}, func(j cronJobView) []string {
			next, last, at := "-", "-", "-"
			if !j.NextRun.IsZero() {
				next = j.NextRun.Local().Format(time.DateTime)
			}
			if j.Error != "" {
				next = "not scheduled: " + j.Error
			}
			if j.Running {
				last = "running now"
			}
			if j.LastRun != nil {
				if !j.Running {
					last = j.LastRun.short()
				}
				at = j.LastRun.Started.Local().Format(time.DateTime)
			}
			return []string{j.Service, j.Schedule, next, strconv.FormatBool(j.SkipRunning), last, at}
		})
}

func hasJobLabel(labels map[string]string) bool {
	_, ok := labels[cronjob.LabelEnable]
	return ok
}

type cronRunOptions struct {
	f       *command.Factory
	poll    time.Duration // how often the run's tasks are looked at
	domain  string
	service string
	json    bool
}

func newCronRunCmd(f *command.Factory, runF func(context.Context, *cronRunOptions) error) *cobra.Command {
	o := &cronRunOptions{f: f}
	cmd := &cobra.Command{
		Use:   "run <domain> <service>",
		Short: "Run a scheduled job now and wait for it",
		Long: `Run a scheduled job now, as its schedule would (the replicas label's count
of tasks, skip-running respected), wait for it to end, record the run and
scale the service back to 0. Exits non-zero when the job fails (its exit
code and last log lines on stderr) or is skipped.

Interrupting this command does not stop the job: the server's abra-agent
records it when it ends.`,
		Args: command.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain, o.service = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runCronRun(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runCronRun(ctx context.Context, o *cronRunOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.f.IO.Err, "%s: running %s…\n", a.Domain, o.service)
	rec, err := (&cronjob.Scheduler{Cluster: c, Poll: o.poll}).Run(ctx, a.StackName(), o.service)
	switch {
	case errors.Is(err, cronjob.ErrNotAJob):
		return hint.With(err, "list the app's jobs with 'abra app cron ls "+a.Domain+"'")
	case errors.Is(err, swarm.ErrNotFound):
		return hint.With(fmt.Errorf("%s: no service %s on %s: %w", a.Domain, o.service, a.Server, err), "is it deployed? 'abra app ps "+a.Domain+"'")
	case ctx.Err() != nil && rec.ID != "":
		return hint.With(fmt.Errorf("%s: stopped waiting for run %s of %s: %w", a.Domain, rec.ID, o.service, ctx.Err()),
			"the job goes on; the server's abra-agent records it when it ends ('abra app cron history "+a.Domain+" "+o.service+"')")
	case err != nil:
		return err
	}
	v := runView(a.Domain, rec)
	if o.json {
		if err := ui.JSON(o.f.IO, v); err != nil {
			return err
		}
	} else if err := ui.Table(o.f.IO, []string{"service", "run", "result", "took", "task"}, [][]string{{v.Service, v.ID, v.short(), v.duration(), v.TaskID}}); err != nil {
		return err
	}
	switch rec.State {
	case cronjob.Failed:
		if len(rec.Logs) > 0 {
			fmt.Fprintf(o.f.IO.Err, "last log lines of %s:\n", o.service)
			for _, l := range rec.Logs {
				fmt.Fprintln(o.f.IO.Err, "  "+l)
			}
		}
		return hint.With(fmt.Errorf("%s: job %s %s: %s", a.Domain, o.service, v.short(), rec.Error),
			"see its logs with 'abra app logs "+a.Domain+" "+o.service+"'")
	case cronjob.Skipped:
		return fmt.Errorf("%s: job %s skipped: %s", a.Domain, o.service, rec.Error)
	}
	return nil
}

type cronHistoryOptions struct {
	f       *command.Factory
	domain  string
	service string
	json    bool
}

func newCronHistoryCmd(f *command.Factory, runF func(context.Context, *cronHistoryOptions) error) *cobra.Command {
	o := &cronHistoryOptions{f: f}
	cmd := &cobra.Command{
		Use:   "history <domain> [service]",
		Short: "Show the runs of the app's scheduled jobs, newest first",
		Long: fmt.Sprintf(`Show the runs of the app's scheduled jobs (or of one), newest first: trigger
(schedule or manual), state, exit code, duration, and for a failed run its
error and last log lines (--json). The server keeps the last %d finished runs
of each job; 'abra app remove' removes them.`, cronjob.Keep),
		Args: command.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.domain = args[0]
			if len(args) == 2 {
				o.service = args[1]
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return runCronHistory(cmd.Context(), o)
		},
	}
	command.AddJSONFlag(cmd, &o.json)
	return cmd
}

func runCronHistory(ctx context.Context, o *cronHistoryOptions) error {
	a, c, err := loadApp(ctx, o.f, o.domain)
	if err != nil {
		return err
	}
	recs, err := cronjob.Records{Cluster: c}.History(ctx, a.StackName(), o.service)
	if err != nil {
		return err
	}
	views := make([]cronRunView, 0, len(recs))
	for _, r := range recs {
		views = append(views, runView(a.Domain, r))
	}
	empty := a.Domain + ": no job runs recorded"
	if o.service != "" {
		empty = a.Domain + ": no runs of " + o.service + " recorded"
	}
	return printList(o.f, o.json, views, empty, []string{"started", "service", "trigger", "result", "took", "task", "error"},
		func(v cronRunView) []string {
			return []string{v.Started.Local().Format(time.DateTime), v.Service, v.Trigger, v.short(), v.duration(), v.TaskID, v.Error}
		})
}
