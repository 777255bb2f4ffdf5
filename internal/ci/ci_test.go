package ci_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/ci"
	"coopcloud.tech/abra/internal/sshdocker"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t",
		"GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
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

const compose = `version: "3.8"
services:
  app:
    image: nginx:IMAGE
    environment:
      - GREETING=${GREETING:-hello}
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.25"
`

const secretCompose = `version: "3.8"
services:
  app:
    secrets: [db_password]
secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}
`

// checkout is a CI's clone of the recipe "web": release 1.0.0+1.25 (nginx
// 1.25), then a commit with nginx 1.26 at HEAD.
func checkout(t *testing.T) (dir, release, head string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "web")
	write(t, filepath.Join(dir, "compose.yml"), strings.ReplaceAll(compose, "IMAGE", "1.25"))
	write(t, filepath.Join(dir, "compose.secret.yml"), secretCompose)
	write(t, filepath.Join(dir, ".env.sample"), "TYPE=web\nDOMAIN=web.example.com\nGREETING=hi\n")
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-qm", "web")
	git(t, dir, "tag", "-a", "1.0.0+1.25", "-m", "1.0.0+1.25")
	release = git(t, dir, "rev-parse", "HEAD")
	write(t, filepath.Join(dir, "compose.yml"), strings.ReplaceAll(compose, "IMAGE", "1.26"))
	git(t, dir, "commit", "-qam", "nginx 1.26")
	return dir, release, git(t, dir, "rev-parse", "HEAD")
}

