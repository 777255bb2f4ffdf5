package app

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{
		"-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "init.defaultBranch=main",
		"-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false",
	}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

const filesCompose = `version: "3.8"
services:
  app:
    image: nginx:1.25.3
    configs:
      - source: nginx_conf
        target: /etc/nginx/conf.d/default.conf
configs:
  nginx_conf:
    name: ${STACK_NAME}_nginx_conf_${NGINX_CONF_VERSION}
    file: nginx.conf
`

// recipeRelease makes $ABRA_DIR/recipes/web, a clone whose release 1.0.0+1.25.3
// holds files (SHADOW in a file's content or a link target stands for a file
// outside the recipe, like /etc/shadow) and symlinks (name → target).
func recipeRelease(t *testing.T, files, links map[string]string) (Store, string) {
	t.Helper()
	root := t.TempDir()
	shadow := filepath.Join(root, "shadow")
	if err := os.WriteFile(shadow, []byte("root:SECRET-HASH\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := Store{Root: filepath.Join(root, "abra")}
	dir := store.RecipeDir("web")
	all := map[string]string{"compose.yml": filesCompose, "nginx.conf": "server {}\n", "abra.sh": "export NGINX_CONF_VERSION=v1\n"}
	for name, content := range files {
		all[name] = content
	}
	for name, content := range all {
		if _, ok := links[name]; ok {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(content, "SHADOW", shadow)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(strings.ReplaceAll(target, "SHADOW", shadow), p); err != nil {
			t.Fatal(err)
		}
	}
	gitRun(t, dir, "init", "-q")
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "release")
	gitRun(t, dir, "tag", "-a", "-m", "1.0.0+1.25.3", "1.0.0+1.25.3")
	return store, shadow
}

// TestLoadComposeRefusesFilesOutsideTheRecipe: a release whose files point
// out of the recipe is refused on the deploy path, naming the file, and the
// outside file's content is never read.
func TestLoadComposeRefusesFilesOutsideTheRecipe(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		links   map[string]string
		compose string // COMPOSE_FILE of the app
		want    string // SHADOW stands for the outside file's path
	}{
		{name: "compose.yml a symlink out", links: map[string]string{"compose.yml": "SHADOW"},
			want: "COMPOSE_FILE: compose.yml is outside the recipe (compose.yml links to SHADOW)"},
		{name: "config file a symlink out", links: map[string]string{"nginx.conf": "SHADOW"},
			want: "compose.yml: configs.nginx_conf.file: nginx.conf is outside the recipe (nginx.conf links to SHADOW)"},
		{name: "config file a relative symlink out", links: map[string]string{"nginx.conf": "../../../../../../../../etc/shadow"},
			want: "nginx.conf links to ../../../../../../../../etc/shadow"},
		{name: "config file absolute", files: map[string]string{"compose.yml": strings.Replace(filesCompose, "file: nginx.conf", "file: SHADOW", 1)},
			want: "compose.yml: configs.nginx_conf.file: SHADOW is outside the recipe"},
		{name: "env_file climbing out", files: map[string]string{"compose.yml": strings.Replace(filesCompose, "    configs:\n      - source", "    env_file: ../../x.env\n    configs:\n      - source", 1)},
			want: "compose.yml: services.app.env_file: ../../x.env is outside the recipe"},
		{name: "abra.sh a symlink out", links: map[string]string{"abra.sh": "SHADOW"},
			want: "recipe web: abra.sh is outside the recipe (abra.sh links to SHADOW)"},
		{name: "overlay a symlink out", compose: "compose.yml:compose.x.yml",
			links: map[string]string{"compose.x.yml": "SHADOW"},
			want:  "COMPOSE_FILE: compose.x.yml is outside the recipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, shadow := recipeRelease(t, tt.files, tt.links)
			src, err := store.Checkout(context.Background(), "web", "1.0.0+1.25.3", false)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			a := testApp(t)
			if tt.compose != "" {
				if err := a.Env.Set("COMPOSE_FILE", tt.compose); err != nil {
					t.Fatal(err)
				}
			}
			loaded, err := LoadCompose(a, src)
			if err == nil {
				_, err = stack.Plan(a.StackName(), loaded.Config)
			}
			want := strings.ReplaceAll(tt.want, "SHADOW", shadow)
			if !errors.Is(err, guard.ErrOutside) || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want ErrOutside naming %q", err, want)
			}
			if strings.Contains(err.Error(), "SECRET-HASH") {
				t.Fatal("the outside file was read")
			}
		})
	}
}

