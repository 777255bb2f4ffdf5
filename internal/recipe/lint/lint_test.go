package lint

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"coopcloud.tech/abra/internal/recipe"
)

// goodRecipe passes every rule once it is committed and tagged 1.0.0+1.25.3.
const goodRecipe = `
-- compose.yml --
version: "3.8"
services:
  app:
    image: nginx:1.25.3
    networks: [proxy]
    environment:
      - GREETING=${GREETING}
      - COLOUR=${COLOUR:-blue}
      - PRICE=$$5
    configs:
      - source: nginx_conf
        target: /etc/nginx/conf.d/default.conf
    secrets: [db_password]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost"]
    deploy:
      labels:
        - "traefik.enable=true"
        - "traefik.http.services.${STACK_NAME}.loadbalancer.server.port=80"
        - "traefik.http.routers.${STACK_NAME}.rule=Host(` + "`${DOMAIN}`" + `)"
        - "traefik.http.routers.${STACK_NAME}.entrypoints=web-secure"
        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.25.3"
networks:
  proxy:
    external: true
configs:
  nginx_conf:
    name: ${STACK_NAME}_nginx_conf_${NGINX_CONF_VERSION}
    file: nginx.conf
secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}
-- abra.sh --
export NGINX_CONF_VERSION=v1
-- nginx.conf --
server {}
-- .env.sample --
TYPE=web
DOMAIN=web.example.com
GREETING=hi
SECRET_DB_PASSWORD_VERSION=v1
-- README.md --
# web

<!-- metadata -->
* **Category**: Apps
* **Status**: 3, stable
* **Image**: [nginx](https://hub.docker.com/_/nginx), 4, upstream
* **Healthcheck**: Yes
* **Backups**: No
* **Email**: N/A
* **Tests**: No
* **SSO**: N/A
<!-- endmetadata -->
`

const goodTag = "1.0.0+1.25.3"

