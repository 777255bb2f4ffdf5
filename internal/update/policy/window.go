package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Window is a maintenance window: days of the week and a time of day range
// in a time zone. An end before the start crosses midnight (22:00-02:00
// belongs to the day it starts on).
type Window struct {
	Days       []time.Weekday // empty: every day
	Start, End time.Duration  // since midnight
	Loc        *time.Location
	text       string
}

// Windows is a list of windows; empty means any time.
type Windows []Window

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseWindows parses "[days] HH:MM-HH:MM [zone]" windows separated by ";",
// e.g. "Mon-Fri 02:00-05:00 Europe/Berlin; Sat,Sun 10:00-12:00".
func ParseWindows(s string) (Windows, error) {
	var ws Windows
	for part := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		w, err := parseWindow(part)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func parseWindow(s string) (Window, error) {
	w := Window{Loc: time.UTC, text: strings.TrimSpace(s)}
	f := strings.Fields(s)
	want := fmt.Errorf("window %q: want [days] HH:MM-HH:MM [time zone], e.g. Mon-Fri 02:00-05:00 Europe/Berlin", w.text)
	i := 0
	if i < len(f) && !strings.Contains(f[i], ":") {
		days, err := parseDays(f[i])
		if err != nil {
			return w, fmt.Errorf("window %q: %w", w.text, err)
		}
		w.Days = days
		i++
	}
	if i >= len(f) {
		return w, want
	}
	a, b, ok := strings.Cut(f[i], "-")
	if !ok {
		return w, want
	}
	var err error
	if w.Start, err = clock(a); err != nil {
		return w, want
	}
	if w.End, err = clock(b); err != nil || w.End == w.Start {
		return w, want
	}
	i++
	if i < len(f) {
		if w.Loc, err = time.LoadLocation(f[i]); err != nil {
			return w, fmt.Errorf("window %q: unknown time zone %q", w.text, f[i])
		}
		i++
	}
	if i != len(f) {
		return w, want
	}
	return w, nil
}

func parseDays(s string) ([]time.Weekday, error) {
	var out []time.Weekday
	for part := range strings.SplitSeq(strings.ToLower(s), ",") {
		a, b, isRange := strings.Cut(part, "-")
		from, ok1 := dayName(a)
		to := from
		ok2 := true
		if isRange {
			to, ok2 = dayName(b)
		}
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("unknown day in %q (want Mon, Tue, … or ranges like Mon-Fri)", s)
		}
		for d := from; ; d = (d + 1) % 7 {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
			if d == to {
				break
			}
		}
	}
	return out, nil
}

// dayName accepts "mon" or "monday" (any case was lowered before).
func dayName(s string) (time.Weekday, bool) {
	d, ok := dayNames[s[:min(3, len(s))]]
	if !ok || len(s) != 3 && s != strings.ToLower(d.String()) {
		return 0, false
	}
	return d, true
}

func clock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Contains reports whether t lies in the window.
func (w Window) Contains(t time.Time) bool {
	t = t.In(w.Loc)
	since := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	day := t.Weekday()
	if w.Start < w.End {
		return w.day(day) && since >= w.Start && since < w.End
	}
	// Crosses midnight: the evening part on its day, the morning part on the next.
	return since >= w.Start && w.day(day) || since < w.End && w.day((day+6)%7)
}

func (w Window) day(d time.Weekday) bool { return len(w.Days) == 0 || slices.Contains(w.Days, d) }

// Contains reports whether t lies in any window; no windows means any time.
func (ws Windows) Contains(t time.Time) bool {
	if len(ws) == 0 {
		return true
	}
	for _, w := range ws {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

func (ws Windows) String() string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.text
	}
	return strings.Join(parts, "; ")
}
