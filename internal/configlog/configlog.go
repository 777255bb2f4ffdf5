// Package configlog keeps records as swarm configs that no service mounts:
// they live in the managers' raft log, are created atomically (whole or not
// at all), and every abra and agent that reaches the API can read them.
//
// A record is a series of configs <prefix>.<id>.<seq>: each state is a new
// config, after which the record's earlier ones are removed (a crash in
// between leaves two, and the higher seq wins). Summary fields are labels
// <label>.<key> next to <label>=<id>, so that listing needs no reads; the
// whole record is the config's data. The update pipeline's operations
// (abra-op) and the scheduled jobs' runs (abra-cron) are such records.
package configlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
)

// MaxLabel is the longest label value kept; longer ones are cut.
const MaxLabel = 800

// ErrExists is returned by Save when the config of that state exists
// already: another process saved it first.
var ErrExists = errors.New("record exists")

// Log is one kind of record.
type Log struct {
	Cluster swarm.Cluster
	Prefix  string // config names: <prefix>.<id>.<seq>, e.g. abra-op
	Label   string // the label holding the id, e.g. coop-cloud.op
}

// Entry is the newest state of one record, as its labels say.
type Entry struct {
	ID     string
	Seq    int
	Object swarm.Object
	label  string
}

// Get is the summary field key.
func (e Entry) Get(key string) string { return e.Object.Labels[e.label+"."+key] }

// NewID makes a record id that sorts by time.
func NewID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102t150405") + hex.EncodeToString(b)
}

// Save writes state seq of record id: fields become labels (cut to
// MaxLabel), data the config's content; then the record's other configs are
// removed. It returns the configs as listed after the write, for pruning
// (nil when listing failed: the old configs go next time).
func (l Log) Save(ctx context.Context, id string, seq int, fields map[string]string, data []byte) ([]swarm.Object, error) {
	labels := map[string]string{l.Label: id}
	for k, v := range fields {
		labels[l.Label+"."+k] = Cut(v)
	}
	labels[l.Label+".seq"] = strconv.Itoa(seq)
	name := fmt.Sprintf("%s.%s.%d", l.Prefix, id, seq)
	if err := l.Cluster.CreateConfig(ctx, mobyswarm.ConfigSpec{Annotations: mobyswarm.Annotations{Name: name, Labels: labels}, Data: data}); err != nil {
		if strings.Contains(err.Error(), "already exists") || strings.Contains(err.Error(), "AlreadyExists") {
			return nil, fmt.Errorf("%w: %v", ErrExists, err)
		}
		return nil, err
	}
	all, err := l.Cluster.Configs(ctx, "")
	if err != nil {
		return nil, nil
	}
	for _, o := range all {
		if o.Labels[l.Label] == id && o.Name != name {
			_ = l.Cluster.RemoveConfig(ctx, o.ID)
		}
	}
	return all, nil
}

// All lists every config (records of every kind among them).
func (l Log) All(ctx context.Context) ([]swarm.Object, error) { return l.Cluster.Configs(ctx, "") }

// Latest returns the newest state of each record among all that keep
// accepts (nil keeps every one), in no particular order.
func (l Log) Latest(all []swarm.Object, keep func(Entry) bool) []Entry {
	byID := map[string]Entry{}
	for _, o := range all {
		id, ok := o.Labels[l.Label]
		if !ok {
			continue
		}
		e := Entry{ID: id, Object: o, label: l.Label}
		e.Seq, _ = strconv.Atoi(e.Get("seq"))
		if keep != nil && !keep(e) {
			continue
		}
		if old, seen := byID[id]; !seen || e.Seq > old.Seq {
			byID[id] = e
		}
	}
	out := make([]Entry, 0, len(byID))
	for _, e := range byID {
		out = append(out, e)
	}
	return out
}

// Data reads an entry's whole record.
func (l Log) Data(ctx context.Context, e Entry) ([]byte, error) {
	return l.Cluster.ConfigData(ctx, e.Object.ID)
}

// Prune removes the records of entries (newest first) that are final,
// beyond the newest keep of them.
func (l Log) Prune(ctx context.Context, all []swarm.Object, entries []Entry, final func(Entry) bool, keep int) {
	n := 0
	for _, e := range entries {
		if !final(e) {
			continue
		}
		if n++; n <= keep {
			continue
		}
		for _, o := range all {
			if o.Labels[l.Label] == e.ID {
				_ = l.Cluster.RemoveConfig(ctx, o.ID)
			}
		}
	}
}

// Forget removes every config of the records whose field key is value (a
// removed app's records); it returns how many it removed.
func (l Log) Forget(ctx context.Context, key, value string) (int, error) {
	all, err := l.All(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range all {
		if _, ok := o.Labels[l.Label]; !ok || o.Labels[l.Label+"."+key] != value {
			continue
		}
		if err := l.Cluster.RemoveConfig(ctx, o.ID); err != nil && !errors.Is(err, swarm.ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

// Cut shortens a label value to MaxLabel bytes on a character boundary.
func Cut(v string) string {
	if len(v) <= MaxLabel {
		return v
	}
	i := MaxLabel
	for i > 0 && !utf8.RuneStart(v[i]) {
		i--
	}
	return v[:i] + "…"
}
