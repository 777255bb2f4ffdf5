// Package journal is the operator's operations journal: every long operation
// a front end runs (deploy, upgrade, rollback, backup, restore, …) is an
// operation whose named steps, notes and result are appended as events to
// one file, so that another front end (the dashboard) can show it live,
// whichever process runs it.
//
// The journal lives in the operator's state directory
// ($XDG_STATE_HOME/abra/journal, else ~/.local/state/abra/journal;
// ABRA_JOURNAL_DIR overrides), never in ~/.abra: real abra must never trip
// over it. Events are JSON Lines in journal.<gen>.jsonl; each append holds an
// flock, so lines of concurrent processes never interleave. An event's ID is
// its generation and byte offset ("<gen>-<offset>"): strictly increasing,
// so a reader resumes after any ID it saw (Server-Sent Events' Last-Event-ID).
// A file over MaxSize (8 MiB) starts the next generation; the oldest are
// removed beyond Keep (4) generations.
package journal

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/step"
)

// Default limits of the files.
const (
	DefaultMaxSize = 8 << 20 // bytes per generation
	DefaultKeep    = 4       // generations kept
)

// Kinds of events.
const (
	Begin    = "begin"    // an operation started
	Started  = "started"  // a step started
	Finished = "finished" // a step finished (Error says how it failed)
	Note     = "note"     // a step's progress note
	End      = "end"      // the operation ended (Error says how it failed)
)

