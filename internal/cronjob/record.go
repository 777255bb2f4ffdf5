package cronjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"coopcloud.tech/abra/internal/configlog"
	"coopcloud.tech/abra/internal/swarm"
)

// State is where a run is.
type State string

// States of a run; all but Running are final.
const (
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Skipped   State = "skipped" // skip-running found a task of the service running
)

// Final reports whether the run is over.
func (s State) Final() bool { return s != Running }

// Triggers of a run.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
)

// Record is one run of a job as the swarm keeps it.
type Record struct {
	ID        string    `json:"id"`
	Stack     string    `json:"stack"`
	Service   string    `json:"service"` // the name in the compose file
	Trigger   string    `json:"trigger"` // schedule, manual
	Schedule  string    `json:"schedule,omitempty"`
	State     State     `json:"state"`
	ExitCode  *int      `json:"exit_code,omitempty"` // the task's container exit code, when it ran
	Task      string    `json:"task_id,omitempty"`
	Node      string    `json:"node_id,omitempty"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	Error     string    `json:"error,omitempty"`
	Logs      []string  `json:"logs,omitempty"` // a failed run's last log lines
	ServiceID string    `json:"service_id"`
	// Force is the ForceUpdate value the run set: the run's tasks carry it.
	Force uint64 `json:"force_update"`
	Seq   int    `json:"seq"`
}

// Records keeps runs as swarm configs (abra-cron.<id>.<seq>) that no service
// mounts, as internal/configlog keeps records (and internal/update its
// operations). The summary is in labels, so that listing needs no reads; the
// JSON (with a failed run's log lines) is the data.
type Records struct{ Cluster swarm.Cluster }

const (
	recordLabel = "coop-cloud.cron"
	// Keep is how many finished runs are kept per service.
	Keep     = 20
	maxLabel = configlog.MaxLabel
	// maxLogBytes caps a failed run's log lines.
	maxLogBytes = 4096
	// LogLines is how many last lines of a failed run are kept.
	LogLines = 20
)

// ErrRecordExists is returned by Save when the config of the record's next
// state exists already: another process (an agent that adopted the run)
// saved it first.
var ErrRecordExists = configlog.ErrExists

func (r Records) log() configlog.Log {
	return configlog.Log{Cluster: r.Cluster, Prefix: "abra-cron", Label: recordLabel}
}

func newID(now time.Time) string { return configlog.NewID(now) }

// Save writes the record's current state.
func (r Records) Save(ctx context.Context, rec *Record) error {
	rec.Seq++
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	all, err := r.log().Save(ctx, rec.ID, rec.Seq, rec.labels(), data)
	if err != nil {
		return fmt.Errorf("record run %s: %w", rec.ID, err)
	}
	if all != nil && rec.State.Final() {
		r.log().Prune(ctx, all, r.newest(all, rec.Stack, rec.Service), func(e configlog.Entry) bool { return State(e.Get("state")).Final() }, Keep)
	}
	return nil
}

func (rec Record) labels() map[string]string {
	l := map[string]string{
		"stack": rec.Stack, "service": rec.Service, "service-id": rec.ServiceID, "trigger": rec.Trigger,
		"schedule": rec.Schedule, "state": string(rec.State), "task": rec.Task, "node": rec.Node, "error": rec.Error,
		"started": rec.Started.UTC().Format(time.RFC3339Nano), "force": strconv.FormatUint(rec.Force, 10),
	}
	if !rec.Finished.IsZero() {
		l["finished"] = rec.Finished.UTC().Format(time.RFC3339Nano)
	}
	if rec.ExitCode != nil {
		l["exit-code"] = strconv.Itoa(*rec.ExitCode)
	}
	return l
}

// recordOf reads the summary of a record from its config's labels.
func recordOf(e configlog.Entry) Record {
	g := e.Get
	rec := Record{ID: e.ID, Stack: g("stack"), Service: g("service"), ServiceID: g("service-id"), Trigger: g("trigger"),
		Schedule: g("schedule"), State: State(g("state")), Task: g("task"), Node: g("node"), Error: g("error"), Seq: e.Seq}
	rec.Started, _ = time.Parse(time.RFC3339Nano, g("started"))
	rec.Finished, _ = time.Parse(time.RFC3339Nano, g("finished"))
	rec.Force, _ = strconv.ParseUint(g("force"), 10, 64)
	if v, err := strconv.Atoi(g("exit-code")); err == nil {
		rec.ExitCode = &v
	}
	return rec
}

// newest returns the latest state of each record of stack ("" for all) and
// service ("" for all), newest first.
func (r Records) newest(all []swarm.Object, stack, service string) []configlog.Entry {
	es := r.log().Latest(all, func(e configlog.Entry) bool {
		return (stack == "" || e.Get("stack") == stack) && (service == "" || e.Get("service") == service)
	})
	started := func(e configlog.Entry) time.Time { t, _ := time.Parse(time.RFC3339Nano, e.Get("started")); return t }
	slices.SortFunc(es, func(a, b configlog.Entry) int {
		if c := started(b).Compare(started(a)); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return es
}

// List returns the runs of a stack ("" for all) and service ("" for all),
// newest first: the summaries from labels, without log lines.
func (r Records) List(ctx context.Context, stack, service string) ([]Record, error) {
	all, err := r.log().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read job runs: %w", err)
	}
	es := r.newest(all, stack, service)
	recs := make([]Record, len(es))
	for i, e := range es {
		recs[i] = recordOf(e)
	}
	return recs, nil
}

// History is List with each record read whole (a failed run's log lines).
func (r Records) History(ctx context.Context, stack, service string) ([]Record, error) {
	all, err := r.log().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read job runs: %w", err)
	}
	es := r.newest(all, stack, service)
	recs := make([]Record, 0, len(es))
	for _, e := range es {
		full, err := r.read(ctx, e)
		if errors.Is(err, swarm.ErrNotFound) {
			full = recordOf(e) // replaced by its next state since the listing: the summary stands
		} else if err != nil {
			return nil, err
		}
		recs = append(recs, full)
	}
	return recs, nil
}

// Load reads one record whole.
func (r Records) Load(ctx context.Context, id string) (Record, error) {
	all, err := r.log().All(ctx)
	if err != nil {
		return Record{}, fmt.Errorf("read job runs: %w", err)
	}
	es := r.newest(all, "", "")
	i := slices.IndexFunc(es, func(e configlog.Entry) bool { return e.ID == id })
	if i < 0 {
		return Record{}, fmt.Errorf("job run %s: %w", id, swarm.ErrNotFound)
	}
	return r.read(ctx, es[i])
}

// read reads a record's JSON from its config.
func (r Records) read(ctx context.Context, e configlog.Entry) (Record, error) {
	var rec Record
	data, err := r.log().Data(ctx, e)
	if err == nil {
		err = json.Unmarshal(data, &rec)
	}
	if err != nil {
		return rec, fmt.Errorf("read job run %s: %w", e.ID, err)
	}
	return rec, nil
}

// Forget removes every run of a stack: the app is removed, and a new app
// under the same domain starts without them.
func (r Records) Forget(ctx context.Context, stack string) (int, error) {
	return r.log().Forget(ctx, "stack", stack)
}

// lastLines keeps the last n lines of text, at most maxLogBytes of them
// (earlier lines go first).
func lastLines(text string, n int) []string {
	text = strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	size := 0
	for _, l := range lines {
		size += len(l) + 1
	}
	for len(lines) > 1 && size > maxLogBytes {
		size -= len(lines[0]) + 1
		lines = lines[1:]
	}
	if len(lines) == 1 && len(lines[0]) > maxLogBytes {
		lines[0] = "…" + lines[0][len(lines[0])-maxLogBytes:]
	}
	return lines
}
