package secrettest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PassEnv makes a throwaway password store for a test: a GnuPG home with a new
// key without passphrase and a store initialised for it, both in t.TempDir().
// It returns the environment (GNUPGHOME, PASSWORD_STORE_DIR) that `pass` needs.
// Without pass or gpg the test is skipped, unless CI is set, when it fails.
func PassEnv(t testing.TB) []string {
	t.Helper()
	for _, bin := range []string{"pass", "gpg"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (scripts/test.sh installs it)", bin)
			}
			t.Skipf("%s is not installed", bin)
		}
	}
	// gpg-agent's socket lives in GNUPGHOME: keep the path short.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home, "PASSWORD_STORE_DIR=" + filepath.Join(t.TempDir(), "store")}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), env...)
		_ = cmd.Run()
		_ = os.RemoveAll(home)
	})
	const id = "abra test <abra-test@example.org>"
	for _, args := range [][]string{
		{"gpg", "--batch", "--passphrase", "", "--quick-gen-key", id, "default", "default", "never"},
		{"pass", "init", id},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	return env
}
