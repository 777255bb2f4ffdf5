package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/journal"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
	"coopcloud.tech/abra/internal/ui"
)

// fixture is an ABRA_DIR with a "default" server, a git recipe "web" with
// one release, and an app "app.example.org" of it, against a fake swarm.
type fixture struct {
	dir     string
	cluster *swarmtest.Cluster
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

const webCompose = `version: "3.8"
services:
  app:
    image: nginx:1.25
    environment:
      - GREETING=${GREETING:-hello}
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.25"
`

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "servers", "default", ".keep"), "")
	repo := filepath.Join(dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), webCompose)
	write(t, filepath.Join(repo, ".env.sample"), "TYPE=web\nDOMAIN=web.example.com\nGREETING=hi\n")
	git(t, repo, "init", "-q", "-b", "main")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-qm", "web")
	git(t, repo, "tag", "-a", "1.0.0+1.25", "-m", "1.0.0+1.25")
	write(t, filepath.Join(dir, "servers", "default", "app.example.org.env"), "TYPE=web\nDOMAIN=app.example.org\nGREETING=hi\n")
	return &fixture{dir: dir, cluster: swarmtest.New()}
}

func (fx *fixture) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: fx.dir,
		Connect: func(context.Context, string) (swarm.Cluster, error) { return fx.cluster, nil }}
	code = Run(context.Background(), f, args)
	return code, out.String(), errb.String()
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, fx *fixture)
		args     []string
		code     int
		contains []string
	}{
		{name: "unknown app", args: []string{"app", "deploy", "nope.example.org", "-n"}, code: ExitFailure,
			contains: []string{`unknown app "nope.example.org"`, "hint: run 'abra app ls'"}},
		{name: "unknown server", args: []string{"app", "new", "web", "--server", "nope.example.org", "--domain", "x.example.org", "-n"}, code: ExitFailure,
			contains: []string{`unknown server "nope.example.org"`, "hint: run 'abra server add nope.example.org' first"}},
		{name: "env file syntax error", args: []string{"app", "env", "bad.example.org"}, code: ExitFailure,
			setup: func(t *testing.T, fx *fixture) {
				write(t, filepath.Join(fx.dir, "servers", "default", "bad.example.org.env"), "TYPE=web\nDOMAIN=bad.example.org\nFOO BAR\n")
			},
			contains: []string{"bad.example.org.env:3:"}},
		{name: "missing recipe", args: []string{"app", "new", "nope", "--server", "default", "--domain", "x.example.org", "-n"}, code: ExitFailure,
			contains: []string{"recipe nope", "hint: run 'abra recipe fetch nope' first"}},
		{name: "unknown version", args: []string{"app", "deploy", "app.example.org", "9.9.9+1", "-n"}, code: ExitFailure,
			contains: []string{"9.9.9+1", "1.0.0+1.25", "hint: list versions with 'abra recipe versions web'"}},
		{name: "compose file does not parse", args: []string{"app", "deploy", "app.example.org", "--chaos", "-n"}, code: ExitFailure,
			setup: func(t *testing.T, fx *fixture) {
				write(t, filepath.Join(fx.dir, "recipes", "web", "compose.yml"), "version: \"3.8\"\nservices:\n  app:\n    image: [unclosed\n")
			},
			contains: []string{"compose.yml", "load compose files"}},
		{name: "compose file with an unknown key", args: []string{"app", "deploy", "app.example.org", "--chaos", "-n"}, code: ExitFailure,
			setup: func(t *testing.T, fx *fixture) {
				write(t, filepath.Join(fx.dir, "recipes", "web", "compose.yml"), "version: \"3.8\"\nservices:\n  app:\n    image: nginx\n    colour: blue\n")
			},
			contains: []string{"colour"}},
		{name: "release failing a critical lint rule", args: []string{"app", "deploy", "app.example.org", "2.0.0+1", "-n"}, code: ExitFailure,
			setup: func(t *testing.T, fx *fixture) {
				repo := filepath.Join(fx.dir, "recipes", "web")
				write(t, filepath.Join(repo, "compose.yml"), strings.ReplaceAll(strings.ReplaceAll(webCompose, "nginx:1.25", "nginx"), "1.0.0+1.25", "2.0.0+1"))
				git(t, repo, "commit", "-qam", "untagged image")
				git(t, repo, "tag", "-a", "2.0.0+1", "-m", "2.0.0+1")
			},
			contains: []string{"fails critical lint rules", "R003", "hint: see 'abra recipe lint web'"}},
		{name: "missing argument is a usage error", args: []string{"app", "deploy"}, code: ExitUsage,
			contains: []string{"accepts between 1 and 2 arg(s)", "--help"}},
		{name: "missing flag without a terminal names the flag", args: []string{"app", "new", "web", "--server", "default", "-n"}, code: ExitUsage,
			contains: []string{"--domain"}},
		{name: "unknown flag", args: []string{"app", "ls", "--bogus"}, code: ExitUsage,
			contains: []string{"unknown flag: --bogus"}},
		{name: "unknown command", args: []string{"bogus"}, code: ExitUsage,
			contains: []string{`unknown command "bogus"`}},
		{name: "not a swarm manager", args: []string{"app", "deploy", "app.example.org", "-n"}, code: ExitFailure,
			setup:    func(t *testing.T, fx *fixture) { fx.cluster.Node.SwarmState = "inactive" },
			contains: []string{"not a swarm manager", "hint: run on the server: docker swarm init"}},
		{name: "server rm asks, naming the env files that would go", args: []string{"server", "rm", "default"}, code: ExitUsage,
			contains: []string{"forget server default", "app.example.org", "pass --force"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, fx)
			}
			envPath := filepath.Join(fx.dir, "servers", "default", "app.example.org.env")
			before, _ := os.ReadFile(envPath)
			code, stdout, stderr := fx.run(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit code = %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			if stdout != "" {
				t.Errorf("errors must not go to stdout: %q", stdout)
			}
			for _, want := range tt.contains {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if after, _ := os.ReadFile(envPath); !bytes.Equal(before, after) {
				t.Errorf("env file changed by a failed command:\n%s", after)
			}
			if len(fx.cluster.Calls) != 0 {
				t.Errorf("a failed command changed the swarm: %v", fx.cluster.Calls)
			}
		})
	}
}

