package cli

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestDeployDryRun(t *testing.T) {
	fx := newFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	compose := strings.ReplaceAll(webCompose, "nginx:1.25", "nginx:1.26")
	compose = strings.ReplaceAll(compose, "1.0.0+1.25", "1.1.0+1.26")
	compose = strings.ReplaceAll(compose, "GREETING=${GREETING:-hello}", "GREETING=${GREETING:-hello}\n      - COLOUR=blue")
	compose += "  worker:\n    image: busybox:1.36\n"
	write(t, filepath.Join(repo, "compose.yml"), compose)
	git(t, repo, "commit", "-qam", "1.1.0")
	git(t, repo, "tag", "-a", "1.1.0+1.26", "-m", "1.1.0+1.26")
	envPath := filepath.Join(fx.dir, "servers", "default", "app.example.org.env")

	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "1.0.0+1.25", "-n"); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
	before := slices.Clone(fx.cluster.Calls)
	envBefore, _ := os.ReadFile(envPath)

	code, stdout, stderr := fx.run(t, "app", "deploy", "app.example.org", "1.1.0+1.26", "--dry-run", "-n")
	if code != ExitOK {
		t.Fatalf("dry run: exit %d\n%s", code, stderr)
	}
	golden(t, "deploy-dry-run", stdout)
	if !slices.Equal(fx.cluster.Calls, before) {
		t.Fatalf("dry run changed the swarm: %v", fx.cluster.Calls[len(before):])
	}
	if envAfter, _ := os.ReadFile(envPath); string(envAfter) != string(envBefore) {
		t.Fatalf("dry run changed the env file:\n%s", envAfter)
	}
	code, stdout, _ = fx.run(t, "app", "deploy", "app.example.org", "1.0.0+1.25", "--dry-run", "-n")
	if code != ExitOK || stdout != "no changes\n" {
		t.Fatalf("dry run of the running version: exit %d, %q", code, stdout)
	}
}
