package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// backupBotRecipeRepo makes a git repo of recipes/backup-bot tagged with the
// version its compose file declares, and builds the image it names. It
// returns the repo and the image.
func backupBotRecipeRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "backup-bot")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(repoRoot, "recipes", "backup-bot"), dir)
	compose := readFile(t, filepath.Join(dir, "compose.yml"))
	version := regexp.MustCompile(`coop-cloud\.\$\{STACK_NAME\}\.version=([^"'\s]+)`).FindStringSubmatch(compose)
	image := regexp.MustCompile(`image:\s*["']?(\S*abra-backupbot:[^"'\s]+)`).FindStringSubmatch(compose)
	if version == nil || image == nil {
		t.Fatalf("recipes/backup-bot/compose.yml: no version label or abra-backupbot image:\n%s", compose)
	}
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-backupbot-image.sh"), "--tag", image[1])
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", "backup-bot")
	run(t, dir, "git", "tag", "-a", version[1], "-m", version[1])
	return dir, image[1]
}

// vaultCompose is an app whose data volume is backed up: the pre-hook dumps
// db.txt into dump.sql (as a database dump would), and every hook appends its
// name to hooks.log on a second volume that is not backed up, so the log
// survives restores and shows the order the hooks ran in.
const vaultCompose = `version: "3.8"
services:
  app:
    image: abra-test/busybox:1
    command: ["sleep", "86400"]
    environment:
      - MOTTO=${MOTTO:-keep}
    volumes:
      - data:/data
      - log:/log
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=VERSION"
        - "backupbot.backup=true"
        - "backupbot.backup.pre-hook=cat /data/files/db.txt > /data/dump.sql && echo backup-pre >> /log/hooks.log"
        - "backupbot.backup.post-hook=echo backup-post >> /log/hooks.log"
        - "backupbot.restore.pre-hook=echo restore-pre >> /log/hooks.log"
        - "backupbot.restore.post-hook=echo restore-post >> /log/hooks.log"
        - "backupbot.backup.volumes.log=false"
volumes:
  data:
  log:
`

// vaultRecipeRepo makes the "vault" recipe with releases 0.1.0+1 and 0.2.0+1.
func vaultRecipeRepo(t *testing.T) string {
	t.Helper()
	return twoReleaseRecipe(t, "vault", "TYPE=vault\nDOMAIN=vault.example.com\n", vaultCompose, "MOTTO:-keep", "MOTTO:-kept")
}

// twoReleaseRecipe makes a recipe repository with releases 0.1.0+1 and
// 0.2.0+1 of compose (its "VERSION" replaced by the version); the second
// release has old replaced by new.
func twoReleaseRecipe(t *testing.T, name, envSample, compose, old, new string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	writeFile(t, filepath.Join(dir, ".env.sample"), envSample)
	run(t, dir, "git", "init", "-q", "-b", "main")
	for _, v := range []string{"0.1.0+1", "0.2.0+1"} {
		c := strings.Replace(compose, "VERSION", v, 1)
		if v == "0.2.0+1" {
			c = strings.Replace(c, old, new, 1)
		}
		writeFile(t, filepath.Join(dir, "compose.yml"), c)
		run(t, dir, "git", "add", "-A")
		run(t, dir, "git", "commit", "-qm", name+" "+v)
		run(t, dir, "git", "tag", "-a", v, "-m", v)
	}
	return dir
}

// backupServer is one Docker server as the backup tests see it.
type backupServer struct {
	e          *env
	name       string // abra server name
	volumes    string // the host directory holding this daemon's volumes
	dockerHost []string
}

func (s backupServer) volumeData(stack, volume string) string {
	return filepath.Join(s.volumes, stack+"_"+volume, "_data")
}