func TestLifecycleOnFakeSwarm(t *testing.T) {
	fx := newFixture(t)
	envPath := filepath.Join(fx.dir, "servers", "default", "app.example.org.env")

	code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n")
	if code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
	services, _ := fx.cluster.Services(context.Background(), "app_example_org")
	if len(services) != 1 {
		t.Fatalf("services = %v", services)
	}
	labels := services[0].Spec.Labels
	for k, want := range map[string]string{
		"coop-cloud.app_example_org.version":    "1.0.0+1.25",
		"coop-cloud.app_example_org.chaos":      "false",
		"coop-cloud.app_example_org.recipe":     "web",
		"coop-cloud.app_example_org.autoupdate": "false",
		"com.docker.stack.namespace":            "app_example_org",
	} {
		if labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, labels[k], want)
		}
	}
	env := services[0].Spec.TaskTemplate.ContainerSpec.Env
	if len(env) != 1 || env[0] != "GREETING=hi" {
		t.Errorf("container env = %v, want the app env's GREETING=hi", env)
	}
	if b, _ := os.ReadFile(envPath); !strings.Contains(string(b), "TYPE=web:1.0.0+1.25\n") || !strings.Contains(string(b), "GREETING=hi") {
		t.Fatalf("env file not pinned:\n%s", b)
	}
	if !strings.Contains(stderr, "✓ wait for convergence") {
		t.Errorf("progress lacks the convergence step:\n%s", stderr)
	}

	code, _, stderr = fx.run(t, "app", "deploy", "app.example.org", "-n")
	if code != ExitFailure || !strings.Contains(stderr, "already deployed") {
		t.Fatalf("redeploy: exit %d\n%s", code, stderr)
	}
	if code, _, stderr = fx.run(t, "app", "deploy", "app.example.org", "-f", "-n"); code != ExitOK {
		t.Fatalf("forced redeploy: exit %d\n%s", code, stderr)
	}

	code, stdout, _ := fx.run(t, "app", "ps", "app.example.org", "--json")
	if code != ExitOK || !strings.Contains(stdout, `"service": "app"`) || !strings.Contains(stdout, `"state": "running"`) {
		t.Fatalf("ps: exit %d\n%s", code, stdout)
	}

	if code, _, stderr = fx.run(t, "app", "undeploy", "app.example.org"); code != ExitOK {
		t.Fatalf("undeploy: exit %d\n%s", code, stderr)
	}
	if services, _ := fx.cluster.Services(context.Background(), "app_example_org"); len(services) != 0 {
		t.Fatalf("services left after undeploy: %v", services)
	}
	fx.cluster.AddVolume("app_example_org_data", "app_example_org")
	fx.cluster.AddSecret("app_example_org_pw_v1")
	if code, _, stderr = fx.run(t, "app", "remove", "app.example.org", "--force"); code != ExitOK {
		t.Fatalf("remove: exit %d\n%s", code, stderr)
	}
	if vols, _ := fx.cluster.Volumes(context.Background(), ""); len(vols) != 0 {
		t.Errorf("volumes left: %v", vols)
	}
	if secrets, _ := fx.cluster.Secrets(context.Background(), ""); len(secrets) != 0 {
		t.Errorf("secrets left: %v", secrets)
	}
	if _, err := os.Stat(envPath); !os.IsNotExist(err) {
		t.Errorf("env file still there: %v", err)
	}
}

func TestFailedUpgradePutsPreviousVersionBack(t *testing.T) {
	fx := newFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	compose := strings.ReplaceAll(webCompose, "nginx:1.25", "nginx:1.26")
	compose = strings.ReplaceAll(compose, "1.0.0+1.25", "1.1.0+1.26")
	compose = strings.ReplaceAll(compose, "      labels:\n", "      labels:\n        - \"coop-cloud.${STACK_NAME}.timeout=1\"\n")
	write(t, filepath.Join(repo, "compose.yml"), compose)
	git(t, repo, "commit", "-qam", "1.1.0")
	git(t, repo, "tag", "-a", "1.1.0+1.26", "-m", "1.1.0+1.26")
	envPath := filepath.Join(fx.dir, "servers", "default", "app.example.org.env")

	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "1.0.0+1.25", "-n"); code != ExitOK {
		t.Fatalf("deploy 1.0.0: exit %d\n%s", code, stderr)
	}
	fx.cluster.FailUpdates()
	code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "1.1.0+1.26", "-n")
	if code != ExitNotConverged {
		t.Fatalf("failed upgrade: exit %d, want %d\n%s", code, ExitNotConverged, stderr)
	}
	for _, want := range []string{"did not converge", "previous version was put back", "rollback service app_example_org_app"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	services, _ := fx.cluster.Services(context.Background(), "app_example_org")
	if img := services[0].Spec.TaskTemplate.ContainerSpec.Image; img != "nginx:1.25" {
		t.Errorf("image after the failed upgrade = %s, want nginx:1.25 back", img)
	}
	if b, _ := os.ReadFile(envPath); !strings.Contains(string(b), "TYPE=web:1.0.0+1.25\n") {
		t.Errorf("env file must keep the previous version:\n%s", b)
	}
}

