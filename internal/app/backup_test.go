package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// addService creates a service of a stack on the fake with the given deploy labels.
func addService(t *testing.T, c *swarmtest.Cluster, stack, name string, replicas uint64, labels ...string) {
	t.Helper()
	l := map[string]string{swarm.StackLabel: stack}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		l[k] = v
	}
	spec := mobyswarm.ServiceSpec{
		Annotations:  mobyswarm.Annotations{Name: stack + "_" + name, Labels: l},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "img:1"}},
		Mode:         mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &replicas}},
	}
	if _, _, err := c.CreateService(context.Background(), spec, false); err != nil {
		t.Fatal(err)
	}
}

func testApp(t *testing.T) *App {
	t.Helper()
	env, err := envfile.Parse("app.example.org.env", []byte("TYPE=web\nDOMAIN=app.example.org\n"))
	if err != nil {
		t.Fatal(err)
	}
	return &App{Domain: "app.example.org", Server: "default", Env: env}
}

// backupCluster is a fake server with the backup service running and the app
// deployed with backups enabled on its db service.
func backupCluster(t *testing.T) *swarmtest.Cluster {
	t.Helper()
	c := swarmtest.New()
	addService(t, c, "backups_example_org", "app", 1, BackupServiceLabel+"=true")
	addService(t, c, "app_example_org", "app", 1)
	addService(t, c, "app_example_org", "db", 1, BackupLabel+"=true", "backupbot.backup.pre-hook=dump")
	return c
}

// script makes Exec print the lines on stdout (and stderr) and exit with code.
func script(code int, stderr string, lines ...string) func(swarm.ExecOptions) (int, error) {
	return func(o swarm.ExecOptions) (int, error) {
		for _, l := range lines {
			fmt.Fprintln(o.Stdout, l)
		}
		if o.Stderr != nil {
			fmt.Fprint(o.Stderr, stderr)
		}
		return code, nil
	}
}

type events []BackupEvent

func (e *events) BackupEvent(ev BackupEvent) { *e = append(*e, ev) }

func (e events) kinds() string {
	var out []string
	for _, ev := range e {
		out = append(out, ev.Event)
	}
	return strings.Join(out, ",")
}

func execs(c *swarmtest.Cluster) []string {
	var out []string
	for _, call := range c.Calls {
		if strings.HasPrefix(call, "exec ") {
			out = append(out, call)
		}
	}
	return out
}

