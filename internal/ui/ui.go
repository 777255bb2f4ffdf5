// Package ui holds abra's terminal side: IO streams, tables, JSON output and
// progress renderers. stdout carries data; everything else goes to stderr.
package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"
)

// IO are the streams a command uses.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Interactive reports whether both stdin and stdout are terminals.
func (s IO) Interactive() bool { return isTerminal(s.In) && isTerminal(s.Out) }

// OutIsTerminal reports whether stdout is a terminal.
func (s IO) OutIsTerminal() bool { return isTerminal(s.Out) }

// ErrIsTerminal reports whether stderr is a terminal.
func (s IO) ErrIsTerminal() bool { return isTerminal(s.Err) }

// Color reports whether colour may be used on stderr.
func (s IO) Color() bool { return s.ErrIsTerminal() && os.Getenv("NO_COLOR") == "" }

// Table writes aligned columns; headers are shown only on a terminal, so piped
// output stays plain and stable.
func Table(s IO, headers []string, rows [][]string) error {
	w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	if isTerminal(s.Out) {
		fmt.Fprintln(w, strings.ToUpper(strings.Join(headers, "\t")))
	}
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	return w.Flush()
}

// JSON writes v as indented JSON on stdout.
func JSON(s IO, v any) error {
	enc := json.NewEncoder(s.Out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Steps renders step progress as plain lines on stderr (or JSON Lines).
type Steps struct {
	W     io.Writer
	JSON  bool
	Color bool
	mu    sync.Mutex
}

func (p *Steps) emit(event, stepName, msg string, elapsed time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.JSON {
		e := map[string]any{"event": event, "step": stepName, "time": time.Now().UTC().Format(time.RFC3339Nano)}
		if msg != "" {
			e["message"] = msg
		}
		if event == "finished" {
			e["elapsed_seconds"] = elapsed.Seconds()
			if err != nil {
				e["error"] = err.Error()
			}
		}
		b, _ := json.Marshal(e)
		fmt.Fprintln(p.W, string(b))
		return
	}
	green, red, dim, reset := "", "", "", ""
	if p.Color {
		green, red, dim, reset = "\033[32m", "\033[31m", "\033[2m", "\033[0m"
	}
	switch event {
	case "started":
		fmt.Fprintf(p.W, "%s→ %s%s\n", dim, stepName, reset)
	case "note":
		fmt.Fprintf(p.W, "  %s\n", msg)
	case "finished":
		if err != nil {
			fmt.Fprintf(p.W, "%s✗ %s%s (%s)\n", red, stepName, reset, elapsed.Round(time.Millisecond))
			return
		}
		fmt.Fprintf(p.W, "%s✓%s %s %s(%s)%s\n", green, reset, stepName, dim, elapsed.Round(time.Millisecond), reset)
	}
}

// Started implements step.Observer.
func (p *Steps) Started(s string) { p.emit("started", s, "", 0, nil) }

// Finished implements step.Observer.
func (p *Steps) Finished(s string, err error, d time.Duration) { p.emit("finished", s, "", d, err) }

// Note implements step.Observer.
func (p *Steps) Note(s, msg string) { p.emit("note", s, msg, 0, nil) }