func TestRunAndCmd(t *testing.T) {
	fx := newFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	write(t, filepath.Join(repo, "abra.sh"), "export X_VERSION=v1\n\ngreet() {\n  echo \"hello $1 from $DOMAIN\"\n}\n")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-qm", "abra.sh")
	git(t, repo, "tag", "-f", "-a", "1.0.0+1.25", "-m", "1.0.0+1.25")
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n"); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}

	var got []string
	fx.cluster.ExecFunc = func(o swarm.ExecOptions) (int, error) {
		got = o.Cmd
		return 3, nil
	}
	code, _, stderr := fx.run(t, "app", "run", "app.example.org", "app", "--", "ls", "-la")
	if code != 3 || strings.Join(got, " ") != "ls -la" {
		t.Fatalf("run: exit %d (want the command's 3), cmd %v\n%s", code, got, stderr)
	}
	if code, _, stderr := fx.run(t, "app", "run", "app.example.org", "nope", "--", "ls"); code != ExitFailure || !strings.Contains(stderr, `no service "nope"`) {
		t.Fatalf("run in an unknown service: exit %d\n%s", code, stderr)
	}

	code, stdout, _ := fx.run(t, "app", "cmd", "app.example.org", "--list")
	if code != ExitOK || stdout != "greet\n" {
		t.Fatalf("cmd --list: exit %d, %q", code, stdout)
	}
	fx.cluster.ExecFunc = func(o swarm.ExecOptions) (int, error) {
		got = o.Cmd
		return 0, nil
	}
	if code, _, stderr := fx.run(t, "app", "cmd", "app.example.org", "app", "greet", "--", "you"); code != ExitOK {
		t.Fatalf("cmd: exit %d\n%s", code, stderr)
	}
	if len(got) != 5 || got[0] != "sh" || !strings.Contains(got[2], "greet() {") || !strings.HasSuffix(got[2], "greet \"$@\"\n") || got[4] != "you" {
		t.Fatalf("cmd ran %q", got)
	}
	code, stdout, stderr = fx.run(t, "app", "cmd", "app.example.org", "--local", "greet", "--", "you")
	if code != ExitOK || stdout != "hello you from app.example.org\n" {
		t.Fatalf("cmd --local: exit %d, %q\n%s", code, stdout, stderr)
	}
	if code, _, stderr := fx.run(t, "app", "cmd", "app.example.org", "app", "nope"); code != ExitFailure || !strings.Contains(stderr, "functions: greet") {
		t.Fatalf("cmd of an unknown function: exit %d\n%s", code, stderr)
	}
}

func TestFleetStatus(t *testing.T) {
	fx := newFixture(t)
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n"); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
	for _, srv := range []string{"down.example.org", "slow.example.org", "idle.example.org"} {
		write(t, filepath.Join(fx.dir, "servers", srv, "web."+srv+".env"), "TYPE=web:1.0.0+1.25\nDOMAIN=web."+srv+"\n")
	}
	idle := swarmtest.New()
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: fx.dir,
		Connect: func(ctx context.Context, server string) (swarm.Cluster, error) {
			switch server {
			case "down.example.org":
				return nil, errors.New("ssh: connect to host down.example.org port 22: Connection refused")
			case "slow.example.org":
				<-ctx.Done() // never answers
				select {}
			case "idle.example.org":
				return idle, nil
			}
			return fx.cluster, nil
		}}
	code := Run(context.Background(), f, []string{"app", "ls", "--status", "--timeout", "300ms", "--json"})
	if code != ExitPartial {
		t.Fatalf("exit %d, want %d (some servers failed)\n%s", code, ExitPartial, errb.String())
	}
	// abra's shape: servers → apps, so that jq '.[].apps[].appName' works.
	var servers map[string]struct {
		Apps     []map[string]string `json:"apps"`
		AppCount int                 `json:"appCount"`
	}
	if err := json.Unmarshal(out.Bytes(), &servers); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := map[string]map[string]string{}
	for name, s := range servers {
		if s.AppCount != len(s.Apps) {
			t.Errorf("server %s: appCount %d for %d apps", name, s.AppCount, len(s.Apps))
		}
		for _, r := range s.Apps {
			if r["server"] != name || r["appName"] != r["domain"] {
				t.Errorf("app row under %s = %v", name, r)
			}
			got[r["appName"]] = r
		}
	}
	if r := got["app.example.org"]; r["status"] != "deployed" || r["version"] != "1.0.0+1.25" {
		t.Errorf("deployed app row = %v", r)
	}
	if r := got["web.down.example.org"]; r["status"] != "unknown" || !strings.Contains(r["reason"], "Connection refused") {
		t.Errorf("unreachable server row = %v", r)
	}
	if r := got["web.slow.example.org"]; r["status"] != "unknown" || !strings.Contains(r["reason"], "no answer within 300ms") {
		t.Errorf("silent server row = %v", r)
	}
	if r := got["web.idle.example.org"]; r["status"] != "undeployed" || r["version"] != "1.0.0+1.25" {
		t.Errorf("undeployed app row = %v", r)
	}
	if !strings.Contains(errb.String(), "2 of 4 servers failed") {
		t.Errorf("stderr does not say which servers failed:\n%s", errb.String())
	}
}

func TestServerAddInit(t *testing.T) {
	fx := newFixture(t)
	fx.cluster.Node.SwarmState, fx.cluster.Node.IsManager = "inactive", false
	code, _, stderr := fx.run(t, "server", "add", "--local", "-n")
	if code != ExitFailure || !strings.Contains(stderr, "docker swarm init") || !strings.Contains(stderr, "--init") {
		t.Fatalf("server add on a node without swarm: exit %d\n%s", code, stderr)
	}
	if code, _, stderr = fx.run(t, "server", "add", "--local", "--init", "-n"); code != ExitOK {
		t.Fatalf("server add --init: exit %d\n%s", code, stderr)
	}
	if !slices.Contains(fx.cluster.Calls, "swarm init") || !slices.Contains(fx.cluster.Calls, "create network proxy") {
		t.Fatalf("--init did not set the server up: %v", fx.cluster.Calls)
	}
}

