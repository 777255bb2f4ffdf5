package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Two abra processes deploying one app at once: the second waits for the
// first (the lock is a swarm config, so this holds across operators too).
func TestConcurrentDeploysAreSerialised(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	buildDemoImage(t, "0.2.0")
	repo := demoRecipeRepo(t)
	e := newEnv(t)
	const domain, port = "lock.e2e.localhost", "18095"
	t.Cleanup(func() {
		e.abra("app", "undeploy", domain)
		waitStackGone(t, "lock_e2e_localhost")
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "demo", "--url", repo)
	e.mustAbra("app", "new", "demo", "--server", "default", "--domain", domain, "-n")
	replaceInFile(t, filepath.Join(e.abraDir, "servers", "default", domain+".env"), "DEMO_PORT=8080", "DEMO_PORT="+port)

	var wg sync.WaitGroup
	results := make([]result, 2)
	for i, version := range []string{"0.1.0+0.1.0", "0.2.0+0.2.0"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.abra("app", "deploy", domain, version, "--force", "-n")
		}()
	}
	wg.Wait()
	waited := 0
	for _, r := range results {
		if r.code != 0 {
			t.Fatalf("a concurrent deploy failed: %s", r)
		}
		if strings.Contains(r.stderr, "waiting:") && strings.Contains(r.stderr, "has been working on "+domain) {
			waited++
		}
	}
	if waited != 1 {
		t.Fatalf("exactly one deploy must have waited for the other, %d did:\n%s\n%s", waited, results[0], results[1])
	}
	if out := docker(t, "config", "ls", "-q", "--filter", "name=abra-lock.lock_e2e_localhost"); out != "" {
		t.Fatalf("lock left behind: %s", out)
	}
}

// An abra killed (SIGKILL) in the middle of a deploy leaves the app's lock.
// The next deploy does not wait for it: the holder's process is gone, and it
// says how to break the lock; 'abra app lock --break' does, and nothing of
// the app is lost: the env file is whole and the deploy goes on.
func TestKilledAbraLeavesABreakableLock(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	buildDemoImage(t, "0.2.0")
	repo := demoRecipeRepo(t)
	e := newEnv(t)
	const domain, stack, port = "killed.e2e.localhost", "killed_e2e_localhost", "18096"
	t.Cleanup(func() {
		e.abra("app", "lock", domain, "--break", "--force")
		e.abra("app", "undeploy", domain)
		waitStackGone(t, stack)
	})
	envPath := deployDemo(t, e, repo, domain, port)
	envBefore := readFile(t, envPath)

	cmd, wait := startDeploy(t, e, domain, "0.2.0+0.2.0", "-n")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait()
	holder := fmt.Sprintf("pid %d", cmd.Process.Pid)
	if out := docker(t, "config", "inspect", "abra-lock."+stack, "--format", "{{index .Spec.Labels \"coop-cloud.lock.holder\"}}"); !strings.HasSuffix(out, holder) {
		t.Fatalf("the killed abra's lock: holder %q, want one ending in %q", out, holder)
	}

	start := time.Now()
	r := e.abra("app", "deploy", domain, "0.2.0+0.2.0", "-n", "--force")
	if r.code == 0 || !strings.Contains(r.stderr, holder) || !strings.Contains(r.stderr, "is gone") || !strings.Contains(r.stderr, "abra app lock "+domain+" --break") {
		t.Fatalf("deploy over the killed abra's lock must fail at once, naming it and the remedy: %s", r)
	}
	if waited := time.Since(start); waited > time.Minute {
		t.Fatalf("waited %s for a holder whose process is gone", waited)
	}
	if r := e.mustAbra("app", "lock", domain); !strings.Contains(r.stdout, "looks dead") {
		t.Fatalf("app lock: %s", r)
	}
	e.mustAbra("app", "lock", domain, "--break")
	if got := readFile(t, envPath); got != envBefore {
		t.Fatalf("the env file changed under the killed deploy:\n%s\nwas\n%s", got, envBefore)
	}
	e.mustAbra("app", "deploy", domain, "0.2.0+0.2.0", "-n", "--force")
	if body, err := httpGet(t, "http://127.0.0.1:"+port+"/version", 30*time.Second); err != nil || strings.TrimSpace(body) != "0.2.0" {
		t.Fatalf("after breaking the lock and deploying: %q %v", body, err)
	}
}

// A disk that fills up while abra writes an env file: the deploy says what
// happened (the app runs the new release, the pin could not be written),
// the env file is left whole, and 'abra app sync' records the version once
// there is space again.
func TestFullDiskLeavesTheEnvFileWhole(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	buildDemoImage(t, "0.2.0")
	repo := demoRecipeRepo(t)
	e := newEnv(t)
	// ABRA_DIR on a small file system of its own.
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", e.abraDir).Run(); err != nil {
		t.Fatalf("mount a tmpfs for ABRA_DIR: %v (the e2e tests run as root)", err)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", e.abraDir).Run() })
	const domain, stack, port = "full.e2e.localhost", "full_e2e_localhost", "18097"
	t.Cleanup(func() {
		_ = os.Remove(filepath.Join(e.abraDir, "fill"))
		e.abra("app", "undeploy", domain)
		waitStackGone(t, stack)
	})
	envPath := deployDemo(t, e, repo, domain, port)
	envBefore := readFile(t, envPath)

	// Fill the file system to the last block.
	fill, err := os.Create(filepath.Join(e.abraDir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for {
		if _, err := fill.Write(block); err != nil {
			break
		}
	}
	for {
		if _, err := fill.Write(block[:1]); err != nil {
			break
		}
	}
	fill.Close()

	r := e.abra("app", "deploy", domain, "0.2.0+0.2.0", "-n")
	if r.code == 0 || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "record version") ||
		!strings.Contains(r.stderr, domain+" runs 0.2.0+0.2.0, but the env file still pins 0.1.0+0.1.0") || !strings.Contains(r.stderr, "abra app sync "+domain) {
		t.Fatalf("a deploy whose pin cannot be written must fail and say so: %s", r)
	}
	if got := readFile(t, envPath); got != envBefore {
		t.Fatalf("the env file was damaged by the full disk:\n%q\nwas\n%q", got, envBefore)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(e.abraDir, "servers", "default", ".*tmp*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
	if body, err := httpGet(t, "http://127.0.0.1:"+port+"/version", 30*time.Second); err != nil || strings.TrimSpace(body) != "0.2.0" {
		t.Fatalf("the new release runs: %q %v", body, err)
	}
	if err := os.Remove(filepath.Join(e.abraDir, "fill")); err != nil {
		t.Fatal(err)
	}
	e.mustAbra("app", "sync", domain)
	if got := readFile(t, envPath); !strings.Contains(got, "0.2.0+0.2.0") {
		t.Fatalf("after sync the env file pins %q", got)
	}
}

// deployDemo makes the demo app domain on the local server, listening on
// port, deploys 0.1.0 and returns its env file.
func deployDemo(t *testing.T, e *env, repo, domain, port string) string {
	t.Helper()
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "demo", "--url", repo)
	e.mustAbra("app", "new", "demo", "--server", "default", "--domain", domain, "-n")
	envPath := filepath.Join(e.abraDir, "servers", "default", domain+".env")
	replaceInFile(t, envPath, "DEMO_PORT=8080", "DEMO_PORT="+port)
	e.mustAbra("app", "deploy", domain, "0.1.0+0.1.0", "-n")
	return envPath
}
