package cicmd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/ci"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/sshdocker/sshdockertest"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
	"coopcloud.tech/abra/internal/ui"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// recipeCheckout is a CI's clone of a recipe "web" in the working directory.
func recipeCheckout(t *testing.T) (commit string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "web")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"compose.yml": "version: \"3.8\"\nservices:\n  app:\n    image: nginx:1.25\n    environment:\n      - GREETING=${GREETING}\n",
		".env.sample": "TYPE=web\nDOMAIN=web.example.com\nGREETING=from the sample\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-qm", "web")
	t.Chdir(dir)
	return git(t, dir, "rev-parse", "HEAD")
}

func newKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "ci")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	return signer, string(pem.EncodeToMemory(block))
}

type harness struct {
	f        *command.Factory
	out, err bytes.Buffer
	env      map[string]string
	taken    []string
}

func newHarness(t *testing.T) *harness {
	h := &harness{env: map[string]string{}}
	h.f = &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &h.out, Err: &h.err}, AbraDir: t.TempDir()}
	return h
}

func (h *harness) environ() []string {
	var out []string
	for k, v := range h.env {
		out = append(out, k+"="+v)
	}
	return out
}

func (h *harness) takeEnv(name string) string {
	h.taken = append(h.taken, name)
	v := h.env[name]
	delete(h.env, name)
	return v
}

// deploy runs 'abra ci deploy args…' with the real runDeploy, connecting
// with connect when it is set, and returns its exit code.
func (h *harness) deploy(t *testing.T, connect func(context.Context, string) (swarm.Cluster, error), args ...string) int {
	t.Helper()
	cmd := newDeployCmd(h.f, func(ctx context.Context, o *deployOptions) error {
		o.environ, o.takeEnv, o.connect = h.environ, h.takeEnv, connect
		return runDeploy(ctx, o)
	})
	cmd.SetFlagErrorFunc(refuseFlags)
	cmd.SetArgs(args)
	cmd.SetOut(&h.out)
	cmd.SetErr(&h.err)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return exitOf(t, cmd.ExecuteContext(context.Background()))
}

func exitOf(t *testing.T, err error) int {
	t.Helper()
	var ece *command.ExitCodeError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ece):
		return ece.Code
	}
	t.Fatalf("error without an exit code: %v", err)
	return -1
}

func (h *harness) result(t *testing.T) resultView {
	t.Helper()
	var v resultView
	if err := json.Unmarshal(h.out.Bytes(), &v); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s\nstderr:\n%s", err, h.out.String(), h.err.String())
	}
	return v
}

func TestDeployRequiresAKnownHostKey(t *testing.T) {
	recipeCheckout(t)
	srv := sshdockertest.Start(t, nil)
	signer, key := newKey(t)
	srv.Authorize(signer.PublicKey())
	other, _ := newKey(t)
	base := []string{"--server", "ssh://root@" + srv.Addr(), "--ssh-key-env", "DEPLOY_KEY", "--domain", "review.example.org", "--json"}
	for _, tt := range []struct {
		name, want string
		args       []string
	}{
		{"no host key given", "host key is required", nil},
		{"another key in known_hosts", "does not match the known one", []string{"--known-hosts", "[127.0.0.1]:" + strconv.Itoa(srv.Port) + " " + string(ssh.MarshalAuthorizedKey(other.PublicKey()))}},
		{"another fingerprint", "does not match the known one", []string{"--host-fingerprint", ssh.FingerprintSHA256(other.PublicKey())}},
		{"only other hosts' lines", "is not among the known host keys", []string{"--known-hosts", "other.example.org " + string(ssh.MarshalAuthorizedKey(srv.HostKey))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.env["DEPLOY_KEY"] = key
			code := h.deploy(t, nil, append(slices.Clone(base), tt.args...)...)
			v := h.result(t)
			if code != ExitRefused || v.Result != ci.Refused || v.ExitCode != ExitRefused || !strings.Contains(v.Error, tt.want) {
				t.Fatalf("exit %d, result %+v: want a refusal saying %q\n%s", code, v, tt.want, h.err.String())
			}
			if srv.Logins() != 0 || len(srv.Sockets()) != 0 {
				t.Fatal("the key was offered to the server, or its Docker socket opened")
			}
			if !slices.Contains(h.taken, "DEPLOY_KEY") || strings.Contains(h.out.String()+h.err.String(), "PRIVATE KEY") {
				t.Fatalf("the key's variable was not taken, or the key was printed (taken %v)", h.taken)
			}
		})
	}
	t.Run("the fingerprint form reaches the server", func(t *testing.T) {
		h := newHarness(t)
		h.env["DEPLOY_KEY"] = key
		code := h.deploy(t, nil, append(slices.Clone(base), "--host-fingerprint", ssh.FingerprintSHA256(srv.HostKey))...)
		// The test server's socket answers nothing: the deploy fails at the
		// first Docker call, after logging in, without changing anything.
		if srv.Logins() != 1 || code != ExitRefused {
			t.Fatalf("logins %d, exit %d\n%s", srv.Logins(), code, h.err.String())
		}
	})
}

