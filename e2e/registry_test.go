package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// registryAddr is where scripts/registry-up.sh serves Debian's docker-registry.
// dockerd treats registries on 127.0.0.0/8 as insecure, so pushes need no TLS.
const registryAddr = "127.0.0.1:5000"

var baseImageOnce sync.Once

// startRegistry makes sure the local registry answers on 127.0.0.1:5000
// (installing and starting it when needed) and returns its address.
func startRegistry(t testing.TB) string {
	t.Helper()
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "registry-up.sh"))
	return registryAddr
}

// stopRegistry stops the local registry, so that commands see it unreachable,
// and starts it again when the test ends.
func stopRegistry(t testing.TB) {
	t.Helper()
	script := filepath.Join(repoRoot, "scripts", "registry-up.sh")
	run(t, repoRoot, script, "stop")
	t.Cleanup(func() {
		if out, err := exec.Command(script).CombinedOutput(); err != nil {
			t.Errorf("restart registry: %v\n%s", err, out)
		}
	})
}

var pushDigest = regexp.MustCompile(`(?m)^(\S+): digest: (sha256:[0-9a-f]{64})`)

// pushImage builds a small runnable image (static busybox, CMD sh) for each tag
// of 127.0.0.1:5000/<name>, pushes them and returns each tag's manifest digest.
// Every tag gets its own label, so every tag has its own digest; the busybox layer
// is shared, so pushing many tags costs little.
func pushImage(t testing.TB, name string, tags ...string) map[string]string {
	t.Helper()
	if len(tags) == 0 {
		t.Fatal("pushImage: no tags")
	}
	startRegistry(t)
	base := "abra-test/busybox:1"
	baseImageOnce.Do(func() {
		run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"), base)
	})
	repo := registryAddr + "/" + name
	for _, tag := range tags {
		dockerfile := "FROM " + base + "\nLABEL tech.coopcloud.e2e.image=\"" + name + ":" + tag + "\"\n"
		cmd := exec.Command(dockerBin(), "build", "-q", "-t", repo+":"+tag, "-")
		cmd.Stdin = strings.NewReader(dockerfile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker build %s:%s: %v\n%s", repo, tag, err, out)
		}
	}
	out := docker(t, "push", "--all-tags", repo)
	digests := map[string]string{}
	for _, m := range pushDigest.FindAllStringSubmatch(out, -1) {
		digests[m[1]] = m[2]
	}
	for _, tag := range tags {
		if digests[tag] == "" {
			t.Fatalf("docker push %s: no digest for tag %s in:\n%s", repo, tag, out)
		}
	}
	return digests
}

// TestRegistryHarness checks the two helpers other tests build on: every
// pushed tag is listed by the registry with its own digest.
func TestRegistryHarness(t *testing.T) {
	addr := startRegistry(t)
	digests := pushImage(t, "e2e/harness", "1.0.0", "1.1.0")
	if digests["1.0.0"] == digests["1.1.0"] {
		t.Fatalf("tags share a digest: %v", digests)
	}
	out := run(t, "", "curl", "-sf", "http://"+addr+"/v2/e2e/harness/tags/list")
	for _, tag := range []string{"1.0.0", "1.1.0"} {
		if !strings.Contains(out, `"`+tag+`"`) {
			t.Errorf("registry tags %s lack %s", out, tag)
		}
	}
}
