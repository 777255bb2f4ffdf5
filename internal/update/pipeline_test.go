package update

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

func TestRequiredVariables(t *testing.T) {
	tests := []struct {
		name    string
		compose string
		want    []string
	}{
		{"braces", "image: nginx:${A}", []string{"A"}},
		{"bare", "domain: $B", []string{"B"}},
		{"default with colon", "x: ${C:-x}", nil},
		{"default without colon", "x: ${D-x}", nil},
		{"alternative with colon", "x: ${E:+x}", nil},
		{"alternative without colon", "x: ${E+x}", nil},
		{"error with colon", "x: ${F:?F must be set}", []string{"F"}},
		{"error without colon", "x: ${F?err}", []string{"F"}},
		{"escaped dollar", "cmd: echo $$G", nil},
		{"escaped dollar before braces", "cmd: echo $${G}", nil},
		{"escaped dollar then a variable", "cmd: echo $$$H", []string{"H"}},
		{"duplicates once", "a: ${A}\nb: $A\nc: ${A:?x}", []string{"A"}},
		{"not a name", "price: $1 and ${ } and $-", nil},
		{"empty default is a default", "x: ${I:-}", nil},
		{"underscores and digits", "x: ${_SECRET_V2} $lower_case1", []string{"_SECRET_V2", "lower_case1"}},
		{"order of first use", "x: ${B}\ny: ${A}\nz: ${B}", []string{"B", "A"}},
		{
			"a compose file",
			`version: "3.8"
services:
  app:
    image: "wordpress:${A}"
    environment:
      - DOMAIN=$B
      - C=${C:-x}
      - D=${D-x}
      - E=${E:+x}
      - F=${F:?err}
      - PASS=$$G
      - AGAIN=${A}/$B
`,
			[]string{"A", "B", "F"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RequiredVariables([]byte(tt.compose)); !slices.Equal(got, tt.want) {
				t.Fatalf("RequiredVariables(%q) = %q, want %q", tt.compose, got, tt.want)
			}
		})
	}
}

// scriptedTasks answers Tasks with one list per call (the last one again
// once the script runs out) and fails with err on call failAt (1-based).
type scriptedTasks struct {
	*swarmtest.Cluster
	mu     sync.Mutex
	script [][]mobyswarm.Task
	calls  int
	failAt int
	err    error
}

func (s *scriptedTasks) Tasks(context.Context, string) ([]mobyswarm.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls == s.failAt {
		return nil, s.err
	}
	return s.script[min(s.calls, len(s.script))-1], nil
}

func task(id string, desired, state mobyswarm.TaskState) mobyswarm.Task {
	return mobyswarm.Task{ID: id, ServiceID: "svc1", Slot: 1, DesiredState: desired,
		Status: mobyswarm.TaskStatus{State: state, Err: "exit " + id}}
}

// newTask is a task created after the watch began (a restart or replacement).
func newTask(id string, desired, state mobyswarm.TaskState) mobyswarm.Task {
	t := task(id, desired, state)
	t.CreatedAt = time.Now().Add(time.Hour)
	return t
}