// deployBackupBot deploys the backup-bot recipe on the server as backups.<suffix>.
func deployBackupBot(t *testing.T, s backupServer, domain string) {
	t.Helper()
	s.e.mustAbra("app", "new", "backup-bot", "--server", s.name, "--domain", domain, "-n")
	envPath := filepath.Join(s.e.abraDir, "servers", s.name, domain+".env")
	env := readFile(t, envPath)
	if s.volumes != "/var/lib/docker/volumes" {
		if !strings.Contains(env, "VOLUMES_ROOT=") {
			t.Fatalf("the backup-bot recipe cannot be told where this server keeps its volumes (VOLUMES_ROOT):\n%s", env)
		}
		env = regexp.MustCompile(`(?m)^#?\s*VOLUMES_ROOT=.*$`).ReplaceAllString(env, "VOLUMES_ROOT="+s.volumes)
		writeFile(t, envPath, env)
	}
	s.e.mustAbra("app", "secret", "generate", domain, "--all", "-n")
	s.e.mustAbra("app", "deploy", domain, "-D", "-n")
}

// in is the env reporting to a subtest's t, so that its failures end the subtest.
func (e *env) in(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// knownData is the app data the tests write, compare and restore.
type knownData map[string][]byte

func newKnownData(t *testing.T) knownData {
	t.Helper()
	blob := make([]byte, 300<<10)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	return knownData{
		"files/db.txt":          []byte("INSERT INTO notes VALUES (1, 'first');\nINSERT INTO notes VALUES (2, 'second');\n"),
		"files/blob.bin":        blob,
		"files/sub/nested.txt":  []byte("nested\x00binary\xff\n"),
		"files/sub/empty.txt":   {},
		"files/sub/deep/z.conf": []byte("z=1\n"),
	}
}

// write puts the files into the app's /data with abra app cp.
func (k knownData) write(t *testing.T, e *env, domain string) {
	t.Helper()
	local := filepath.Join(t.TempDir(), "files")
	for name, b := range k {
		writeFile(t, filepath.Join(filepath.Dir(local), name), string(b))
	}
	e.mustAbra("app", "cp", domain, local, "app:/data")
}

// check compares the volume's files with the known data, byte for byte.
func (k knownData) check(t *testing.T, dataDir string) {
	t.Helper()
	for name, want := range k {
		got, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after restore: %d bytes (%v), want %d bytes identical", name, len(got), err, len(want))
		}
	}
	if dump, err := os.ReadFile(filepath.Join(dataDir, "dump.sql")); err != nil || !bytes.Equal(dump, k["files/db.txt"]) {
		t.Errorf("dump.sql after restore = %q (%v), want the dump the pre-hook wrote at backup time", dump, err)
	}
}

// checkArchive compares the files of a downloaded tar.gz of the app's data
// volume with the known data.
func (k knownData) checkArchive(t *testing.T, archive, stack string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzip: %v", archive, err)
	}
	got := map[string][]byte{}
	prefix := "var/lib/docker/volumes/" + stack + "_data/_data/"
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", archive, err)
		}
		if name, ok := strings.CutPrefix(strings.TrimPrefix(h.Name, "/"), prefix); ok && h.Typeflag == tar.TypeReg {
			got[name], _ = io.ReadAll(tr)
		}
	}
	for name, want := range k {
		if !bytes.Equal(got[name], want) {
			t.Errorf("%s in the download: %d bytes, want %d bytes identical (files: %d)", name, len(got[name]), len(want), len(got))
		}
	}
}

// hookLog is the hooks' log on the app's second volume, one name a line.
func hookLog(t *testing.T, s backupServer, stack string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.volumeData(stack, "log"), "hooks.log"))
	if err != nil {
		t.Fatalf("hooks.log: %v", err)
	}
	return strings.Fields(string(b))
}

type snapshotView struct {
	ID      string   `json:"id"`
	ShortID string   `json:"short_id"`
	Tags    []string `json:"tags"`
}

func snapshots(t *testing.T, e *env, domain string) []snapshotView {
	t.Helper()
	var snaps []snapshotView
	r := e.mustAbra("app", "backup", "ls", domain, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &snaps); err != nil {
		t.Fatalf("backup ls --json: %v\n%s", err, r.stdout)
	}
	return snaps
}

