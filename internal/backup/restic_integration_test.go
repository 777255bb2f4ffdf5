package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/mount"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// resticBinary finds a restic that supports restore --delete (0.18):
// RESTIC_BINARY (scripts/test.sh sets it), the one scripts/build-restic.sh
// caches, or restic on PATH. Under CI a missing restic fails the test.
func resticBinary(t *testing.T) string {
	t.Helper()
	var candidates []string
	if v := os.Getenv("RESTIC_BINARY"); v != "" {
		candidates = append(candidates, v)
	}
	home, _ := os.UserHomeDir()
	candidates = append(candidates, filepath.Join(home, ".cache/abra-build/restic-v0.18.1"))
	if p, err := exec.LookPath("restic"); err == nil {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		out, err := exec.Command(c, "version").Output()
		if err == nil && (strings.Contains(string(out), "restic 0.18") || strings.Contains(string(out), "restic 0.19")) {
			return c
		}
	}
	msg := "no restic ≥ 0.18 (make test builds it; or run scripts/build-restic.sh once, or set RESTIC_BINARY)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// world is an app on a fake cluster whose volume lives in a temp directory,
// backed up to a real restic repository.
type world struct {
	bot   *Bot
	fake  *swarmtest.Cluster
	repo  string
	data  string // the volume's _data directory
	mu    sync.Mutex
	hooks []string // hooks that ran, in order
	// dump is what the pre-hook writes to dump.sql.
	dump string
}

func newWorld(t *testing.T) *world {
	bin := resticBinary(t)
	dir := t.TempDir()
	w := &world{repo: filepath.Join(dir, "repo"), dump: "CREATE TABLE t; INSERT 1;\n"}
	root := filepath.Join(dir, "volumes")
	w.data = filepath.Join(root, "app_example_org_data", "_data")
	if err := os.MkdirAll(w.data, 0o755); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.fake = swarmtest.New()
	one := uint64(1)
	_, _, err := w.fake.CreateService(context.Background(), mobyswarm.ServiceSpec{
		Annotations: mobyswarm.Annotations{Name: "app_example_org_app", Labels: map[string]string{
			swarm.StackLabel:     "app_example_org",
			LabelBackup:          "true",
			LabelPreHook:         "dump",
			LabelPostHook:        "post",
			LabelRestorePreHook:  "restore-pre",
			LabelRestorePostHook: "restore-post",
		}},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: "app_example_org_data", Target: "/data"},
		}}},
		Mode: mobyswarm.ServiceMode{Replicated: &mobyswarm.ReplicatedService{Replicas: &one}},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	w.fake.ExecFunc = func(o swarm.ExecOptions) (int, error) {
		cmd := o.Cmd[len(o.Cmd)-1]
		w.mu.Lock()
		w.hooks = append(w.hooks, cmd)
		dump := w.dump
		w.mu.Unlock()
		if cmd == "dump" {
			if err := os.MkdirAll(w.data, 0o755); err != nil {
				return -1, err
			}
			return 0, os.WriteFile(filepath.Join(w.data, "dump.sql"), []byte(dump), 0o644)
		}
		return 0, nil
	}
	w.bot = &Bot{
		Cluster: w.fake,
		Restic: &Restic{Runner: ExecRunner{Binary: bin, Env: []string{
			"RESTIC_REPOSITORY=" + w.repo, "RESTIC_PASSWORD_FILE=" + pass, "RESTIC_CACHE_DIR=" + filepath.Join(dir, "cache"),
		}}},
		VolumeRoot: root, StateDir: filepath.Join(dir, "state"), ScratchDir: dir,
		Poll: 1, ContainerWait: 1,
	}
	if created, err := w.bot.Restic.Init(context.Background()); err != nil || !created {
		t.Fatalf("Init() = %v, %v", created, err)
	}
	if created, err := w.bot.Restic.Init(context.Background()); err != nil || created {
		t.Fatalf("second Init() = %v, %v; want an existing repository kept", created, err)
	}
	return w
}

