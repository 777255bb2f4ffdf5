package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/api/types/mount"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// fakeRestic plays restic: backups become snapshots in memory.
type fakeRestic struct {
	mu    sync.Mutex
	calls []string
	snaps []ResticSnapshot
	fail  map[string]error // by verb
	log   *[]string        // shared log of hooks and restic verbs, in order
}

func (f *fakeRestic) Run(_ context.Context, stdout io.Writer, args ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	verb := args[0]
	if strings.HasPrefix(verb, "-") {
		verb = firstArg(args)
	}
	f.calls = append(f.calls, strings.Join(args, " "))
	if f.log != nil {
		*f.log = append(*f.log, "restic "+verb)
	}
	if err := f.fail[verb]; err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			ee.Args = args
		}
		return err
	}
	switch verb {
	case "backup":
		s := ResticSnapshot{ID: fmt.Sprintf("%08d%056d", len(f.snaps)+1, 0), Time: time.Unix(int64(1000+len(f.snaps)), 0)}
		for i := 0; i < len(args); i++ {
			switch args[i] {
			case "--host":
				s.Hostname = args[i+1]
			case "--tag":
				s.Tags = append(s.Tags, args[i+1])
			case "--":
				s.Paths = args[i+1:]
			}
		}
		s.ShortID = s.ID[:8]
		f.snaps = append(f.snaps, s)
		fmt.Fprintf(stdout, `{"message_type":"status","percent_done":0.5}`+"\n")
		fmt.Fprintf(stdout, `{"message_type":"summary","snapshot_id":%q,"files_new":2,"data_added":10,"total_files_processed":2}`+"\n", s.ID)
	case "snapshots":
		return json.NewEncoder(stdout).Encode(f.snaps)
	case "dump":
		return &ExitError{Args: args, Code: 1, Stderr: "no such file"}
	}
	return nil
}

func (f *fakeRestic) verbs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, firstArg(strings.Fields(c)))
	}
	return out
}

type rig struct {
	bot    *Bot
	fake   *swarmtest.Cluster
	restic *fakeRestic
	data   string
	log    []string
	mu     sync.Mutex
	events bytes.Buffer
	// hook plays the hooks: its exit code per command, and what the dump writes.
	exit map[string]int
	dump string
}

func newRig(t *testing.T, labels map[string]string) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{exit: map[string]int{}, dump: "dump"}
	r.data = filepath.Join(dir, "app_example_org_data", "_data")
	if err := os.MkdirAll(r.data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.data, "file"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.fake = swarmtest.New()
	l := map[string]string{swarm.StackLabel: "app_example_org", LabelBackup: "true"}
	for k, v := range labels {
		l[k] = v
	}
	two := uint64(2)
	if _, _, err := r.fake.CreateService(context.Background(), mobyswarm.ServiceSpec{
		Annotations: mobyswarm.Annotations{Name: "app_example_org_app", Labels: l},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: "app_example_org_data", Target: "/data"}}}},
		Mode: mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &two}},
	}, false); err != nil {
		t.Fatal(err)
	}
	r.fake.ExecFunc = func(o swarm.ExecOptions) (int, error) {
		cmd := o.Cmd[len(o.Cmd)-1]
		r.mu.Lock()
		defer r.mu.Unlock()
		r.log = append(r.log, "hook "+cmd)
		if cmd == "dump" {
			if err := os.WriteFile(filepath.Join(r.data, "dump.sql"), []byte(r.dump), 0o644); err != nil {
				return -1, err
			}
		}
		fmt.Fprintf(o.Stderr, "output of %s", cmd)
		return r.exit[cmd], nil
	}
	r.restic = &fakeRestic{fail: map[string]error{}, log: &r.log}
	r.bot = &Bot{Cluster: r.fake, Restic: &Restic{Runner: r.restic}, Reporter: JSONLines(&r.events),
		VolumeRoot: dir, StateDir: filepath.Join(dir, "state"), ScratchDir: dir,
		Poll: time.Millisecond, ContainerWait: 20 * time.Millisecond, StopTimeout: time.Second, StartTimeout: time.Second}
	return r
}

func (r *rig) hooks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