func git(t *testing.T, dir string, args ...string) {
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

func writeArchive(t *testing.T, dir, archive string) {
	t.Helper()
	for _, f := range txtar.Parse([]byte(archive)).Files {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tag creates an annotated tag, or a lightweight one for "light:<tag>".
func tag(t *testing.T, dir, name string) {
	t.Helper()
	if light, ok := strings.CutPrefix(name, "light:"); ok {
		git(t, dir, "tag", light)
		return
	}
	git(t, dir, "tag", "-a", "-m", name, name)
}

// edit is a text replacement in one file of the recipe.
type edit struct{ file, old, new string }

// fixture describes a recipe: goodRecipe committed with tags, then changed.
type fixture struct {
	tags   []string // on the commit of goodRecipe; nil means goodTag, "none" none
	edits  []edit   // applied to the work tree afterwards
	files  string   // txtar written to the work tree afterwards
	remove []string // removed from the work tree afterwards
	// moved files go to a new place and a symlink to it takes their place.
	moved map[string]string
	// links are symlinks (name → target) made afterwards; SHADOW in a
	// target, an edit or a file stands for a file outside the recipe.
	links    map[string]string
	release  string // commit the changes and tag them with this
	noRepo   bool   // lint the files without git
	noOrigin bool   // the clone has no origin remote
	opts     []Option
}

func (fx fixture) run(t *testing.T) Report {
	t.Helper()
	rep, _ := fx.runShadow(t)
	return rep
}

// runShadow lints the fixture and returns the path SHADOW stands for: a
// file beside the recipe, with content that must never be read.
func (fx fixture) runShadow(t *testing.T) (Report, string) {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "web")
	shadow := filepath.Join(base, "shadow")
	if err := os.WriteFile(shadow, []byte("root:SECRET-HASH\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeArchive(t, dir, goodRecipe)
	var repo *recipe.Repo
	if !fx.noRepo {
		git(t, dir, "init", "-q")
		if !fx.noOrigin {
			git(t, dir, "remote", "add", "origin", "https://git.coopcloud.tech/coop-cloud/web.git")
		}
		git(t, dir, "add", "-A")
		git(t, dir, "commit", "-q", "-m", "first")
		tags := fx.tags
		if tags == nil {
			tags = []string{goodTag}
		}
		for _, name := range tags {
			if name != "none" {
				tag(t, dir, name)
			}
		}
	}
	for _, e := range fx.edits {
		p := filepath.Join(dir, e.file)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), e.old) {
			t.Fatalf("edit: %s has no %q", e.file, e.old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), e.old, strings.ReplaceAll(e.new, "SHADOW", shadow), 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeArchive(t, dir, strings.ReplaceAll(fx.files, "SHADOW", shadow))
	for _, name := range fx.remove {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for from, to := range fx.moved {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, to)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(filepath.Dir(filepath.Join(dir, from)), filepath.Join(dir, to))
		if err := os.Symlink(rel, filepath.Join(dir, from)); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range fx.links {
		p := filepath.Join(dir, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(strings.ReplaceAll(target, "SHADOW", shadow), p); err != nil {
			t.Fatal(err)
		}
	}
	if fx.release != "" {
		git(t, dir, "add", "-A")
		git(t, dir, "commit", "-q", "-m", "release")
		tag(t, dir, fx.release)
	}
	if !fx.noRepo {
		var err error
		if repo, err = recipe.Open(dir); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Run(context.Background(), dir, repo, fx.opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		if strings.Contains(f.Detail, "SECRET-HASH") {
			t.Fatalf("%s read the file outside the recipe: %s", f.ID, f.Detail)
		}
	}
	return rep, shadow
}

func finding(t *testing.T, rep Report, id string) Finding {
	t.Helper()
	for _, f := range rep.Findings {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("no finding for %s", id)
	return Finding{}
}

func TestGoodRecipePassesEveryRule(t *testing.T) {
	rep := fixture{}.run(t)
	if len(rep.Findings) != len(Rules()) {
		t.Fatalf("%d findings for %d rules", len(rep.Findings), len(Rules()))
	}
	for _, f := range rep.Findings {
		if f.Status != Pass {
			t.Errorf("%s %s: %s (%s)", f.ID, f.Description, f.Status, f.Detail)
		}
	}
	if c := rep.CriticalFailures(); len(c) != 0 {
		t.Errorf("CriticalFailures = %v", c)
	}
}

func TestRules(t *testing.T) {
	const healthcheck = "    healthcheck:\n      test: [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]\n"
	const versionLabel = "coop-cloud.${STACK_NAME}.version=1.0.0+1.25.3"
	worker := func(image string) edit {
		return edit{"compose.yml", "networks:\n  proxy:", "  worker:\n    image: " + image + "\n" + healthcheck + "networks:\n  proxy:"}
	}
	tests := []struct {
		name     string
		rule     string
		fx       fixture
		status   Status
		severity Severity // checked when set
		detail   string   // a substring of the detail
	}{
		{name: "no compose version", rule: "R001", status: Fail, detail: "no version: compose.yml",
			fx: fixture{edits: []edit{{"compose.yml", "version: \"3.8\"\n", ""}}}},
		{name: "overlay without version", rule: "R001", status: Fail, detail: "no version: compose.smtp.yml",
			fx: fixture{files: "-- compose.smtp.yml --\nservices:\n  app:\n    environment: [SMTP=1]\n"}},

		{name: "no healthcheck", rule: "R002", status: Fail, detail: "none: app",
			fx: fixture{edits: []edit{{"compose.yml", healthcheck, ""}}}},
		{name: "healthcheck disabled", rule: "R002", status: Fail, detail: "disabled: app",
			fx: fixture{edits: []edit{{"compose.yml", healthcheck, "    healthcheck:\n      disable: true\n"}}}},
		{name: "healthcheck added by an overlay", rule: "R002", status: Pass,
			fx: fixture{
				edits: []edit{{"compose.yml", healthcheck, ""}},
				files: "-- compose.health.yml --\nversion: \"3.8\"\nservices:\n  app:\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n",
			}},

		{name: "untagged image", rule: "R003", status: Fail, severity: Critical, detail: "app: mariadb",
			fx: fixture{edits: []edit{{"compose.yml", "image: nginx:1.25.3", "image: mariadb"}}}},
		{name: "untagged image from a default", rule: "R003", status: Fail, detail: "app: nginx",
			fx: fixture{edits: []edit{{"compose.yml", "image: nginx:1.25.3", "image: ${IMAGE:-nginx}"}}}},
		{name: "image pinned by digest", rule: "R003", status: Pass,
			fx: fixture{edits: []edit{{"compose.yml", "image: nginx:1.25.3", "image: nginx@sha256:" + strings.Repeat("a", 64)}}}},
		{name: "untagged image in an overlay", rule: "R003", status: Fail, detail: "worker: redis",
			fx: fixture{files: "-- compose.redis.yml --\nversion: \"3.8\"\nservices:\n  worker:\n    image: redis\n"}},

		{name: "latest tag", rule: "R004", status: Fail, detail: "app: nginx:latest",
			fx: fixture{edits: []edit{{"compose.yml", "nginx:1.25.3", "nginx:latest"}}}},
		{name: "latest variant", rule: "R004", status: Fail, detail: "app: nginx:latest-alpine",
			fx: fixture{edits: []edit{{"compose.yml", "nginx:1.25.3", "nginx:latest-alpine"}}}},
		{name: "untagged means latest", rule: "R004", status: Fail, detail: "untagged is latest",
			fx: fixture{edits: []edit{{"compose.yml", "nginx:1.25.3", "nginx"}}}},
		{name: "edge", rule: "R004", status: Fail, detail: "app: nginx:edge",
			fx: fixture{edits: []edit{{"compose.yml", "nginx:1.25.3", "nginx:edge"}}}},
		{name: "variant of a release", rule: "R004", status: Pass,
			fx: fixture{edits: []edit{{"compose.yml", "nginx:1.25.3", "nginx:1.25-alpine"}}}},

		{name: "word tag", rule: "R005", status: Fail, detail: "app: nginx:testing",
			fx: fixture{edits: []edit{{"compose.yml", "nginx:1.25.3", "nginx:testing"}}}},
		{name: "v prefix", rule: "R005", status: Pass,
			fx: fixture{edits: []edit{{"compose.yml", "nginx:1.25.3", "traefik:v2.4.8"}}}},
		{name: "variant suffix", rule: "R005", status: Pass,
			fx: fixture{edits: []edit{{"compose.yml", "nginx:1.25.3", "php:8.0-fpm-alpine3.13"}}}},

		{name: "no tags", rule: "R006", status: Fail, severity: Warn, detail: "no release tags",
			fx: fixture{tags: []string{"none"}}},
		{name: "old-style tags only", rule: "R006", status: Fail, detail: "only v1.0.0",
			fx: fixture{tags: []string{"v1.0.0"}}},
		{name: "lightweight release only", rule: "R006", status: Fail, detail: "only lightweight tags: " + goodTag,
			fx: fixture{tags: []string{"light:" + goodTag}}},
		{name: "no repository", rule: "R006", status: Skip, detail: "not a git repository",
			fx: fixture{noRepo: true}},

		{name: "no README", rule: "R007", status: Fail, detail: "no README.md",
			fx: fixture{remove: []string{"README.md"}}},
		{name: "no metadata block", rule: "R007", status: Fail, detail: "no <!-- metadata -->",
			fx: fixture{files: "-- README.md --\n# web\n"}},
		{name: "field missing and empty", rule: "R007", status: Fail, detail: "missing: SSO; not filled in: Status",
			fx: fixture{edits: []edit{
				{"README.md", "* **SSO**: N/A\n", ""},
				{"README.md", "* **Status**: 3, stable", "* **Status**: ?"},
			}}},

		{name: "no .env.sample", rule: "R008", status: Fail, severity: Critical, detail: "no .env.sample",
			fx: fixture{remove: []string{".env.sample"}}},
		{name: "compose rules run without .env.sample", rule: "R003", status: Pass,
			fx: fixture{remove: []string{".env.sample"}}},
		{name: "variable rule skips without .env.sample", rule: "R105", status: Skip, detail: "R008",
			fx: fixture{remove: []string{".env.sample"}}},
		{name: ".env.sample does not parse", rule: "R008", status: Fail, detail: ".env.sample:2",
			fx: fixture{files: "-- .env.sample --\nTYPE=web\nNOT A LINE\n"}},

		{name: "no app service", rule: "R009", status: Fail, severity: Critical, detail: "services: web",
			fx: fixture{edits: []edit{{"compose.yml", "  app:\n", "  web:\n"}}}},

		{name: "traefik not enabled", rule: "R010", status: Fail, severity: Warn, detail: "no service",
			fx: fixture{edits: []edit{{"compose.yml", "\"traefik.enable=true\"", "\"traefik.enable=false\""}}}},
		{name: "traefik enabled in map form", rule: "R010", status: Pass, detail: "app",
			fx: fixture{edits: []edit{{"compose.yml", "        - \"traefik.enable=true\"\n", ""}},
				files: "-- compose.labels.yml --\nversion: \"3.8\"\nservices:\n  app:\n    deploy:\n      labels:\n        traefik.enable: \"true\"\n"}},

		{name: "service without image", rule: "R011", status: Fail, severity: Critical, detail: "worker: no image",
			fx: fixture{edits: []edit{worker("")}}},
		{name: "image variable not set", rule: "R011", status: Fail, detail: "worker: ${WORKER_IMAGE} is empty",
			fx: fixture{edits: []edit{worker("${WORKER_IMAGE}")}}},
		{name: "image from .env.sample", rule: "R011", status: Pass,
			fx: fixture{edits: []edit{worker("${WORKER_IMAGE}"), {".env.sample", "GREETING=hi", "GREETING=hi\nWORKER_IMAGE=redis:7.2"}}}},

		{name: "no abra.sh", rule: "R012", status: Fail, severity: Critical, detail: "nginx_conf: NGINX_CONF_VERSION not exported",
			fx: fixture{remove: []string{"abra.sh"}}},
		{name: "version in .env.sample", rule: "R012", status: Fail, detail: "(set in .env.sample instead)",
			fx: fixture{remove: []string{"abra.sh"}, edits: []edit{{".env.sample", "GREETING=hi", "GREETING=hi\nNGINX_CONF_VERSION=v1"}}}},
		{name: "unversioned config", rule: "R012", status: Fail, detail: "nginx_conf: name has no version variable",
			fx: fixture{edits: []edit{{"compose.yml", "name: ${STACK_NAME}_nginx_conf_${NGINX_CONF_VERSION}\n", ""}}}},
		{name: "plain assignment is not an export", rule: "R012", status: Fail,
			fx: fixture{files: "-- abra.sh --\nNGINX_CONF_VERSION=v1\n"}},

		{name: "no origin remote", rule: "R013", status: Fail, severity: Warn, detail: "no origin remote",
			fx: fixture{noOrigin: true}},
		{name: "origin remote", rule: "R013", status: Pass, detail: "https://git.coopcloud.tech/coop-cloud/web.git"},
		{name: "no repository to ask", rule: "R013", status: Skip, detail: "not a git repository",
			fx: fixture{noRepo: true}},

		{name: "lightweight tag", rule: "R014", status: Fail, severity: Warn, detail: "lightweight: " + goodTag,
			fx: fixture{tags: []string{"light:" + goodTag}}},
		{name: "no tags to check", rule: "R014", status: Skip,
			fx: fixture{tags: []string{"none"}}},

		{name: "long secret name", rule: "R015", status: Fail, severity: Critical, detail: "secret db_password: 66 characters",
			fx: fixture{edits: []edit{{"compose.yml", "_db_password_", "_database_password_"}}}},
		{name: "long config name without name:", rule: "R015", status: Fail, detail: "config a_very_long_config_key_name: 73 characters",
			fx: fixture{files: "-- compose.extra.yml --\nversion: \"3.8\"\nconfigs:\n  a_very_long_config_key_name:\n    file: nginx.conf\n"}},
		{name: "long secret name fits a short stack name", rule: "R015", status: Pass, detail: "longest: secret db_password, 36 of 64",
			fx: fixture{
				edits: []edit{{"compose.yml", "_db_password_", "_database_password_"}},
				opts:  []Option{WithStackName("web_example_org")},
			}},
		{name: "longest name shown", rule: "R015", status: Pass, detail: "longest: secret db_password, 60 of 64"},

		{name: "compose file does not parse", rule: "R101", status: Fail, severity: Critical, detail: "compose.yml",
			fx: fixture{files: "-- compose.yml --\nservices:\n  app:\n    image: [unclosed\n"}},
		{name: "unsupported option is a warning", rule: "R101", status: Pass, detail: "ignoring unsupported options: restart",
			fx: fixture{edits: []edit{{"compose.yml", "    networks: [proxy]\n", "    networks: [proxy]\n    restart: always\n"}}}},
		{name: "no compose.yml", rule: "R101", status: Fail, detail: "no compose.yml",
			fx: fixture{remove: []string{"compose.yml"}}},
		{name: "rules on compose files skip when there are none", rule: "R003", status: Skip, detail: "R101",
			fx: fixture{remove: []string{"compose.yml"}}},

		{name: "fixed host", rule: "R102", status: Fail, severity: Critical, detail: "fixed hosts in router rule of ${STACK_NAME}",
			fx: fixture{edits: []edit{{"compose.yml", "Host(`${DOMAIN}`)", "Host(`docs.example.org`)"}}}},
		{name: "not a recipe at all", rule: "R102", status: Fail, detail: "fixed router names (docs) and no ${STACK_NAME} anywhere",
			fx: fixture{files: "-- compose.yml --\nversion: \"3.8\"\nservices:\n  app:\n    image: nginx:1.25.3\n    deploy:\n      labels:\n" +
				"        - traefik.enable=true\n        - traefik.http.routers.docs.rule=Host(`docs.example.org`)\n"}},
		{name: "fixed router name with per-app host and stack names elsewhere", rule: "R102", status: Pass,
			fx: fixture{edits: []edit{{"compose.yml", "routers.${STACK_NAME}.rule", "routers.traefik.rule"}}}},

		{name: "fixed router name", rule: "R103", status: Fail, severity: Warn, detail: "fixed routers: traefik",
			fx: fixture{edits: []edit{{"compose.yml", "routers.${STACK_NAME}.rule", "routers.traefik.rule"}}}},
		{name: "fixed secret name", rule: "R103", status: Fail, detail: "secrets: db_password (db_password_v1)",
			fx: fixture{edits: []edit{{"compose.yml", "${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}", "db_password_v1"}}}},
		{name: "external secret without a name", rule: "R103", status: Fail, detail: "secrets: db_password",
			fx: fixture{edits: []edit{{"compose.yml", "    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}\n", ""}}}},

		{name: "config changed without a bump", rule: "R104", status: Fail, severity: Critical,
			detail: "since " + goodTag + ": nginx_conf: nginx.conf changed, NGINX_CONF_VERSION not bumped",
			fx:     fixture{files: "-- nginx.conf --\nserver { listen 81; }\n"}},
		{name: "config changed and bumped", rule: "R104", status: Pass, detail: "compared with " + goodTag,
			fx: fixture{files: "-- nginx.conf --\nserver { listen 81; }\n-- abra.sh --\nexport NGINX_CONF_VERSION=v2\n"}},
		{name: "config file renamed with a new version", rule: "R104", status: Pass,
			fx: fixture{
				edits: []edit{{"compose.yml", "file: nginx.conf", "file: conf/nginx.conf"}},
				files: "-- conf/nginx.conf --\nserver { listen 81; }\n-- abra.sh --\nexport NGINX_CONF_VERSION=v2\n",
			}},
		{name: "new config", rule: "R104", status: Pass,
			fx: fixture{files: "-- compose.extra.yml --\nversion: \"3.8\"\nconfigs:\n  extra_conf:\n    name: ${STACK_NAME}_extra_${EXTRA_VERSION}\n    file: extra.conf\n-- extra.conf --\nx\n"}},
		{name: "committed release compared with the one before", rule: "R104", status: Fail, detail: "since " + goodTag,
			fx: fixture{files: "-- nginx.conf --\nserver { listen 81; }\n", release: "1.1.0+1.25.3", opts: []Option{AtRelease("1.1.0+1.25.3")}}},
		{name: "first release has nothing to compare with", rule: "R104", status: Skip, detail: "no earlier release",
			fx: fixture{opts: []Option{AtRelease(goodTag)}}},
		{name: "no tags to compare with", rule: "R104", status: Skip,
			fx: fixture{tags: []string{"none"}, files: "-- nginx.conf --\nserver { listen 81; }\n"}},

		{name: "undeclared variable", rule: "R105", status: Fail, severity: Warn, detail: "undeclared: GREETING",
			fx: fixture{edits: []edit{{".env.sample", "GREETING=hi\n", ""}}}},
		{name: "commented declaration", rule: "R105", status: Pass,
			fx: fixture{edits: []edit{{".env.sample", "GREETING=hi\n", "# GREETING=hello\n"}}}},
		{name: "bare variable", rule: "R105", status: Fail, detail: "undeclared: NAME",
			fx: fixture{edits: []edit{{"compose.yml", "PRICE=$$5", "NAME=$NAME"}}}},
		{name: "required variable", rule: "R105", status: Fail, detail: "undeclared: TOKEN",
			fx: fixture{edits: []edit{{"compose.yml", "PRICE=$$5", "TOKEN=${TOKEN:?set a token}"}}}},
		{name: "variable in an overlay", rule: "R105", status: Fail, detail: "undeclared: SMTP_HOST (compose.smtp.yml)",
			fx: fixture{files: "-- compose.smtp.yml --\nversion: \"3.8\"\nservices:\n  app:\n    environment:\n      - SMTP_HOST=${SMTP_HOST}\n"}},
		{name: "variable in a YAML comment", rule: "R105", status: Pass,
			fx: fixture{edits: []edit{{"compose.yml", "services:\n", "services:\n  # - FOO=${UNDECLARED}\n"}}}},

		{name: "label behind the latest release", rule: "R106", status: Fail, severity: Critical,
			detail: "app has version 1.0.0+1.25.3, latest release is 1.1.0+1.25.3",
			fx:     fixture{tags: []string{goodTag, "1.1.0+1.25.3"}}},
		{name: "no label", rule: "R106", status: Fail, severity: Critical, detail: "no coop-cloud.${STACK_NAME}.version label, latest release is " + goodTag,
			fx: fixture{edits: []edit{{"compose.yml", "        - \"" + versionLabel + "\"\n", ""}}}},
		{name: "old per-service label", rule: "R106", status: Fail, detail: "only old per-service labels (app.version)",
			fx: fixture{edits: []edit{{"compose.yml", versionLabel, "coop-cloud.${STACK_NAME}.app.version=1.25.3-abcdef12"}}}},
		{name: "no release yet", rule: "R106", status: Fail, severity: Warn, detail: "app has version 1.0.0+1.25.3, but no release is tagged",
			fx: fixture{tags: []string{"none"}}},
		{name: "empty label", rule: "R106", status: Fail, detail: "app has an empty version label",
			fx: fixture{edits: []edit{{"compose.yml", versionLabel, "coop-cloud.${STACK_NAME}.version="}}}},
		{name: "release checked against its own tag", rule: "R106", status: Pass,
			fx: fixture{tags: []string{goodTag, "1.1.0+1.25.3"}, opts: []Option{AtRelease(goodTag)}}},
		{name: "release forgot to bump the label", rule: "R106", status: Fail, detail: "latest release is 1.1.0+1.25.3",
			fx: fixture{files: "-- release/1.1.0+1.25.3 --\nnew release\n", release: "1.1.0+1.25.3", opts: []Option{AtRelease("1.1.0+1.25.3")}}},

		{name: "config file absolute", rule: "R107", status: Fail, severity: Critical,
			detail: "compose.yml: configs.nginx_conf.file: SHADOW is outside the recipe",
			fx:     fixture{edits: []edit{{"compose.yml", "file: nginx.conf", "file: SHADOW"}}}},
		{name: "config file a symlink out", rule: "R107", status: Fail, severity: Critical,
			detail: "compose.yml: configs.nginx_conf.file: nginx.conf is outside the recipe (nginx.conf links to SHADOW)",
			fx:     fixture{links: map[string]string{"nginx.conf": "SHADOW"}}},
		{name: "config file a relative symlink out", rule: "R107", status: Fail,
			detail: "configs.nginx_conf.file: nginx.conf is outside the recipe (nginx.conf links to ../shadow)",
			fx:     fixture{links: map[string]string{"nginx.conf": "../shadow"}}},
		{name: "config file climbing out", rule: "R107", status: Fail,
			detail: "compose.yml: configs.nginx_conf.file: ../shadow is outside the recipe",
			fx:     fixture{edits: []edit{{"compose.yml", "file: nginx.conf", "file: ../shadow"}}}},
		{name: "config file from .env.sample", rule: "R107", status: Fail,
			detail: "compose.yml: configs.nginx_conf.file: ../shadow is outside the recipe",
			fx: fixture{edits: []edit{{"compose.yml", "file: nginx.conf", "file: ${NGINX_CONF:-nginx.conf}"},
				{".env.sample", "GREETING=hi", "GREETING=hi\nNGINX_CONF=../shadow"}}}},
		{name: "env_file climbing out", rule: "R107", status: Fail,
			detail: "compose.yml: services.app.env_file: ../shadow is outside the recipe",
			fx:     fixture{edits: []edit{{"compose.yml", "    networks: [proxy]\n", "    networks: [proxy]\n    env_file: ../shadow\n"}}}},
		{name: "secret file in an overlay", rule: "R107", status: Fail,
			detail: "compose.pw.yml: secrets.admin_pw.file: SHADOW is outside the recipe",
			fx:     fixture{files: "-- compose.pw.yml --\nversion: \"3.8\"\nsecrets:\n  admin_pw:\n    file: SHADOW\n"}},
		{name: "compose file a symlink out", rule: "R107", status: Fail, severity: Critical,
			detail: "compose.yml is outside the recipe (compose.yml links to SHADOW)",
			fx:     fixture{links: map[string]string{"compose.yml": "SHADOW"}}},
		{name: "overlay a symlink out", rule: "R107", status: Fail,
			detail: "compose.smtp.yml is outside the recipe (compose.smtp.yml links to ../shadow)",
			fx:     fixture{links: map[string]string{"compose.smtp.yml": "../shadow"}}},
		{name: ".env.sample a symlink out", rule: "R107", status: Fail,
			detail: ".env.sample is outside the recipe (.env.sample links to SHADOW)",
			fx:     fixture{links: map[string]string{".env.sample": "SHADOW"}}},
		{name: "abra.sh a symlink out", rule: "R107", status: Fail,
			detail: "abra.sh is outside the recipe (abra.sh links to SHADOW)",
			fx:     fixture{links: map[string]string{"abra.sh": "SHADOW"}}},
		{name: "README.md a symlink out", rule: "R107", status: Fail,
			detail: "README.md is outside the recipe (README.md links to SHADOW)",
			fx:     fixture{links: map[string]string{"README.md": "SHADOW"}}},
		{name: "release note a symlink out", rule: "R107", status: Fail,
			detail: "release/1.1.0+1.25.3 is outside the recipe (release/1.1.0+1.25.3 links to SHADOW)",
			fx:     fixture{links: map[string]string{"release/1.1.0+1.25.3": "SHADOW"}}},
		{name: "symlinks inside the recipe", rule: "R107", status: Pass,
			fx: fixture{moved: map[string]string{"compose.yml": "shared/compose.yml", "nginx.conf": "conf/nginx.conf", ".env.sample": "shared/env.sample"}}},
		{name: "compose file a symlink inside loads", rule: "R101", status: Pass, detail: "compose.yml",
			fx: fixture{moved: map[string]string{"compose.yml": "shared/compose.yml", "nginx.conf": "conf/nginx.conf"}}},
		{name: "config file a symlink inside exists", rule: "R108", status: Pass,
			fx: fixture{moved: map[string]string{"nginx.conf": "conf/nginx.conf"}}},
		{name: "a compose file out is not loaded either", rule: "R101", status: Fail, detail: "compose.yml is outside the recipe",
			fx: fixture{links: map[string]string{"compose.yml": "SHADOW"}}},
		{name: "a file out is not loaded either", rule: "R101", status: Fail, detail: "configs.nginx_conf.file: nginx.conf is outside the recipe",
			fx: fixture{links: map[string]string{"nginx.conf": "SHADOW"}}},

		{name: "config file missing", rule: "R108", status: Fail, severity: Critical,
			detail: "compose.yml: configs.nginx_conf.file: nginx.conf does not exist",
			fx:     fixture{remove: []string{"nginx.conf"}}},
		{name: "config file a dangling symlink", rule: "R108", status: Fail,
			detail: "configs.nginx_conf.file: nginx.conf does not exist",
			fx:     fixture{links: map[string]string{"nginx.conf": "conf/gone.conf"}}},
		{name: "secret and env_file missing in an overlay", rule: "R108", status: Fail,
			detail: "compose.extra.yml: secrets.admin_pw.file: pw.txt does not exist; compose.extra.yml: services.app.env_file[0]: app.env does not exist",
			fx:     fixture{files: "-- compose.extra.yml --\nversion: \"3.8\"\nservices:\n  app:\n    env_file: [app.env]\nsecrets:\n  admin_pw:\n    file: pw.txt\n"}},
		{name: "config file a directory", rule: "R108", status: Fail,
			detail: "configs.nginx_conf.file: conf is a directory",
			fx:     fixture{edits: []edit{{"compose.yml", "file: nginx.conf", "file: conf"}}, files: "-- conf/x --\n"}},
		{name: "a file outside is R107's", rule: "R108", status: Pass,
			fx: fixture{links: map[string]string{"nginx.conf": "SHADOW"}}},

		{name: "undeclared secret", rule: "R109", status: Fail, severity: Critical, detail: "undeclared: app: secret api_key",
			fx: fixture{edits: []edit{{"compose.yml", "secrets: [db_password]", "secrets: [db_password, api_key]"}}}},
		{name: "undeclared config", rule: "R109", status: Fail, detail: "app: config extra_conf",
			fx: fixture{edits: []edit{{"compose.yml", "      - source: nginx_conf", "      - source: extra_conf\n        target: /x\n      - source: nginx_conf"}}}},
		{name: "undeclared network and volume in an overlay", rule: "R109", status: Fail, detail: "undeclared: worker: network backend, volume data",
			fx: fixture{files: "-- compose.worker.yml --\nversion: \"3.8\"\nservices:\n  worker:\n    image: redis:7.2\n    networks: [backend]\n    volumes: [data:/data]\n"}},
		{name: "declared volume, binds and anonymous volumes", rule: "R109", status: Pass,
			fx: fixture{files: "-- compose.worker.yml --\nversion: \"3.8\"\nservices:\n  worker:\n    image: redis:7.2\n    volumes: [data:/data, ./x:/x, /tmp/y:/y, /anon]\nvolumes:\n  data:\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule+" "+tt.name, func(t *testing.T) {
			rep, shadow := tt.fx.runShadow(t)
			f := finding(t, rep, tt.rule)
			tt.detail = strings.ReplaceAll(tt.detail, "SHADOW", shadow)
			if f.Status != tt.status {
				t.Errorf("status = %s, want %s (detail: %s)", f.Status, tt.status, f.Detail)
			}
			if tt.severity != "" && f.Severity != tt.severity {
				t.Errorf("severity = %s, want %s", f.Severity, tt.severity)
			}
			if !strings.Contains(f.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", f.Detail, tt.detail)
			}
		})
	}
}

func TestRuleTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] {
			t.Errorf("duplicate id %s", r.ID)
		}
		seen[r.ID] = true
		if r.Severity != Warn && r.Severity != Critical {
			t.Errorf("%s: severity %q", r.ID, r.Severity)
		}
		if r.Description == "" || r.HowToResolve == "" || r.Check == nil {
			t.Errorf("%s: incomplete rule %+v", r.ID, r)
		}
	}
	if _, ok := RuleByID("r003"); !ok {
		t.Error("RuleByID(r003) not found")
	}
}

func TestCriticalFailures(t *testing.T) {
	rep := fixture{
		tags:   []string{"none"},
		remove: []string{".env.sample"},
		edits:  []edit{{"compose.yml", "image: nginx:1.25.3", "image: mariadb"}},
	}.run(t)
	if got := strings.Join(IDs(rep.CriticalFailures()), " "); got != "R003 R008" {
		t.Errorf("critical failures = %s, want R003 R008", got)
	}
	// R106 fails, but only as a warning while nothing is released.
	for _, f := range rep.Failures() {
		if f.ID == "R106" && f.Severity != Warn {
			t.Errorf("R106 severity %s without releases", f.Severity)
		}
	}
}

func TestRunErrors(t *testing.T) {
	if _, err := Run(context.Background(), filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("Run on a missing directory: no error")
	}
}

func TestVariables(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"${A}", "A"},
		{"$A and ${B:-x} and ${C-y}", "A B: C:"},
		{"$$A $${B}", ""},
		{"${A:?required} ${B?required}", "A B"},
		{"lower ${a_b}", "a_b"},
	}
	for _, tt := range tests {
		var got []string
		for _, v := range variables(tt.in) {
			s := v.Name
			if v.HasDefault {
				s += ":"
			}
			got = append(got, s)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("variables(%q) = %v, want %s", tt.in, got, tt.want)
		}
	}
}
