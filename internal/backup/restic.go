package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"coopcloud.tech/abra/internal/hint"
)

// Runner runs the restic binary with args, writing its stdout to stdout. A
// non-zero exit is returned as *ExitError. Implementations are safe for
// concurrent use.
type Runner interface {
	Run(ctx context.Context, stdout io.Writer, args ...string) error
}

// ExitError is a restic run that exited non-zero.
type ExitError struct {
	Args   []string
	Code   int
	Stderr string // the tail of restic's stderr
}

func (e *ExitError) Error() string {
	msg := stderrMessages(e.Stderr)
	if msg == "" {
		msg = "no output"
	}
	return fmt.Sprintf("restic %s: exit status %d: %s", firstArg(e.Args), e.Code, msg)
}

// stderrMessages turns restic's stderr (JSON messages with --json, text
// without) into one line.
func stderrMessages(stderr string) string {
	var parts []string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		var m struct {
			Message string `json:"message"`
			Item    string `json:"item"`
			Error   struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &m) == nil {
			msg := m.Message
			if m.Error.Message != "" {
				msg = m.Error.Message
				if m.Item != "" {
					msg = m.Item + ": " + msg
				}
			}
			line = strings.Join(strings.Fields(msg), " ")
		}
		if line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, " ")
}

func firstArg(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

// Exit codes of restic (0.17+) that callers branch on.
const (
	resticExitIncomplete = 3  // backup: some source files could not be read
	resticExitNoRepo     = 10 // the repository does not exist
	resticExitLocked     = 11
	resticExitBadPass    = 12
)

// ExecRunner runs the restic binary. The repository and its credentials come
// from the environment (RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, AWS_*, …):
// local paths, sftp:, s3: and rest: repositories need nothing more.
type ExecRunner struct {
	Binary string   // default "restic" from PATH
	Env    []string // appended to the process environment
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, stdout io.Writer, args ...string) error {
	bin := r.Binary
	if bin == "" {
		bin = "restic"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), r.Env...)
	cmd.Stdout = stdout
	var stderr tail
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Args: args, Code: ee.ExitCode(), Stderr: stderr.String()}
	}
	if err != nil {
		return fmt.Errorf("run %s: %w", bin, err)
	}
	return nil
}

// tail keeps the last 4 KiB written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}
func (t *tail) String() string { return string(t.b) }

// Restic drives restic through its --json output.
type Restic struct {
	Runner Runner
	// RetryLock is how long restic waits for a lock held by another run (default 5m).
	RetryLock time.Duration
}

func (r *Restic) retryLock() time.Duration { return orDur(r.RetryLock, 5*time.Minute) }

func (r *Restic) run(ctx context.Context, stdout io.Writer, args ...string) error {
	// Global flags after the verb, so that errors name the verb first.
	full := append([]string{args[0], "--json", "--retry-lock", r.retryLock().String()}, args[1:]...)
	err := r.Runner.Run(ctx, stdout, full...)
	var ee *ExitError
	if errors.As(err, &ee) {
		switch ee.Code {
		case resticExitNoRepo:
			return hint.With(err, "the repository does not exist yet: the backup service initialises it when it starts; check RESTIC_REPOSITORY")
		case resticExitBadPass:
			return hint.With(err, "the repository password is wrong: check the restic_password secret of the backup service")
		case resticExitLocked:
			return hint.With(err, "another restic run holds the repository lock; wait, or remove a stale lock with 'restic unlock'")
		}
	}
	return err
}

// Init creates the repository unless it exists. It reports whether it created one.
func (r *Restic) Init(ctx context.Context) (bool, error) {
	if ok, err := r.Exists(ctx); ok || err != nil {
		return false, err
	}
	if err := r.run(ctx, io.Discard, "init"); err != nil {
		return false, fmt.Errorf("init repository: %w", err)
	}
	return true, nil
}

// Exists reports whether the repository exists (and opens with the password).
func (r *Restic) Exists(ctx context.Context) (bool, error) {
	err := r.Runner.Run(ctx, io.Discard, "--json", "cat", "config")
	var ee *ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.Code == resticExitNoRepo:
		return false, nil
	}
	return false, fmt.Errorf("open repository: %w", err)
}