func TestCreateFailures(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		setup  func(r *rig)
		is     error
		want   string   // substring of the error
		log    []string // hooks and restic verbs in order
	}{
		{name: "pre-hook exits non-zero: no backup, post-hook still runs",
			labels: map[string]string{LabelPreHook: "dump", LabelPostHook: "post"},
			setup:  func(r *rig) { r.exit["dump"] = 3 },
			is:     ErrHookFailed, want: `service app: backup pre-hook "dump" exited 3: output of dump`,
			log: []string{"restic snapshots", "hook dump", "hook post"}},
		{name: "post-hook exits non-zero after the snapshot",
			labels: map[string]string{LabelPostHook: "post"},
			setup:  func(r *rig) { r.exit["post"] = 1 },
			is:     ErrHookFailed, want: `backup post-hook "post" exited 1`,
			log: []string{"restic backup", "hook post"}}, // no pre-hook: no previous manifest read from the repository
		{name: "empty dump",
			labels: map[string]string{LabelPreHook: "dump"},
			setup:  func(r *rig) { r.dump = "" },
			is:     ErrEmptyDump, want: "dump.sql (0 bytes)",
			log: []string{"restic snapshots", "hook dump"}},
		{name: "no running container within the bound",
			labels: map[string]string{LabelPreHook: "dump"},
			setup: func(r *rig) {
				svcs, _ := r.fake.Services(context.Background(), "app_example_org")
				zero := uint64(0)
				spec := svcs[0].Spec
				spec.Mode.Replicated = &mobyswarm.ReplicatedService{Replicas: &zero}
				_, _ = r.fake.UpdateService(context.Background(), svcs[0], spec, false)
			},
			is: ErrNotRunning, want: "service app: no running container after 20ms"},
		{name: "restic cannot read every file",
			setup: func(r *rig) {
				r.restic.fail["backup"] = &ExitError{Code: resticExitIncomplete, Stderr: "permission denied"}
			},
			want: "snapshot  is incomplete"},
		{name: "nothing but empty files",
			setup: func(r *rig) { _ = os.WriteFile(filepath.Join(r.data, "file"), nil, 0o644) },
			is:    ErrEmptyDump, want: "nothing to back up"},
		{name: "volume missing on this node",
			setup: func(r *rig) { _ = os.RemoveAll(r.data) },
			want:  "service app: volume path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.labels)
			if tt.setup != nil {
				tt.setup(r)
			}
			_, err := r.bot.Create(context.Background(), CreateOptions{App: "app_example_org"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.is)
			}
			if tt.log != nil && !slices.Equal(r.hooks(), tt.log) {
				t.Fatalf("log = %v, want %v", r.hooks(), tt.log)
			}
		})
	}
}