func TestServerListStatus(t *testing.T) {
	fx := newFixture(t)
	write(t, filepath.Join(fx.dir, "servers", "down.example.org", ".keep"), "")
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: fx.dir,
		Connect: func(ctx context.Context, server string) (swarm.Cluster, error) {
			if server == "down.example.org" {
				return nil, errors.New("connection refused")
			}
			return fx.cluster, nil
		}}
	if code := Run(context.Background(), f, []string{"server", "ls", "--status", "--json"}); code != ExitPartial {
		t.Fatalf("exit %d, want %d\n%s", code, ExitPartial, errb.String())
	}
	var views []struct {
		Name   string `json:"name"`
		Status struct {
			Reachable bool   `json:"reachable"`
			Role      string `json:"swarm_role"`
			Error     string `json:"error"`
		} `json:"status"`
	}
	if err := json.Unmarshal(out.Bytes(), &views); err != nil || len(views) != 2 {
		t.Fatalf("%v: %s", err, out.String())
	}
	if v := views[0]; v.Name != "default" || !v.Status.Reachable || v.Status.Role != "manager" {
		t.Errorf("default = %+v", v)
	}
	if v := views[1]; v.Name != "down.example.org" || v.Status.Reachable || !strings.Contains(v.Status.Error, "refused") {
		t.Errorf("down = %+v", v)
	}
}

func TestServerPruneVolumesNeedsConfirmation(t *testing.T) {
	fx := newFixture(t)
	fx.cluster.AddVolume("gone_app_data", "gone_app")
	code, _, stderr := fx.run(t, "server", "prune", "default", "--volumes", "-n")
	if code != ExitUsage || !strings.Contains(stderr, "gone_app_data") || !strings.Contains(stderr, "--force") {
		t.Fatalf("prune --volumes without --force: exit %d\n%s", code, stderr)
	}
	if vols, _ := fx.cluster.Volumes(context.Background(), ""); len(vols) != 1 {
		t.Fatal("volumes deleted without confirmation")
	}
	code, stdout, stderr := fx.run(t, "server", "prune", "default", "--volumes", "--force", "--json")
	if code != ExitOK || !strings.Contains(stdout, `"volumes": [`) || !strings.Contains(stdout, "gone_app_data") {
		t.Fatalf("prune --volumes --force: exit %d\n%s%s", code, stdout, stderr)
	}
	if vols, _ := fx.cluster.Volumes(context.Background(), ""); len(vols) != 0 {
		t.Fatalf("volumes left: %v", vols)
	}
}

func TestSecrets(t *testing.T) {
	fx := newFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), webCompose+`    secrets:
      - db_password
      - smtp_password
secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}
  smtp_password:
    external: true
    name: ${STACK_NAME}_smtp_password_${SECRET_SMTP_PASSWORD_VERSION}
`)
	git(t, repo, "commit", "-qam", "secrets")
	git(t, repo, "tag", "-f", "-a", "1.0.0+1.25", "-m", "1.0.0+1.25")
	envPath := filepath.Join(fx.dir, "servers", "default", "app.example.org.env")
	write(t, envPath, "TYPE=web\nDOMAIN=app.example.org\nSECRET_DB_PASSWORD_VERSION=v1 # length=16\nSECRET_SMTP_PASSWORD_VERSION=v1 # generate=false\n")

	code, stdout, stderr := fx.run(t, "app", "secret", "generate", "app.example.org", "--all", "--json")
	if code != ExitOK {
		t.Fatalf("generate: exit %d\n%s", code, stderr)
	}
	var made []map[string]string
	if err := json.Unmarshal([]byte(stdout), &made); err != nil || len(made) != 1 || made[0]["docker_name"] != "app_example_org_db_password_v1" || len(made[0]["value"]) != 16 {
		t.Fatalf("generated = %s (%v)", stdout, err)
	}
	if strings.Contains(stderr, made[0]["value"]) {
		t.Fatal("the secret value leaked to stderr")
	}
	if !strings.Contains(stderr, "skipping smtp_password: generate=false") {
		t.Errorf("manual secret not explained:\n%s", stderr)
	}
	if code, stdout, _ = fx.run(t, "app", "secret", "generate", "app.example.org", "--all", "--json"); code != ExitOK || stdout != "[]\n" {
		t.Fatalf("second generate --all must generate nothing: %d %q", code, stdout)
	}
	if code, _, stderr = fx.run(t, "app", "secret", "generate", "app.example.org", "db_password"); code != ExitFailure || !strings.Contains(stderr, "bump SECRET_DB_PASSWORD_VERSION") {
		t.Fatalf("regenerating an existing secret must be refused: %d\n%s", code, stderr)
	}

	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader("s3cret\n"), Out: &out, Err: &errb}, AbraDir: fx.dir,
		Connect: func(context.Context, string) (swarm.Cluster, error) { return fx.cluster, nil }}
	if code := Run(context.Background(), f, []string{"app", "secret", "insert", "app.example.org", "smtp_password", "v1", "--trim"}); code != ExitOK {
		t.Fatalf("insert from stdin: exit %d\n%s", code, errb.String())
	}

	code, stdout, _ = fx.run(t, "app", "secret", "ls", "app.example.org", "--json")
	if code != ExitOK || strings.Count(stdout, `"exists": true`) != 2 {
		t.Fatalf("ls after generate and insert: %s", stdout)
	}
	if code, _, _ = fx.run(t, "app", "deploy", "app.example.org", "-n"); code != ExitOK {
		t.Fatalf("deploy with its secrets: exit %d", code)
	}
	if code, _, _ = fx.run(t, "app", "undeploy", "app.example.org"); code != ExitOK {
		t.Fatal("undeploy")
	}
	if code, _, stderr = fx.run(t, "app", "secret", "rm", "app.example.org", "--all", "-n"); code != ExitUsage || !strings.Contains(stderr, "--force") {
		t.Fatalf("rm without --force: %d\n%s", code, stderr)
	}
	if code, _, stderr = fx.run(t, "app", "secret", "rm", "app.example.org", "--all", "--force"); code != ExitOK {
		t.Fatalf("rm --force: %d\n%s", code, stderr)
	}
	if secrets, _ := fx.cluster.Secrets(context.Background(), ""); len(secrets) != 0 {
		t.Fatalf("secrets left: %v", secrets)
	}
}