// backupRoundTrip writes known data, backs it up, changes and deletes data,
// restores and checks the data is back byte for byte and the hooks ran in order.
func backupRoundTrip(t *testing.T, s backupServer, domain, stack, botStack string) knownData {
	t.Helper()
	data := newKnownData(t)
	data.write(t, s.e, domain)
	dataDir := s.volumeData(stack, "data")

	r := s.e.mustAbra("app", "backup", "create", domain)
	id := strings.TrimSpace(r.stdout)
	if len(id) < 8 || !strings.Contains(r.stderr, "snapshot "+id[:8]) {
		t.Fatalf("backup create must print the snapshot ID on stdout: %s", r)
	}
	if got := hookLog(t, s, stack); !slices.Equal(got, []string{"backup-pre", "backup-post"}) {
		t.Fatalf("hooks after the backup = %v, want backup-pre, backup-post", got)
	}
	if snaps := snapshots(t, s.e, domain); len(snaps) == 0 || !slices.ContainsFunc(snaps, func(v snapshotView) bool { return strings.HasPrefix(v.ID, id) || v.ShortID == id }) {
		t.Fatalf("snapshot %s not in backup ls: %v", id, snaps)
	}

	// download: the snapshot's volumes as a tar.gz, the files byte for byte.
	archive := filepath.Join(t.TempDir(), "snap.tar.gz")
	s.e.mustAbra("app", "backup", "download", domain, "--snapshot", id, "--volumes", "--output", archive)
	data.checkArchive(t, archive, stack)
	// Nothing may keep the repository locked once a command returned: restic
	// never removes a stale lock itself, so the next check would wait for it.
	if locks, _ := filepath.Glob(filepath.Join(s.volumeData(botStack, "backups"), "*", "locks", "*")); len(locks) != 0 {
		t.Errorf("the repository is still locked after the download: %v", locks)
	}

	// Change and delete data (busybox has no rm: the test reaches into the volume).
	changed := knownData{"files/db.txt": []byte("DROP TABLE notes;\n"), "files/sub/nested.txt": []byte("overwritten\n")}
	changed.write(t, s.e, domain)
	for _, name := range []string{"files/blob.bin", "files/sub/deep/z.conf", "dump.sql"} {
		if err := os.Remove(filepath.Join(dataDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dataDir, "files/sub/deep")); err != nil {
		t.Fatal(err)
	}

	// Without a terminal, restore wants --force or -n.
	if r := s.e.abra("app", "restore", domain); r.code != 2 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("restore without confirmation must be refused naming --force: %s", r)
	}
	r = s.e.mustAbra("app", "restore", domain, "--snapshot", id, "--force")
	m := regexp.MustCompile(`abra app restore ` + regexp.QuoteMeta(domain) + ` --snapshot (\S+)`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("restore must say how to go back to the safety snapshot: %s", r)
	}
	data.check(t, dataDir)

	hooks := hookLog(t, s, stack)
	pre, post := slices.Index(hooks, "restore-pre"), slices.Index(hooks, "restore-post")
	if !slices.Equal(hooks[:2], []string{"backup-pre", "backup-post"}) || pre < 2 || post < pre || post != len(hooks)-1 {
		t.Fatalf("hooks after the restore = %v, want the backup's pre and post hooks, then restore-pre, then restore-post last", hooks)
	}
	// The safety snapshot holds the changed data.
	if snaps := snapshots(t, s.e, domain); !slices.ContainsFunc(snaps, func(v snapshotView) bool { return strings.HasPrefix(v.ID, m[1]) || v.ShortID == m[1] }) {
		t.Fatalf("safety snapshot %s not listed: %v", m[1], snaps)
	}
	return data
}