func TestCreateTagsAndEvents(t *testing.T) {
	r := newRig(t, map[string]string{LabelPreHook: "dump", LabelPostHook: "post"})
	res, err := r.bot.Create(context.Background(), CreateOptions{App: "app_example_org", Tags: []string{"pre-upgrade", "from:1.0.0+1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.hooks(), []string{"restic snapshots", "hook dump", "restic backup", "hook post"}) {
		t.Fatalf("log = %v", r.hooks())
	}
	snap := r.restic.snaps[0]
	wantTags := []string{"coop-cloud", "app:app_example_org", "service:app", "pre-upgrade", "from:1.0.0+1"}
	if snap.Hostname != "app_example_org" || !slices.Equal(snap.Tags, wantTags) {
		t.Fatalf("snapshot host %q tags %v, want app_example_org %v", snap.Hostname, snap.Tags, wantTags)
	}
	if !slices.Equal(snap.Paths, []string{r.data, r.bot.ManifestPath("app_example_org")}) {
		t.Fatalf("paths = %v", snap.Paths)
	}
	if res.Files != 2 || res.Bytes != int64(len("data")+len("dump")) || res.SnapshotID != snap.ID {
		t.Fatalf("result = %+v", res)
	}
	// Every line is a JSON event with a known kind; hooks are reported.
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(r.events.String()), "\n") {
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Time.IsZero() {
			t.Fatalf("line %q: %v", line, err)
		}
		kinds = append(kinds, e.Event)
	}
	if !slices.Contains(kinds, EventHook) || !slices.Contains(kinds, EventStep) {
		t.Fatalf("event kinds = %v", kinds)
	}
}

func TestRestoreOrderAndGoingBack(t *testing.T) {
	r := newRig(t, map[string]string{LabelRestorePreHook: "rpre", LabelRestorePostHook: "rpost"})
	ctx := context.Background()
	// A service without backups stops and starts with the app too.
	one := uint64(1)
	if _, _, err := r.fake.CreateService(ctx, mobyswarm.ServiceSpec{
		Annotations: mobyswarm.Annotations{Name: "app_example_org_web", Labels: map[string]string{swarm.StackLabel: "app_example_org"}},
		Mode:        mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}},
	}, false); err != nil {
		t.Fatal(err)
	}
	first, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"})
	if err != nil {
		t.Fatal(err)
	}
	r.log = nil
	r.fake.Calls = nil
	res, err := r.bot.Restore(ctx, RestoreOptions{App: "app_example_org"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"restic snapshots", "restic backup", "hook rpre", "restic restore", "hook rpost"}
	if got := slices.DeleteFunc(r.hooks(), func(s string) bool { return s == "restic snapshots" }); !slices.Equal(got, want[1:]) {
		t.Fatalf("log = %v, want %v", r.hooks(), want)
	}
	var updates []string
	for _, c := range r.fake.Calls {
		if strings.HasPrefix(c, "update") {
			updates = append(updates, c)
		}
	}
	want = []string{"update service app_example_org_app", "update service app_example_org_web", "update service app_example_org_app", "update service app_example_org_web"}
	if !slices.Equal(updates, want) {
		t.Fatalf("updates = %v, want every service of the app scaled down and up", updates)
	}
	svcs, _ := r.fake.Services(ctx, "app_example_org")
	if a, w := *svcs[0].Spec.Mode.Replicated.Replicas, *svcs[1].Spec.Mode.Replicated.Replicas; a != 2 || w != 1 {
		t.Fatalf("replicas after restore = %d, %d, want 2, 1", a, w)
	}
	safety := r.restic.snaps[1]
	if res.SnapshotID != first.SnapshotID || res.SafetySnapshotID != safety.ID || !slices.Contains(safety.Tags, TagSafety) {
		t.Fatalf("result = %+v, safety tags %v", res, safety.Tags)
	}
	if res.GoBack != "abra app restore <domain> --snapshot "+safety.ID[:8] {
		t.Fatalf("go back = %q", res.GoBack)
	}
	restoreCall := r.restic.calls[slices.IndexFunc(r.restic.calls, func(c string) bool { return strings.HasPrefix(c, "restore") })]
	if !strings.Contains(restoreCall, first.SnapshotID+":"+r.data+" --target "+r.data+" --delete") {
		t.Fatalf("restore call = %q, want the volume path restored onto itself with --delete", restoreCall)
	}
}

func TestRestoreFailureScalesBackAndNamesTheSafetySnapshot(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	if _, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	r.restic.fail["restore"] = &ExitError{Code: 1, Stderr: "disk full"}
	_, err := r.bot.Restore(ctx, RestoreOptions{App: "app_example_org"})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	safety := r.restic.snaps[1].ID[:8]
	if h := hint.Of(err); !strings.Contains(h, "abra app restore <domain> --snapshot "+safety) {
		t.Fatalf("hint = %q, want the way back to %s", h, safety)
	}
	svcs, _ := r.fake.Services(ctx, "app_example_org")
	if n := *svcs[0].Spec.Mode.Replicated.Replicas; n != 2 {
		t.Fatalf("replicas after a failed restore = %d, want 2", n)
	}
}

func TestRestoreWithoutSnapshot(t *testing.T) {
	r := newRig(t, nil)
	_, err := r.bot.Restore(context.Background(), RestoreOptions{App: "app_example_org"})
	if !errors.Is(err, ErrNoSnapshot) || len(r.fake.Calls) != 1 {
		t.Fatalf("err = %v, calls %v; want ErrNoSnapshot and nothing touched", err, r.fake.Calls)
	}
}

func TestVerifyFailsWhenCheckFails(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	if _, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	r.restic.fail["check"] = &ExitError{Code: 1, Stderr: `{"message_type":"error","message":"pack 1234 damaged"}`}
	_, err := r.bot.Verify(ctx, "app_example_org", "")
	if err == nil || !strings.Contains(err.Error(), "check repository: repository check failed: restic check: exit status 1: pack 1234 damaged") {
		t.Fatalf("err = %v", err)
	}
}

