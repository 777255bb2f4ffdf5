package e2e

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
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