func TestAppNewWithSecrets(t *testing.T) {
	fx := newFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), webCompose+"    secrets: [pw]\nsecrets:\n  pw:\n    external: true\n    name: ${STACK_NAME}_pw_${SECRET_PW_VERSION}\n")
	write(t, filepath.Join(repo, ".env.sample"), "TYPE=web\nDOMAIN=web.example.com\nSECRET_PW_VERSION=v1 # length=20\n")
	git(t, repo, "commit", "-qam", "secret")
	git(t, repo, "tag", "-f", "-a", "1.0.0+1.25", "-m", "1.0.0+1.25")
	code, stdout, stderr := fx.run(t, "app", "new", "web", "--server", "default", "--domain", "new.example.org", "--secrets", "-n")
	if code != ExitOK || !strings.Contains(stdout, "pw") {
		t.Fatalf("app new --secrets: exit %d\n%s%s", code, stdout, stderr)
	}
	if ids, _ := fx.cluster.SecretIDs(context.Background(), []string{"new_example_org_pw_v1"}); len(ids) != 1 {
		t.Fatal("secret not created")
	}
}

func TestRecipeNewPassesLint(t *testing.T) {
	fx := newFixture(t)
	if code, _, stderr := fx.run(t, "recipe", "new", "myapp"); code != ExitOK {
		t.Fatalf("recipe new: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := fx.run(t, "recipe", "lint", "myapp", "--json")
	if code != ExitOK {
		t.Fatalf("lint of a new recipe: exit %d\n%s%s", code, stdout, stderr)
	}
	var findings []map[string]string
	if err := json.Unmarshal([]byte(stdout), &findings); err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		if f["severity"] == "critical" && f["status"] == "fail" {
			t.Errorf("critical rule fails on the template: %v", f)
		}
	}
	if code, _, stderr := fx.run(t, "recipe", "new", "myapp"); code == ExitOK || !strings.Contains(stderr, "already exists") {
		t.Fatalf("recipe new over an existing recipe: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := fx.run(t, "recipe", "new", "My App"); code == ExitOK || !strings.Contains(stderr, "invalid recipe name") {
		t.Fatalf("recipe new with a bad name: exit %d\n%s", code, stderr)
	}
}

// failingSecrets is the fake swarm refusing to create one secret.
type failingSecrets struct {
	*swarmtest.Cluster
	refuse string
}

func (c failingSecrets) CreateSecret(ctx context.Context, spec mobyswarm.SecretSpec) error {
	if strings.Contains(spec.Name, c.refuse) {
		return errors.New("secret quota exceeded")
	}
	return c.Cluster.CreateSecret(ctx, spec)
}

func TestAppNewWithSecretsIsAllOrNothing(t *testing.T) {
	fx := newFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), webCompose+"    secrets: [a, b]\nsecrets:\n  a:\n    external: true\n    name: ${STACK_NAME}_a_${SECRET_A_VERSION}\n  b:\n    external: true\n    name: ${STACK_NAME}_b_${SECRET_B_VERSION}\n")
	write(t, filepath.Join(repo, ".env.sample"), "TYPE=web\nDOMAIN=web.example.com\nSECRET_A_VERSION=v1 # length=20\nSECRET_B_VERSION=v1 # length=20\n")
	git(t, repo, "commit", "-qam", "secrets")
	git(t, repo, "tag", "-f", "-a", "1.0.0+1.25", "-m", "1.0.0+1.25")
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: fx.dir,
		Connect: func(context.Context, string) (swarm.Cluster, error) { return failingSecrets{fx.cluster, "_b_"}, nil }}
	code := Run(context.Background(), f, []string{"app", "new", "web", "--server", "default", "--domain", "new.example.org", "--secrets", "-n"})
	if code != ExitFailure || !strings.Contains(errb.String(), "nothing was created") || !strings.Contains(errb.String(), "secret quota exceeded") {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if out.Len() != 0 {
		t.Errorf("values of secrets that were removed again are printed: %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(fx.dir, "servers", "default", "new.example.org.env")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("env file left behind: %v", err)
	}
	if secrets, _ := fx.cluster.Secrets(context.Background(), "new_example_org"); len(secrets) != 0 {
		t.Errorf("secrets left behind: %v", secrets)
	}
}

func TestUnknownSubcommandsAreUsageErrors(t *testing.T) {
	fx := newFixture(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"app", "nosuchverb"}, `unknown command "nosuchverb" for "abra app"`},
		{[]string{"app", "secret", "lst", "app.example.org"}, "did you mean ls?"},
		{[]string{"server", "bogus"}, `unknown command "bogus" for "abra server"`},
		{[]string{"recipe", "lnt", "web"}, "did you mean lint or ls?"},
	} {
		code, stdout, stderr := fx.run(t, tt.args...)
		if code != ExitUsage || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("abra %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
	if code, stdout, stderr := fx.run(t, "app"); code != ExitOK || !strings.Contains(stdout+stderr, "Available Commands") {
		t.Errorf("abra app alone shows help: exit %d %s", code, stderr)
	}
}

func TestListGoesOnPastABrokenEnvFile(t *testing.T) {
	fx := newFixture(t)
	broken := filepath.Join(fx.dir, "servers", "default", "bad.example.org.env")
	write(t, broken, "TYPE=web\nDOMAIN=bad.example.org\nNOT A LINE\n")
	write(t, filepath.Join(fx.dir, "servers", "default", "climb.example.org.env"), "TYPE=../../repo\n")
	code, stdout, stderr := fx.run(t, "app", "ls", "--json")
	if code != ExitPartial {
		t.Fatalf("exit %d, want %d\n%s", code, ExitPartial, stderr)
	}
	if !strings.Contains(stdout, "app.example.org") {
		t.Errorf("the good app is not listed: %s", stdout)
	}
	for _, want := range []string{broken + ":3:", "climb.example.org.env:1: TYPE", "hint: "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

func TestConfigRefusesToOverwriteAChangeMadeMeanwhile(t *testing.T) {
	fx := newFixture(t)
	envPath := filepath.Join(fx.dir, "servers", "default", "app.example.org.env")
	// The "editor" changes its copy while someone else changes the env file.
	editor := filepath.Join(t.TempDir(), "editor")
	write(t, editor, "#!/bin/sh\nsed -i 's/GREETING=hi/GREETING=mine/' \"$1\"\necho MEANWHILE=1 >> "+envPath+"\n")
	if err := os.Chmod(editor, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VISUAL", editor)
	code, _, stderr := fx.run(t, "app", "config", "app.example.org")
	if code != ExitFailure || !strings.Contains(stderr, "changed by someone else") || !strings.Contains(stderr, "your edits are kept in") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	b, _ := os.ReadFile(envPath)
	if !strings.Contains(string(b), "MEANWHILE=1") || strings.Contains(string(b), "GREETING=mine") {
		t.Fatalf("the change made meanwhile was overwritten:\n%s", b)
	}

	write(t, editor, "#!/bin/sh\nsed -i 's/GREETING=hi/GREETING=mine/' \"$1\"\n")
	if code, _, stderr := fx.run(t, "app", "config", "app.example.org"); code != ExitOK {
		t.Fatalf("a plain edit: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(envPath); !strings.Contains(string(b), "GREETING=mine") || !strings.Contains(string(b), "MEANWHILE=1") {
		t.Fatalf("edit not saved:\n%s", b)
	}
	write(t, editor, "#!/bin/sh\necho 'NOT VALID' >> \"$1\"\n")
	if code, _, stderr := fx.run(t, "app", "config", "app.example.org"); code != ExitFailure || !strings.Contains(stderr, "is refused") {
		t.Fatalf("an edit that does not parse: exit %d\n%s", code, stderr)
	}
	if b2, _ := os.ReadFile(envPath); strings.Contains(string(b2), "NOT VALID") {
		t.Fatal("an edit that does not parse was saved")
	}
}

// A release that fails only this abra's own rules (R106: the version label
// does not match the tag) deploys, as it would with abra, with a warning.
func TestDeployWarnsOnOurOwnLintRules(t *testing.T) {
	fx := newFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), strings.ReplaceAll(webCompose, "1.0.0+1.25", "1.9.9+1.25"))
	git(t, repo, "commit", "-qam", "label not bumped")
	git(t, repo, "tag", "-a", "2.0.0+1.25", "-m", "2.0.0+1.25")
	code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "2.0.0+1.25", "-n")
	if code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: R106") {
		t.Errorf("no warning naming R106:\n%s", stderr)
	}
}

func TestCheckReadsRecipeAsType(t *testing.T) {
	fx := newFixture(t)
	write(t, filepath.Join(fx.dir, "servers", "default", "app.example.org.env"), "RECIPE=web\nDOMAIN=app.example.org\nGREETING=hi\n")
	code, stdout, stderr := fx.run(t, "app", "check", "app.example.org")
	if code != ExitOK || stdout != "" {
		t.Fatalf("an env file with RECIPE= for a sample with TYPE=: exit %d, missing %q\n%s", code, stdout, stderr)
	}
	write(t, filepath.Join(fx.dir, "servers", "default", "app.example.org.env"), "RECIPE=web\nDOMAIN=app.example.org\n")
	if code, stdout, _ := fx.run(t, "app", "check", "app.example.org"); code != ExitFailure || strings.TrimSpace(stdout) != "GREETING" {
		t.Fatalf("a key really missing: exit %d, missing %q", code, stdout)
	}
}

// failedTask adds a failed task of the app's service to what the fake swarm lists.
type failedTask struct{ *swarmtest.Cluster }

func (c failedTask) Tasks(ctx context.Context, stack string) ([]mobyswarm.Task, error) {
	tasks, err := c.Cluster.Tasks(ctx, stack)
	if err != nil || len(tasks) == 0 {
		return tasks, err
	}
	t := tasks[0]
	t.ID = "failed"
	t.Status = mobyswarm.TaskStatus{State: mobyswarm.TaskStateFailed, Err: "task: non-zero exit (137)",
		ContainerStatus: &mobyswarm.ContainerStatus{ExitCode: 137}}
	return append(tasks, t), nil
}

func TestAppErrors(t *testing.T) {
	fx := newFixture(t)
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n"); code != ExitOK {
		t.Fatalf("deploy: %s", stderr)
	}
	code, stdout, stderr := fx.run(t, "app", "errors", "app.example.org")
	if code != ExitOK || stdout != "" || !strings.Contains(stderr, "no errors recorded") {
		t.Fatalf("a healthy app: exit %d %q %q", code, stdout, stderr)
	}
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: fx.dir,
		Connect: func(context.Context, string) (swarm.Cluster, error) { return failedTask{fx.cluster}, nil }}
	if code := Run(context.Background(), f, []string{"app", "errors", "app.example.org", "--json"}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var errs []map[string]any
	if err := json.Unmarshal(out.Bytes(), &errs); err != nil || len(errs) != 1 || errs[0]["service"] != "app" ||
		errs[0]["exit_code"] != float64(137) || errs[0]["error"] != "task: non-zero exit (137)" {
		t.Fatalf("errors = %v (%v)", errs, err)
	}
}