func TestAppSnapshotsIncludesBackupBotTwoHistory(t *testing.T) {
	r := newRig(t, nil)
	root := r.bot.VolumeRoot
	r.restic.snaps = []ResticSnapshot{
		{ID: "aaaaaaaa1", Time: time.Unix(1, 0), Hostname: "backupbot-xyz", Tags: []string{"coop-cloud"}, Paths: []string{root + "/app_example_org_data/_data"}},
		{ID: "bbbbbbbb2", Time: time.Unix(2, 0), Hostname: "other", Paths: []string{root + "/other_app_data/_data"}},
		{ID: "cccccccc3", Time: time.Unix(3, 0), Hostname: "app_example_org", Tags: []string{"coop-cloud", "safety"}},
	}
	snaps, err := r.bot.AppSnapshots(context.Background(), "app_example_org")
	if err != nil || len(snaps) != 2 || snaps[0].ShortID != "aaaaaaaa" {
		t.Fatalf("snapshots = %+v, %v", snaps, err)
	}
	latest, err := r.bot.FindSnapshot(context.Background(), "app_example_org", "")
	if err != nil || latest.ID != "aaaaaaaa1" {
		t.Fatalf("latest = %+v, %v; want the newest that is not a safety snapshot", latest, err)
	}
}

func TestNotifications(t *testing.T) {
	var mu sync.Mutex
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		hits = append(hits, req.Method+" "+req.URL.Path)
		mu.Unlock()
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name string
		fail bool
		want []string
	}{
		{"success", false, []string{"GET /start", "GET /ok"}},
		{"failure", true, []string{"GET /start", "GET /fail"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits = nil
			r := newRig(t, nil)
			r.bot.Notifier = &Notifier{Start: srv.URL + "/start", Success: srv.URL + "/ok", Fail: srv.URL + "/fail"}
			if tc.fail {
				r.restic.fail["backup"] = &ExitError{Code: 1, Stderr: "boom"}
			}
			_, err := r.bot.Create(context.Background(), CreateOptions{App: "app_example_org"})
			if (err != nil) != tc.fail {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(hits, tc.want) {
				t.Fatalf("hits = %v, want %v", hits, tc.want)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		err  string
		chk  func(t *testing.T, c Config)
	}{
		{name: "defaults", chk: func(t *testing.T, c Config) {
			if c.Schedule != "30 3 * * *" || c.Keep != (Retention{7, 4, 6}) || c.MinSizeRatio != 0.5 || c.ContainerWait != 30*time.Second {
				t.Fatalf("%+v", c)
			}
			if !slices.Contains(c.ResticEnv, "RESTIC_PASSWORD_FILE=/run/secrets/restic_password") {
				t.Fatalf("restic env %v", c.ResticEnv)
			}
		}},
		{name: "set", env: map[string]string{"KEEP_DAILY": "0", "KEEP_WEEKLY": "0", "KEEP_MONTHLY": "0", "MIN_SIZE_RATIO": "-1", "RESTIC_PASSWORD": "x", "VERIFY_AFTER_BACKUP": "true"},
			chk: func(t *testing.T, c Config) {
				if !c.Keep.Empty() || c.MinSizeRatio != -1 || len(c.ResticEnv) != 1 || !c.VerifyAfter {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "bad keep", env: map[string]string{"KEEP_DAILY": "x"}, err: `KEEP_DAILY="x"`},
		{name: "bad ratio", env: map[string]string{"MIN_SIZE_RATIO": "2"}, err: "MIN_SIZE_RATIO"},
		{name: "bad wait", env: map[string]string{"CONTAINER_WAIT": "soon"}, err: "CONTAINER_WAIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.chk(t, c)
		})
	}
}

func TestRunAllContinuesPastAFailingAppAndAppliesRetention(t *testing.T) {
	r := newRig(t, nil)
	// A second app whose labels are broken.
	if _, _, err := r.fake.CreateService(context.Background(), mobyswarm.ServiceSpec{
		Annotations: mobyswarm.Annotations{Name: "broken_app", Labels: map[string]string{swarm.StackLabel: "broken", LabelBackup: "true"}},
	}, false); err != nil {
		t.Fatal(err)
	}
	res, err := r.bot.RunAll(context.Background(), Retention{Daily: 3}, false)
	if err == nil || res.Failed["broken"] == "" || res.Snapshots["app_example_org"] == "" {
		t.Fatalf("RunAll = %+v, %v", res, err)
	}
	forget := r.restic.calls[len(r.restic.calls)-1]
	if !strings.HasPrefix(forget, "forget") || !strings.Contains(forget, "--prune") || !strings.Contains(forget, "--keep-daily 3") || !strings.Contains(forget, "--tag coop-cloud") || !strings.Contains(forget, "--group-by host,paths,tags") {
		t.Fatalf("last restic call = %q", forget)
	}
}

func TestRestoreOfAFilePathRestoresJustThatFile(t *testing.T) {
	r := newRig(t, map[string]string{LabelVolumesPrefix + "data.path": "file"})
	ctx := context.Background()
	if _, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.bot.Restore(ctx, RestoreOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(r.data, "file")
	want := "restore --json --retry-lock 5m0s " + r.restic.snaps[0].ID + " --target / --include " + file
	if !slices.Contains(r.restic.calls, want) {
		t.Fatalf("restic calls = %q, want %q", r.restic.calls, want)
	}
}

func TestBackupsOfOneAppWaitForEachOther(t *testing.T) {
	r := newRig(t, nil)
	unlock, err := r.bot.lock(context.Background(), "app_example_org")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Create while another holds the lock = %v, want it to wait until the deadline", err)
	}
	if !strings.Contains(r.events.String(), "waiting for another backup or restore of app_example_org") {
		t.Fatalf("events = %s", r.events.String())
	}
	unlock()
	if _, err := r.bot.Create(context.Background(), CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatalf("Create after the lock was released: %v", err)
	}
}

func TestDownloadSecretsOfTheRunningServices(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	cs, _ := r.fake.Containers(ctx, "app_example_org")
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	for _, f := range []struct{ name, body string }{{"secrets/", ""}, {"secrets/db_password", "hunter2"}} {
		h := &tar.Header{Name: f.name, Mode: 0o400, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		_ = tw.WriteHeader(h)
		_, _ = tw.Write([]byte(f.body))
	}
	_ = tw.Close()
	if err := r.fake.CopyTo(ctx, cs[0].ID, "/run/secrets", &in); err != nil {
		t.Fatal(err)
	}
	if _, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := r.bot.Download(ctx, DownloadOptions{App: "app_example_org", Secrets: true}, &out); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&out)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
	}
	if got["secrets/app/db_password"] != "hunter2" {
		t.Fatalf("tar entries = %v, want secrets/app/db_password", got)
	}
}

func TestDaemonBacksUpOnScheduleAndStopsWithTheContext(t *testing.T) {
	r := newRig(t, nil)
	r.restic.fail["cat"] = &ExitError{Code: resticExitNoRepo, Stderr: "repository does not exist"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.bot.Daemon(ctx, DaemonOptions{Schedule: "@every 1s", Keep: Retention{Daily: 1}}) }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !slices.Contains(r.restic.verbs(), "forget") {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the daemon did not stop with its context")
	}
	verbs := r.restic.verbs()
	if len(verbs) < 4 || !slices.Equal(verbs[:3], []string{"cat", "init", "backup"}) || !slices.Contains(verbs, "forget") {
		t.Fatalf("restic verbs = %v, want the missing repository created at start, then a backup and retention", verbs)
	}
	if err := r.bot.Daemon(context.Background(), DaemonOptions{Schedule: "every night"}); err == nil || !strings.Contains(err.Error(), `schedule "every night"`) {
		t.Fatalf("bad schedule: %v", err)
	}
}

func TestRestoreOfOneServiceStopsOnlyThatService(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	one := uint64(1)
	if _, _, err := r.fake.CreateService(ctx, mobyswarm.ServiceSpec{
		Annotations: mobyswarm.Annotations{Name: "app_example_org_web", Labels: map[string]string{swarm.StackLabel: "app_example_org"}},
		Mode:        mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}},
	}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	r.fake.Calls = nil
	res, err := r.bot.Restore(ctx, RestoreOptions{App: "app_example_org", Service: "app"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.fake.Calls {
		if strings.Contains(c, "_web") {
			t.Fatalf("restore of service app touched web: %v", r.fake.Calls)
		}
	}
	if !strings.HasPrefix(res.GoBack, "abra app restore <domain> app --snapshot ") {
		t.Fatalf("go back = %q", res.GoBack)
	}
}

func TestRestoreBringsBackAnAppThatIsDown(t *testing.T) {
	r := newRig(t, map[string]string{LabelPreHook: "dump", LabelRestorePreHook: "rpre", LabelRestorePostHook: "rpost"})
	ctx := context.Background()
	if _, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	// A post-hook without a pre-hook is skipped too when the app is down.
	svcs, _ := r.fake.Services(ctx, "app_example_org")
	spec := svcs[0].Spec
	delete(spec.Labels, LabelPreHook)
	spec.Labels[LabelPostHook] = "post"
	if _, err := r.fake.UpdateService(ctx, svcs[0], spec, false); err != nil {
		t.Fatal(err)
	}
	// The app is down (scaled to 0: no running container) and lost its volume.
	svcs, _ = r.fake.Services(ctx, "app_example_org")
	zero := uint64(0)
	spec = svcs[0].Spec
	spec.Mode.Replicated = &mobyswarm.ReplicatedService{Replicas: &zero}
	if _, err := r.fake.UpdateService(ctx, svcs[0], spec, false); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(r.data); err != nil {
		t.Fatal(err)
	}
	r.log = nil
	res, err := r.bot.Restore(ctx, RestoreOptions{App: "app_example_org"})
	if err != nil {
		t.Fatal(err)
	}
	// No hook could run: the app stays as it was, down.
	if got := slices.DeleteFunc(r.hooks(), func(s string) bool { return strings.HasPrefix(s, "restic") }); len(got) != 0 {
		t.Fatalf("hooks = %v", got)
	}

	if res.SafetySnapshotID == "" {
		t.Fatal("no safety snapshot")
	}
	for _, want := range []string{"backup post-hook skipped", "restore pre-hook skipped", "restore post-hook skipped", "does not exist yet"} {
		if !strings.Contains(r.events.String(), want) {
			t.Errorf("no warning %q in %s", want, r.events.String())
		}
	}
}

// slowDump answers "dump --archive tar" with a one-file tar stream followed
// by more padding, written after a pause, as restic does; it records when it
// has returned (restic removes its repository lock only then).
type slowDump struct {
	*fakeRestic
	returned atomic.Bool
}

func (s *slowDump) Run(ctx context.Context, stdout io.Writer, args ...string) error {
	if !slices.Contains(args, "--archive") {
		return s.fakeRestic.Run(ctx, stdout, args...)
	}
	defer s.returned.Store(true)
	tw := tar.NewWriter(stdout)
	_ = tw.WriteHeader(&tar.Header{Name: "data/file", Mode: 0o644, Size: 4, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("data"))
	if err := tw.Close(); err != nil {
		return err
	}
	time.Sleep(50 * time.Millisecond)
	_, err := stdout.Write(make([]byte, 10240))
	return err
}

func TestDownloadWaitsForResticToExit(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	if _, err := r.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	dump := &slowDump{fakeRestic: r.restic}
	r.bot.Restic.Runner = dump
	var out bytes.Buffer
	if err := r.bot.Download(ctx, DownloadOptions{App: "app_example_org"}, &out); err != nil {
		t.Fatal(err)
	}
	if !dump.returned.Load() {
		t.Fatal("Download returned while restic dump was still running (its lock would be left behind)")
	}
	h, err := tar.NewReader(&out).Next()
	if err != nil || h.Name != "data/file" {
		t.Fatalf("downloaded tar: %v, %v", h, err)
	}
}

func TestAllSnapshotsListsEveryAppByItsTag(t *testing.T) {
	r := newRig(t, nil)
	r.restic.snaps = []ResticSnapshot{
		{ID: "3", ShortID: "3", Time: time.Unix(30, 0), Tags: []string{TagCoopCloud, tagApp + "blog_example_org", tagService + "app"}},
		{ID: "1", ShortID: "1", Time: time.Unix(10, 0), Tags: []string{TagCoopCloud, tagApp + "app_example_org", TagSafety}},
		{ID: "2", ShortID: "2", Time: time.Unix(20, 0), Hostname: "someone-else", Tags: []string{"manual"}},
	}
	snaps, err := r.bot.AllSnapshots(context.Background())
	if err != nil || len(snaps) != 2 || snaps[0].App != "app_example_org" || snaps[1].App != "blog_example_org" ||
		!slices.Equal(snaps[1].Services, []string{"app"}) || !snaps[0].HasTag(TagSafety) {
		t.Fatalf("AllSnapshots = %+v, %v", snaps, err)
	}
}
