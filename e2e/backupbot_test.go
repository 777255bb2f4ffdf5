package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The backup service on its own, on the real daemon: its image as a swarm
// service with the Docker socket and the volume root mounted, driven with
// docker exec as abra drives it.

const backupbotAppCompose = `version: "3.8"
services:
  app:
    image: abra-test/busybox:1
    command: ["sleep", "86400"]
    stop_grace_period: 1s
    volumes:
      - data:/data
      - log:/log
    deploy:
      labels:
        - "backupbot.backup=true"
        - "backupbot.backup.pre-hook=cat /data/db.txt > /data/dump.sql && echo backup-pre >> /log/hooks.log"
        - "backupbot.backup.post-hook=echo backup-post >> /log/hooks.log"
        - "backupbot.restore.pre-hook=echo restore-pre >> /log/hooks.log"
        - "backupbot.restore.post-hook=echo restore-post >> /log/hooks.log"
        - "backupbot.backup.volumes.log=false"
volumes:
  data:
  log:
`

type botEvent struct {
	Time    time.Time       `json:"time"`
	Event   string          `json:"event"`
	Step    string          `json:"step"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// botExec runs /backupbot in the service's container and parses its JSON Lines.
func botExec(t *testing.T, container string, args ...string) ([]botEvent, int) {
	t.Helper()
	cmd := exec.Command(dockerBin(), append([]string{"exec", container, "/backupbot"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var events []botEvent
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e botEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Event == "" || e.Time.IsZero() {
			t.Fatalf("backupbot %s: stdout line is not an event: %q (%v)\nstderr: %s", args[0], line, err, errb.String())
		}
		events = append(events, e)
	}
	t.Logf("backupbot %s → %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return events, code
}

// botResult checks the run succeeded with exactly one result event, last, and decodes its data.
func botResult(t *testing.T, events []botEvent, code int, v any) {
	t.Helper()
	last := events[len(events)-1]
	n := 0
	for _, e := range events {
		if e.Event == "result" {
			n++
		}
	}
	if code != 0 || last.Event != "result" || n != 1 {
		t.Fatalf("exit %d, last event %+v, %d results: want exit 0 and one final result", code, last, n)
	}
	if err := json.Unmarshal(last.Data, v); err != nil {
		t.Fatalf("result data %s: %v", last.Data, err)
	}
}

// botError checks the run failed with a final error event and returns its message.
func botError(t *testing.T, events []botEvent, code int) string {
	t.Helper()
	last := events[len(events)-1]
	if code == 0 || last.Event != "error" || last.Message == "" {
		t.Fatalf("exit %d, last event %+v: want a failure with an error event", code, last)
	}
	return last.Message
}

func runningContainer(t *testing.T, service string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if id := docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+service, "--filter", "status=running"); id != "" {
			return strings.Fields(id)[0]
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("service %s has no running container", service)
	return ""
}

func TestBackupbotServiceRoundTrip(t *testing.T) {
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	image := run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-backupbot-image.sh"), "--tag", "abra-backupbot:e2e")
	image = strings.TrimSpace(image[strings.LastIndex(image, "\n")+1:])

	n := time.Now().UnixNano() % 1_000_000
	stack := fmt.Sprintf("bbapp%d", n)
	bot := fmt.Sprintf("bbsvc%d", n)
	secret := bot + "_restic_password_v1"
	repo := t.TempDir()
	t.Cleanup(func() {
		_ = runQuiet(dockerBin(), "service", "rm", bot)
		_ = runQuiet(dockerBin(), "stack", "rm", stack)
		waitStackGone(t, stack)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) && runQuiet(dockerBin(), "secret", "rm", secret) != nil {
			time.Sleep(time.Second)
		}
		for _, v := range []string{"data", "log"} {
			_ = runQuiet(dockerBin(), "volume", "rm", stack+"_"+v)
		}
	})

	composeFile := filepath.Join(t.TempDir(), "compose.yml")
	writeFile(t, composeFile, backupbotAppCompose)
	docker(t, "stack", "deploy", "-c", composeFile, stack)
	appCtr := runningContainer(t, stack+"_app")
	data := filepath.Join("/var/lib/docker/volumes", stack+"_data", "_data")
	hooksLog := filepath.Join("/var/lib/docker/volumes", stack+"_log", "_data", "hooks.log")

	pw := exec.Command(dockerBin(), "secret", "create", secret, "-")
	pw.Stdin = strings.NewReader("correct horse battery staple")
	if out, err := pw.CombinedOutput(); err != nil {
		t.Fatalf("secret: %v %s", err, out)
	}
	docker(t, "service", "create", "-d", "--name", bot,
		"--mount", "type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock",
		"--mount", "type=bind,source=/var/lib/docker/volumes,target=/var/lib/docker/volumes",
		"--mount", "type=bind,source="+repo+",target=/backups",
		"--secret", "source="+secret+",target=restic_password",
		"--env", "RESTIC_REPOSITORY=/backups/restic",
		"--env", "CRON_SCHEDULE=0 0 1 1 *",
		image)
	botCtr := runningContainer(t, bot)
	// The daemon initialises the repository when it starts.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(repo, "restic", "config")); err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(repo, "restic", "config")); err != nil {
		t.Fatalf("the daemon did not create the repository: %v\n%s", err, docker(t, "service", "logs", bot))
	}

	// Known data: text, random binary, nested dirs, an empty file.
	blob := make([]byte, 512<<10)
	_, _ = rand.Read(blob)
	known := map[string][]byte{
		"db.txt":          []byte("INSERT INTO notes VALUES (1);\n"),
		"blob.bin":        blob,
		"sub/nested.txt":  []byte("nested\x00\xff\n"),
		"sub/empty.txt":   {},
		"sub/deep/z.conf": []byte("z=1\n"),
	}
	for name, b := range known {
		writeFile(t, filepath.Join(data, name), string(b))
	}

	var created struct {
		SnapshotID string   `json:"snapshot_id"`
		Services   []string `json:"services"`
		Files      int64    `json:"files"`
		Bytes      int64    `json:"bytes"`
	}
	events, code := botExec(t, botCtr, "create", "--app", stack, "--tag", "e2e", "--json")
	botResult(t, events, code, &created)
	if created.SnapshotID == "" || !slices.Equal(created.Services, []string{"app"}) || created.Files != int64(len(known)+1) {
		t.Fatalf("create result = %+v, want service app and %d files (with dump.sql)", created, len(known)+1)
	}
	if !slices.ContainsFunc(events, func(e botEvent) bool { return e.Event == "hook" }) {
		t.Fatal("no hook event")
	}
	if got := strings.Fields(readFile(t, hooksLog)); !slices.Equal(got, []string{"backup-pre", "backup-post"}) {
		t.Fatalf("hooks = %v", got)
	}

	var listed struct {
		Snapshots []struct {
			ID   string   `json:"id"`
			Tags []string `json:"tags"`
		} `json:"snapshots"`
	}
	events, code = botExec(t, botCtr, "ls", "--app", stack, "--json")
	botResult(t, events, code, &listed)
	if len(listed.Snapshots) != 1 || listed.Snapshots[0].ID != created.SnapshotID || !slices.Contains(listed.Snapshots[0].Tags, "e2e") {
		t.Fatalf("ls = %+v", listed)
	}

	var verified struct {
		OK    bool  `json:"ok"`
		Files int64 `json:"files"`
	}
	events, code = botExec(t, botCtr, "verify", "--app", stack, "--json")
	botResult(t, events, code, &verified)
	if !verified.OK || verified.Files != created.Files {
		t.Fatalf("verify = %+v", verified)
	}

	// Change, delete and add data.
	writeFile(t, filepath.Join(data, "db.txt"), "DROP TABLE notes;\n")
	for _, name := range []string{"blob.bin", "sub/deep/z.conf", "dump.sql"} {
		if err := os.Remove(filepath.Join(data, name)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(data, "created-later.txt"), "must go")

	var restored struct {
		SnapshotID       string `json:"snapshot_id"`
		SafetySnapshotID string `json:"safety_snapshot_id"`
		GoBack           string `json:"go_back"`
	}
	events, code = botExec(t, botCtr, "restore", "--app", stack, "--snapshot", created.SnapshotID[:8], "--json")
	botResult(t, events, code, &restored)
	if restored.SnapshotID != created.SnapshotID || restored.SafetySnapshotID == "" || !strings.Contains(restored.GoBack, "--snapshot "+restored.SafetySnapshotID[:8]) {
		t.Fatalf("restore result = %+v", restored)
	}
	for name, want := range known {
		got, err := os.ReadFile(filepath.Join(data, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after restore: %d bytes (%v), want %d identical bytes", name, len(got), err, len(want))
		}
	}
	if dump, _ := os.ReadFile(filepath.Join(data, "dump.sql")); !bytes.Equal(dump, known["db.txt"]) {
		t.Errorf("dump.sql after restore = %q, want the dump taken at backup time", dump)
	}
	if _, err := os.Stat(filepath.Join(data, "created-later.txt")); err == nil {
		t.Error("a file created after the snapshot survived the restore")
	}
	// Backup hooks (first backup, then the safety snapshot), then the restore hooks around the restart.
	want := []string{"backup-pre", "backup-post", "backup-pre", "backup-post", "restore-pre", "restore-post"}
	if got := strings.Fields(readFile(t, hooksLog)); !slices.Equal(got, want) {
		t.Fatalf("hooks = %v, want %v", got, want)
	}
	// The app was stopped and started again: a new container runs.
	if ctr := runningContainer(t, stack+"_app"); ctr == appCtr {
		t.Error("the app's container was not restarted by the restore")
	}

	// A pre-hook producing an empty dump fails the backup with the reason.
	writeFile(t, filepath.Join(data, "db.txt"), "")
	events, code = botExec(t, botCtr, "create", "--app", stack, "--json")
	if msg := botError(t, events, code); !strings.Contains(msg, "empty dump") || !strings.Contains(msg, "dump.sql") {
		t.Fatalf("empty dump error = %q", msg)
	}
	events, code = botExec(t, botCtr, "ls", "--app", stack, "--json")
	botResult(t, events, code, &listed)
	if len(listed.Snapshots) != 2 { // the backup and the safety snapshot
		t.Fatalf("snapshots after the failed backup = %d, want 2", len(listed.Snapshots))
	}

	// Labels that match no volume are an error naming the service and label.
	docker(t, "service", "update", "-d", "--label-add", "backupbot.backup.volumes.nosuch.path=x", stack+"_app")
	events, code = botExec(t, botCtr, "create", "--app", stack, "--json")
	if msg := botError(t, events, code); !strings.Contains(msg, "service app: label backupbot.backup.volumes.nosuch.path") {
		t.Fatalf("bad label error = %q", msg)
	}

	// The daemon stops cleanly on SIGTERM.
	start := time.Now()
	docker(t, "service", "rm", bot)
	deadline = time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && runQuiet(dockerBin(), "inspect", botCtr) == nil {
		time.Sleep(200 * time.Millisecond)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("the daemon took %s to stop (SIGTERM ignored?)", took)
	}
}

// TestBackupbotImageSFTPRepository: the image's restic reaches an sftp:
// repository with the image's ssh (key and known_hosts mounted at /root/.ssh).
func TestBackupbotImageSFTPRepository(t *testing.T) {
	image := run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-backupbot-image.sh"), "--tag", "abra-backupbot:e2e")
	image = strings.TrimSpace(image[strings.LastIndex(image, "\n")+1:])
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	client := filepath.Join(dir, "client")
	run(t, dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host_key"))
	if err := os.MkdirAll(client, 0o700); err != nil {
		t.Fatal(err)
	}
	run(t, dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(client, "id"))
	writeFile(t, filepath.Join(dir, "authorized_keys"), readFile(t, filepath.Join(client, "id.pub")))
	writeFile(t, filepath.Join(dir, "sshd_config"), fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
HostKey %[2]s/host_key
AuthorizedKeysFile %[2]s/authorized_keys
PidFile %[2]s/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
`, port, dir))
	writeFile(t, filepath.Join(client, "known_hosts"), "[127.0.0.1]:"+port+" "+readFile(t, filepath.Join(dir, "host_key.pub")))
	writeFile(t, filepath.Join(client, "config"), "Host backups\n  HostName 127.0.0.1\n  Port "+port+
		"\n  User root\n  IdentityFile /root/.ssh/id\n  StrictHostKeyChecking yes\n  BatchMode yes\n")
	for _, f := range []string{"config", "known_hosts", "id"} {
		if err := os.Chmod(filepath.Join(client, f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	sshd := exec.Command("/usr/sbin/sshd", "-D", "-f", filepath.Join(dir, "sshd_config"), "-E", filepath.Join(dir, "sshd.log"))
	if err := sshd.Start(); err != nil {
		t.Fatalf("sshd (scripts/test.sh installs openssh-server): %v", err)
	}
	t.Cleanup(func() { _ = sshd.Process.Kill(); _ = sshd.Wait() })
	waitListening(t, "127.0.0.1:"+port, filepath.Join(dir, "sshd.log"))

	data := filepath.Join(dir, "data")
	writeFile(t, filepath.Join(data, "note.txt"), "over sftp\n")
	repo := filepath.Join(dir, "repo")
	restic := func(args ...string) string {
		t.Helper()
		return docker(t, append([]string{"run", "--rm", "--network", "host",
			"-v", client + ":/root/.ssh:ro", "-v", data + ":/data:ro",
			"-e", "RESTIC_PASSWORD=sftp-test", "-e", "RESTIC_REPOSITORY=sftp:backups:" + repo,
			"--entrypoint", "/usr/bin/restic", image}, args...)...)
	}
	restic("init")
	restic("backup", "--host", "sftp-test", "/data")
	out := restic("snapshots", "--json")
	if !strings.Contains(out, `"hostname":"sftp-test"`) || !strings.Contains(out, `"/data"`) {
		t.Fatalf("snapshots over sftp: %s", out)
	}
	if _, err := os.Stat(filepath.Join(repo, "config")); err != nil {
		t.Fatalf("no repository written through sftp at %s: %v", repo, err)
	}
}