// gitHTTPServer serves the git repositories under root over git's smart HTTP
// protocol (git http-backend), as a forge would.
func gitHTTPServer(t *testing.T, root string) string {
	t.Helper()
	h := &cgi.Handler{Path: "/usr/lib/git-core/git-http-backend", Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestAppNewFromAGitURL(t *testing.T) {
	fx := newFixture(t)
	forge := t.TempDir()
	repo := filepath.Join(forge, "org", "cool-recipe.git")
	if err := os.CopyFS(repo, os.DirFS(filepath.Join(fx.dir, "recipes", "web"))); err != nil {
		t.Fatal(err)
	}
	url := gitHTTPServer(t, forge) + "/org/cool-recipe.git"
	host := strings.TrimPrefix(strings.Split(url, ":")[1], "//") // 127.0.0.1
	code, _, stderr := fx.run(t, "app", "new", url, "--server", "default", "--domain", "cool.example.org", "-n")
	if code != ExitOK {
		t.Fatalf("app new <git url>: exit %d\n%s", code, stderr)
	}
	name := host + "/org/cool-recipe"
	dir := filepath.Join(fx.dir, "recipes", strings.ReplaceAll(host, ".", "_")+"_org_cool-recipe")
	if _, err := os.Stat(filepath.Join(dir, "compose.yml")); err != nil {
		t.Fatalf("the recipe is not kept in %s: %v", dir, err)
	}
	env, _ := os.ReadFile(filepath.Join(fx.dir, "servers", "default", "cool.example.org.env"))
	if !strings.Contains(string(env), "TYPE="+name+":1.0.0+1.25\n") && !strings.Contains(string(env), "TYPE="+name+"\n") {
		t.Fatalf("env file does not name the recipe by its repository %s:\n%s", name, env)
	}
	if code, _, stderr := fx.run(t, "app", "deploy", "cool.example.org", "-n"); code != ExitOK {
		t.Fatalf("deploy: exit %d\n%s", code, stderr)
	}
	services, _ := fx.cluster.Services(context.Background(), "cool_example_org")
	if len(services) != 1 || services[0].Spec.Labels["coop-cloud.cool_example_org.recipe"] != name {
		t.Fatalf("services = %v", services)
	}
	// recipe fetch of the same URL fetches into the same clone.
	if code, _, stderr := fx.run(t, "recipe", "fetch", url); code != ExitOK || !strings.Contains(stderr, dir) {
		t.Fatalf("recipe fetch <git url>: exit %d\n%s", code, stderr)
	}
}

// TestDeployACommit: a commit id as the version deploys that commit of the
// recipe's clone, labelled like a chaos deploy; the work tree stays as it is.
func TestDeployACommit(t *testing.T) {
	fx := newFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), strings.Replace(webCompose, "nginx:1.25", "nginx:1.27", 1))
	git(t, repo, "commit", "-qam", "staging")
	out, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	staged := strings.TrimSpace(string(out))
	git(t, repo, "checkout", "-q", "1.0.0+1.25") // the work tree elsewhere
	code, stdout, stderr := fx.run(t, "app", "deploy", "app.example.org", staged[:9], "-n", "--json")
	if code != 0 {
		t.Fatalf("deploy %s: %d\n%s", staged[:9], code, stderr)
	}
	var v struct {
		Chaos   string `json:"chaos_version"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.Chaos != staged[:8] || v.Version != "" {
		t.Fatalf("deploy result %q (%v), want chaos version %s", stdout, err, staged[:8])
	}
	svcs, _ := fx.cluster.Services(context.Background(), "app_example_org")
	if len(svcs) != 1 || !strings.HasPrefix(svcs[0].Spec.TaskTemplate.ContainerSpec.Image, "nginx:1.27") {
		t.Fatalf("services: %+v", svcs)
	}
	if got := readFileString(t, filepath.Join(repo, "compose.yml")); !strings.Contains(got, "nginx:1.25") {
		t.Fatalf("the work tree was changed: %s", got)
	}
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "abcdef0123", "-n"); code == 0 || !strings.Contains(stderr, "no commit abcdef0123") {
		t.Fatalf("unknown commit: %d %s", code, stderr)
	}
}

func readFileString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLockOfADeadAbra: an abra killed mid-deploy leaves the app's lock. The
// next deploy does not wait for a holder whose process is gone; it says so
// and how to break it, and 'abra app lock' shows and breaks it. A live
// holder's lock is only broken with --force.
func TestLockOfADeadAbra(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n"); code != 0 {
		t.Fatalf("deploy: %s", stderr)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("alice@%s pid %d", host, dead.Process.Pid)
	if _, err := app.Lock(ctx, fx.cluster, "app_example_org", holder, 0, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n", "-f")
	if code == 0 || !strings.Contains(stderr, holder) || !strings.Contains(stderr, "is gone") ||
		!strings.Contains(stderr, "abra app lock app.example.org --break") {
		t.Fatalf("deploy over a dead holder's lock: %d\n%s", code, stderr)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("waited %s for a holder known to be dead", time.Since(start))
	}
	code, stdout, _ := fx.run(t, "app", "lock", "app.example.org", "--json")
	var v struct {
		Locked bool   `json:"locked"`
		Holder string `json:"holder"`
		Stale  string `json:"stale"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || !v.Locked || v.Holder != holder || !strings.Contains(v.Stale, "is gone") {
		t.Fatalf("app lock --json: %d %s", code, stdout)
	}
	if code, stdout, stderr := fx.run(t, "app", "lock", "app.example.org", "--break"); code != 0 || !strings.Contains(stdout, "released") {
		t.Fatalf("--break: %d %s %s", code, stdout, stderr)
	}
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n", "-f"); code != 0 {
		t.Fatalf("deploy after --break: %s", stderr)
	}

	// A live holder (this process) is not broken without --force.
	if _, err := app.Lock(ctx, fx.cluster, "app_example_org", app.Holder(), 0, nil); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := fx.run(t, "app", "lock", "app.example.org", "--break"); code == 0 || !strings.Contains(stderr, "does not look dead") {
		t.Fatalf("--break of a live holder: %d %s", code, stderr)
	}
	if code, stdout, _ := fx.run(t, "app", "lock", "app.example.org"); code != 0 || !strings.Contains(stdout, "locked by "+app.Holder()) || strings.Contains(stdout, "dead") {
		t.Fatalf("lock of a live holder: %d %s", code, stdout)
	}
	if code, _, stderr := fx.run(t, "app", "lock", "app.example.org", "--break", "--force"); code != 0 {
		t.Fatalf("--break --force: %s", stderr)
	}
	if code, stdout, _ := fx.run(t, "app", "lock", "app.example.org"); code != 0 || !strings.Contains(stdout, "not locked") {
		t.Fatalf("after --force: %s", stdout)
	}
	if code, _, _ := fx.run(t, "app", "lock", "app.example.org", "--force"); code != ExitUsage {
		t.Fatalf("--force without --break: exit %d, want a usage error", code)
	}
}

