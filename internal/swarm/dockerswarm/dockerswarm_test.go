package dockerswarm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

// TestDockerMeetsContract runs the Cluster contract against the real daemon.
// The contract runs a service of the locally built busybox image: it is built
// here (a missing image is a failure, never a skip).
func TestDockerMeetsContract(t *testing.T) {
	if os.Getenv("ABRA_E2E") == "" && os.Getenv("CI") == "" {
		t.Skip("needs a dockerd in swarm mode: set ABRA_E2E=1 (make test does)")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "..", "scripts", "build-busybox-image.sh"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(script, swarmtest.ContractImage).Output()
	if err != nil || strings.TrimSpace(string(out)) != swarmtest.ContractImage {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("build %s: %q, %v\n%s", swarmtest.ContractImage, out, err, stderr)
	}
	swarmtest.Contract(t, func(t *testing.T) swarm.Cluster {
		c, err := New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	})
}