// TestLoadComposeFollowsSymlinksInsideTheRecipe: symlinks that stay in the
// recipe keep working on the deploy path.
func TestLoadComposeFollowsSymlinksInsideTheRecipe(t *testing.T) {
	store, _ := recipeRelease(t, map[string]string{
		"shared/compose.yml": filesCompose,
		"conf/nginx.conf":    "server { listen 81; }\n",
		"conf/abra.sh":       "export NGINX_CONF_VERSION=v7\n",
	}, map[string]string{
		"compose.yml": "shared/compose.yml",
		"nginx.conf":  "conf/nginx.conf",
		"abra.sh":     "conf/abra.sh",
	})
	src, err := store.Checkout(context.Background(), "web", "1.0.0+1.25.3", false)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	a := testApp(t)
	loaded, err := LoadCompose(a, src)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := stack.Plan(a.StackName(), loaded.Config)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Configs) != 1 || spec.Configs[0].Name != "app_example_org_nginx_conf_v7" || string(spec.Configs[0].Data) != "server { listen 81; }\n" {
		t.Errorf("configs = %+v, want conf/nginx.conf as version v7", spec.Configs)
	}
}

// TestReleaseNotesStayInsideTheRecipe: a release note that is a symlink out
// of the recipe is not shown.
func TestReleaseNotesStayInsideTheRecipe(t *testing.T) {
	dir := t.TempDir()
	shadow := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(shadow, []byte("root:SECRET-HASH\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "release"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "release", "notes"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for tag, target := range map[string]string{"1.1.0+1.2": shadow, "2.0.0+2.0": "notes"} {
		if err := os.Symlink(target, filepath.Join(dir, "release", tag)); err != nil {
			t.Fatal(err)
		}
	}
	cands := releases(t, "1.1.0+1.2", "2.0.0+2.0")
	notes := ReleaseNotes(dir, cands, cands[1], Up)
	if len(notes) != 1 || notes[0].Version != "2.0.0+2.0" || notes[0].Text != "two" {
		t.Fatalf("notes = %+v, want only 2.0.0's, through its symlink inside", notes)
	}
}

// TestDeployRefusesAReleaseWithFilesOutside: R107 only warns at deploy (it is
// this abra's rule, not the original's), but loading the compose files
// refuses the file that leads outside, before anything reaches the server.
func TestDeployRefusesAReleaseWithFilesOutside(t *testing.T) {
	store, shadow := recipeRelease(t, map[string]string{".env.sample": "TYPE=web\nDOMAIN=web.example.com\n"}, map[string]string{"nginx.conf": "SHADOW"})
	if err := os.MkdirAll(filepath.Join(store.Root, "servers", "default"), 0o755); err != nil {
		t.Fatal(err)
	}
	cluster := swarmtest.New()
	var notes strings.Builder
	d := &Deployer{Store: store, Cluster: cluster, Observer: noteRecorder{&notes}}
	_, err := d.Deploy(context.Background(), testApp(t), DeployOptions{Version: "1.0.0+1.25.3", NoDomainChecks: true})
	want := "configs.nginx_conf.file: nginx.conf is outside the recipe (nginx.conf links to " + shadow + ")"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	var se *step.Failed
	if !errors.As(err, &se) || se.Step != "load compose files" {
		t.Errorf("failed step: %v, want load compose files", err)
	}
	if !strings.Contains(notes.String(), "warning: R107") {
		t.Errorf("lint's R107 is not reported as a warning:\n%s", notes.String())
	}
	for _, c := range cluster.Calls {
		if strings.Contains(c, "create") || strings.Contains(c, "update") {
			t.Errorf("the server was changed: %v", cluster.Calls)
		}
	}
}

// noteRecorder keeps the notes of a deploy's steps.
type noteRecorder struct{ b *strings.Builder }

func (n noteRecorder) Started(string)                        {}
func (n noteRecorder) Finished(string, error, time.Duration) {}
func (n noteRecorder) Note(step, text string) {
	n.b.WriteString(step + ": " + text + "\n")
}