// TestLockHeldForHoursLooksStale: another machine's holder cannot be checked;
// a lock held longer than any deploy looks stale.
func TestLockHeldForHoursLooksStale(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if code, _, stderr := fx.run(t, "app", "deploy", "app.example.org", "-n"); code != 0 {
		t.Fatalf("deploy: %s", stderr)
	}
	since := time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)
	if err := fx.cluster.CreateConfig(ctx, mobyswarm.ConfigSpec{Annotations: mobyswarm.Annotations{Name: "abra-lock.app_example_org",
		Labels: map[string]string{"coop-cloud.lock.holder": "bob@elsewhere pid 7", "coop-cloud.lock.since": since}}, Data: []byte("bob\n")}); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := fx.run(t, "app", "lock", "app.example.org"); code != 0 || !strings.Contains(stdout, "held for 3h0m0s") {
		t.Fatalf("old lock: %d %s", code, stdout)
	}
	if code, _, stderr := fx.run(t, "app", "lock", "app.example.org", "--break"); code != 0 {
		t.Fatalf("--break of a stale lock: %s", stderr)
	}
}

// TestOperationsAreJournalled: a deploy and an undeploy from the CLI write
// their steps to the operations journal (outside ABRA_DIR), where another
// front end follows them; a dry run writes nothing.
func TestOperationsAreJournalled(t *testing.T) {
	fx := newFixture(t)
	dir := t.TempDir()
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: fx.dir, JournalDir: dir,
			Connect: func(context.Context, string) (swarm.Cluster, error) { return fx.cluster, nil }}
		return Run(context.Background(), f, args), errb.String()
	}
	if code, stderr := run("app", "deploy", "app.example.org", "-n", "--dry-run"); code != 0 {
		t.Fatalf("dry run: %s", stderr)
	}
	j := &journal.Journal{Dir: dir}
	if events, _, _ := j.Read("", 0); len(events) != 0 {
		t.Fatalf("a dry run was journalled: %+v", events)
	}
	if code, stderr := run("app", "deploy", "app.example.org", "-n"); code != 0 {
		t.Fatalf("deploy: %s", stderr)
	}
	if code, stderr := run("app", "undeploy", "app.example.org", "-n"); code != 0 {
		t.Fatalf("undeploy: %s", stderr)
	}
	events, _, err := j.Read("", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		if e.App != "app.example.org" || e.Server != "default" {
			t.Fatalf("event %+v", e)
		}
		if e.Kind == journal.Begin || e.Kind == journal.End || e.Kind == journal.Started && e.Step == "apply stack" {
			got = append(got, e.Command+" "+e.Kind+" "+e.Step+e.Error)
		}
	}
	want := []string{"deploy begin ", "deploy started apply stack", "deploy end ", "undeploy begin ", "undeploy end "}
	if !slices.Equal(got, want) {
		t.Fatalf("journal %v, want %v", got, want)
	}
	if files, _ := filepath.Glob(filepath.Join(fx.dir, "*journal*")); len(files) != 0 {
		t.Fatalf("the journal is in ABRA_DIR: %v", files)
	}
	// A failed deploy ends with its error.
	if code, _ := run("app", "deploy", "app.example.org", "9.9.9+1", "-n"); code == 0 {
		t.Fatal("deploy of an unknown version succeeded")
	}
	events, _, _ = j.Read("", 0)
	if last := events[len(events)-1]; last.Kind != journal.End || !strings.Contains(last.Error, "9.9.9+1") {
		t.Fatalf("last event %+v, want the failed deploy's end with its error", last)
	}
}

// TestServerPruneJSONListsAreNeverNull: with nothing to prune, --json says
// empty lists, as scripts expect (Docker's report leaves them nil).
func TestServerPruneJSONListsAreNeverNull(t *testing.T) {
	fx := newFixture(t)
	code, stdout, stderr := fx.run(t, "server", "prune", "default", "--json", "-n")
	if code != 0 {
		t.Fatalf("prune: %d %s", code, stderr)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	for _, k := range []string{"containers", "networks", "images", "volumes"} {
		if l, ok := v[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %v, want []", k, v[k])
		}
	}
}