// TestDeployKeepsTheKeyInMemory: while the deploy runs (when it connects),
// no file under TMPDIR holds the key, and the key's variable is gone.
func TestDeployKeepsTheKeyInMemory(t *testing.T) {
	commit := recipeCheckout(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	_, key := newKey(t)
	srv := sshdockertest.Start(t, nil)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	body := strings.Split(strings.TrimSpace(key), "\n")[2] // a line of the key itself
	cluster := swarmtest.New()
	checked := false
	connect := func(ctx context.Context, server string) (swarm.Cluster, error) {
		err := filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
				return err
			}
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(body)) {
				t.Errorf("%s holds the key", p)
			}
			return nil
		})
		checked = true
		return cluster, err
	}
	for _, args := range [][]string{{"--ssh-key-env", "DEPLOY_KEY"}, {"--ssh-key-file", keyFile}} {
		h := newHarness(t)
		h.env["DEPLOY_KEY"] = key
		h.env["GREETING"] = "from the environment"
		code := h.deploy(t, connect, append([]string{"--server", srv.Addr(), "--host-fingerprint", ssh.FingerprintSHA256(srv.HostKey),
			"--domain", "review.example.org", "-D", "--json", "--env-from-environment"}, args...)...)
		v := h.result(t)
		if code != 0 || v.Result != ci.Converged || v.Commit != commit || v.Chaos != commit[:8] || v.Server != "127.0.0.1:"+strconv.Itoa(srv.Port) {
			t.Fatalf("exit %d: %+v\n%s", code, v, h.err.String())
		}
	}
	if !checked {
		t.Fatal("connect was not called")
	}
}

