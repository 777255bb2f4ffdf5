package recipecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/ui"
)

// tagRegistry is a fake registry: tags by repository.
type tagRegistry map[string][]string

func (r tagRegistry) Tags(_ context.Context, repo string) ([]string, error) {
	tags, ok := r[repo]
	if !ok {
		return nil, errors.New("registry example: no repository " + repo)
	}
	return tags, nil
}

// maintainerEnv is an ABRA_DIR with the template recipe "myapp" whose app
// runs registry.example.org/app:1.2.0.
func maintainerEnv(t *testing.T) (*command.Factory, *bytes.Buffer, *bytes.Buffer, string) {
	t.Helper()
	t.Setenv("GIT_CONFIG_GLOBAL", "/dev/null")
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: t.TempDir(), NoInput: true}
	if err := runNew(context.Background(), f, "myapp"); err != nil {
		t.Fatal(err)
	}
	dir := f.Store().RecipeDir("myapp")
	compose := filepath.Join(dir, "compose.yml")
	b, err := os.ReadFile(compose)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "image: nginx:1.27.3", "image: registry.example.org/app:1.2.0", 1)
	if err := os.WriteFile(compose, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	return f, &out, &errb, dir
}

func execute(t *testing.T, cmd *cobra.Command, args ...string) error {
	t.Helper()
	var sink bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&sink)
	cmd.SetErr(&sink)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return cmd.ExecuteContext(context.Background())
}

func TestUpgradeFlags(t *testing.T) {
	tests := []struct {
		args  []string
		want  recipe.Bump
		usage bool
	}{
		{[]string{"myapp"}, recipe.BumpNone, false},
		{[]string{"myapp", "--patch"}, recipe.BumpPatch, false},
		{[]string{"myapp", "-y"}, recipe.BumpMinor, false},
		{[]string{"myapp", "--major", "--all-tags", "--json"}, recipe.BumpMajor, false},
		{[]string{"myapp", "--minor", "--major"}, 0, true},
		{[]string{}, 0, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var got *upgradeOptions
			cmd := newUpgradeCmd(&command.Factory{}, func(_ context.Context, o *upgradeOptions) error { got = o; return nil })
			err := execute(t, cmd, tt.args...)
			if err == nil && got != nil {
				var p recipe.Bump
				p, err = got.policy()
				if err == nil && p != tt.want {
					t.Errorf("policy = %v, want %v", p, tt.want)
				}
			}
			var usage *command.UsageError
			if tt.usage != errors.As(err, &usage) {
				t.Errorf("err = %v, want usage error: %v", err, tt.usage)
			}
		})
	}
}

