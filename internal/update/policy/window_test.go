package policy

import (
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // windows name zones; do not depend on the host's zoneinfo
)

// at returns a UTC time in the week of Monday 2024-06-10 (June 7 is a Friday).
func at(t *testing.T, day time.Weekday, hhmm string) time.Time {
	t.Helper()
	if len(hhmm) == len("15:04") {
		hhmm += ":00"
	}
	clock, err := time.Parse("15:04:05", hhmm)
	if err != nil {
		t.Fatal(err)
	}
	// 2024-06-09 is a Sunday; days run Sunday..Saturday from there.
	d := time.Date(2024, 6, 9+int(day), clock.Hour(), clock.Minute(), clock.Second(), 0, time.UTC)
	if d.Weekday() != day {
		t.Fatalf("bad fixture: %s is a %s", d, d.Weekday())
	}
	return d
}

func mustWindows(t *testing.T, s string) Windows {
	t.Helper()
	ws, err := ParseWindows(s)
	if err != nil {
		t.Fatalf("ParseWindows(%q): %v", s, err)
	}
	return ws
}

func TestWindowContains(t *testing.T) {
	type probe struct {
		day  time.Weekday
		at   string // HH:MM or HH:MM:SS, UTC
		want bool
	}
	tests := []struct {
		window string
		probes []probe
	}{
		{"02:00-05:00", []probe{
			{time.Wednesday, "03:00", true},
			{time.Wednesday, "02:00", true},
			{time.Sunday, "04:59:59", true},
			{time.Wednesday, "05:00", false},
			{time.Wednesday, "01:59:59", false},
			{time.Wednesday, "23:00", false},
		}},
		{"Mon-Fri 22:00-02:00", []probe{
			{time.Friday, "23:00", true},
			{time.Saturday, "01:00", true}, // Friday night
			{time.Saturday, "23:00", false},
			{time.Monday, "01:00", false}, // Sunday night
			{time.Monday, "22:00", true},
			{time.Tuesday, "01:59", true},
			{time.Saturday, "02:00", false},
			{time.Friday, "21:59", false},
			{time.Sunday, "23:30", false},
			{time.Wednesday, "12:00", false},
		}},
		{"Fri-Mon 10:00-12:00", []probe{
			{time.Friday, "11:00", true},
			{time.Saturday, "11:00", true},
			{time.Sunday, "11:00", true},
			{time.Monday, "11:00", true},
			{time.Tuesday, "11:00", false},
			{time.Wednesday, "11:00", false},
			{time.Thursday, "11:00", false},
			{time.Monday, "12:00", false},
		}},
		{"sat,SUN 10:00-12:00", []probe{
			{time.Saturday, "10:30", true},
			{time.Sunday, "11:59", true},
			{time.Friday, "10:30", false},
		}},
		{"monday-friday 09:00-17:00", []probe{
			{time.Monday, "09:00", true},
			{time.Friday, "16:59", true},
			{time.Saturday, "12:00", false},
		}},
		{"Mon-Fri 02:00-05:00; Sat,Sun 10:00-12:00", []probe{
			{time.Tuesday, "03:00", true},
			{time.Saturday, "11:00", true},
			{time.Saturday, "03:00", false},
			{time.Tuesday, "11:00", false},
		}},
		{"22:00-00:00", []probe{
			{time.Monday, "23:59", true},
			{time.Tuesday, "00:00", false},
			{time.Monday, "21:00", false},
		}},
	}
	for _, tt := range tests {
		ws := mustWindows(t, tt.window)
		for _, p := range tt.probes {
			tm := at(t, p.day, p.at)
			if got := ws.Contains(tm); got != p.want {
				t.Errorf("%q contains %s %s UTC = %v, want %v", tt.window, p.day, p.at, got, p.want)
			}
		}
	}
}

func TestWindowUsesItsTimeZone(t *testing.T) {
	ws := mustWindows(t, "Sat,Sun 10:00-12:00 Europe/Berlin")
	if ws[0].Loc.String() != "Europe/Berlin" {
		t.Fatalf("Loc = %s, want Europe/Berlin", ws[0].Loc)
	}
	tests := []struct {
		when time.Time
		want bool
	}{
		// Summer: Berlin is UTC+2.
		{time.Date(2024, 6, 8, 8, 30, 0, 0, time.UTC), true},   // Sat 10:30 in Berlin
		{time.Date(2024, 6, 8, 9, 59, 0, 0, time.UTC), true},   // Sat 11:59
		{time.Date(2024, 6, 8, 10, 30, 0, 0, time.UTC), false}, // Sat 12:30
		{time.Date(2024, 6, 8, 11, 0, 0, 0, time.UTC), false},  // 11:00 UTC is not 11:00 in Berlin
		// Winter: Berlin is UTC+1.
		{time.Date(2024, 1, 6, 9, 30, 0, 0, time.UTC), true},  // Sat 10:30 in Berlin
		{time.Date(2024, 1, 6, 8, 30, 0, 0, time.UTC), false}, // Sat 09:30
	}
	for _, tt := range tests {
		if got := ws.Contains(tt.when); got != tt.want {
			t.Errorf("contains %s = %v, want %v", tt.when, got, tt.want)
		}
	}

	// The day is Berlin's day too: Sunday 22:30 UTC is Monday 00:30 there.
	mon := mustWindows(t, "Mon 00:00-01:00 Europe/Berlin")
	if !mon.Contains(time.Date(2024, 6, 9, 22, 30, 0, 0, time.UTC)) {
		t.Error("Sunday 22:30 UTC is Monday 00:30 in Berlin and lies in the window")
	}
	if mon.Contains(time.Date(2024, 6, 10, 0, 30, 0, 0, time.UTC)) {
		t.Error("Monday 00:30 UTC is 02:30 in Berlin and lies outside the window")
	}
}

