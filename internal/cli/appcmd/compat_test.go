package appcmd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
	"coopcloud.tech/abra/internal/ui"
)

// compatFactory is an ABRA_DIR with app.example.org on server "default" and a
// fake swarm where its app service runs.
func compatFactory(t *testing.T) (*command.Factory, *swarmtest.Cluster, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	dir := t.TempDir()
	env := filepath.Join(dir, "servers", "default", "app.example.org.env")
	if err := os.MkdirAll(filepath.Dir(env), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env, []byte("TYPE=web:1.0.0+1\nDOMAIN=app.example.org\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := swarmtest.New()
	one := uint64(1)
	spec := mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: "app_example_org_app", Labels: map[string]string{swarm.StackLabel: "app_example_org"}},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "img:1"}},
		Mode:         mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}}}
	if _, _, err := c.CreateService(context.Background(), spec, false); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: dir, Offline: true,
		Connect: func(context.Context, string) (swarm.Cluster, error) { return c, nil }}
	return f, c, &out, &errb
}

func execute(t *testing.T, ctx context.Context, cmd *cobra.Command, args ...string) error {
	t.Helper()
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	return cmd.ExecuteContext(ctx)
}

func TestUpgradeAbraFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  app.Direction
		args []string
		want upgradeOptions
	}{
		{"force skips the question", app.Up, []string{"a.example.org", "-f"}, upgradeOptions{force: true}},
		{"releasenotes only prints notes", app.Up, []string{"a.example.org", "--releasenotes"}, upgradeOptions{notesOnly: true}},
		{"r is releasenotes", app.Up, []string{"a.example.org", "-r"}, upgradeOptions{notesOnly: true}},
		{"chaos is accepted", app.Up, []string{"a.example.org", "-C"}, upgradeOptions{chaos: true}},
		{"rollback force", app.Down, []string{"a.example.org", "--force", "-D", "-c"}, upgradeOptions{force: true, opts: app.DeployOptions{NoDomainChecks: true, NoConvergeChecks: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *upgradeOptions
			cmd := newVersionChangeCmd(&command.Factory{}, tc.dir, func(_ context.Context, o *upgradeOptions) error { got = o; return nil })
			if err := execute(t, context.Background(), cmd, tc.args...); err != nil {
				t.Fatal(err)
			}
			if got.force != tc.want.force || got.notesOnly != tc.want.notesOnly || got.chaos != tc.want.chaos ||
				got.opts.NoDomainChecks != tc.want.opts.NoDomainChecks || got.opts.NoConvergeChecks != tc.want.opts.NoConvergeChecks {
				t.Errorf("options = %+v, want %+v", *got, tc.want)
			}
		})
	}
	if newRollbackCmd(&command.Factory{}, nil).Flags().Lookup("releasenotes") != nil {
		t.Error("rollback has --releasenotes: abra's is upgrade only")
	}
}

func TestUndeployPruneRemovesTheStacksLeftovers(t *testing.T) {
	f, c, _, errb := compatFactory(t)
	if err := execute(t, context.Background(), newUndeployCmd(f, nil), "app.example.org", "-p"); err != nil {
		t.Fatalf("%v\n%s", err, errb)
	}
	if !slices.Contains(c.Calls, "prune stack=app_example_org") {
		t.Errorf("calls %v: want the stack's prune after the undeploy", c.Calls)
	}
	if !strings.Contains(errb.String(), "pruned") {
		t.Errorf("stderr %q: want what was pruned", errb)
	}
}

func TestUndeployWithoutPrunePrunesNothing(t *testing.T) {
	f, c, _, errb := compatFactory(t)
	if err := execute(t, context.Background(), newUndeployCmd(f, nil), "app.example.org"); err != nil {
		t.Fatalf("%v\n%s", err, errb)
	}
	for _, call := range c.Calls {
		if strings.HasPrefix(call, "prune") {
			t.Errorf("undeploy without --prune called %q", call)
		}
	}
}

func TestPsWatchPrintsSnapshotsUntilInterrupted(t *testing.T) {
	f, _, out, _ := compatFactory(t)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	var o *psOptions
	cmd := newPsCmd(f, func(ctx context.Context, po *psOptions) error {
		o = po
		po.interval = 10 * time.Millisecond
		return runPs(ctx, po)
	})
	err := execute(t, ctx, cmd, "app.example.org", "-w")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's error (exit 130 in cli.Main)", err)
	}
	if !o.watch {
		t.Error("-w did not set watch")
	}
	if snapshots := strings.Count(out.String(), "app_example_org_app") + strings.Count(out.String(), "\n\n"); snapshots < 2 {
		t.Errorf("stdout %q: want several snapshots separated by blank lines", out)
	}
}

func TestPsWatchJSONIsOneLinePerSnapshot(t *testing.T) {
	f, _, out, _ := compatFactory(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	cmd := newPsCmd(f, func(ctx context.Context, po *psOptions) error {
		po.interval = 10 * time.Millisecond
		return runPs(ctx, po)
	})
	_ = execute(t, ctx, cmd, "app.example.org", "--watch", "--json")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("stdout %q: want one JSON array per line", out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "[") {
			t.Errorf("line %q is not a JSON array", l)
		}
	}
}

func TestLogsAbraFlags(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		args []string
		want swarm.LogOptions
	}{
		{"both streams by default", nil, swarm.LogOptions{Tail: "all"}},
		{"s is stderr", []string{"-s"}, swarm.LogOptions{Tail: "all", Stream: "stderr"}},
		{"stdout", []string{"--stdout"}, swarm.LogOptions{Tail: "all", Stream: "stdout"}},
		{"S is since, a time", []string{"-S", "2024-04-30T10:00:00Z"}, swarm.LogOptions{Tail: "all", Since: time.Date(2024, 4, 30, 10, 0, 0, 0, time.UTC)}},
		{"since a duration ago", []string{"--since", "10m"}, swarm.LogOptions{Tail: "all", Since: now.Add(-10 * time.Minute)}},
		{"follow and tail", []string{"-f", "-t", "5"}, swarm.LogOptions{Tail: "5", Follow: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got swarm.LogOptions
			cmd := newLogsCmd(&command.Factory{}, func(_ context.Context, o *logsOptions) error {
				var err error
				got, err = o.logOptions(now)
				return err
			})
			if err := execute(t, context.Background(), cmd, append([]string{"a.example.org"}, tc.args...)...); err != nil {
				t.Fatal(err)
			}
			if !got.Since.Equal(tc.want.Since) || got.Stream != tc.want.Stream || got.Tail != tc.want.Tail || got.Follow != tc.want.Follow {
				t.Errorf("log options = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLogsRefusesBadFlagCombinations(t *testing.T) {
	for _, args := range [][]string{{"--stdout", "--stderr"}, {"--since", "yesterday"}} {
		cmd := newLogsCmd(&command.Factory{}, func(context.Context, *logsOptions) error { return nil })
		err := execute(t, context.Background(), cmd, append([]string{"a.example.org"}, args...)...)
		var usage *command.UsageError
		if !errors.As(err, &usage) {
			t.Errorf("%v: err = %v, want a usage error", args, err)
		}
	}
}