func TestRunUpgrade(t *testing.T) {
	f, out, errb, dir := maintainerEnv(t)
	reg := tagRegistry{"registry.example.org/app": {"1.2.0", "1.2.1", "1.3.0", "2.0.0", "1.3.0-rc1"}}
	compose := filepath.Join(dir, "compose.yml")
	before, _ := os.ReadFile(compose)

	// --json: the plan, picked by --minor without a terminal; nothing written.
	o := &upgradeOptions{f: f, registry: reg, name: "myapp", json: true}
	if err := runUpgrade(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var plan []recipe.ImageUpgrade
	if err := json.Unmarshal(out.Bytes(), &plan); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if len(plan) != 1 || plan[0].Pick != "1.3.0" || len(plan[0].Candidates) != 3 {
		t.Errorf("plan = %+v", plan)
	}
	if after, _ := os.ReadFile(compose); !bytes.Equal(before, after) {
		t.Error("--json changed compose.yml")
	}

	out.Reset()
	o = &upgradeOptions{f: f, registry: reg, name: "myapp", patch: true}
	if err := runUpgrade(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(compose); !strings.Contains(string(after), "image: registry.example.org/app:1.2.1\n") {
		t.Errorf("compose.yml after --patch:\n%s", after)
	}
	if !strings.Contains(out.String(), "compose.yml  app  registry.example.org/app  1.2.0  1.2.1") {
		t.Errorf("stdout:\n%s", out)
	}
	if !strings.Contains(errb.String(), "1.2.0 → 1.2.1") {
		t.Errorf("stderr:\n%s", errb)
	}
}

func TestRunUpgradeOfflineAndRegistryErrors(t *testing.T) {
	f, _, _, _ := maintainerEnv(t)
	f.Offline = true
	err := runUpgrade(context.Background(), &upgradeOptions{f: f, registry: tagRegistry{}, name: "myapp"})
	if err == nil || !strings.Contains(err.Error(), "--offline") {
		t.Errorf("offline: %v", err)
	}
	f.Offline = false
	err = runUpgrade(context.Background(), &upgradeOptions{f: f, registry: tagRegistry{}, name: "myapp"})
	if err == nil || !strings.Contains(err.Error(), "registry example") {
		t.Errorf("registry failure: %v", err)
	}
}

func TestRunReleaseRefusesCriticalLint(t *testing.T) {
	f, _, _, dir := maintainerEnv(t)
	compose := filepath.Join(dir, "compose.yml")
	b, _ := os.ReadFile(compose)
	// R102: a fixed host name instead of the app's domain.
	s := strings.Replace(string(b), "Host(`${DOMAIN}`)${EXTRA_DOMAINS}", "Host(`example.org`)", 1)
	if s == string(b) {
		t.Fatal("template has no Host rule to break")
	}
	if err := os.WriteFile(compose, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	o := &releaseOptions{f: f, name: "myapp", opts: recipe.ReleaseOptions{Version: "0.1.0+1.2.0"}}
	err := runRelease(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "R102") || strings.Contains(err.Error(), "R106") {
		t.Fatalf("err = %v, want R102 (and not R106)", err)
	}
	if tags, _ := exec.Command("git", "-C", dir, "tag").Output(); len(tags) != 0 {
		t.Errorf("refused release tagged: %s", tags)
	}
}

func TestRunReleaseAndSync(t *testing.T) {
	f, out, _, dir := maintainerEnv(t)
	if err := runSync(context.Background(), &syncOptions{f: f, name: "myapp"}); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != "0.1.0+1.2.0" {
		t.Errorf("sync printed %q", out)
	}
	out.Reset()
	o := &releaseOptions{f: f, name: "myapp", opts: recipe.ReleaseOptions{Note: "First."}, json: true}
	if err := runRelease(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var plan recipe.ReleasePlan
	if err := json.Unmarshal(out.Bytes(), &plan); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if plan.Version != "0.1.0+1.2.0" || plan.Notes != "release/0.1.0+1.2.0" || plan.Commit == "" {
		t.Errorf("plan = %+v", plan)
	}
	typ, err := exec.Command("git", "-C", dir, "cat-file", "-t", "0.1.0+1.2.0").Output()
	if err != nil || strings.TrimSpace(string(typ)) != "tag" {
		t.Errorf("tag type %q, %v", typ, err)
	}
}

func TestFetchAllArgs(t *testing.T) {
	tests := []struct {
		args  []string
		all   bool
		usage bool
	}{
		{[]string{"--all"}, true, false},
		{[]string{"wordpress"}, false, false},
		{[]string{"--all", "wordpress"}, false, true},
		{[]string{}, false, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var got *fetchOptions
			err := execute(t, newFetchCmd(&command.Factory{}, func(_ context.Context, o *fetchOptions) error { got = o; return nil }), tt.args...)
			var usage *command.UsageError
			if tt.usage != errors.As(err, &usage) {
				t.Fatalf("err = %v, want usage error: %v", err, tt.usage)
			}
			if !tt.usage && got.all != tt.all {
				t.Errorf("all = %v", got.all)
			}
		})
	}
}

func TestResetAsksFirst(t *testing.T) {
	f, _, _, dir := maintainerEnv(t)
	// maintainerEnv left compose.yml changed.
	err := runReset(context.Background(), &resetOptions{f: f, name: "myapp"})
	var usage *command.UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("reset -n: %v, want a usage error naming --force", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "compose.yml")); !strings.Contains(string(b), "registry.example.org/app:1.2.0") {
		t.Error("reset without confirmation discarded changes")
	}
	if err := runReset(context.Background(), &resetOptions{f: f, name: "myapp", force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "compose.yml")); strings.Contains(string(b), "registry.example.org") {
		t.Error("reset --force kept the change")
	}
}
