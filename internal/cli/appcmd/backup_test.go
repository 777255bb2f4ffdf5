package appcmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	mobyswarm "github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
	"coopcloud.tech/abra/internal/ui"
)

// backupFixture is an ABRA_DIR with the app app.example.org on server
// "default", a fake swarm with the app deployed (backups on its app service)
// and a running backup service.
type backupFixture struct {
	dir      string
	cluster  *swarmtest.Cluster
	f        *command.Factory
	out, err bytes.Buffer
}

func newBackupFixture(t *testing.T) *backupFixture {
	t.Helper()
	fx := &backupFixture{dir: t.TempDir(), cluster: swarmtest.New()}
	writeTestFile(t, filepath.Join(fx.dir, "servers", "default", "app.example.org.env"), "TYPE=web:1.0.0+1\nDOMAIN=app.example.org\n")
	fx.f = &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &fx.out, Err: &fx.err}, AbraDir: fx.dir, Offline: true,
		Connect: func(context.Context, string) (swarm.Cluster, error) { return fx.cluster, nil }}
	fx.addService(t, "backups_example_org_app", app.BackupServiceLabel+"=true")
	return fx
}

func (fx *backupFixture) addService(t *testing.T, name string, labels ...string) {
	t.Helper()
	stack, _, _ := strings.Cut(name, "_app")
	l := map[string]string{swarm.StackLabel: stack}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		l[k] = v
	}
	one := uint64(1)
	spec := mobyswarm.ServiceSpec{Annotations: mobyswarm.Annotations{Name: name, Labels: l},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Image: "img:1"}},
		Mode:         mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}}}
	if _, _, err := fx.cluster.CreateService(context.Background(), spec, false); err != nil {
		t.Fatal(err)
	}
}

