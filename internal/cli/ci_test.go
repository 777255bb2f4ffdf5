package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestCIPluginRunsAbraCommandLines: the image's entry point without
// arguments ("abra ci") reads drone-abra's settings and runs the command
// line in process against the checkout as ABRA_DIR.
func TestCIPluginRunsAbraCommandLines(t *testing.T) {
	fx := newFixture(t)
	t.Chdir(fx.dir)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "ci")
	if err != nil {
		t.Fatal(err)
	}
	key := string(pem.EncodeToMemory(block))
	t.Setenv("PLUGIN_DEPLOY_KEY", key)
	t.Setenv("PLUGIN_KNOWN_HOSTS", "default ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")

	t.Setenv("PLUGIN_COMMAND", "app ls --json")
	code, stdout, stderr := fx.run(t, Args([]string{"/usr/bin/abra-ci"})...)
	if code != ExitOK || !strings.Contains(stdout, "app.example.org") || !strings.Contains(stderr, "→ abra app ls --json") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	if v, ok := os.LookupEnv("PLUGIN_DEPLOY_KEY"); ok {
		t.Fatalf("the deploy key stays in abra's environment, where commands abra starts would inherit it: %.20q…", v)
	}

	t.Setenv("PLUGIN_DEPLOY_KEY", key)
	t.Setenv("PLUGIN_COMMAND", "app config app.example.org")
	if code, _, stderr := fx.run(t, "ci"); code != 7 || !strings.Contains(stderr, "refused in CI") {
		t.Fatalf("app config: exit %d, want 7\n%s", code, stderr)
	}

	for _, k := range []string{"PLUGIN_COMMAND", "PLUGIN_DEPLOY_KEY", "PLUGIN_KNOWN_HOSTS"} {
		os.Unsetenv(k) // t.Setenv puts them back after the test
	}
	if code, stdout, stderr := fx.run(t, "ci"); code != ExitUsage || stdout != "" || !strings.Contains(stderr, "no PLUGIN_* or INPUT_* settings") {
		t.Fatalf("abra ci without settings: exit %d\n%s%s", code, stdout, stderr)
	}
}