func TestDeployExitCodes(t *testing.T) {
	recipeCheckout(t)
	cluster := swarmtest.New()
	connect := func(context.Context, string) (swarm.Cluster, error) { return cluster, nil }
	_, key := newKey(t)
	args := []string{"--server", "ci.example.org", "--ssh-key-env", "K", "--host-fingerprint", "SHA256:" + strings.Repeat("A", 43),
		"--domain", "review.example.org", "-D", "--json", "--timeout", "1s"}
	run := func(extra ...string) (int, resultView, *harness) {
		h := newHarness(t)
		h.env["K"] = key
		code := h.deploy(t, connect, append(slices.Clone(args), extra...)...)
		return code, h.result(t), h
	}

	code, v, h := run()
	if code != ExitConverged || len(v.Services) != 1 || v.Recipe != "web" {
		t.Fatalf("exit %d, %+v\n%s", code, v, h.err.String())
	}
	// The sample's values are the app env (DOMAIN is the one given), as the
	// server's env record shows.
	rec, ok, err := app.LoadEnvRecord(context.Background(), cluster, "review_example_org")
	if err != nil || !ok || !strings.Contains(rec.Env, "GREETING=from the sample") || !strings.Contains(rec.Env, "DOMAIN=review.example.org") {
		t.Fatalf("env record %+v %v %v", rec, ok, err)
	}

	cluster.FailUpdates()
	if err := os.WriteFile("compose.yml", []byte("version: \"3.8\"\nservices:\n  app:\n    image: nginx:1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, v, _ = run("--work-tree")
	if code != ExitRolledBack || v.Result != ci.RolledBack {
		t.Fatalf("exit %d, %+v: want rolled back", code, v)
	}

	for _, bad := range [][]string{{"--version", "1.0.0", "--work-tree"}, {"--env-file", "x.env", "--env-from-environment"}, {"--bogus"}, {"extra-argument"}, {"--recipe", "../x"}} {
		h := newHarness(t)
		h.env["K"] = key
		if code := h.deploy(t, connect, append(slices.Clone(args), bad...)...); code != ExitRefused {
			t.Errorf("%v: exit %d, want %d\n%s", bad, code, ExitRefused, h.err.String())
		}
	}
}

func TestPluginStackForm(t *testing.T) {
	recipeCheckout(t)
	cluster := swarmtest.New()
	_, key := newKey(t)
	// prefix: PLUGIN_ for Drone's and Woodpecker's settings, INPUT_ for
	// Actions' with: keys.
	plugin := func(prefix, purge string) resultView {
		h := newHarness(t)
		h.env = map[string]string{
			prefix + "HOST": "swarm.example.org", prefix + "STACK": "review_example_org", prefix + "DEPLOY_KEY": key,
			prefix + "HOST_FINGERPRINT": "SHA256:" + strings.Repeat("A", 43), prefix + "PURGE": purge, prefix + "JSON": "true",
			"DOMAIN": "review.example.org", "GREETING": "from the step", "CI_REPO_NAME": "web", "DRONE_COMMIT": "abc", "HOME": "/root",
		}
		o := &pluginOptions{f: h.f, environ: h.environ, takeEnv: h.takeEnv,
			connect: func(context.Context, string) (swarm.Cluster, error) { return cluster, nil }}
		err := runPlugin(context.Background(), o)
		v := h.result(t)
		if exitOf(t, err) != 0 || v.Result != ci.Converged || v.Recipe != "web" || v.Server != "swarm.example.org" {
			t.Fatalf("%v: %+v\n%s", err, v, h.err.String())
		}
		if !slices.Contains(h.taken, prefix+"DEPLOY_KEY") {
			t.Error("the deploy key's variable stays in the environment")
		}
		return v
	}
	plugin("PLUGIN_", "false")
	// The step's environment is the app env, without the runner's variables.
	rec, ok, err := app.LoadEnvRecord(context.Background(), cluster, "review_example_org")
	if err != nil || !ok {
		t.Fatalf("no env record: %v", err)
	}
	for _, want := range []string{"GREETING=\"from the step\"", "DOMAIN=review.example.org", "TYPE=web"} {
		if !strings.Contains(rec.Env, want) {
			t.Errorf("env record lacks %s:\n%s", want, rec.Env)
		}
	}
	for _, noise := range []string{"DRONE_COMMIT", "CI_REPO_NAME", "PLUGIN_", "INPUT_", "HOME", "PRIVATE KEY"} {
		if strings.Contains(rec.Env, noise) {
			t.Errorf("env record holds %s:\n%s", noise, rec.Env)
		}
	}
	if v := plugin("INPUT_", "true"); !v.Purged {
		t.Fatal("not purged")
	}
	if svcs, _ := cluster.Services(context.Background(), "review_example_org"); len(svcs) != 0 {
		t.Fatalf("%d services left after the purge", len(svcs))
	}
}

func TestPluginCommandForm(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "servers", "swarm.example.org"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	_, key := newKey(t)
	root := fakeRoot()
	for _, tt := range []struct {
		name, command string
		exit          int
		ran           [][]string
	}{
		{"the lines run in order", "app ls\napp deploy blog.example.org --force", 0, [][]string{{"app", "ls"}, {"app", "deploy", "blog.example.org", "--force"}}},
		{"a failing line stops the rest with its exit code", "app undeploy x.example.org\napp ls", 3, [][]string{{"app", "undeploy", "x.example.org"}}},
		{"an editor is refused", "app config blog.example.org", ExitRefused, nil},
		{"following logs is refused", "app logs blog.example.org -f", ExitRefused, nil},
		{"nesting is refused", "ci deploy", ExitRefused, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.env = map[string]string{"PLUGIN_COMMAND": tt.command, "PLUGIN_DEPLOY_KEY": key, "PLUGIN_KNOWN_HOSTS": "swarm.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}
			var ran [][]string
			o := &pluginOptions{f: h.f, root: root, environ: h.environ, takeEnv: h.takeEnv,
				run: func(_ context.Context, f *command.Factory, args []string) int {
					if !f.NoInput || f.AbraDir != dir || f.Connect == nil {
						t.Errorf("factory: no-input %v, ABRA_DIR %s", f.NoInput, f.AbraDir)
					}
					ran = append(ran, args)
					if args[1] == "undeploy" {
						return 3
					}
					return 0
				}}
			if code := exitOf(t, runPlugin(context.Background(), o)); code != tt.exit {
				t.Fatalf("exit %d, want %d\n%s", code, tt.exit, h.err.String())
			}
			if !slices.EqualFunc(ran, tt.ran, slices.Equal) {
				t.Fatalf("ran %q, want %q", ran, tt.ran)
			}
		})
	}
}

// fakeRoot is a command tree like abra's, for resolving command lines.
func fakeRoot() *cobra.Command {
	root := &cobra.Command{Use: "abra"}
	appCmd := &cobra.Command{Use: "app"}
	logs := &cobra.Command{Use: "logs <domain>", Run: func(*cobra.Command, []string) {}}
	logs.Flags().BoolP("follow", "f", false, "")
	for _, name := range []string{"ls", "deploy <domain>", "undeploy <domain>", "config <domain>"} {
		appCmd.AddCommand(&cobra.Command{Use: name, Run: func(*cobra.Command, []string) {}})
	}
	appCmd.AddCommand(logs)
	root.AddCommand(appCmd, NewCmd(&command.Factory{}, nil))
	return root
}

func TestExitCodes(t *testing.T) {
	want := map[ci.Outcome]int{ci.Converged: 0, ci.Failed: 1, ci.RolledBack: 4, ci.RollbackFailed: 5, ci.LockTimeout: 6, ci.Refused: 7, ci.Interrupted: 130}
	seen := map[int]bool{}
	for o, code := range want {
		if got := ExitCode(o); got != code {
			t.Errorf("ExitCode(%s) = %d, want %d", o, got, code)
		}
		if seen[code] {
			t.Errorf("exit code %d is used twice", code)
		}
		seen[code] = true
	}
}