// BackupSummary is restic's summary of a backup.
type BackupSummary struct {
	SnapshotID          string  `json:"snapshot_id"`
	FilesNew            int64   `json:"files_new"`
	FilesChanged        int64   `json:"files_changed"`
	FilesUnmodified     int64   `json:"files_unmodified"`
	DataAdded           int64   `json:"data_added"`
	TotalFilesProcessed int64   `json:"total_files_processed"`
	TotalBytesProcessed int64   `json:"total_bytes_processed"`
	TotalDuration       float64 `json:"total_duration"`
}

// BackupOptions are the arguments of a restic backup.
type BackupOptions struct {
	Host  string
	Tags  []string
	Paths []string
}

// Backup backs the paths up and returns restic's summary. Files restic could
// not read make the backup fail, naming them: an incomplete snapshot is not a backup.
func (r *Restic) Backup(ctx context.Context, o BackupOptions) (BackupSummary, error) {
	args := []string{"backup", "--host", o.Host}
	for _, t := range o.Tags {
		args = append(args, "--tag", t)
	}
	args = append(args, "--")
	args = append(args, o.Paths...)
	var out bytes.Buffer
	runErr := r.run(ctx, &out, args...)
	var sum BackupSummary
	found, readErrs := scanMessages(&out, &sum)
	var ee *ExitError
	if errors.As(runErr, &ee) && ee.Code == resticExitIncomplete {
		return sum, fmt.Errorf("restic could not read every file, snapshot %s is incomplete: %s", ShortID(sum.SnapshotID), strings.Join(readErrs, "; "))
	}
	if runErr != nil {
		return sum, runErr
	}
	if !found || sum.SnapshotID == "" {
		return sum, errors.New("restic backup printed no summary with a snapshot id")
	}
	return sum, nil
}

// scanMessages reads restic's JSON Lines output: the summary message into
// summary (reporting whether there was one) and the items of error messages.
func scanMessages(out io.Reader, summary any) (found bool, errs []string) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		var line struct {
			MessageType string `json:"message_type"`
			Item        string `json:"item"`
			Error       struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.MessageType {
		case "summary":
			found = found || json.Unmarshal(sc.Bytes(), summary) == nil
		case "error":
			errs = append(errs, strings.TrimSpace(line.Item+": "+line.Error.Message))
		}
	}
	return found, errs
}

// ResticSnapshot is a snapshot as restic lists it.
type ResticSnapshot struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	Tags     []string  `json:"tags"`
	Paths    []string  `json:"paths"`
}

// Snapshots lists every snapshot of the repository, oldest first.
func (r *Restic) Snapshots(ctx context.Context) ([]ResticSnapshot, error) {
	var out bytes.Buffer
	if err := r.run(ctx, &out, "snapshots"); err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	var snaps []ResticSnapshot
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &snaps); err != nil {
		return nil, fmt.Errorf("list snapshots: parse restic output: %w", err)
	}
	for i := range snaps {
		if snaps[i].ShortID == "" {
			snaps[i].ShortID = ShortID(snaps[i].ID)
		}
	}
	return snaps, nil
}

// ShortID is the first 8 characters of a snapshot ID, as restic shows them.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// ShortIDs is ShortID of each.
func ShortIDs(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = ShortID(id)
	}
	return out
}

// RestoreSummary is restic's summary of a restore.
type RestoreSummary struct {
	FilesRestored int64 `json:"files_restored"`
	FilesSkipped  int64 `json:"files_skipped"`
	FilesDeleted  int64 `json:"files_deleted"`
	BytesRestored int64 `json:"bytes_restored"`
	TotalFiles    int64 `json:"total_files"`
}

// Restore restores the snapshot's subtree src into target. With del, files in
// target that the snapshot does not hold are deleted, so target ends up exactly
// as it was backed up.
func (r *Restic) Restore(ctx context.Context, snapshot, src, target string, del bool) (RestoreSummary, error) {
	what := snapshot
	if src != "" {
		what += ":" + src
	}
	args := []string{"restore", what, "--target", target}
	if del {
		args = append(args, "--delete")
	}
	var out bytes.Buffer
	err := r.run(ctx, &out, args...)
	var sum RestoreSummary
	_, errs := scanMessages(&out, &sum)
	if err != nil {
		what := "restore snapshot " + ShortID(snapshot)
		if src != "" {
			what = fmt.Sprintf("restore %s of snapshot %s", src, ShortID(snapshot))
		}
		if len(errs) > 0 {
			return sum, fmt.Errorf("%s: %w (%s)", what, err, strings.Join(errs, "; "))
		}
		return sum, fmt.Errorf("%s: %w", what, err)
	}
	return sum, nil
}

