package appcmd

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/cronjob"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
	"coopcloud.tech/abra/internal/ui"
)

// cronFixture is app.example.org deployed on a fake swarm with a job
// service "dump" (every day at 03:00), a service "app" that is no job, and
// the server's abra-agent (TZ=Europe/Berlin).
type cronFixture struct {
	backupFixture // its run
	now           time.Time
}

const cronStack = "app_example_org"

func newCronFixture(t *testing.T, agentEnv []string) *cronFixture {
	t.Helper()
	dir := t.TempDir()
	fx := &cronFixture{backupFixture: backupFixture{dir: dir, cluster: swarmtest.New()}, now: time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)}
	writeTestFile(t, filepath.Join(dir, "servers", "default", "app.example.org.env"), "TYPE=web:1.0.0+1\nDOMAIN=app.example.org\n")
	fx.f = &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &fx.out, Err: &fx.err}, AbraDir: dir, Offline: true,
		Connect: func(context.Context, string) (swarm.Cluster, error) { return fx.cluster, nil }}
	fx.add(t, cronStack+"_dump", 0, nil, cronjob.LabelEnable+"=true", cronjob.LabelSchedule+"=0 3 * * *", cronjob.LabelSkipRunning+"=true")
	fx.add(t, cronStack+"_app", 1, nil)
	if agentEnv != nil {
		fx.add(t, "agent_example_org_app", 1, agentEnv, "coop-cloud.agent_example_org.recipe=abra-agent")
	}
	return fx
}

func (fx *cronFixture) add(t *testing.T, name string, replicas uint64, env []string, labels ...string) {
	t.Helper()
	stack, _, _ := strings.Cut(name, "_app")
	if strings.HasPrefix(name, cronStack) {
		stack = cronStack
	}
	l := map[string]string{swarm.StackLabel: stack}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		l[k] = v
	}
	spec := mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: name, Labels: l},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "img:1", Env: env}},
		Mode:         mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &replicas}}}
	if _, _, err := fx.cluster.CreateService(context.Background(), spec, false); err != nil {
		t.Fatal(err)
	}
}

// endDump ends the dump job's run once it started, with its exit code and
// the lines it printed.
func (fx *cronFixture) endDump(t *testing.T, code int, printed string) {
	go func() {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			tasks, _ := fx.cluster.Tasks(context.Background(), cronStack)
			if !slices.ContainsFunc(tasks, func(tk mobyswarm.Task) bool { return tk.Status.State == mobyswarm.TaskStateRunning }) {
				continue
			}
			if printed != "" {
				fx.cluster.Log(cronStack+"_dump", printed)
			}
			if fx.cluster.EndTasks(cronStack+"_dump", code) > 0 {
				return
			}
		}
		t.Error("the dump job did not start")
	}()
}

func (fx *cronFixture) runCmd() *cobra.Command {
	return newCronRunCmd(fx.f, func(ctx context.Context, o *cronRunOptions) error {
		o.poll = time.Millisecond
		return runCronRun(ctx, o)
	})
}

func (fx *cronFixture) lsCmd() *cobra.Command {
	return newCronLsCmd(fx.f, func(ctx context.Context, o *cronLsOptions) error {
		o.now = func() time.Time { return fx.now }
		return runCronLs(ctx, o)
	})
}

