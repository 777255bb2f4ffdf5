package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/configlog"
	"coopcloud.tech/abra/internal/swarm"
)

// State is where an update operation is.
type State string

// States of an operation; the last four are final.
const (
	Planned     State = "planned"
	BackingUp   State = "backing-up"
	Deploying   State = "deploying"
	Verifying   State = "verifying"
	RollingBack State = "rolling-back"
	Succeeded   State = "succeeded"
	RolledBack  State = "rolled-back" // the previous version and its data are back
	Failed      State = "failed"      // and could not be put back: a person is needed
	Abandoned   State = "abandoned"   // stopped before anything changed
)

// Final reports whether the operation is over.
func (s State) Final() bool {
	return s == Succeeded || s == RolledBack || s == Failed || s == Abandoned
}

// Record is one update operation as the server keeps it: the audit log is
// the list of records, and an unfinished one tells the next agent run what
// to finish or roll back.
type Record struct {
	ID       string    `json:"id"`
	App      string    `json:"app"`
	Stack    string    `json:"stack"`
	Server   string    `json:"server,omitempty"`
	Recipe   string    `json:"recipe"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Actor    string    `json:"actor"`   // who or what: user@host, abra-agent@node
	Trigger  string    `json:"trigger"` // cli, fleet, agent, kadabra, webhook
	State    State     `json:"state"`
	Step     string    `json:"step,omitempty"` // the step running or failed
	Snapshot string    `json:"snapshot,omitempty"`
	Holder   string    `json:"holder,omitempty"` // the app lock's holder while it runs
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Seq      int       `json:"seq"`
}

// Records keeps operation records and quarantined versions as swarm configs
// (abra-op.<id>.<seq> as internal/configlog keeps records,
// abra-quarantine.<hash>): stored in the managers' raft log, readable by
// every abra and agent that can reach the API, written atomically, and never
// mounted into any container.
type Records struct{ Cluster swarm.Cluster }

const (
	opLabel     = "coop-cloud.op"
	qLabel      = "coop-cloud.quarantine"
	keepRecords = 50 // finished records kept per app
	maxLabel    = configlog.MaxLabel
)

func (r Records) log() configlog.Log {
	return configlog.Log{Cluster: r.Cluster, Prefix: "abra-op", Label: opLabel}
}

// NewID makes an operation id that sorts by time.
func NewID(now time.Time) string { return configlog.NewID(now) }

// Save writes the record's current state (a new config, then the previous
// one is removed: a crash in between leaves two, and the newer wins).
func (r Records) Save(ctx context.Context, rec *Record) error {
	rec.Seq++
	rec.Updated = time.Now().UTC()
	if rec.Started.IsZero() {
		rec.Started = rec.Updated
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	all, err := r.log().Save(ctx, rec.ID, rec.Seq, rec.labels(), data)
	if err != nil {
		return fmt.Errorf("record operation %s: %w", rec.ID, err)
	}
	if all != nil && rec.State.Final() {
		log := r.log()
		log.Prune(ctx, all, r.latest(all, rec.Stack), func(e configlog.Entry) bool { return State(e.Get("state")).Final() }, keepRecords)
	}
	return nil
}

func (rec Record) labels() map[string]string {
	return map[string]string{
		"app": rec.App, "stack": rec.Stack, "server": rec.Server, "recipe": rec.Recipe, "from": rec.From, "to": rec.To,
		"actor": rec.Actor, "trigger": rec.Trigger, "state": string(rec.State), "step": rec.Step, "snapshot": rec.Snapshot,
		"holder": rec.Holder, "error": rec.Error, "started": rec.Started.UTC().Format(time.RFC3339),
		"updated": rec.Updated.UTC().Format(time.RFC3339),
	}
}

func recordOf(e configlog.Entry) Record {
	g := e.Get
	rec := Record{ID: e.ID, App: g("app"), Stack: g("stack"), Server: g("server"), Recipe: g("recipe"), From: g("from"), To: g("to"),
		Actor: g("actor"), Trigger: g("trigger"), State: State(g("state")), Step: g("step"), Snapshot: g("snapshot"),
		Holder: g("holder"), Error: g("error"), Seq: e.Seq}
	rec.Started, _ = time.Parse(time.RFC3339, g("started"))
	rec.Updated, _ = time.Parse(time.RFC3339, g("updated"))
	return rec
}

// List returns the records of one stack ("" for all), newest first.
func (r Records) List(ctx context.Context, stack string) ([]Record, error) {
	all, err := r.log().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read operation records: %w", err)
	}
	es := r.latest(all, stack)
	out := make([]Record, len(es))
	for i, e := range es {
		out[i] = recordOf(e)
	}
	return out, nil
}

// latest: the newest state of each of stack's records ("" for all), newest
// record first.
func (r Records) latest(all []swarm.Object, stack string) []configlog.Entry {
	es := r.log().Latest(all, func(e configlog.Entry) bool { return stack == "" || e.Get("stack") == stack })
	slices.SortFunc(es, func(a, b configlog.Entry) int { return strings.Compare(b.ID, a.ID) })
	return es
}

// Unfinished returns the records not in a final state, oldest first.
func (r Records) Unfinished(ctx context.Context) ([]Record, error) {
	all, err := r.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []Record
	for i := len(all) - 1; i >= 0; i-- {
		if !all[i].State.Final() {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// Quarantine is a version that failed on an app: automatic updates skip it
// until a newer one appears or the operator clears it.
type Quarantine struct {
	Stack     string    `json:"stack"`
	Version   string    `json:"version"`
	Reason    string    `json:"reason"`
	Operation string    `json:"operation"`
	Since     time.Time `json:"since"`
	id        string
}

func quarantineName(stack, version string) string {
	h := sha256.Sum256([]byte(stack + "\x00" + version))
	return "abra-quarantine." + hex.EncodeToString(h[:10])
}

// Quarantine records version as failed on stack.
func (r Records) Quarantine(ctx context.Context, q Quarantine) error {
	reason := configlog.Cut(q.Reason)
	spec := mobyswarm.ConfigSpec{Annotations: mobyswarm.Annotations{Name: quarantineName(q.Stack, q.Version), Labels: map[string]string{
		qLabel: q.Stack, qLabel + ".version": q.Version, qLabel + ".reason": reason, qLabel + ".operation": q.Operation,
		qLabel + ".since": time.Now().UTC().Format(time.RFC3339),
	}}, Data: []byte(q.Version + "\n")}
	if err := r.Cluster.CreateConfig(ctx, spec); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("quarantine %s on %s: %w", q.Version, q.Stack, err)
	}
	return nil
}

// Quarantined lists the stack's quarantined versions.
func (r Records) Quarantined(ctx context.Context, stack string) ([]Quarantine, error) {
	all, err := r.Cluster.Configs(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read quarantined versions: %w", err)
	}
	var out []Quarantine
	for _, o := range all {
		if o.Labels[qLabel] != stack || stack == "" {
			continue
		}
		q := Quarantine{Stack: stack, Version: o.Labels[qLabel+".version"], Reason: o.Labels[qLabel+".reason"], Operation: o.Labels[qLabel+".operation"], id: o.ID}
		q.Since, _ = time.Parse(time.RFC3339, o.Labels[qLabel+".since"])
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b Quarantine) int { return a.Since.Compare(b.Since) })
	return out, nil
}

// Clear lifts the quarantine of one version ("" for all); it returns the versions cleared.
func (r Records) Clear(ctx context.Context, stack, version string) ([]string, error) {
	qs, err := r.Quarantined(ctx, stack)
	if err != nil {
		return nil, err
	}
	var cleared []string
	for _, q := range qs {
		if version != "" && q.Version != version {
			continue
		}
		if err := r.Cluster.RemoveConfig(ctx, q.id); err != nil {
			return cleared, fmt.Errorf("clear quarantine of %s: %w", q.Version, err)
		}
		cleared = append(cleared, q.Version)
	}
	return cleared, nil
}

// Versions are the quarantined versions' names.
func Versions(qs []Quarantine) []string {
	out := make([]string, len(qs))
	for i, q := range qs {
		out[i] = q.Version
	}
	return out
}

// Forget removes a stack's operation records and quarantined versions: the
// app is removed, and a new app under the same domain starts with neither.
func (r Records) Forget(ctx context.Context, stack string) (int, error) {
	n, err := r.log().Forget(ctx, "stack", stack)
	if err != nil {
		return n, err
	}
	all, err := r.Cluster.Configs(ctx, "")
	if err != nil {
		return n, err
	}
	for _, o := range all {
		if o.Labels[qLabel] != stack {
			continue
		}
		if err := r.Cluster.RemoveConfig(ctx, o.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