func TestWindowConvertsTheTimeGiven(t *testing.T) {
	ws := mustWindows(t, "02:00-05:00")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// 03:00 in Berlin in June is 01:00 UTC: outside a UTC window.
	if ws.Contains(time.Date(2024, 6, 5, 3, 0, 0, 0, berlin)) {
		t.Error("03:00 Berlin (01:00 UTC) lies in 02:00-05:00 UTC")
	}
	if !ws.Contains(time.Date(2024, 6, 5, 6, 0, 0, 0, berlin)) {
		t.Error("06:00 Berlin (04:00 UTC) does not lie in 02:00-05:00 UTC")
	}
}

func TestParseWindowsDays(t *testing.T) {
	tests := []struct {
		in   string
		want []time.Weekday
	}{
		{"02:00-05:00", nil},
		{"Mon-Fri 02:00-05:00", []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}},
		{"Fri-Mon 02:00-05:00", []time.Weekday{time.Friday, time.Saturday, time.Sunday, time.Monday}},
		{"Sat,Sun 02:00-05:00", []time.Weekday{time.Saturday, time.Sunday}},
		{"Wed 02:00-05:00", []time.Weekday{time.Wednesday}},
		{"Mon-Wed,Tue 02:00-05:00", []time.Weekday{time.Monday, time.Tuesday, time.Wednesday}},
	}
	for _, tt := range tests {
		ws := mustWindows(t, tt.in)
		if len(ws) != 1 || !slices.Equal(ws[0].Days, tt.want) {
			t.Errorf("ParseWindows(%q) days = %v, want %v", tt.in, ws[0].Days, tt.want)
		}
		if ws[0].Start != 2*time.Hour || ws[0].End != 5*time.Hour || ws[0].Loc != time.UTC {
			t.Errorf("ParseWindows(%q) = %+v, want 02:00-05:00 UTC", tt.in, ws[0])
		}
	}
}

func TestParseWindowsErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"02:00", "want [days] HH:MM-HH:MM"},
		{"02:00-", "want [days] HH:MM-HH:MM"},
		{"2:00am-5:00am", "want [days] HH:MM-HH:MM"},
		{"Mon-Fri", "want [days] HH:MM-HH:MM"},
		{"25:00-26:00", "want [days] HH:MM-HH:MM"},
		{"02:00-02:00", "want [days] HH:MM-HH:MM"},
		{"02:00-05:00 UTC tomorrow", "want [days] HH:MM-HH:MM"},
		{"Funday 02:00-05:00", "unknown day"},
		{"Mon-Xyz 02:00-05:00", "unknown day"},
		{"Mon, 02:00-05:00", "unknown day"},
		{"02:00-05:00 Mars/Olympus", `unknown time zone "Mars/Olympus"`},
		{"Mon 02:00-05:00; Sat 10:00", "want [days] HH:MM-HH:MM"},
	}
	for _, tt := range tests {
		ws, err := ParseWindows(tt.in)
		if err == nil {
			t.Errorf("ParseWindows(%q) = %v, want an error", tt.in, ws)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseWindows(%q): %v, want it to mention %q", tt.in, err, tt.want)
		}
		if ws != nil {
			t.Errorf("ParseWindows(%q) returned windows %v with its error", tt.in, ws)
		}
	}
}

func TestEmptyWindowsContainAnyTime(t *testing.T) {
	for _, in := range []string{"", "  ", " ; "} {
		ws := mustWindows(t, in)
		if len(ws) != 0 {
			t.Fatalf("ParseWindows(%q) = %v, want no windows", in, ws)
		}
		for _, tm := range []time.Time{at(t, time.Sunday, "00:00"), at(t, time.Wednesday, "13:37"), {}} {
			if !ws.Contains(tm) {
				t.Errorf("no windows do not contain %s", tm)
			}
		}
	}
	if !Windows(nil).Contains(time.Now()) {
		t.Error("nil Windows do not contain now")
	}
}

func TestWindowsString(t *testing.T) {
	in := " Mon-Fri 02:00-05:00 Europe/Berlin ;Sat,Sun 10:00-12:00"
	if got, want := mustWindows(t, in).String(), "Mon-Fri 02:00-05:00 Europe/Berlin; Sat,Sun 10:00-12:00"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}
