package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pgCompose is an app whose database, a real PostgreSQL (Debian's, built by
// scripts/build-postgres-image.sh), is pinned to the worker abra-w1. Its dump
// volume is backed up: the pre-hook writes it with pg_dump, the restore
// post-hook loads it with pg_restore; the data directory itself is not.
const pgCompose = `version: "3.8"
services:
  app:
    image: abra-test/postgres:15
    volumes:
      - data:/var/lib/postgresql/data
      - dumps:/dumps
    deploy:
      placement:
        constraints: ["node.hostname == abra-w1"]
      labels:
        - "coop-cloud.${STACK_NAME}.version=0.1.0+15"
        - "coop-cloud.${STACK_NAME}.timeout=300"
        - "backupbot.backup=true"
        - "backupbot.backup.volumes.data=false"
        - "backupbot.backup.pre-hook=pg_dump -U postgres -h /var/run/postgresql -Fc -f /dumps/db.dump postgres"
        - "backupbot.restore.post-hook=pg_restore -U postgres -h /var/run/postgresql -d postgres --clean --if-exists /dumps/db.dump"
volumes:
  data:
  dumps:
`

// TestBackupOfADatabaseOnAWorker backs up and restores, through the backup
// service on the manager, a PostgreSQL pinned to a worker: its pg_dump
// pre-hook runs in the container on the worker (the manager's Docker cannot
// exec there), the dump is read from the worker's volume, and the restore
// writes it back and runs pg_restore on that worker.
func TestBackupOfADatabaseOnAWorker(t *testing.T) {
	sw := startSwarm3(t)
	pg := run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-postgres-image.sh"))
	botRepo, botImage := backupBotRecipeRepo(t)
	sw.load(t, botImage)
	loadImage(t, sw.sock(2), pg) // the database runs on abra-w1 only

	// The repository is a directory every node mounts at the same path, as
	// NFS would be: the nodes' daemons share this machine's file system.
	repo, err := os.MkdirTemp("", "abrasw-repo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(repo) })

	e := sw.env(t)
	e.mustAbra("server", "add", swarm3Server, "-n")
	e.mustAbra("recipe", "fetch", "backup-bot", "--url", botRepo)
	dbRepo := filepath.Join(t.TempDir(), "pgapp")
	writeFile(t, filepath.Join(dbRepo, ".env.sample"), "TYPE=pgapp\nDOMAIN=pg.example.com\n")
	writeFile(t, filepath.Join(dbRepo, "compose.yml"), pgCompose)
	run(t, dbRepo, "git", "init", "-q", "-b", "main")
	run(t, dbRepo, "git", "add", "-A")
	run(t, dbRepo, "git", "commit", "-qm", "pgapp")
	run(t, dbRepo, "git", "tag", "-a", "0.1.0+15", "-m", "0.1.0+15")
	e.mustAbra("recipe", "fetch", "pgapp", "--url", dbRepo)

	const botDomain, botStack = "backups.swarm.localhost", "backups_swarm_localhost"
	const domain, stack = "pg.swarm.localhost", "pg_swarm_localhost"
	t.Cleanup(func() {
		for _, s := range []string{stack, botStack} {
			sw.docker(t, 1, "stack", "rm", s)
		}
	})
	e.mustAbra("app", "new", "backup-bot", "--server", swarm3Server, "--domain", botDomain, "-n")
	envPath := filepath.Join(e.abraDir, "servers", swarm3Server, botDomain+".env")
	env := readFile(t, envPath)
	for key, value := range map[string]string{
		"VOLUMES_ROOT":           filepath.Join(sw.dir, "node1", "data", "volumes"),
		"COMPOSE_FILE":           `"compose.yml:compose.shared-repository.yml"`,
		"SHARED_REPOSITORY_PATH": repo,
	} {
		re := regexp.MustCompile(`(?m)^#?\s*` + key + `=.*$`)
		if !re.MatchString(env) {
			t.Fatalf("the backup-bot recipe's .env.sample has no %s:\n%s", key, env)
		}
		env = re.ReplaceAllLiteralString(env, key+"="+value)
	}
	writeFile(t, envPath, env)
	e.mustAbra("app", "secret", "generate", botDomain, "--all", "-n")
	e.mustAbra("app", "deploy", botDomain, "-D", "-n")

	e.mustAbra("app", "new", "pgapp", "--server", swarm3Server, "--domain", domain, "-n")
	e.mustAbra("app", "deploy", domain, "-D", "-n")
	onNode := func() string {
		t.Helper()
		return sw.docker(t, 1, "service", "ps", "--filter", "desired-state=running", "--format", "{{.Node}}", stack+"_app")
	}
	if n := onNode(); n != "abra-w1" {
		t.Fatalf("the database runs on %q, want abra-w1", n)
	}

	// psql runs in the database's container on the worker.
	psql := func(sql string) string {
		t.Helper()
		id := sw.docker(t, 2, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+stack+"_app")
		if id == "" {
			t.Fatalf("no database container on abra-w1")
		}
		return sw.docker(t, 2, "exec", id, "psql", "-U", "postgres", "-h", "/var/run/postgresql", "-tAc", sql)
	}
	psql("CREATE TABLE members (name text); INSERT INTO members VALUES ('ada'), ('grace')")

	out := e.mustAbra("app", "backup", "create", domain)
	if o := out.stderr + out.stdout; !strings.Contains(o, "pg_dump") || !strings.Contains(o, "app: on node abra-w1") {
		t.Fatalf("the backup did not report its pre-hook on abra-w1:\n%s\n%s", out.stdout, out.stderr)
	}
	if jobs := sw.docker(t, 1, "service", "ls", "-q", "--filter", "label=coop-cloud.backupbot.node-job"); jobs != "" {
		t.Fatalf("node jobs left behind: %s", jobs)
	}
	snaps := snapshots(t, e, domain)
	if len(snaps) != 1 {
		t.Fatalf("snapshots = %+v, want one", snaps)
	}
	// The dump came from the worker's volume: the manager has no such volume.
	if vols := sw.docker(t, 1, "volume", "ls", "-q", "--filter", "name="+stack+"_dumps"); vols != "" {
		t.Fatalf("the manager has the app's volume %s", vols)
	}

	psql("DELETE FROM members WHERE name = 'ada'; INSERT INTO members VALUES ('mallory')")
	e.mustAbra("app", "restore", domain, "--force")
	if got := psql("SELECT string_agg(name, ',' ORDER BY name) FROM members"); got != "ada,grace" {
		t.Fatalf("rows after the restore = %q, want ada,grace", got)
	}
	if n := onNode(); n != "abra-w1" {
		t.Fatalf("after the restore the database runs on %q, want abra-w1", n)
	}
	// The safety snapshot of the changed rows is there to go back to.
	if snaps := snapshots(t, e, domain); len(snaps) != 2 {
		t.Fatalf("snapshots after the restore = %+v, want the backup and a safety snapshot", snaps)
	}
}