// Event is one line of the journal.
type Event struct {
	ID      string    `json:"-"` // set when read: "<gen>-<offset>"
	Time    time.Time `json:"time"`
	Op      string    `json:"op"`   // operation id
	Kind    string    `json:"kind"` // begin, started, finished, note, end
	Command string    `json:"command,omitempty"`
	App     string    `json:"app,omitempty"`
	Server  string    `json:"server,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Step    string    `json:"step,omitempty"`
	Message string    `json:"message,omitempty"`
	Error   string    `json:"error,omitempty"`
	Hint    string    `json:"hint,omitempty"` // an end's remedy (internal/hint), as the CLI prints it under the error
	// Outcome and Version are an end's verified result when the front end
	// checked it (the dashboard): converged, rolled-back, failed, done, and
	// the version the server runs afterwards.
	Outcome string  `json:"outcome,omitempty"`
	Version string  `json:"version,omitempty"`
	Elapsed float64 `json:"elapsed,omitempty"` // seconds, of a finished step or an ended operation
}

// Dir is the journal's directory for the environment.
func Dir() (string, error) {
	if d := os.Getenv("ABRA_JOURNAL_DIR"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "abra", "journal"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home directory for the operations journal: %w", err)
	}
	return filepath.Join(home, ".local", "state", "abra", "journal"), nil
}

// Journal appends to and reads the journal in Dir.
type Journal struct {
	Dir     string
	MaxSize int64            // 0: DefaultMaxSize
	Keep    int              // 0: DefaultKeep
	Now     func() time.Time // nil: time.Now
}

func (j *Journal) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

// Append writes events, in order, as one locked append.
func (j *Journal) Append(events ...Event) error {
	if err := os.MkdirAll(j.Dir, 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(j.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	var buf []byte
	for _, e := range events {
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		buf = append(append(buf, line...), '\n')
	}
	gens, err := j.generations()
	if err != nil {
		return err
	}
	gen := 1
	if len(gens) > 0 {
		gen = gens[len(gens)-1]
		if fi, err := os.Stat(j.file(gen)); err == nil && fi.Size() > 0 && fi.Size()+int64(len(buf)) > cmp.Or(j.MaxSize, DefaultMaxSize) {
			gen++
		}
	}
	f, err := os.OpenFile(j.file(gen), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, old := range gens {
		if old <= gen-cmp.Or(j.Keep, DefaultKeep) {
			_ = os.Remove(j.file(old))
		}
	}
	return nil
}

func (j *Journal) file(gen int) string {
	return filepath.Join(j.Dir, fmt.Sprintf("journal.%d.jsonl", gen))
}

// generations lists the generations on disk, oldest first.
func (j *Journal) generations() ([]int, error) {
	entries, err := os.ReadDir(j.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var gens []int
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "journal.")
		n, ok2 := strings.CutSuffix(n, ".jsonl")
		if g, err := strconv.Atoi(n); ok && ok2 && err == nil && g > 0 {
			gens = append(gens, g)
		}
	}
	slices.Sort(gens)
	return gens, nil
}

// position is where an event ID points: generation and byte offset.
type position struct {
	gen int
	off int64
}

// CheckID reports whether id is an event id a reader may resume after
// ("" reads from the start).
func CheckID(id string) error {
	if id == "" {
		return nil
	}
	_, err := parseID(id)
	return err
}

func parseID(id string) (position, error) {
	g, o, ok := strings.Cut(id, "-")
	gen, err1 := strconv.Atoi(g)
	off, err2 := strconv.ParseInt(o, 10, 64)
	if !ok || err1 != nil || err2 != nil || gen < 1 || off < 0 {
		return position{}, fmt.Errorf("journal: bad event id %q (want <generation>-<offset>)", id)
	}
	return position{gen, off}, nil
}

// Read returns the events after the one with ID after ("" for all that are
// kept), oldest first, at most limit of them (0: no limit), and the ID to
// read on from (after itself when there is nothing new). An ID older than
// what is kept reads from the oldest kept event.
func (j *Journal) Read(after string, limit int) ([]Event, string, error) {
	from := position{gen: 1}
	skipFirst := false
	if after != "" {
		p, err := parseID(after)
		if err != nil {
			return nil, after, err
		}
		from, skipFirst = p, true
	}
	gens, err := j.generations()
	if err != nil {
		return nil, after, err
	}
	var out []Event
	last := after
	for _, gen := range gens {
		if gen < from.gen {
			continue
		}
		off := int64(0)
		if gen == from.gen {
			off = from.off
		}
		events, next, err := readFile(j.file(gen), gen, off, skipFirst && gen == from.gen, limit-len(out), limit > 0)
		if err != nil {
			return out, last, err
		}
		out = append(out, events...)
		if next != "" {
			last = next
		}
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, last, nil
}

// readFile reads whole lines of one generation from off; skip drops the
// line at off (the one the reader had). Only complete lines count: a line
// being written is read next time.
func readFile(path string, gen int, off int64, skip bool, room int, limited bool) ([]Event, string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, "", err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	var out []Event
	last := ""
	pos := off
	for !limited || len(out) < room {
		line, err := r.ReadBytes('\n')
		if err != nil { // EOF, or a line not yet complete
			break
		}
		at := pos
		pos += int64(len(line))
		id := fmt.Sprintf("%d-%d", gen, at)
		last = id
		if skip && at == off {
			continue
		}
		var e Event
		if json.Unmarshal(line, &e) != nil {
			continue // not ours: skipped, never fatal
		}
		e.ID = id
		out = append(out, e)
	}
	return out, last, nil
}

// Follow calls fn with every event after the one with ID after, as they are
// appended, until ctx ends or fn returns an error. It polls every interval
// (0: 200ms).
func (j *Journal) Follow(ctx context.Context, after string, interval time.Duration, fn func(Event) error) error {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	for {
		events, next, err := j.Read(after, 0)
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := fn(e); err != nil {
				return err
			}
		}
		after = next
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// Op is one operation being journalled. It is a step.Observer, so the
// steps of a deploy or an upgrade go to the journal as they run. Writing
// never fails the operation: the first error is kept (Err) and the
// journal stops being written for this operation.
type Op struct {
	j    *Journal
	base Event
	mu   sync.Mutex
	err  error
	t0   time.Time
}

// Begin starts an operation: command (deploy, upgrade, …) on app of server,
// by actor. A nil Journal gives an Op that writes nothing.
func (j *Journal) Begin(command, app, server, actor string) *Op {
	if j == nil {
		return &Op{}
	}
	now := j.now()
	o := &Op{j: j, t0: now, base: Event{Op: newID(now), Command: command, App: app, Server: server, Actor: actor}}
	o.write(Event{Kind: Begin})
	return o
}

func newID(now time.Time) string {
	return now.UTC().Format("20060102t150405.000000000") + "-" + strconv.Itoa(os.Getpid())
}

// ID is the operation's id.
func (o *Op) ID() string { return o.base.Op }

// Err is the first error writing the journal, if any.
func (o *Op) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

func (o *Op) write(e Event) {
	if o.j == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return
	}
	e.Time = o.j.now().UTC()
	e.Op, e.Command, e.App, e.Server, e.Actor = o.base.Op, o.base.Command, o.base.App, o.base.Server, o.base.Actor
	o.err = o.j.Append(e)
}

// Started implements step.Observer.
func (o *Op) Started(s string) { o.write(Event{Kind: Started, Step: s}) }

// Finished implements step.Observer.
func (o *Op) Finished(s string, err error, d time.Duration) {
	e := Event{Kind: Finished, Step: s, Elapsed: d.Seconds()}
	if err != nil {
		e.Error = err.Error()
	}
	o.write(e)
}

// Note implements step.Observer.
func (o *Op) Note(s, msg string) { o.write(Event{Kind: Note, Step: s, Message: msg}) }

// End ends the operation with its error and the error's remedy.
func (o *Op) End(err error) { o.EndVerified(err, "", "", "") }

// EndVerified ends the operation with its error and what the front end
// found afterwards: the outcome, the version the server runs, and a message
// (the CLI's closing line for a success).
func (o *Op) EndVerified(err error, outcome, version, message string) {
	if o.j == nil {
		return
	}
	e := Event{Kind: End, Elapsed: o.j.now().Sub(o.t0).Seconds(), Outcome: outcome, Version: version, Message: message}
	if err != nil {
		e.Error, e.Hint = err.Error(), hint.Of(err)
	}
	o.write(e)
}

var _ step.Observer = (*Op)(nil)
