package app

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/backup"
	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/secret"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// fsCluster is the fake swarm with a file system behind CopyTo and CopyFrom,
// as the backup service's container sees the server's volumes.
type fsCluster struct {
	*swarmtest.Cluster
	mu      sync.Mutex
	files   map[string][]byte // absolute path → content
	corrupt string            // a path whose copy gets one byte flipped
}

func (c *fsCluster) CopyTo(_ context.Context, _, dir string, r io.Reader) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, _ := io.ReadAll(tr)
		p := path.Join(dir, h.Name)
		if p == c.corrupt {
			b = slices.Clone(b)
			b[0] ^= 1
		}
		c.files[p] = b
	}
}

func (c *fsCluster) CopyFrom(_ context.Context, _, root string) (io.ReadCloser, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: path.Base(root) + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	for p, b := range c.files {
		if rel, ok := strings.CutPrefix(p, root+"/"); ok {
			tw.WriteHeader(&tar.Header{Name: path.Base(root) + "/" + rel, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
			tw.Write(b)
		}
	}
	tw.Close()
	return io.NopCloser(&buf), nil
}

const moveVol = "/var/lib/docker/volumes/app_example_org_data/_data"

// snapshotTar is what the old server's backup service downloads.
func snapshotTar(t *testing.T, withSecret bool) []byte {
	t.Helper()
	files := map[string]string{moveVol + "/db.sql": "CREATE TABLE t;\n", moveVol + "/uploads/a.bin": "\x00\x01binary"}
	var m backup.Manifest
	m.App = "app_example_org"
	for p, b := range files {
		s := sha256.Sum256([]byte(b))
		m.Files = append(m.Files, backup.ManifestEntry{Path: p, Size: int64(len(b)), SHA256: hex.EncodeToString(s[:])})
	}
	slices.SortFunc(m.Files, func(a, b backup.ManifestEntry) int { return strings.Compare(a.Path, b.Path) })
	mj, _ := json.Marshal(m)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, body string) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.WriteHeader(&tar.Header{Name: "var/lib/docker/volumes/", Typeflag: tar.TypeDir, Mode: 0o701})
	tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(moveVol, "/") + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	for _, p := range []string{moveVol + "/db.sql", moveVol + "/uploads/a.bin"} {
		add(strings.TrimPrefix(p, "/"), files[p])
	}
	add("var/lib/backupbot/app_example_org/manifest.json", string(mj))
	if withSecret {
		add("secrets/app/db_password", "s3cret")
	}
	tw.Close()
	return buf.Bytes()
}

type moveFixture struct {
	store    Store
	a        *App
	old, new *fsCluster
	deployed []string
}

func newMoveFixture(t *testing.T) *moveFixture {
	t.Helper()
	dir := t.TempDir()
	store := Store{Root: dir}
	for _, s := range []string{"old", "new"} {
		if err := os.MkdirAll(filepath.Join(dir, "servers", s), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	envPath := filepath.Join(dir, "servers", "old", "app.example.org.env")
	if err := os.WriteFile(envPath, []byte("TYPE=web:1.0.0+1\nDOMAIN=app.example.org\nSECRET_DB_PASSWORD_VERSION=v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := envfile.Load(envPath)
	if err != nil {
		t.Fatal(err)
	}
	f := &moveFixture{store: store, a: &App{Domain: "app.example.org", Server: "old", Path: envPath, Env: env},
		old: &fsCluster{Cluster: swarmtest.New(), files: map[string][]byte{}},
		new: &fsCluster{Cluster: swarmtest.New(), files: map[string][]byte{}}}
	addService(t, f.old.Cluster, "backups_example_org", "app", 1, BackupServiceLabel+"=true")
	addService(t, f.old.Cluster, "app_example_org", "app", 1, BackupLabel+"=true", "coop-cloud.app_example_org.version=1.0.0+1")
	addService(t, f.new.Cluster, "backups_example_org", "app", 1, BackupServiceLabel+"=true")
	return f
}

func (f *moveFixture) mover(t *testing.T, withSecret bool) *Mover {
	f.old.ExecFunc = func(o swarm.ExecOptions) (int, error) {
		switch o.Cmd[1] {
		case "create":
			fmt.Fprintln(o.Stdout, `{"event":"result","data":{"snapshot_id":"abcdef1234","files":2,"bytes":24}}`)
		case "download":
			o.Stdout.Write(snapshotTar(t, withSecret))
		}
		return 0, nil
	}
	return &Mover{
		Store: f.store, Old: f.old, New: f.new, Poll: time.Millisecond, Wait: time.Second,
		Secrets: func(ctx context.Context, c swarm.Cluster, a *App) ([]secret.Secret, error) {
			s := []secret.Secret{{Name: "db_password", Version: "v1", DockerName: "app_example_org_db_password_v1", Generate: true}}
			return s, secret.MarkExisting(ctx, c, s)
		},
		Deploy: func(ctx context.Context, a *App, version string) error {
			f.deployed = append(f.deployed, a.Server+" "+version)
			addService(t, f.new.Cluster, "app_example_org", "app", 1, BackupLabel+"=true")
			return nil
		},
	}
}

func TestMove(t *testing.T) {
	ctx := context.Background()
	oldSecret := func(f *moveFixture) {
		secret.Create(ctx, f.old, "app_example_org", secret.Secret{Name: "db_password", Version: "v1", DockerName: "app_example_org_db_password_v1"}, "s3cret")
	}

	t.Run("data, secrets and env file move; the old volumes stay", func(t *testing.T) {
		f := newMoveFixture(t)
		oldSecret(f)
		res, err := f.mover(t, true).Move(ctx, f.a, MoveOptions{To: "new"})
		if err != nil {
			t.Fatalf("move: %v (hint: %s)", err, hint.Of(err))
		}
		if !slices.Equal(f.deployed, []string{"new 1.0.0+1"}) {
			t.Errorf("deployed %v, want the pinned version on new", f.deployed)
		}
		if res.Files != 2 || res.Snapshot != "abcdef1234" || !slices.Equal(res.SecretsCopied, []string{"app_example_org_db_password_v1"}) {
			t.Errorf("result %+v", res)
		}
		if got := string(f.new.files[moveVol+"/uploads/a.bin"]); got != "\x00\x01binary" {
			t.Errorf("copied file = %q", got)
		}
		if _, ok := f.new.files["/var/lib/backupbot/app_example_org/manifest.json"]; ok {
			t.Error("the manifest was copied into the new server")
		}
		ids, _ := f.new.SecretIDs(ctx, []string{"app_example_org_db_password_v1"})
		if len(ids) != 1 {
			t.Error("secret not created on new")
		}
		if st, _ := DeployedState(ctx, f.old, "app_example_org"); st.Deployed {
			t.Error("still deployed on old")
		}
		if ids, _ := f.old.SecretIDs(ctx, []string{"app_example_org_db_password_v1"}); len(ids) != 1 {
			t.Error("the secret on old was removed without --remove-old")
		}
		if _, err := os.Stat(filepath.Join(f.store.Root, "servers", "new", "app.example.org.env")); err != nil {
			t.Errorf("env file not moved: %v", err)
		}
		if _, err := os.Stat(filepath.Join(f.store.Root, "servers", "old", "app.example.org.env")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("old env file still there: %v", err)
		}
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		f := newMoveFixture(t)
		oldSecret(f)
		res, err := f.mover(t, true).Move(ctx, f.a, MoveOptions{To: "new", DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Plan) < 6 || !strings.Contains(strings.Join(res.Plan, "\n"), "deploy app.example.org 1.0.0+1 on new") {
			t.Errorf("plan %q", res.Plan)
		}
		if len(execs(f.old.Cluster)) != 0 || len(f.deployed) != 0 {
			t.Errorf("dry run ran %v, deployed %v", execs(f.old.Cluster), f.deployed)
		}
		if _, err := os.Stat(f.a.Path); err != nil {
			t.Error(err)
		}
	})

	t.Run("a copy that differs leaves the app on the old server", func(t *testing.T) {
		f := newMoveFixture(t)
		oldSecret(f)
		f.new.corrupt = moveVol + "/db.sql"
		_, err := f.mover(t, true).Move(ctx, f.a, MoveOptions{To: "new"})
		if !errors.Is(err, ErrMoveVerify) {
			t.Fatalf("err = %v, want ErrMoveVerify", err)
		}
		if !strings.Contains(err.Error(), "db.sql") || !strings.Contains(hint.Of(err), "still runs on old") || !strings.Contains(hint.Of(err), "abra app move app.example.org new") {
			t.Errorf("error %q hint %q", err, hint.Of(err))
		}
		if st, _ := DeployedState(ctx, f.old, "app_example_org"); !st.Deployed {
			t.Error("undeployed on old after a failed move")
		}
		if st, _ := DeployedState(ctx, f.new, "app_example_org"); st.Deployed {
			t.Error("the failed copy is still deployed on new")
		}
		if _, err := os.Stat(f.a.Path); err != nil {
			t.Errorf("env file moved after a failed move: %v", err)
		}
	})

	t.Run("a secret no backed-up service uses is refused by name", func(t *testing.T) {
		f := newMoveFixture(t)
		oldSecret(f)
		_, err := f.mover(t, false).Move(ctx, f.a, MoveOptions{To: "new"})
		if err == nil || !strings.Contains(err.Error(), "app_example_org_db_password_v1") || !strings.Contains(hint.Of(err), "secret create") {
			t.Fatalf("err = %v hint %q", err, hint.Of(err))
		}
		if len(f.deployed) != 0 {
			t.Error("deployed although a secret is missing")
		}
	})

	t.Run("a secret missing on both servers is refused before anything runs", func(t *testing.T) {
		f := newMoveFixture(t)
		_, err := f.mover(t, true).Move(ctx, f.a, MoveOptions{To: "new"})
		if err == nil || !strings.Contains(err.Error(), "exist on neither") {
			t.Fatalf("err = %v", err)
		}
		if len(execs(f.old.Cluster)) != 0 {
			t.Error("a backup ran")
		}
	})

	t.Run("same server and unknown server are refused", func(t *testing.T) {
		f := newMoveFixture(t)
		for _, to := range []string{"old", "nowhere"} {
			if _, err := f.mover(t, true).Move(ctx, f.a, MoveOptions{To: to}); err == nil {
				t.Errorf("move to %s succeeded", to)
			}
		}
	})
}