func TestWatchStable(t *testing.T) {
	running := mobyswarm.TaskStateRunning
	shutdown := mobyswarm.TaskStateShutdown
	t1 := task("t1", running, running)
	t2 := task("t2", running, running)
	tests := []struct {
		name   string
		script [][]mobyswarm.Task
		want   string // in the error; "" for none
	}{
		{"stable", [][]mobyswarm.Task{{t1, t2}}, ""},
		{"a running task fails", [][]mobyswarm.Task{{t1, t2}, {t1, task("t2", shutdown, mobyswarm.TaskStateFailed)}},
			"task svc1.1 stopped (failed) within the verify window: exit t2"},
		{"a running task completes", [][]mobyswarm.Task{{t1}, {task("t1", shutdown, mobyswarm.TaskStateComplete)}},
			"stopped (complete)"},
		{"a task is restarted", [][]mobyswarm.Task{{t1}, {t1, newTask("t3", running, mobyswarm.TaskStatePreparing)}},
			"a task was restarted within the verify window (preparing: exit t3)"},
		{"a task is rejected", [][]mobyswarm.Task{{t1}, {t1, newTask("t3", running, mobyswarm.TaskStateRejected)}},
			"restarted"},
		{"a task that was starting before the watch does not count as a restart",
			[][]mobyswarm.Task{{t1}, {t1, task("t4", running, mobyswarm.TaskStatePreparing)}}, ""},
		{"tasks that were down before the watch do not count",
			[][]mobyswarm.Task{{t1, task("old", shutdown, mobyswarm.TaskStateFailed)}, {t1, task("old", shutdown, mobyswarm.TaskStateFailed)}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &scriptedTasks{Cluster: swarmtest.New(), script: tt.script}
			// A failure shows on the first poll; a stable stack polls until
			// the window (kept short) is over.
			err := WatchStable(context.Background(), c, "s", 20*time.Millisecond)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("WatchStable: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("WatchStable: %v, want an error containing %q", err, tt.want)
			}
			if tt.want == "" && c.calls < 2 {
				t.Fatalf("WatchStable looked at the tasks %d times, want the start and at least one poll", c.calls)
			}
		})
	}
}

func TestWatchStableOnTheFake(t *testing.T) {
	ctx := context.Background()
	c := swarmtest.New()
	replicas := uint64(2)
	spec := mobyswarm.ServiceSpec{
		Annotations: mobyswarm.Annotations{Name: "s_app", Labels: map[string]string{swarm.StackLabel: "s"}},
		Mode:        mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &replicas}},
	}
	if _, _, err := c.CreateService(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	if err := WatchStable(ctx, c, "s", 10*time.Millisecond); err != nil {
		t.Fatalf("a converged stack is not stable: %v", err)
	}
}

func TestWatchStableTasksError(t *testing.T) {
	boom := errors.New("daemon down")
	for _, failAt := range []int{1, 2} {
		c := &scriptedTasks{Cluster: swarmtest.New(), script: [][]mobyswarm.Task{{task("t1", "running", "running")}}, failAt: failAt, err: boom}
		if err := WatchStable(context.Background(), c, "s", time.Hour); !errors.Is(err, boom) {
			t.Errorf("Tasks failing on call %d: err = %v, want %v", failAt, err, boom)
		}
	}
}

func TestWatchStableStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &scriptedTasks{Cluster: swarmtest.New(), script: [][]mobyswarm.Task{{task("t1", "running", "running")}}}
	if err := WatchStable(ctx, c, "s", time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestProbe(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusNoContent, http.StatusNotModified} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
		if err := Probe(context.Background(), srv.URL+"/health"); err != nil {
			t.Errorf("status %d: %v, want success", status, err)
		}
		srv.Close()
	}
}

func TestProbeGivesUpWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		cancel() // the caller gives up while the app answers 503
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	if err := Probe(ctx, srv.URL); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 1 {
		t.Fatalf("%d requests, want no retry after the context ended", requests)
	}
}

func TestProbeBadURL(t *testing.T) {
	if err := Probe(context.Background(), "http://exa mple.org"); err == nil || !strings.Contains(err.Error(), "probe http://exa mple.org") {
		t.Fatalf("err = %v, want an error naming the URL", err)
	}
}

func TestRolledBackError(t *testing.T) {
	cause := errors.New("verify stable: task stopped")
	tests := []struct {
		snapshot string
		want     string
	}{
		{"", "verify stable: task stopped; the previous version is back and 1.1.0+1 is quarantined"},
		{"0123456789abcdef", "verify stable: task stopped; the previous version is back with its data (snapshot 01234567) and 1.1.0+1 is quarantined"},
	}
	for _, tt := range tests {
		var err error = &RolledBackError{Version: "1.1.0+1", Snapshot: tt.snapshot, Err: cause}
		if err.Error() != tt.want {
			t.Errorf("Error = %q, want %q", err.Error(), tt.want)
		}
		if !errors.Is(err, cause) {
			t.Error("RolledBackError does not unwrap to its cause")
		}
	}
}
