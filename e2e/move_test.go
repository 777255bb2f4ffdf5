package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAppMoveToSecondServer moves an app with data from the local daemon to
// the second test server (a dockerd in a network namespace, over real sshd):
// the data written before the move is read back byte-identical on the new
// server, the old deploy is gone and its volume is still there.
func TestAppMoveToSecondServer(t *testing.T) {
	e, remote, botRepo := backupNode(t)
	local := localBackupServer(e)
	const domain, stack = "vault.mv.localhost", "vault_mv_localhost"
	const localBot, remoteBot = "backups.mv.localhost", "backups.mvnode.localhost"
	t.Cleanup(func() {
		e.abra("app", "undeploy", domain)
		e.abra("app", "undeploy", localBot)
		waitStackGone(t, stack)
		waitStackGone(t, "backups_mv_localhost")
		e.abra("app", "remove", localBot, "--force")
		docker(t, "volume", "rm", stack+"_data", stack+"_log")
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("server", "add", remote.name, "--init", "-n")
	e.mustAbra("recipe", "fetch", "backup-bot", "--url", botRepo)
	e.mustAbra("recipe", "fetch", "vault", "--url", vaultRecipeRepo(t))
	e.mustAbra("app", "new", "vault", "--server", "default", "--domain", domain, "-n")
	e.mustAbra("app", "deploy", domain, "0.1.0+1", "-D", "-n")
	deployBackupBot(t, local, localBot)
	deployBackupBot(t, remote, remoteBot)

	data := newKnownData(t)
	data.write(t, e, domain)

	// A dry run plans and changes nothing.
	r := e.mustAbra("app", "move", domain, remote.name, "--dry-run")
	if !strings.Contains(r.stdout, "deploy "+domain+" 0.1.0+1 on "+remote.name) {
		t.Fatalf("dry run plan: %s", r)
	}
	if _, err := os.Stat(filepath.Join(e.abraDir, "servers", "default", domain+".env")); err != nil {
		t.Fatalf("dry run moved the env file: %v", err)
	}

	r = e.mustAbra("app", "move", domain, remote.name, "-n")
	if !strings.Contains(r.stderr, "moved from default to "+remote.name) {
		t.Fatalf("move: %s", r)
	}
	data.check(t, remote.volumeData(stack, "data"))
	if out := docker(t, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack); out != "" {
		t.Fatalf("the app still runs on the old server: %s", out)
	}
	if out := docker(t, "volume", "ls", "-q", "--filter", "name="+stack+"_data"); !strings.Contains(out, stack+"_data") {
		t.Fatalf("the old volume is gone: %q", out)
	}
	data.check(t, local.volumeData(stack, "data"))
	if _, err := os.Stat(filepath.Join(e.abraDir, "servers", remote.name, domain+".env")); err != nil {
		t.Fatalf("env file not on the new server: %v", err)
	}
	// abra now finds the app on the new server.
	if r := e.mustAbra("app", "ps", domain); !strings.Contains(r.stdout, "app") {
		t.Fatalf("app ps after the move: %s", r)
	}
}