func workspace(t *testing.T, s ci.AppSpec) *ci.Workspace {
	t.Helper()
	w, err := ci.NewWorkspace(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func spec(dir string) ci.AppSpec {
	return ci.AppSpec{Server: "ci.example.org", Domain: "review.example.org", SetDomain: true, Checkout: dir,
		Env: []byte("TYPE=web\nDOMAIN=web.example.com\nGREETING=hi\n"), EnvName: ".env.sample"}
}

func image(t *testing.T, c *swarmtest.Cluster, service string) string {
	t.Helper()
	svcs, err := c.Services(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		if s.Spec.Name == service {
			return s.Spec.TaskTemplate.ContainerSpec.Image
		}
	}
	return ""
}

func TestWorkspace(t *testing.T) {
	dir, _, _ := checkout(t)
	t.Run("a sample env gets the domain and the recipe", func(t *testing.T) {
		s := spec(dir)
		s.Env = []byte("TYPE=other:1.0.0\nDOMAIN=web.example.com\n")
		s.Recipe = "web"
		s.Vars = map[string]string{"GREETING": "from CI"}
		w := workspace(t, s)
		a := w.App
		if a.Domain != "review.example.org" || a.Server != "ci.example.org" || a.Recipe() != "web" || a.PinnedVersion() != "" {
			t.Fatalf("app %s on %s, recipe %s:%s", a.Domain, a.Server, a.Recipe(), a.PinnedVersion())
		}
		for k, want := range map[string]string{"DOMAIN": "review.example.org", "GREETING": "from CI"} {
			if got, _ := a.Env.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		fi, err := os.Stat(a.Path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("env file %s: %v %v, want mode 0600", a.Path, fi, err)
		}
		if target, err := os.Readlink(w.Store.RecipeDir("web")); err != nil || target != dir {
			t.Fatalf("recipes/web → %q (%v), want the checkout", target, err)
		}
		w.Close()
		if _, err := os.Stat(w.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Close left %s", w.Dir)
		}
		if _, err := os.Stat(filepath.Join(dir, "compose.yml")); err != nil {
			t.Fatalf("Close removed the checkout: %v", err)
		}
	})
	t.Run("an env's own DOMAIN stays unless told", func(t *testing.T) {
		s := spec(dir)
		s.SetDomain = false
		s.Domain = "web"
		if got, _ := workspace(t, s).App.Env.Get("DOMAIN"); got != "web.example.com" {
			t.Fatalf("DOMAIN = %q", got)
		}
	})
	t.Run("the recipe is named by TYPE, then the CI's repository, then the directory", func(t *testing.T) {
		for _, tt := range []struct{ env, fallback, want string }{
			{"TYPE=web\n", "other", "web"},
			{"", "repo-name", "repo-name"},
			{"", "", "web"},
		} {
			s := spec(dir)
			s.Env, s.FallbackRecipe = []byte(tt.env), tt.fallback
			if got := workspace(t, s).App.Recipe(); got != tt.want {
				t.Errorf("env %q, fallback %q: recipe %q, want %q", tt.env, tt.fallback, got, tt.want)
			}
		}
	})
	for name, mutate := range map[string]func(*ci.AppSpec){
		"not a git work tree": func(s *ci.AppSpec) { s.Checkout = t.TempDir() },
		"a bad domain":        func(s *ci.AppSpec) { s.Domain = "-x.example.org" },
		"no domain at all":    func(s *ci.AppSpec) { s.Domain, s.Env = "", nil },
		"a bad server":        func(s *ci.AppSpec) { s.Server = "-oProxyCommand=x" },
		"a compose file out":  func(s *ci.AppSpec) { s.Vars = map[string]string{"COMPOSE_FILE": "../../etc/passwd"} },
		"a bad recipe":        func(s *ci.AppSpec) { s.Recipe = "../x" },
	} {
		t.Run("refuses "+name, func(t *testing.T) {
			s := spec(dir)
			mutate(&s)
			if w, err := ci.NewWorkspace(s); err == nil {
				w.Close()
				t.Fatal("accepted")
			}
		})
	}
	s := spec(t.TempDir())
	if _, err := ci.NewWorkspace(s); !errors.Is(err, ci.ErrNotGit) {
		t.Fatalf("err = %v, want ErrNotGit", err)
	}
}

func TestDeployTheCheckout(t *testing.T) {
	ctx := context.Background()
	dir, release, head := checkout(t)
	// An uncommitted change: a commit deploy leaves it out.
	write(t, filepath.Join(dir, "compose.yml"), strings.ReplaceAll(compose, "IMAGE", "1.27"))

	t.Run("the HEAD commit, labelled with it", func(t *testing.T) {
		c := swarmtest.New()
		res, err := ci.Deploy(ctx, workspace(t, spec(dir)), c, ci.Options{NoDomainChecks: true}, nil)
		if err != nil || res.Outcome != ci.Converged {
			t.Fatalf("%v %v", res.Outcome, err)
		}
		if res.Commit != head || res.Chaos != head[:8] || res.Version != "" || res.Stack != "review_example_org" {
			t.Fatalf("result %+v, want commit %s", res, head)
		}
		if img := image(t, c, "review_example_org_app"); img != "nginx:1.26" {
			t.Fatalf("image %s, want the commit's nginx:1.26 (not the uncommitted 1.27)", img)
		}
	})
	t.Run("the work tree as it is", func(t *testing.T) {
		c := swarmtest.New()
		res, err := ci.Deploy(ctx, workspace(t, spec(dir)), c, ci.Options{WorkTree: true, NoDomainChecks: true}, nil)
		if err != nil || res.Chaos != head[:8]+"+U" || image(t, c, "review_example_org_app") != "nginx:1.27" {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("a tagged release, twice", func(t *testing.T) {
		c := swarmtest.New()
		w := workspace(t, spec(dir))
		for range 2 { // CI deploys the release again: not "already deployed"
			res, err := ci.Deploy(ctx, w, c, ci.Options{Version: "1.0.0+1.25", NoDomainChecks: true}, nil)
			if err != nil || res.Version != "1.0.0+1.25" || res.Commit != release || image(t, c, "review_example_org_app") != "nginx:1.25" {
				t.Fatalf("%+v %v", res, err)
			}
		}
	})
}

func TestDeployPreparesAndPurges(t *testing.T) {
	ctx := context.Background()
	dir, _, _ := checkout(t)
	s := spec(dir)
	s.Vars = map[string]string{"COMPOSE_FILE": "compose.yml:compose.secret.yml", "SECRET_DB_PASSWORD_VERSION": "v1"}
	c := swarmtest.New()
	res, err := ci.Deploy(ctx, workspace(t, s), c, ci.Options{GenerateSecrets: true, Networks: []string{"proxy"}, Purge: true, NoDomainChecks: true}, nil)
	if err != nil || res.Outcome != ci.Converged || !res.Purged {
		t.Fatalf("%+v %v", res, err)
	}
	if !slices.Equal(res.Secrets, []string{"db_password"}) || !slices.Equal(res.Networks, []string{"proxy"}) {
		t.Fatalf("secrets %v, networks %v", res.Secrets, res.Networks)
	}
	for _, want := range []string{"create secret review_example_org_db_password_v1", "create service review_example_org_app",
		"remove service review_example_org_app", "remove secret review_example_org_db_password_v1"} {
		if !slices.Contains(c.Calls, want) {
			t.Errorf("no %q in %v", want, c.Calls)
		}
	}
	if svcs, _ := c.Services(ctx, "review_example_org"); len(svcs) != 0 {
		t.Fatalf("services left after the purge: %d", len(svcs))
	}
	if _, err := c.InspectNetwork(ctx, "proxy"); err != nil {
		t.Fatalf("the network asked for is not there: %v", err)
	}

	// Without --generate-secrets the missing secret refuses the deploy
	// before anything is created.
	c = swarmtest.New()
	res, err = ci.Deploy(ctx, workspace(t, s), c, ci.Options{NoDomainChecks: true}, nil)
	if res.Outcome != ci.Refused || created(c) {
		t.Fatalf("outcome %s (%v), calls %v: want a refusal that changed nothing", res.Outcome, err, c.Calls)
	}
}

// created reports whether anything but the app lock was created.
func created(c *swarmtest.Cluster) bool {
	return slices.ContainsFunc(c.Calls, func(call string) bool {
		return strings.HasPrefix(call, "create") && !strings.Contains(call, "abra-lock.")
	})
}

func TestOutcomes(t *testing.T) {
	ctx := context.Background()
	dir, _, _ := checkout(t)

	t.Run("refused: not a manager, nothing created", func(t *testing.T) {
		c := swarmtest.New()
		c.Node.SwarmState = "inactive"
		res, _ := ci.Deploy(ctx, workspace(t, spec(dir)), c, ci.Options{NoDomainChecks: true, GenerateSecrets: true}, nil)
		if res.Outcome != ci.Refused || len(c.Calls) != 0 {
			t.Fatalf("outcome %s, calls %v", res.Outcome, c.Calls)
		}
	})
	t.Run("lock timeout", func(t *testing.T) {
		c := swarmtest.New()
		if err := c.CreateConfig(ctx, mobyswarm.ConfigSpec{Annotations: mobyswarm.Annotations{Name: "abra-lock.review_example_org",
			Labels: map[string]string{"coop-cloud.lock.holder": "someone", "coop-cloud.lock.since": time.Now().UTC().Format(time.RFC3339)}}}); err != nil {
			t.Fatal(err)
		}
		res, err := ci.Deploy(ctx, workspace(t, spec(dir)), c, ci.Options{NoDomainChecks: true, LockWait: time.Millisecond}, nil)
		if res.Outcome != ci.LockTimeout || !errors.Is(err, app.ErrLocked) {
			t.Fatalf("outcome %s, %v", res.Outcome, err)
		}
	})
	t.Run("rolled back", func(t *testing.T) {
		c := swarmtest.New()
		w := workspace(t, spec(dir))
		if _, err := ci.Deploy(ctx, w, c, ci.Options{Version: "1.0.0+1.25", NoDomainChecks: true}, nil); err != nil {
			t.Fatal(err)
		}
		c.FailUpdates()
		res, err := ci.Deploy(ctx, w, c, ci.Options{NoDomainChecks: true, Timeout: time.Second}, nil)
		if res.Outcome != ci.RolledBack || image(t, c, "review_example_org_app") != "nginx:1.25" {
			t.Fatalf("outcome %s (%v), image %s", res.Outcome, err, image(t, c, "review_example_org_app"))
		}
	})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tt := range []struct {
		ctx  context.Context
		err  error
		want ci.Outcome
	}{
		{ctx, nil, ci.Converged},
		{ctx, ci.Refuse(&sshdocker.HostKeyError{Host: "h:22"}), ci.Refused},
		{ctx, &swarm.ConnectError{Server: "h", Reason: "refused"}, ci.Refused},
		{ctx, fmt.Errorf("apply: %w", errors.New("connection reset")), ci.Failed},
		{ctx, &stack.NotConvergedError{Stack: "s", Reason: "timeout"}, ci.RollbackFailed}, // a first deploy: nothing to put back
		{ctx, fmt.Errorf("%w; %w", &stack.NotConvergedError{Stack: "s"}, app.ErrRolledBack), ci.RolledBack},
		{ctx, fmt.Errorf("%w; %w: boom", &stack.NotConvergedError{Stack: "s"}, app.ErrRollbackFailed), ci.RollbackFailed},
		{ctx, &step.Failed{Step: "lock app", Err: fmt.Errorf("%w: x", app.ErrLocked)}, ci.LockTimeout},
		{ctx, &step.Failed{Step: "check server", Err: errors.New("not a manager")}, ci.Refused},
		{ctx, &step.Failed{Step: "run POST_DEPLOY_CMDS", Err: errors.New("exit 1")}, ci.Failed},
		{cancelled, errors.New("whatever"), ci.Interrupted},
	} {
		if got := ci.OutcomeOf(tt.ctx, tt.err); got != tt.want {
			t.Errorf("OutcomeOf(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
	if ci.Refuse(nil) != nil {
		t.Error("Refuse(nil) is not nil")
	}
}