// NodeType says what path is in the snapshot: "dir", "file", … ("" when absent).
func (r *Restic) NodeType(ctx context.Context, snapshot, path string) (string, error) {
	var out bytes.Buffer
	if err := r.run(ctx, &out, "ls", snapshot, path); err != nil {
		return "", fmt.Errorf("list %s in snapshot %s: %w", path, ShortID(snapshot), err)
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		var n struct {
			Type       string `json:"type"`
			Path       string `json:"path"`
			StructType string `json:"struct_type"`
		}
		if json.Unmarshal(sc.Bytes(), &n) == nil && n.StructType == "node" && n.Path == path {
			return n.Type, nil
		}
	}
	return "", nil
}

// RestoreFile restores one file of the snapshot to its own path (under target "/").
func (r *Restic) RestoreFile(ctx context.Context, snapshot, file string) error {
	var out bytes.Buffer
	if err := r.run(ctx, &out, "restore", snapshot, "--target", "/", "--include", file); err != nil {
		return fmt.Errorf("restore %s of snapshot %s: %w", file, ShortID(snapshot), err)
	}
	return nil
}

// Dump writes a file of the snapshot to w.
func (r *Restic) Dump(ctx context.Context, snapshot, file string, w io.Writer) error {
	if err := r.Runner.Run(ctx, w, "dump", "--retry-lock", r.retryLock().String(), snapshot, file); err != nil {
		return fmt.Errorf("dump %s of snapshot %s: %w", file, ShortID(snapshot), err)
	}
	return nil
}

// DumpTar writes the snapshot's tree under dir to w as a tar stream.
func (r *Restic) DumpTar(ctx context.Context, snapshot, dir string, w io.Writer) error {
	if err := r.Runner.Run(ctx, w, "dump", "--retry-lock", r.retryLock().String(), "--archive", "tar", snapshot, dir); err != nil {
		return fmt.Errorf("dump %s of snapshot %s: %w", dir, ShortID(snapshot), err)
	}
	return nil
}

// Check checks the repository's structure; readData ("", "all", "10%", "1/5")
// also reads (a subset of) the pack files and verifies their contents.
func (r *Restic) Check(ctx context.Context, readData string) error {
	args := []string{"check"}
	switch readData {
	case "":
	case "all":
		args = append(args, "--read-data")
	default:
		args = append(args, "--read-data-subset", readData)
	}
	if err := r.run(ctx, io.Discard, args...); err != nil {
		return hint.With(fmt.Errorf("repository check failed: %w", err),
			"the repository is damaged: see 'restic check' and 'restic repair' in restic's documentation; back up again to a sound repository")
	}
	return nil
}

// Retention is how many daily, weekly and monthly snapshots forget keeps.
type Retention struct {
	Daily, Weekly, Monthly int
}

// Empty reports whether no retention is set (forget is then skipped).
func (k Retention) Empty() bool { return k.Daily == 0 && k.Weekly == 0 && k.Monthly == 0 }

// Forget applies the retention to snapshots carrying tag and prunes data no
// snapshot needs any more. Snapshots are grouped by host, paths and tags: per
// app, and apart from safety and pre-upgrade snapshots, so that a safety
// snapshot taken after the day's backup never takes that backup's place.
func (r *Restic) Forget(ctx context.Context, k Retention, tag string) error {
	args := []string{"forget", "--prune", "--group-by", "host,paths,tags"}
	if tag != "" {
		args = append(args, "--tag", tag)
	}
	for _, kv := range []struct {
		flag string
		n    int
	}{{"--keep-daily", k.Daily}, {"--keep-weekly", k.Weekly}, {"--keep-monthly", k.Monthly}} {
		if kv.n > 0 {
			args = append(args, kv.flag, strconv.Itoa(kv.n))
		}
	}
	if err := r.run(ctx, io.Discard, args...); err != nil {
		return fmt.Errorf("forget and prune: %w", err)
	}
	return nil
}