func (fx *backupFixture) removeService(t *testing.T, name string) {
	t.Helper()
	svcs, _ := fx.cluster.Services(context.Background(), "")
	for _, s := range svcs {
		if s.Spec.Name == name {
			if err := fx.cluster.RemoveService(context.Background(), s.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// run executes a command with the fixture's factory; stdout and stderr start empty.
func (fx *backupFixture) run(cmd *cobra.Command, args ...string) error {
	fx.out.Reset()
	fx.err.Reset()
	cmd.SetArgs(args)
	cmd.SetOut(&fx.out)
	cmd.SetErr(&fx.err)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(context.Background())
}

// backupbot plays the backup service: each verb answers with its lines and exit code.
type backupbot struct {
	replies map[string]reply
	ran     []string
}

type reply struct {
	code   int
	stdout []string
	stderr string
}

func (b *backupbot) exec(o swarm.ExecOptions) (int, error) {
	b.ran = append(b.ran, strings.Join(o.Cmd, " "))
	if len(o.Cmd) < 2 || o.Cmd[0] != app.BackupBinary {
		return 127, nil
	}
	r, ok := b.replies[o.Cmd[1]]
	if !ok {
		return 2, fmt.Errorf("unexpected verb %s", o.Cmd[1])
	}
	for _, l := range r.stdout {
		fmt.Fprintln(o.Stdout, l)
	}
	fmt.Fprint(o.Stderr, r.stderr)
	return r.code, nil
}

func result(data string) string {
	return `{"time":"2026-12-01T10:00:09Z","event":"result","data":` + data + `}`
}

const snapshotsJSON = `{"snapshots":[` +
	`{"id":"aaaa1111","short_id":"aaaa11","time":"2026-12-01T10:00:00Z","app":"app_example_org","services":["app"],"tags":["pre-upgrade","from:0.9.0+1"],"paths":["/p"]},` +
	`{"id":"bbbb2222","short_id":"bbbb22","time":"2026-12-02T10:00:00Z","app":"app_example_org","services":["app"],"tags":[],"paths":["/p"]}]}`

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBackupCommandsParseOptions(t *testing.T) {
	f := &command.Factory{}
	tests := []struct {
		name string
		cmd  func(got *any) *cobra.Command
		args []string
		want string
	}{
		{"create with a service and tags", func(got *any) *cobra.Command {
			return newBackupCreateCmd(f, func(_ context.Context, o *backupCreateOptions) error { *got = *o; return nil })
		}, []string{"a.example.org", "db", "-t", "x", "--tag", "y", "--json"},
			"domain=a.example.org service=db tags=[x y] json=true"},
		{"ls --machine", func(got *any) *cobra.Command {
			return newBackupListCmd(f, func(_ context.Context, o *backupListOptions) error { *got = *o; return nil })
		}, []string{"a.example.org", "-m"}, "domain=a.example.org json=true"},
		{"download everything", func(got *any) *cobra.Command {
			return newBackupDownloadCmd(f, func(_ context.Context, o *backupDownloadOptions) error { *got = *o; return nil })
		}, []string{"a.example.org", "-s", "ab12", "-v", "-c", "-i", "/x", "--include-path", "/y", "-O", "-"},
			"domain=a.example.org output=- opts={Snapshot:ab12 Volumes:true Secrets:true IncludePaths:[/x /y]}"},
		{"verify a snapshot", func(got *any) *cobra.Command {
			return newBackupVerifyCmd(f, func(_ context.Context, o *backupVerifyOptions) error { *got = *o; return nil })
		}, []string{"a.example.org", "--snapshot", "ab12"}, "domain=a.example.org snapshot=ab12 json=false"},
		{"restore a service", func(got *any) *cobra.Command {
			return newRestoreCmd(f, func(_ context.Context, o *restoreOptions) error { *got = *o; return nil })
		}, []string{"a.example.org", "db", "-s", "ab12", "-f"}, "domain=a.example.org opts={Service:db Snapshot:ab12} force=true json=false"},
		{"upgrade --no-backup", func(got *any) *cobra.Command {
			return newUpgradeCmd(f, func(_ context.Context, o *upgradeOptions) error { *got = *o; return nil })
		}, []string{"a.example.org", "--no-backup"}, "domain=a.example.org noBackup=true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			cmd := tt.cmd(&got)
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			s := fmt.Sprintf("%+v", got)
			for _, part := range strings.Fields(tt.want) {
				if k, v, _ := strings.Cut(part, "="); !strings.Contains(s, k+":"+v) && !strings.Contains(s, part) {
					t.Errorf("options %s lack %s", s, part)
				}
			}
		})
	}
	if err := newBackupCreateCmd(f, nil).Args(newBackupCreateCmd(f, nil), nil); !errors.As(err, new(*command.UsageError)) {
		t.Errorf("create without a domain: %v, want a usage error", err)
	}
	if newRollbackCmd(f, nil).Flags().Lookup("no-backup") != nil {
		t.Error("rollback must not take --no-backup")
	}
}

func TestBackupCreateCommand(t *testing.T) {
	fx := newBackupFixture(t)
	fx.addService(t, "app_example_org_app", app.BackupLabel+"=true")
	bot := &backupbot{replies: map[string]reply{"create": {stdout: []string{
		`{"time":"2026-12-01T10:00:00Z","event":"step","step":"pre-hook","service":"app","message":"running pre-hook"}`,
		`{"time":"2026-12-01T10:00:01Z","event":"warning","message":"dump is 40% smaller than last time"}`,
		result(`{"snapshot_id":"cafe1234","services":["app"],"paths":["/p"],"files":2,"bytes":3145728}`),
	}}}}
	fx.cluster.ExecFunc = bot.exec

	if err := fx.run(newBackupCreateCmd(fx.f, nil), "app.example.org", "-t", "manual"); err != nil {
		t.Fatal(err)
	}
	if fx.out.String() != "cafe1234\n" {
		t.Errorf("stdout = %q, want the snapshot ID", fx.out.String())
	}
	wantErr := "→ app: running pre-hook\nwarning: dump is 40% smaller than last time\napp.example.org: snapshot cafe1234 of app: 2 files, 3.0 MiB\n"
	if fx.err.String() != wantErr {
		t.Errorf("stderr =\n%s\nwant\n%s", fx.err.String(), wantErr)
	}
	if want := "/backupbot create --app app_example_org --tag manual --json"; !slices.Equal(bot.ran, []string{want}) {
		t.Errorf("ran %v, want %q", bot.ran, want)
	}

	// --json: the result on stdout, the service's own lines on stderr.
	if err := fx.run(newBackupCreateCmd(fx.f, nil), "app.example.org", "--json"); err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(fx.out.Bytes(), &res); err != nil || res["snapshot_id"] != "cafe1234" || res["bytes"] != float64(3145728) {
		t.Errorf("--json stdout = %s (%v)", fx.out.String(), err)
	}
	if lines := strings.Split(strings.TrimSpace(fx.err.String()), "\n"); len(lines) != 3 || lines[0] != bot.replies["create"].stdout[0] {
		t.Errorf("--json stderr must be the JSON Lines as they came:\n%s", fx.err.String())
	}

	// A failure: exit ≠ 0 with the service's reason.
	bot.replies["create"] = reply{code: 1, stdout: []string{`{"time":"2026-12-01T10:00:00Z","event":"error","service":"app","message":"pre-hook produced an empty dump: /data/dump.sql is 0 bytes"}`}}
	err := fx.run(newBackupCreateCmd(fx.f, nil), "app.example.org")
	if err == nil || !strings.Contains(err.Error(), "backup app.example.org: service app: pre-hook produced an empty dump: /data/dump.sql is 0 bytes (exit 1)") {
		t.Fatalf("err = %v", err)
	}
	if fx.out.Len() != 0 {
		t.Errorf("a failed backup printed on stdout: %q", fx.out.String())
	}
}

func TestBackupListCommand(t *testing.T) {
	fx := newBackupFixture(t)
	bot := &backupbot{replies: map[string]reply{"ls": {stdout: []string{result(snapshotsJSON)}}}}
	fx.cluster.ExecFunc = bot.exec
	if err := fx.run(newBackupListCmd(fx.f, nil), "app.example.org"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(fx.out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "aaaa11  ") || !strings.Contains(lines[0], "pre-upgrade,from:0.9.0+1") || !strings.HasSuffix(lines[1], "app  -") {
		t.Errorf("table =\n%s", fx.out.String())
	}
	if err := fx.run(newBackupListCmd(fx.f, nil), "app.example.org", "--json"); err != nil {
		t.Fatal(err)
	}
	var snaps []map[string]any
	if err := json.Unmarshal(fx.out.Bytes(), &snaps); err != nil || len(snaps) != 2 || snaps[1]["id"] != "bbbb2222" || snaps[0]["time"] != "2026-12-01T10:00:00Z" {
		t.Errorf("--json = %s (%v)", fx.out.String(), err)
	}
	bot.replies["ls"] = reply{stdout: []string{result(`{"snapshots":[]}`)}}
	if err := fx.run(newBackupListCmd(fx.f, nil), "app.example.org", "--json"); err != nil || strings.TrimSpace(fx.out.String()) != "[]" {
		t.Errorf("no snapshots: %v %q", err, fx.out.String())
	}

	fx.removeService(t, "backups_example_org_app")
	err := fx.run(newBackupListCmd(fx.f, nil), "app.example.org")
	if !errors.Is(err, app.ErrNoBackupService) || !strings.Contains(hint.Of(err), "abra app new backup-bot") {
		t.Errorf("without a backup service: %v (hint %q)", err, hint.Of(err))
	}
}

func TestBackupDownloadCommand(t *testing.T) {
	fx := newBackupFixture(t)
	bot := &backupbot{replies: map[string]reply{
		"ls":       {stdout: []string{result(snapshotsJSON)}},
		"download": {stdout: []string{"tar bytes"}, stderr: "restoring\n"},
	}}
	fx.cluster.ExecFunc = bot.exec
	wd, _ := os.Getwd()
	t.Cleanup(func() { _ = os.Chdir(wd) })
	if err := os.Chdir(t.TempDir()); err != nil {
		t.Fatal(err)
	}

	// Default: the latest snapshot, named in the file.
	if err := fx.run(newBackupDownloadCmd(fx.f, nil), "app.example.org"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile("app.example.org-bbbb22.tar"); err != nil || string(b) != "tar bytes\n" {
		t.Fatalf("file: %q %v", b, err)
	}
	if last := bot.ran[len(bot.ran)-1]; last != "/backupbot download --app app_example_org --snapshot bbbb22" {
		t.Errorf("ran %q", last)
	}
	if !strings.Contains(fx.err.String(), "restoring\n") || !strings.Contains(fx.err.String(), "wrote app.example.org-bbbb22.tar") || fx.out.Len() != 0 {
		t.Errorf("stderr %q stdout %q", fx.err.String(), fx.out.String())
	}

	// To stdout, no listing first.
	bot.ran = nil
	if err := fx.run(newBackupDownloadCmd(fx.f, nil), "app.example.org", "-O", "-"); err != nil || fx.out.String() != "tar bytes\n" {
		t.Fatalf("stdout download: %v %q", err, fx.out.String())
	}
	if len(bot.ran) != 1 || bot.ran[0] != "/backupbot download --app app_example_org" {
		t.Errorf("ran %v", bot.ran)
	}

	// .gz is compressed.
	if err := fx.run(newBackupDownloadCmd(fx.f, nil), "app.example.org", "-s", "aaaa11", "--output", "x.tar.gz"); err != nil {
		t.Fatal(err)
	}
	zf, _ := os.Open("x.tar.gz")
	zr, err := gzip.NewReader(zf)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != "tar bytes\n" {
		t.Errorf("gunzipped %q", b)
	}
	zf.Close()

	// A failed download leaves no file behind.
	bot.replies["download"] = reply{code: 1, stdout: []string{"partial"}, stderr: "restic: snapshot zz not found\n"}
	err = fx.run(newBackupDownloadCmd(fx.f, nil), "app.example.org", "-s", "zz", "-O", "broken.tar")
	if err == nil || !strings.Contains(err.Error(), "snapshot zz not found (exit 1)") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir("."); len(entries) != 2 {
		t.Errorf("files after a failed download: %v", entries)
	}

	// No snapshot at all.
	bot.replies["ls"] = reply{stdout: []string{result(`{"snapshots":[]}`)}}
	if err := fx.run(newBackupDownloadCmd(fx.f, nil), "app.example.org"); !errors.Is(err, app.ErrNoSnapshot) || !strings.Contains(hint.Of(err), "abra app backup create app.example.org") {
		t.Errorf("no snapshots: %v", err)
	}
}

func TestBackupVerifyCommand(t *testing.T) {
	fx := newBackupFixture(t)
	bot := &backupbot{replies: map[string]reply{"verify": {stdout: []string{result(`{"snapshot_id":"bbbb2222","files":5,"bytes":1536,"ok":true}`)}}}}
	fx.cluster.ExecFunc = bot.exec
	if err := fx.run(newBackupVerifyCmd(fx.f, nil), "app.example.org", "-s", "bbbb22"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fx.err.String(), "snapshot bbbb2222 verified: 5 files, 1.5 KiB") || bot.ran[0] != "/backupbot verify --app app_example_org --snapshot bbbb22 --json" {
		t.Errorf("stderr %q, ran %v", fx.err.String(), bot.ran)
	}
	bot.replies["verify"] = reply{code: 1, stdout: []string{`{"time":"2026-12-01T10:00:00Z","event":"error","message":"repository damaged: pack 5e1f… does not match its hash"}`}}
	if err := fx.run(newBackupVerifyCmd(fx.f, nil), "app.example.org"); err == nil || !strings.Contains(err.Error(), "repository damaged") {
		t.Errorf("err = %v", err)
	}
}

func TestRestoreCommand(t *testing.T) {
	fx := newBackupFixture(t)
	fx.addService(t, "app_example_org_app", app.BackupLabel+"=true")
	bot := &backupbot{replies: map[string]reply{"restore": {stdout: []string{
		`{"time":"2026-12-01T10:00:00Z","event":"step","step":"safety snapshot"}`,
		result(`{"snapshot_id":"bbbb2222","safety_snapshot_id":"dddd4444","services":["app"]}`),
	}}}}
	fx.cluster.ExecFunc = bot.exec

	// Without a terminal and without --force it asks, so it fails naming the flag.
	err := fx.run(newRestoreCmd(fx.f, nil), "app.example.org")
	if !errors.Is(err, command.ErrNeedsInput) || !strings.Contains(err.Error(), "--force") || len(bot.ran) != 0 {
		t.Fatalf("restore without --force: %v, ran %v", err, bot.ran)
	}
	if err := fx.run(newRestoreCmd(fx.f, nil), "app.example.org", "app", "--force", "-s", "bbbb22"); err != nil {
		t.Fatal(err)
	}
	if bot.ran[0] != "/backupbot restore --app app_example_org --service app --snapshot bbbb22 --json" {
		t.Errorf("ran %v", bot.ran)
	}
	for _, want := range []string{"→ safety snapshot\n", "restored app from snapshot bbbb2222", "safety snapshot dddd4444", "abra app restore app.example.org app --snapshot dddd4444"} {
		if !strings.Contains(fx.err.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, fx.err.String())
		}
	}
	fx.f.NoInput = true // -n goes ahead too
	if err := fx.run(newRestoreCmd(fx.f, nil), "app.example.org", "--json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fx.out.String(), `"safety_snapshot_id": "dddd4444"`) {
		t.Errorf("--json = %s", fx.out.String())
	}
}

// upgradeFixture adds a git recipe "web" with releases 1.0.0+1 and 1.1.0+1
// whose app service has backups enabled, and deploys 1.0.0+1.
func upgradeFixture(t *testing.T, labels string) *backupFixture {
	t.Helper()
	fx := newBackupFixture(t)
	fx.f.NoInput = true
	repo := filepath.Join(fx.dir, "recipes", "web")
	compose := func(v, img string) string {
		return "version: \"3.8\"\nservices:\n  app:\n    image: nginx:" + img + "\n    deploy:\n      labels:\n" + labels +
			"        - \"coop-cloud.${STACK_NAME}.version=" + v + "\"\n"
	}
	writeTestFile(t, filepath.Join(repo, ".env.sample"), "TYPE=web\nDOMAIN=web.example.com\n")
	for _, v := range []struct{ tag, img string }{{"1.0.0+1", "1.25"}, {"1.1.0+1", "1.26"}} {
		writeTestFile(t, filepath.Join(repo, "compose.yml"), compose(v.tag, v.img))
		for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-qm", v.tag}, {"tag", "-a", v.tag, "-m", v.tag}} {
			if args[0] == "init" && v.tag != "1.0.0+1" {
				continue
			}
			cmd := exec.Command("git", args...)
			cmd.Dir = repo
			cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
	}
	if err := fx.run(newDeployCmd(fx.f, nil), "app.example.org", "1.0.0+1", "-D"); err != nil {
		t.Fatalf("deploy: %v\n%s", err, fx.err.String())
	}
	return fx
}

// callIndex is the position of the first call with the prefix, or -1.
func callIndex(calls []string, prefix string) int {
	return slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, prefix) })
}

func TestUpgradeTakesBackupFirst(t *testing.T) {
	const enabled = "        - \"backupbot.backup=true\"\n"
	createOK := reply{stdout: []string{result(`{"snapshot_id":"eeee5555","services":["app"],"files":1,"bytes":10}`)}}
	tests := []struct {
		name     string
		labels   string
		args     []string
		noBot    bool
		create   reply
		verify   *reply // nil: the backup verifies
		wantErr  string
		wantWarn string
		wantHint string
		backup   bool // a backup ran
		upgraded bool
	}{
		{name: "backups enabled: backup, then upgrade", labels: enabled, create: createOK, backup: true, upgraded: true},
		{name: "a failed backup stops the upgrade", labels: enabled,
			create:  reply{code: 1, stdout: []string{`{"time":"2026-12-01T10:00:00Z","event":"error","message":"pre-hook exited with 3"}`}},
			wantErr: "upgrade app.example.org stopped before any change: back up: backup app.example.org: pre-hook exited with 3 (exit 1)", wantHint: "--no-backup", backup: true},
		{name: "a backup that does not verify stops the upgrade", labels: enabled, create: createOK,
			verify:  &reply{code: 1, stdout: []string{`{"time":"2026-12-01T10:00:00Z","event":"error","message":"file db.sql differs from the manifest"}`}},
			wantErr: "upgrade app.example.org stopped before any change: verify backup: verify backup of app.example.org: file db.sql differs from the manifest", wantHint: "--no-backup", backup: true},
		{name: "no backup service: warns and goes on", labels: enabled, noBot: true, upgraded: true,
			wantWarn: "warning: upgrade app.example.org without a backup"},
		{name: "--no-backup skips it", labels: enabled, args: []string{"--no-backup"}, noBot: true, upgraded: true},
		{name: "backups not enabled: no backup", create: createOK, upgraded: true},
		{name: "a dry run takes no backup", labels: enabled, args: []string{"--dry-run"}, create: createOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := upgradeFixture(t, tt.labels)
			if tt.noBot {
				fx.removeService(t, "backups_example_org_app")
			}
			verify := reply{stdout: []string{result(`{"snapshot_id":"eeee5555","files":1,"bytes":10,"ok":true}`)}}
			if tt.verify != nil {
				verify = *tt.verify
			}
			bot := &backupbot{replies: map[string]reply{"create": tt.create, "verify": verify}}
			fx.cluster.ExecFunc = bot.exec
			before := len(fx.cluster.Calls)
			err := fx.run(newUpgradeCmd(fx.f, nil), append([]string{"app.example.org", "-D"}, tt.args...)...)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q\n%s", err, tt.wantErr, fx.err.String())
			}
			if !strings.Contains(hint.Of(err), tt.wantHint) {
				t.Errorf("hint = %q, want %q", hint.Of(err), tt.wantHint)
			}
			if !strings.Contains(fx.err.String(), tt.wantWarn) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantWarn, fx.err.String())
			}
			if tt.backup && tt.upgraded && !slices.ContainsFunc(bot.ran, func(c string) bool { return strings.Contains(c, " verify ") }) {
				t.Errorf("the backup was not verified before the upgrade: %v", bot.ran)
			}
			calls := fx.cluster.Calls[before:]
			backup := callIndex(calls, "exec ")
			update := callIndex(calls, "update service app_example_org_app")
			if (backup >= 0) != tt.backup || (update >= 0) != tt.upgraded {
				t.Fatalf("backup %v (want %v), upgraded %v (want %v): %v", backup >= 0, tt.backup, update >= 0, tt.upgraded, calls)
			}
			if tt.backup && tt.upgraded && backup > update {
				t.Errorf("the backup must come before the upgrade: %v", calls)
			}
			if tt.backup && !strings.HasSuffix(calls[backup], "/backupbot create --app app_example_org --tag pre-upgrade --tag from:1.0.0+1 --json") {
				t.Errorf("backup ran %q", calls[backup])
			}
			if tt.backup && tt.upgraded && !strings.Contains(fx.err.String(), "✓ back up") {
				t.Errorf("the backup is not a step of the upgrade:\n%s", fx.err.String())
			}
		})
	}
}