// packFiles lists the restic pack files under dir, largest first.
func packFiles(t *testing.T, dir string) []string {
	t.Helper()
	pack := regexp.MustCompile(`/data/[0-9a-f]{2}/[0-9a-f]{64}$`)
	var out []string
	sizes := map[string]int64{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && pack.MatchString(p) {
			if info, err := d.Info(); err == nil {
				out = append(out, p)
				sizes[p] = info.Size()
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b string) int { return int(sizes[b] - sizes[a]) })
	return out
}

func localBackupServer(e *env) backupServer {
	return backupServer{e: e, name: "default", volumes: "/var/lib/docker/volumes"}
}

// localVault deploys the vault recipe's 0.1.0+1 as vault.<tag>.localhost on
// this machine's daemon (server "default") with the backup-bot recipe fetched
// for backups.<tag>.localhost, and removes both at the end of the test.
func localVault(t *testing.T, tag string) (e *env, s backupServer, domain, stack, botDomain string) {
	t.Helper()
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	botRepo, _ := backupBotRecipeRepo(t)
	e = newEnv(t)
	s = localBackupServer(e)
	domain, botDomain = "vault."+tag+".localhost", "backups."+tag+".localhost"
	stack = strings.ReplaceAll(domain, ".", "_")
	t.Cleanup(func() {
		for _, d := range []string{domain, botDomain} {
			e.abra("app", "undeploy", d)
		}
		waitStackGone(t, stack)
		waitStackGone(t, strings.ReplaceAll(botDomain, ".", "_"))
		for _, d := range []string{domain, botDomain} {
			e.abra("app", "remove", d, "--force")
		}
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "backup-bot", "--url", botRepo)
	e.mustAbra("recipe", "fetch", "vault", "--url", vaultRecipeRepo(t))
	e.mustAbra("app", "new", "vault", "--server", "default", "--domain", domain, "-n")
	e.mustAbra("app", "deploy", domain, "0.1.0+1", "-D", "-n")
	return e, s, domain, stack, botDomain
}

func TestBackupRestoreVerifyUpgrade(t *testing.T) {
	e, s, domain, stack, botDomain := localVault(t, "bk")
	const botStack = "backups_bk_localhost"

	// Without a backup service on the server the commands say how to get one.
	if r := e.abra("app", "backup", "create", domain); r.code != 1 || !strings.Contains(r.stderr, "no backup service") || !strings.Contains(r.stderr, "abra app new backup-bot") {
		t.Fatalf("backup without a backup service: %s", r)
	}
	if r := e.abra("app", "upgrade", domain, "-D", "-n", "--dry-run"); r.code != 0 || !strings.Contains(r.stderr, "without a backup") || !strings.Contains(r.stderr, "abra app new backup-bot") {
		t.Fatalf("upgrade with backups enabled but no backup service warns and goes on: %s", r)
	}
	if got := serviceLabel(t, stack+"_app", "coop-cloud."+stack+".version"); got != "0.1.0+1" {
		t.Fatalf("a refused upgrade changed the app: version %s", got)
	}
	deployBackupBot(t, s, botDomain)

	data := backupRoundTrip(t, s, domain, stack, botStack)

	t.Run("an empty dump fails the backup", func(t *testing.T) {
		e := e.in(t)
		before := len(snapshots(t, e, domain))
		if err := os.WriteFile(filepath.Join(s.volumeData(stack, "data"), "files", "db.txt"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		r := e.abra("app", "backup", "create", domain)
		if r.code == 0 || !strings.Contains(r.stderr, "empty") || !strings.Contains(r.stderr, "dump.sql") {
			t.Fatalf("a pre-hook producing an empty dump must fail the backup with the reason: %s", r)
		}
		if after := len(snapshots(t, e, domain)); after != before {
			t.Errorf("a failed backup left a snapshot: %d → %d", before, after)
		}
		data.write(t, e, domain)
	})

	t.Run("upgrade takes a backup first, rollback offers it", func(t *testing.T) {
		e := e.in(t)
		r := e.mustAbra("app", "upgrade", domain, "-D", "-n")
		if !strings.Contains(r.stderr, "✓ back up") {
			t.Errorf("upgrade did not take a backup: %s", r)
		}
		var pre *snapshotView
		for _, v := range snapshots(t, e, domain) {
			if slices.Contains(v.Tags, "pre-upgrade") && slices.Contains(v.Tags, "from:0.1.0+1") {
				pre = &v
			}
		}
		if pre == nil {
			t.Fatalf("no snapshot tagged pre-upgrade, from:0.1.0+1 after the upgrade")
		}
		if got := serviceLabel(t, stack+"_app", "coop-cloud."+stack+".version"); got != "0.2.0+1" {
			t.Fatalf("version after upgrade = %s", got)
		}
		r = e.mustAbra("app", "rollback", domain, "-D", "-n")
		if !strings.Contains(r.stderr, "abra app restore "+domain+" --snapshot "+pre.ShortID) {
			t.Errorf("rollback must offer the pre-upgrade snapshot %s: %s", pre.ShortID, r)
		}
		r = e.mustAbra("app", "upgrade", domain, "-D", "-n", "--no-backup")
		if strings.Contains(r.stderr, "back up") {
			t.Errorf("--no-backup took a backup: %s", r)
		}
	})

	t.Run("verify passes, then fails on a corrupted pack", func(t *testing.T) {
		e := e.in(t)
		r := e.mustAbra("app", "backup", "verify", domain)
		if !strings.Contains(r.stderr, "verified") {
			t.Fatalf("verify: %s", r)
		}
		matches, _ := filepath.Glob(filepath.Join(s.volumes, botStack+"_*", "_data"))
		var packs []string
		for _, m := range matches {
			packs = append(packs, packFiles(t, m)...)
		}
		if len(packs) == 0 {
			t.Fatalf("no restic pack files under %s/%s_*", s.volumes, botStack)
		}
		// The largest pack holds blob.bin: flip bytes in its middle.
		b, err := os.ReadFile(packs[0])
		if err != nil {
			t.Fatal(err)
		}
		for i := len(b) / 2; i < len(b)/2+16; i++ {
			b[i] ^= 0xff
		}
		if err := os.WriteFile(packs[0], b, 0o600); err != nil {
			t.Fatal(err)
		}
		if r := e.abra("app", "backup", "verify", domain); r.code != 1 || !strings.Contains(r.stderr, "blob.bin") || !strings.Contains(r.stderr, "failed") {
			t.Fatalf("verify must fail on a corrupted pack, naming the damaged file: %s", r)
		}
	})
}

// loadImage copies an image from the local daemon to the daemon at sock.
func loadImage(t *testing.T, sock, image string) {
	t.Helper()
	save := exec.Command(dockerBin(), "save", image)
	load := exec.Command(dockerBin(), "-H", sock, "load", "-q")
	pipe, err := save.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	load.Stdin = pipe
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("load %s on the node: %v %s", image, err, out)
	}
	if err := save.Wait(); err != nil {
		t.Fatalf("save %s: %v", image, err)
	}
}

// backupNode starts the second test server over real sshd with the busybox
// and backup service images on it, and an abra environment that reaches it as
// "abra-node1"; it returns that environment, the node's server and the
// backup-bot recipe repository.
func backupNode(t *testing.T) (*env, backupServer, string) {
	t.Helper()
	busybox := run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	botRepo, botImage := backupBotRecipeRepo(t)
	ssh := startSSH(t)
	ssh.trust(t, ssh.hostPub)
	node := startTestNode(t, ssh)
	sock := "unix://" + filepath.Join(node, "docker.sock")
	loadImage(t, sock, busybox)
	loadImage(t, sock, botImage)

	e := newEnv(t)
	e.extra = []string{ssh.path, "DOCKER_CONFIG=" + t.TempDir()}
	return e, backupServer{e: e, name: "abra-node1", volumes: filepath.Join(node, "data", "volumes")}, botRepo
}

func TestBackupRestoreOverSSH(t *testing.T) {
	e, s, botRepo := backupNode(t)
	e.mustAbra("server", "add", "abra-node1", "--init", "-n")
	e.mustAbra("recipe", "fetch", "backup-bot", "--url", botRepo)
	e.mustAbra("recipe", "fetch", "vault", "--url", vaultRecipeRepo(t))
	const domain, stack = "vault.node.localhost", "vault_node_localhost"
	e.mustAbra("app", "new", "vault", "--server", s.name, "--domain", domain, "-n")
	e.mustAbra("app", "deploy", domain, "0.1.0+1", "-D", "-n")
	const botDomain, botStack = "backups.node.localhost", "backups_node_localhost"
	deployBackupBot(t, s, botDomain)
	if out := docker(t, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack); out != "" {
		t.Fatalf("the node's app is on the local swarm: %s", out)
	}
	backupRoundTrip(t, s, domain, stack, botStack)
	e.mustAbra("app", "backup", "verify", domain)
	// The repository is the node's: its backup-bot wrote it into the node's volumes.
	if packs := packFiles(t, s.volumeData(botStack, "backups")); len(packs) == 0 {
		t.Fatalf("no restic pack files in the node's backup-bot volume")
	}
}