func TestBackupCreate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		setup     func(t *testing.T, c *swarmtest.Cluster)
		opts      CreateBackupOptions
		exec      func(swarm.ExecOptions) (int, error)
		wantErr   error    // errors.Is
		errHas    []string // in the message
		hintHas   string
		wantCmd   string // the command run in the backup container
		wantKinds string // events seen by the observer
		want      BackupResult
	}{
		{
			name: "events stream and the result is decoded",
			opts: CreateBackupOptions{Service: "db", Tags: []string{"manual", "from:1.0.0"}},
			exec: script(0, "",
				`{"time":"2026-12-01T10:00:00Z","event":"step","step":"pre-hook","service":"db","message":"running pre-hook"}`,
				`{"time":"2026-12-01T10:00:01Z","event":"hook","step":"pre-hook","service":"db","message":"dump written"}`,
				`{"time":"2026-12-01T10:00:02Z","event":"progress","message":"50%"}`,
				`{"time":"2026-12-01T10:00:03Z","event":"result","data":{"snapshot_id":"abc123","services":["db"],"paths":["/var/lib/docker/volumes/app_example_org_db/_data"],"files":3,"bytes":2048}}`),
			wantCmd:   "/backupbot create --app app_example_org --service db --tag manual --tag from:1.0.0 --json",
			wantKinds: "step,hook,progress,result",
			want:      BackupResult{SnapshotID: "abc123", Services: []string{"db"}, Paths: []string{"/var/lib/docker/volumes/app_example_org_db/_data"}, Files: 3, Bytes: 2048},
		},
		{
			name: "the error event is the reason",
			exec: script(1, "human noise\n",
				`{"time":"2026-12-01T10:00:00Z","event":"step","step":"pre-hook","service":"db"}`,
				`{"time":"2026-12-01T10:00:01Z","event":"error","service":"db","message":"dump /data/dump.sql is empty (0 bytes; previous 812 bytes)"}`),
			errHas:    []string{"backup app.example.org", "service db: dump /data/dump.sql is empty", "exit 1"},
			wantKinds: "step,error",
		},
		{
			name:   "without an error event the end of stderr is the reason",
			exec:   script(2, "starting\nrestic: repository is locked\n"),
			errHas: []string{"restic: repository is locked (exit 2)"},
		},
		{
			name:    "an image without the backupbot binary",
			exec:    script(127, "exec: \"/backupbot\": no such file"),
			errHas:  []string{"not abra's backup service"},
			hintHas: "backup-bot recipe",
		},
		{
			name:      "exit 0 without a result",
			exec:      script(0, "", `{"time":"2026-12-01T10:00:00Z","event":"step","step":"x"}`),
			errHas:    []string{"without a result"},
			hintHas:   "redeploy the backup-bot app",
			wantKinds: "step",
		},
		{
			name: "a line that is not JSON becomes a log event",
			exec: script(0, "", "restic 0.18.1 compiled with go1.26",
				`{"time":"2026-12-01T10:00:03Z","event":"result","data":{"snapshot_id":"s1","services":["db"],"files":1,"bytes":1}}`),
			wantKinds: "log,result",
			want:      BackupResult{SnapshotID: "s1", Services: []string{"db"}, Files: 1, Bytes: 1},
		},
		{
			name: "no backup service on the server",
			setup: func(t *testing.T, c *swarmtest.Cluster) {
				svcs, _ := c.Services(ctx, "backups_example_org")
				_ = c.RemoveService(ctx, svcs[0].ID)
			},
			wantErr: ErrNoBackupService,
			errHas:  []string{BackupServiceLabel + "=true"},
			hintHas: "abra app new backup-bot --server default",
		},
		{
			name: "backup service not running",
			setup: func(t *testing.T, c *swarmtest.Cluster) {
				svcs, _ := c.Services(ctx, "backups_example_org")
				_ = c.RemoveService(ctx, svcs[0].ID)
				addService(t, c, "backups_example_org", "app", 0, BackupServiceLabel+"=true")
			},
			wantErr: ErrBackupServiceDown,
			errHas:  []string{"backups_example_org_app has no running container"},
			hintHas: "docker service ps backups_example_org_app",
		},
		{
			name:    "the named service has no backups",
			opts:    CreateBackupOptions{Service: "app"},
			wantErr: ErrBackupsDisabled,
			errHas:  []string{"service app of app.example.org does not have the deploy label backupbot.backup=true"},
			hintHas: "backupbot.backup=true",
		},
		{
			name:   "an unknown service",
			opts:   CreateBackupOptions{Service: "nope"},
			errHas: []string{`has no service "nope" (services: app, db)`},
		},
		{
			name: "no service has backups",
			setup: func(t *testing.T, c *swarmtest.Cluster) {
				svcs, _ := c.Services(ctx, "app_example_org")
				for _, s := range svcs {
					_ = c.RemoveService(ctx, s.ID)
				}
				addService(t, c, "app_example_org", "app", 1)
			},
			wantErr: ErrBackupsDisabled,
			errHas:  []string{"no service of app.example.org has the deploy label backupbot.backup=true"},
			hintHas: "deploy.labels",
		},
		{
			name: "app not deployed",
			setup: func(t *testing.T, c *swarmtest.Cluster) {
				svcs, _ := c.Services(ctx, "app_example_org")
				for _, s := range svcs {
					_ = c.RemoveService(ctx, s.ID)
				}
			},
			wantErr: ErrNotDeployed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := backupCluster(t)
			if tt.setup != nil {
				tt.setup(t, c)
			}
			c.ExecFunc = tt.exec
			var seen events
			b := &Backups{Cluster: c, Observer: &seen}
			got, err := b.Create(ctx, testApp(t), tt.opts)
			wantFail := tt.wantErr != nil || len(tt.errHas) > 0
			if wantFail != (err != nil) {
				t.Fatalf("err = %v, want failure %v", err, wantFail)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantErr)
			}
			for _, s := range tt.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if tt.hintHas != "" && !strings.Contains(hint.Of(err), tt.hintHas) {
				t.Errorf("hint %q lacks %q", hint.Of(err), tt.hintHas)
			}
			if tt.exec == nil && len(execs(c)) != 0 {
				t.Errorf("nothing may run when the checks fail: %v", execs(c))
			}
			if tt.wantCmd != "" {
				if ex := execs(c); len(ex) != 1 || !strings.HasSuffix(ex[0], " "+tt.wantCmd) || !strings.HasPrefix(ex[0], "exec ctr-") {
					t.Errorf("ran %v, want %q in the backup container", ex, tt.wantCmd)
				}
			}
			if seen.kinds() != tt.wantKinds {
				t.Errorf("events = %s, want %s", seen.kinds(), tt.wantKinds)
			}
			if err == nil && fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("result = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBackupExecRunsInTheBackupServiceContainer(t *testing.T) {
	c := backupCluster(t)
	containers, _ := c.Containers(context.Background(), "backups_example_org")
	if len(containers) != 1 {
		t.Fatalf("containers = %v", containers)
	}
	svc, err := FindBackupService(context.Background(), c, "default")
	if err != nil || svc.ContainerID != containers[0].ID || svc.Name != "backups_example_org_app" || svc.Stack != "backups_example_org" {
		t.Fatalf("FindBackupService = %+v, %v; want container %s", svc, err, containers[0].ID)
	}
}

func TestBackupEventsSplitAcrossWrites(t *testing.T) {
	c := backupCluster(t)
	out := `{"time":"2026-12-01T10:00:00Z","event":"step","step":"a"}` + "\n\n" +
		`{"time":"2026-12-01T10:00:01Z","event":"result","data":{"snapshot_id":"s9","services":["db"]}}`
	c.ExecFunc = func(o swarm.ExecOptions) (int, error) {
		for i := 0; i < len(out); i += 7 { // writes cut lines anywhere; the last line has no newline
			_, _ = io.WriteString(o.Stdout, out[i:min(i+7, len(out))])
		}
		return 0, nil
	}
	var seen events
	res, err := (&Backups{Cluster: c, Observer: &seen}).Create(context.Background(), testApp(t), CreateBackupOptions{})
	if err != nil || res.SnapshotID != "s9" || seen.kinds() != "step,result" {
		t.Fatalf("res = %+v, err = %v, events = %s", res, err, seen.kinds())
	}
	if seen[0].Step != "a" || seen[0].Time.Second() != 0 || string(seen[0].Raw) != `{"time":"2026-12-01T10:00:00Z","event":"step","step":"a"}` {
		t.Errorf("first event = %+v (raw %s)", seen[0], seen[0].Raw)
	}
}

func TestBackupListRestoreVerify(t *testing.T) {
	ctx := context.Background()
	c := backupCluster(t)
	a := testApp(t)
	b := &Backups{Cluster: c}

	c.ExecFunc = script(0, "", `{"time":"2026-12-01T10:00:00Z","event":"result","data":{"snapshots":[`+
		`{"id":"ffff2","short_id":"ff2","time":"2026-12-02T10:00:00Z","app":"app_example_org","services":["db"],"tags":["pre-upgrade","from:1.0.0"]},`+
		`{"id":"ffff1","short_id":"ff1","time":"2026-12-01T10:00:00Z","app":"app_example_org","services":["db"],"tags":["pre-upgrade","from:0.9.0"]},`+
		`{"id":"ffff3","short_id":"ff3","time":"2026-12-03T10:00:00Z","app":"app_example_org","services":["db"],"tags":[]}]}}`)
	snaps, err := b.List(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range snaps {
		ids = append(ids, s.ShortID)
	}
	if !slices.Equal(ids, []string{"ff1", "ff2", "ff3"}) {
		t.Fatalf("snapshots = %v, want oldest first", ids)
	}
	for _, tt := range []struct {
		tags []string
		want string
	}{
		{nil, "ff3"},
		{[]string{"pre-upgrade"}, "ff2"},
		{PreUpgradeTags("0.9.0"), "ff1"},
		{PreUpgradeTags("2.0.0"), ""},
	} {
		s, ok := Latest(snaps, tt.tags...)
		if s.ShortID != tt.want || ok != (tt.want != "") {
			t.Errorf("Latest(%v) = %s %v, want %q", tt.tags, s.ShortID, ok, tt.want)
		}
	}
	if ex := execs(c); !strings.HasSuffix(ex[0], " /backupbot ls --app app_example_org --json") {
		t.Errorf("ls ran %q", ex[0])
	}

	c.ExecFunc = script(0, "", `{"time":"2026-12-01T10:00:00Z","event":"result","data":{"snapshot_id":"ff2","safety_snapshot_id":"ff4","services":["db"]}}`)
	res, err := b.Restore(ctx, a, RestoreOptions{Service: "db", Snapshot: "ff2"})
	if err != nil || res.SafetySnapshotID != "ff4" || res.SnapshotID != "ff2" {
		t.Fatalf("Restore = %+v, %v", res, err)
	}
	if ex := execs(c); !strings.HasSuffix(ex[1], " /backupbot restore --app app_example_org --service db --snapshot ff2 --json") {
		t.Errorf("restore ran %q", ex[1])
	}

	c.ExecFunc = script(0, "", `{"time":"2026-12-01T10:00:00Z","event":"result","data":{"snapshot_id":"ff3","files":4,"bytes":100,"ok":true}}`)
	if v, err := b.Verify(ctx, a, ""); err != nil || !v.OK || v.Files != 4 {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	c.ExecFunc = script(0, "", `{"time":"2026-12-01T10:00:00Z","event":"result","data":{"snapshot_id":"ff3","files":4,"bytes":100,"ok":false}}`)
	if _, err := b.Verify(ctx, a, "ff3"); err == nil || !strings.Contains(err.Error(), "snapshot ff3 did not verify") {
		t.Fatalf("a result with ok=false must fail: %v", err)
	}
	c.ExecFunc = script(1, "", `{"time":"2026-12-01T10:00:00Z","event":"error","message":"pack 3f2a…: ciphertext verification failed"}`)
	if _, err := b.Verify(ctx, a, ""); err == nil || !strings.Contains(err.Error(), "verify backup of app.example.org: pack 3f2a…: ciphertext verification failed (exit 1)") {
		t.Fatalf("verify failure: %v", err)
	}
}

func TestBackupDownload(t *testing.T) {
	ctx := context.Background()
	c := backupCluster(t)
	b := &Backups{Cluster: c}
	var gotCmd []string
	c.ExecFunc = func(o swarm.ExecOptions) (int, error) {
		gotCmd = o.Cmd
		_, _ = o.Stdout.Write([]byte("TAR\x00BYTES"))
		fmt.Fprintln(o.Stderr, "restoring snapshot ff3")
		return 0, nil
	}
	var out, logs bytes.Buffer
	b.Logs = &logs
	err := b.Download(ctx, testApp(t), DownloadOptions{Snapshot: "ff3", Volumes: true, Secrets: true, IncludePaths: []string{"/a", "/b"}}, &out)
	if err != nil || out.String() != "TAR\x00BYTES" || logs.String() != "restoring snapshot ff3\n" {
		t.Fatalf("Download: %v, out %q, logs %q", err, out.String(), logs.String())
	}
	if want := "/backupbot download --app app_example_org --snapshot ff3 --volumes --secrets --include-path /a --include-path /b"; strings.Join(gotCmd, " ") != want {
		t.Errorf("ran %q, want %q", strings.Join(gotCmd, " "), want)
	}
	c.ExecFunc = script(1, "restic: no matching ID found for prefix \"zz\"\n")
	if err := b.Download(ctx, testApp(t), DownloadOptions{Snapshot: "zz"}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), `download backup of app.example.org: restic: no matching ID found for prefix "zz" (exit 1)`) {
		t.Fatalf("download failure: %v", err)
	}
}

func TestNeedsPreUpgradeBackup(t *testing.T) {
	ctx := context.Background()
	c := backupCluster(t)
	if need, warn, err := NeedsPreUpgradeBackup(ctx, c, testApp(t)); !need || warn != nil || err != nil {
		t.Fatalf("backups enabled, service running: %v %v %v", need, warn, err)
	}
	svcs, _ := c.Services(ctx, "backups_example_org")
	_ = c.RemoveService(ctx, svcs[0].ID)
	need, warn, err := NeedsPreUpgradeBackup(ctx, c, testApp(t))
	if need || err != nil || !errors.Is(warn, ErrNoBackupService) || !strings.Contains(hint.Of(warn), "abra app new backup-bot") || !strings.Contains(warn.Error(), "db has backupbot.backup=true") {
		t.Fatalf("backups enabled, no backup service: %v %v %v (hint %q)", need, warn, err, hint.Of(warn))
	}
	plain := swarmtest.New()
	addService(t, plain, "app_example_org", "app", 1)
	if need, warn, err := NeedsPreUpgradeBackup(ctx, plain, testApp(t)); need || warn != nil || err != nil {
		t.Fatalf("backups not enabled: %v %v %v", need, warn, err)
	}
}

func TestBackupListServerAsksForEveryAppsSnapshotsOnce(t *testing.T) {
	c := backupCluster(t)
	c.ExecFunc = script(0, "", `{"event":"result","data":{"snapshots":[`+
		`{"id":"b2","short_id":"b2","time":"2026-12-02T10:00:00Z","app":"blog_example_org","tags":[]},`+
		`{"id":"a1","short_id":"a1","time":"2026-12-01T10:00:00Z","app":"app_example_org","tags":[]}]}}`)
	snaps, err := (&Backups{Cluster: c}).ListServer(context.Background(), "default")
	if err != nil || len(snaps) != 2 || snaps[0].ID != "a1" || snaps[1].App != "blog_example_org" {
		t.Fatalf("ListServer = %+v, %v", snaps, err)
	}
	ex := execs(c)
	if len(ex) != 1 || !strings.Contains(ex[0], BackupBinary+" ls --all --json") || strings.Contains(ex[0], "--app") {
		t.Fatalf("execs = %v, want one 'ls --all --json' without --app", ex)
	}
}