func TestRollbackOffersPreUpgradeRestore(t *testing.T) {
	fx := upgradeFixture(t, "        - \"backupbot.backup=true\"\n")
	bot := &backupbot{replies: map[string]reply{
		"create": {stdout: []string{result(`{"snapshot_id":"eeee5555","services":["app"],"files":1,"bytes":10}`)}},
		"verify": {stdout: []string{result(`{"snapshot_id":"eeee5555","files":1,"bytes":10,"ok":true}`)}},
		"ls": {stdout: []string{result(`{"snapshots":[` +
			`{"id":"eeee5555","short_id":"eeee55","time":"2026-12-03T10:00:00Z","app":"app_example_org","services":["app"],"tags":["pre-upgrade","from:1.0.0+1"]},` +
			`{"id":"ffff6666","short_id":"ffff66","time":"2026-12-04T10:00:00Z","app":"app_example_org","services":["app"],"tags":[]}]}`)}},
	}}
	fx.cluster.ExecFunc = bot.exec
	if err := fx.run(newUpgradeCmd(fx.f, nil), "app.example.org", "-D"); err != nil {
		t.Fatalf("upgrade: %v\n%s", err, fx.err.String())
	}
	if err := fx.run(newRollbackCmd(fx.f, nil), "app.example.org", "-D"); err != nil {
		t.Fatalf("rollback: %v\n%s", err, fx.err.String())
	}
	for _, want := range []string{"rollback to 1.0.0+1 done", "snapshot eeee55 was taken before the upgrade from 1.0.0+1", "abra app restore app.example.org --snapshot eeee55"} {
		if !strings.Contains(fx.err.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, fx.err.String())
		}
	}
	if slices.ContainsFunc(bot.ran, func(c string) bool { return strings.Contains(c, " restore ") }) {
		t.Errorf("with -n nothing is restored: %v", bot.ran)
	}
}

func TestBackupCreateOnSeveralNodesPrintsEverySnapshot(t *testing.T) {
	fx := newBackupFixture(t)
	fx.addService(t, "app_example_org_app", app.BackupLabel+"=true")
	bot := &backupbot{replies: map[string]reply{"create": {stdout: []string{
		result(`{"snapshot_id":"cafe1234","snapshots":["cafe1234","beef5678"],"services":["app","db"],"paths":["/p","/q"],"files":4,"bytes":2048}`),
	}}}}
	fx.cluster.ExecFunc = bot.exec
	if err := fx.run(newBackupCreateCmd(fx.f, nil), "app.example.org"); err != nil {
		t.Fatal(err)
	}
	if fx.out.String() != "cafe1234\nbeef5678\n" {
		t.Errorf("stdout = %q, want one snapshot ID per node", fx.out.String())
	}
	if want := "app.example.org: snapshots cafe1234, beef5678 of app,db: 4 files, 2.0 KiB\n"; fx.err.String() != want {
		t.Errorf("stderr = %q, want %q", fx.err.String(), want)
	}
}