func TestCronLsRunHistory(t *testing.T) {
	fx := newCronFixture(t, []string{"TZ=Europe/Berlin", "CRON=true"})
	if err := fx.run(fx.lsCmd(), "app.example.org", "--json"); err != nil {
		t.Fatal(err)
	}
	var jobs []cronJobView
	if err := json.Unmarshal(fx.out.Bytes(), &jobs); err != nil || len(jobs) != 1 {
		t.Fatalf("ls --json: %v\n%s", err, fx.out.String())
	}
	// 03:00 in Berlin is 02:00 UTC in winter.
	if j := jobs[0]; j.Service != "dump" || j.Schedule != "0 3 * * *" || !j.SkipRunning || j.Replicas != 1 || j.LastRun != nil ||
		!j.NextRun.Equal(time.Date(2026, 1, 11, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("ls: %+v", j)
	}
	if fx.err.Len() != 0 {
		t.Fatalf("a warning with the agent deployed: %s", fx.err.String())
	}

	fx.endDump(t, 0, "")
	if err := fx.run(fx.runCmd(), "app.example.org", "dump"); err != nil {
		t.Fatalf("run: %v\n%s", err, fx.err.String())
	}
	if !strings.Contains(fx.out.String(), "succeeded (exit 0)") {
		t.Fatalf("run prints: %s", fx.out.String())
	}

	fx.endDump(t, 3, "dumping\nmysqldump: connection refused\n")
	err := fx.run(fx.runCmd(), "app.example.org", "dump", "--json")
	if err == nil || !strings.Contains(err.Error(), "job dump failed (exit 3)") || !strings.Contains(hint.Of(err), "abra app logs") {
		t.Fatalf("a failed job: %v", err)
	}
	if !strings.Contains(fx.err.String(), "last log lines of dump:\n  dumping\n  mysqldump: connection refused\n") {
		t.Fatalf("stderr of a failed job:\n%s", fx.err.String())
	}
	var ran cronRunView
	if err := json.Unmarshal(fx.out.Bytes(), &ran); err != nil || ran.State != "failed" || ran.ExitCode == nil || *ran.ExitCode != 3 || ran.Trigger != "manual" {
		t.Fatalf("run --json: %v\n%s", err, fx.out.String())
	}

	if err := fx.run(newCronHistoryCmd(fx.f, nil), "app.example.org", "dump", "-m"); err != nil {
		t.Fatal(err)
	}
	var runs []cronRunView
	if err := json.Unmarshal(fx.out.Bytes(), &runs); err != nil || len(runs) != 2 {
		t.Fatalf("history --json: %v\n%s", err, fx.out.String())
	}
	if r := runs[0]; r.App != "app.example.org" || r.State != "failed" || *r.ExitCode != 3 || len(r.Logs) != 2 || r.Logs[1] != "mysqldump: connection refused" {
		t.Fatalf("newest run: %+v", r)
	}
	if r := runs[1]; r.State != "succeeded" || *r.ExitCode != 0 || r.Logs != nil {
		t.Fatalf("first run: %+v", r)
	}
	if !strings.Contains(fx.out.String(), `"exit_code": 0`) || !strings.Contains(fx.out.String(), `"task_id": "`) {
		t.Fatalf("history --json lacks snake_case fields:\n%s", fx.out.String())
	}

	if err := fx.run(fx.lsCmd(), "app.example.org"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fx.out.String(), "dump  0 3 * * *  2026-01-11") || !strings.Contains(fx.out.String(), "failed (exit 3)") {
		t.Fatalf("ls after the runs:\n%s", fx.out.String())
	}
}

func TestCronLsWarnsWithoutAScheduler(t *testing.T) {
	fx := newCronFixture(t, nil)
	if err := fx.run(fx.lsCmd(), "app.example.org"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fx.err.String(), "no abra-agent is deployed on default") {
		t.Fatalf("stderr: %s", fx.err.String())
	}
	fx = newCronFixture(t, []string{"CRON=false"})
	if err := fx.run(fx.lsCmd(), "app.example.org", "--json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fx.err.String(), "CRON=false") || strings.Contains(fx.out.String(), "next_run") {
		t.Fatalf("with CRON=false: stdout %s\nstderr %s", fx.out.String(), fx.err.String())
	}
}

func TestCronRunRefusesWhatIsNoJob(t *testing.T) {
	fx := newCronFixture(t, []string{})
	err := fx.run(fx.runCmd(), "app.example.org", "app")
	if err == nil || !strings.Contains(err.Error(), "not a scheduled job") || !strings.Contains(hint.Of(err), "abra app cron ls app.example.org") {
		t.Fatalf("run of a service that is no job: %v", err)
	}
	err = fx.run(fx.runCmd(), "app.example.org", "nope")
	if err == nil || !strings.Contains(err.Error(), "no service nope") {
		t.Fatalf("run of a missing service: %v", err)
	}
	if err := fx.run(newCronHistoryCmd(fx.f, nil), "app.example.org"); err != nil || !strings.Contains(fx.err.String(), "no job runs recorded") {
		t.Fatalf("empty history: %v %s", err, fx.err.String())
	}
}

func TestCronCommandsParseOptions(t *testing.T) {
	f := &command.Factory{}
	var h *cronHistoryOptions
	cmd := newCronHistoryCmd(f, func(_ context.Context, o *cronHistoryOptions) error { h = o; return nil })
	cmd.SetArgs([]string{"app.example.org", "dump", "--json"})
	if err := cmd.Execute(); err != nil || h.domain != "app.example.org" || h.service != "dump" || !h.json {
		t.Fatalf("history options: %+v, %v", h, err)
	}
	var r *cronRunOptions
	cmd = newCronRunCmd(f, func(_ context.Context, o *cronRunOptions) error { r = o; return nil })
	cmd.SetArgs([]string{"app.example.org", "dump", "-m"})
	if err := cmd.Execute(); err != nil || r.service != "dump" || !r.json {
		t.Fatalf("run options: %+v, %v", r, err)
	}
	cmd = newCronRunCmd(f, nil)
	cmd.SetArgs([]string{"app.example.org"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err == nil {
		t.Fatal("run without a service was accepted")
	}
}