func (w *world) write(t *testing.T, name, content string) {
	t.Helper()
	p := filepath.Join(w.data, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tree reads every file under the volume.
func (w *world) tree(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(w.data, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[strings.TrimPrefix(p, w.data)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestResticBackupVerifyRestoreRoundTrip(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.write(t, "site/index.html", "<h1>hello</h1>")
	w.write(t, "uploads/big.bin", strings.Repeat("x", 300_000))
	cr, err := w.bot.Create(ctx, CreateOptions{App: "app_example_org", Tags: []string{"pre-upgrade"}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if cr.Files != 3 || !slices.Equal(cr.Services, []string{"app"}) || cr.SnapshotID == "" {
		t.Fatalf("Create = %+v, want 3 files of service app", cr)
	}
	if !slices.Equal(w.hooks, []string{"dump", "post"}) {
		t.Fatalf("hooks = %v, want dump then post", w.hooks)
	}
	want := w.tree(t)

	snaps, err := w.bot.AppSnapshots(ctx, "app_example_org")
	if err != nil || len(snaps) != 1 || !slices.Contains(snaps[0].Tags, "pre-upgrade") || !slices.Equal(snaps[0].Services, []string{"app"}) {
		t.Fatalf("AppSnapshots = %+v, %v", snaps, err)
	}
	vr, err := w.bot.Verify(ctx, "app_example_org", "")
	if err != nil || !vr.OK || vr.Files != 3 || vr.SnapshotID != cr.SnapshotID {
		t.Fatalf("Verify = %+v, %v", vr, err)
	}

	// Change, delete and add data, then restore.
	w.write(t, "site/index.html", "<h1>defaced</h1>")
	if err := os.Remove(filepath.Join(w.data, "uploads/big.bin")); err != nil {
		t.Fatal(err)
	}
	w.write(t, "new-after-snapshot.txt", "should go")
	w.hooks = nil
	rr, err := w.bot.Restore(ctx, RestoreOptions{App: "app_example_org", Snapshot: cr.SnapshotID[:8]})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	got := w.tree(t)
	if len(got) != len(want) {
		t.Fatalf("restored files = %v, want %v", keys(got), keys(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("restored %s differs (%d bytes, want %d)", k, len(got[k]), len(v))
		}
	}
	if rr.SafetySnapshotID == "" || rr.SnapshotID != cr.SnapshotID || !strings.Contains(rr.GoBack, ShortID(rr.SafetySnapshotID)) {
		t.Fatalf("Restore = %+v", rr)
	}
	// Safety snapshot (with backup hooks), restore pre-hook, scale down, restore, scale up, post-hook.
	if !slices.Equal(w.hooks, []string{"dump", "post", "restore-pre", "restore-post"}) {
		t.Fatalf("hooks = %v", w.hooks)
	}
	var scales []string
	for _, c := range w.fake.Calls {
		if strings.HasPrefix(c, "update service") {
			scales = append(scales, c)
		}
	}
	if len(scales) != 2 {
		t.Fatalf("service updates = %v, want scale down and up", scales)
	}

	// The safety snapshot holds the defaced page: going back works.
	if _, err := w.bot.Restore(ctx, RestoreOptions{App: "app_example_org", Snapshot: rr.SafetySnapshotID}); err != nil {
		t.Fatalf("restore of the safety snapshot: %v", err)
	}
	if got := w.tree(t); got["/site/index.html"] != "<h1>defaced</h1>" || got["/new-after-snapshot.txt"] != "should go" {
		t.Fatalf("after going back: %v", keys(got))
	}
	// The latest snapshot that is not a safety snapshot is still the first one.
	latest, err := w.bot.FindSnapshot(ctx, "app_example_org", "")
	if err != nil || latest.ID != cr.SnapshotID {
		t.Fatalf("FindSnapshot(latest) = %s, %v; want %s", latest.ID, err, cr.SnapshotID)
	}

	// A volume that is gone entirely comes back too.
	if err := os.RemoveAll(filepath.Dir(w.data)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.bot.Restore(ctx, RestoreOptions{App: "app_example_org", Snapshot: cr.SnapshotID}); err != nil {
		t.Fatalf("restore of a removed volume: %v", err)
	}
	if got := w.tree(t); len(got) != len(want) || got["/uploads/big.bin"] != want["/uploads/big.bin"] {
		t.Fatalf("after restoring a removed volume: %v", keys(got))
	}

	// Download: a tar stream of the volume.
	var tarball bytes.Buffer
	if err := w.bot.Download(ctx, DownloadOptions{App: "app_example_org", Volumes: true}, &tarball); err != nil {
		t.Fatalf("Download: %v", err)
	}
	if !bytes.Contains(tarball.Bytes(), []byte("<h1>hello</h1>")) || bytes.Contains(tarball.Bytes(), []byte(`"mtime_ns"`)) {
		t.Fatal("download --volumes: want the volume's files and not the manifest")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// corruptPacks flips bytes in the middle of the pack files, keeping sizes.
func corruptPacks(t *testing.T, packs []string) {
	t.Helper()
	for _, p := range packs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(b) / 3; i < len(b)/3+64 && i < len(b); i++ {
			b[i] ^= 0xff
		}
		_ = os.Chmod(p, 0o644)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// packs lists the repository's pack files, largest first.
func (w *world) packs(t *testing.T) []string {
	t.Helper()
	packs, _ := filepath.Glob(filepath.Join(w.repo, "data", "*", "*"))
	if len(packs) == 0 {
		t.Fatal("no pack files in the repository")
	}
	size := func(p string) int64 {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	slices.SortFunc(packs, func(a, b string) int { return int(size(b) - size(a)) })
	return packs
}

func TestResticVerifyFailsOnCorruptedPack(t *testing.T) {
	ctx := context.Background()
	t.Run("data pack only: the scratch restore fails", func(t *testing.T) {
		w := newWorld(t)
		// Random bytes do not compress: the largest pack holds them.
		random := make([]byte, 800_000)
		_, _ = rand.Read(random)
		w.write(t, "payload.bin", string(random))
		if _, err := w.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.bot.Verify(ctx, "app_example_org", ""); err != nil {
			t.Fatalf("verify before the damage: %v", err)
		}
		corruptPacks(t, w.packs(t)[:1])
		_, err := w.bot.Verify(ctx, "app_example_org", "")
		if err == nil || !strings.Contains(err.Error(), "payload.bin: decrypting blob") || !strings.Contains(err.Error(), "ciphertext verification failed") {
			t.Fatalf("Verify with a corrupted data pack = %v, want the restore to fail naming the file and the damage", err)
		}
		t.Logf("verify error: %v", err)
	})
	w := newWorld(t)
	w.write(t, "payload.bin", strings.Repeat("abcdefgh", 100_000))
	if _, err := w.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	corruptPacks(t, w.packs(t))
	_, err := w.bot.Verify(ctx, "app_example_org", "")
	if err == nil || !strings.Contains(err.Error(), "repository check failed") || !strings.Contains(err.Error(), "ciphertext verification failed") {
		t.Fatalf("Verify of a corrupted repository = %v, want the check to fail naming the damage", err)
	}
	t.Logf("verify error: %v", err)
}

func TestResticEmptyDumpFailsTheBackup(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.write(t, "keep.txt", "data")
	w.dump = ""
	_, err := w.bot.Create(ctx, CreateOptions{App: "app_example_org"})
	if !errors.Is(err, ErrEmptyDump) || !strings.Contains(err.Error(), "dump.sql (0 bytes)") {
		t.Fatalf("Create = %v, want an empty dump error naming dump.sql", err)
	}
	// The post-hook still ran after the failed pre-hook check.
	if !slices.Equal(w.hooks, []string{"dump", "post"}) {
		t.Fatalf("hooks = %v", w.hooks)
	}
	if snaps, _ := w.bot.AppSnapshots(ctx, "app_example_org"); len(snaps) != 0 {
		t.Fatalf("snapshots = %v, want none", snaps)
	}

	// A dump that shrank below half of the previous one fails too.
	w.dump = strings.Repeat("row\n", 1000)
	if _, err := w.bot.Create(ctx, CreateOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	w.dump = "row\n"
	_, err = w.bot.Create(ctx, CreateOptions{App: "app_example_org"})
	if !errors.Is(err, ErrEmptyDump) || !strings.Contains(err.Error(), "less than 50%") {
		t.Fatalf("Create after shrink = %v", err)
	}
	// After a restart (no local manifest) the previous one comes from the repository.
	if err := os.RemoveAll(w.bot.StateDir); err != nil {
		t.Fatal(err)
	}
	_, err = w.bot.Create(ctx, CreateOptions{App: "app_example_org"})
	if !errors.Is(err, ErrEmptyDump) {
		t.Fatalf("Create after shrink without local manifest = %v", err)
	}
}

func TestResticRestoreOfAFilePath(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// Only the dump is backed up: the label names a file inside the volume.
	svcs, _ := w.fake.Services(ctx, "app_example_org")
	spec := svcs[0].Spec
	spec.Labels[LabelVolumesPrefix+"data.path"] = "dump.sql"
	if _, err := w.fake.UpdateService(ctx, svcs[0], spec, false); err != nil {
		t.Fatal(err)
	}
	w.write(t, "dump.sql", "old")
	w.write(t, "other.txt", "not backed up")
	cr, err := w.bot.Create(ctx, CreateOptions{App: "app_example_org"})
	if err != nil {
		t.Fatal(err)
	}
	if cr.Files != 1 {
		t.Fatalf("files = %d, want just the dump", cr.Files)
	}
	w.write(t, "dump.sql", "garbage")
	w.write(t, "other.txt", "changed, and not restored")
	w.dump = "the dump of the safety snapshot"
	if _, err := w.bot.Restore(ctx, RestoreOptions{App: "app_example_org"}); err != nil {
		t.Fatal(err)
	}
	got := w.tree(t)
	if got["/dump.sql"] != "CREATE TABLE t; INSERT 1;\n" || got["/other.txt"] != "changed, and not restored" {
		t.Fatalf("after restore: %q", got)
	}
}

func TestResticRetentionKeepsTheDailyBackupBesideASafetySnapshot(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.write(t, "a.txt", "a")
	var ids []string
	for range 2 {
		cr, err := w.bot.Create(ctx, CreateOptions{App: "app_example_org"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cr.SnapshotID)
	}
	safety, err := w.bot.Create(ctx, CreateOptions{App: "app_example_org", Safety: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.bot.Restic.Forget(ctx, Retention{Daily: 1}, TagCoopCloud); err != nil {
		t.Fatal(err)
	}
	snaps, err := w.bot.AppSnapshots(ctx, "app_example_org")
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, s := range snaps {
		kept = append(kept, s.ID)
	}
	if want := []string{ids[1], safety.SnapshotID}; !slices.Equal(kept, want) {
		t.Fatalf("kept %v, want the day's last backup %s and the safety snapshot %s", kept, ids[1][:8], safety.SnapshotID[:8])
	}
}
