package cronjob

import (
	"errors"
	"strings"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
)

func service(labels map[string]string, global bool) mobyswarm.Service {
	l := map[string]string{swarm.StackLabel: "blog_example_org"}
	for k, v := range labels {
		l[k] = v
	}
	svc := mobyswarm.Service{ID: "svc1", Spec: mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: "blog_example_org_dump", Labels: l}}}
	if global {
		svc.Spec.Mode.Global = &mobyswarm.GlobalService{}
	} else {
		zero := uint64(0)
		svc.Spec.Mode.Replicated = &mobyswarm.ReplicatedService{Replicas: &zero}
	}
	return svc
}

func TestParseLabels(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		global bool
		ok     bool
		want   Job
	}{
		{name: "defaults", labels: map[string]string{LabelEnable: "true", LabelSchedule: "0 3 * * *"}, ok: true,
			want: Job{Schedule: "0 3 * * *", Replicas: 1}},
		{name: "every label", ok: true, labels: map[string]string{LabelEnable: "1", LabelSchedule: " @every 10s ", LabelSkipRunning: "true",
			LabelReplicas: "3", LabelRegistryAuth: "TRUE", LabelQueryRegistry: "t"},
			want: Job{Schedule: "@every 10s", SkipRunning: true, Replicas: 3, RegistryAuth: true, QueryRegistry: true}},
		{name: "false values", ok: true, labels: map[string]string{LabelEnable: "true", LabelSchedule: "@daily", LabelSkipRunning: "false",
			LabelRegistryAuth: "0", LabelQueryRegistry: "F"}, want: Job{Schedule: "@daily", Replicas: 1}},
		{name: "global mode", global: true, ok: true, labels: map[string]string{LabelEnable: "true", LabelSchedule: "*/5 * * * * *"},
			want: Job{Schedule: "*/5 * * * * *", Replicas: 1, Global: true}},
		{name: "not enabled", labels: map[string]string{LabelEnable: "false", LabelSchedule: "nonsense"}},
		{name: "no labels", labels: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job, ok, err := Parse(service(tt.labels, tt.global))
			if err != nil || ok != tt.ok {
				t.Fatalf("Parse() = %v, %v", ok, err)
			}
			if !ok {
				return
			}
			tt.want.ServiceID, tt.want.Service, tt.want.Stack, tt.want.Name = "svc1", "blog_example_org_dump", "blog_example_org", "dump"
			if job != tt.want {
				t.Fatalf("Parse() =\n%+v, want\n%+v", job, tt.want)
			}
		})
	}
}

func TestParseLabelErrorsNameServiceAndLabel(t *testing.T) {
	base := map[string]string{LabelEnable: "true", LabelSchedule: "@hourly"}
	tests := []struct {
		name, label, value, want string
	}{
		{name: "enable not a bool", label: LabelEnable, value: "yes please", want: "want true or false"},
		{name: "skip-running not a bool", label: LabelSkipRunning, value: "sometimes", want: "want true or false"},
		{name: "registry-auth not a bool", label: LabelRegistryAuth, value: "x", want: "want true or false"},
		{name: "query-registry not a bool", label: LabelQueryRegistry, value: "x", want: "want true or false"},
		{name: "replicas zero", label: LabelReplicas, value: "0", want: "at least 1"},
		{name: "replicas negative", label: LabelReplicas, value: "-1", want: "at least 1"},
		{name: "replicas not a number", label: LabelReplicas, value: "two", want: "at least 1"},
		{name: "schedule missing", label: LabelSchedule, value: "", want: "empty schedule"},
		{name: "schedule unparsable", label: LabelSchedule, value: "every day", want: "want 5 cron fields"},
		{name: "schedule with 7 fields", label: LabelSchedule, value: "0 0 0 * * * *", want: "expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := map[string]string{}
			for k, v := range base {
				l[k] = v
			}
			l[tt.label] = tt.value
			_, ok, err := Parse(service(l, false))
			var le *LabelError
			if ok || !errors.As(err, &le) || le.Label != tt.label {
				t.Fatalf("Parse() = %v, %v; want a LabelError on %s", ok, err, tt.label)
			}
			for _, s := range []string{"service blog_example_org_dump", "label " + tt.label, tt.want} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	t.Run("a swarm job mode", func(t *testing.T) {
		svc := service(base, false)
		svc.Spec.Mode = mobyswarm.ServiceMode{ReplicatedJob: &mobyswarm.ReplicatedJob{}}
		if _, ok, err := Parse(svc); ok || err == nil || !strings.Contains(err.Error(), "replicated or global") {
			t.Fatalf("Parse(replicated-job) = %v, %v", ok, err)
		}
	})
}

func TestEnabled(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "1": true, " True ": true, "false": false, "": false, "yes": false} {
		if got := Enabled(map[string]string{LabelEnable: v}); got != want {
			t.Errorf("Enabled(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	at := time.Date(2026, 3, 4, 10, 20, 30, 0, time.UTC)
	tests := []struct {
		spec string
		next time.Time
	}{
		{"*/15 * * * *", time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)},
		{"0 3 * * *", time.Date(2026, 3, 5, 3, 0, 0, 0, time.UTC)},
		{"*/3 * * * * *", time.Date(2026, 3, 4, 10, 20, 33, 0, time.UTC)}, // seconds first
		{"45 20 10 * * *", time.Date(2026, 3, 4, 10, 20, 45, 0, time.UTC)},
		{"@every 10s", at.Add(10 * time.Second)},
		{"@every 1h30m", at.Add(90 * time.Minute)},
		{"@daily", time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"@hourly", time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)},
		{"@weekly", time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)},
		{"CRON_TZ=Europe/Berlin 0 12 * * *", time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)},
		{"0 9 * * MON-FRI", time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		sched, err := ParseSchedule(tt.spec)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tt.spec, err)
			continue
		}
		if got := sched.Next(at); !got.Equal(tt.next) {
			t.Errorf("ParseSchedule(%q).Next(%s) = %s, want %s", tt.spec, at, got, tt.next)
		}
	}
	for _, bad := range []string{"", "  ", "every day", "* * *", "61 * * * *", "@fortnightly", "@every", "@every 10"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}

func TestJobNextIsInTheZoneGiven(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no zoneinfo")
	}
	j := Job{Schedule: "0 3 * * *"}
	at := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	if got, want := j.Next(at, nil), time.Date(2026, 1, 11, 3, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next in UTC = %s, want %s", got, want)
	}
	if got, want := j.Next(at, berlin), time.Date(2026, 1, 11, 2, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next in Berlin = %s, want %s (03:00 CET)", got.UTC(), want)
	}
}
