package stack

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	composetypes "github.com/docker/cli/cli/compose/types"
)

// fuzzCompose is a compose file shaped like Co-op Cloud's recipes: proxy
// network, traefik labels, versioned configs and external secrets, a
// healthcheck, interpolation in every form the corpus uses.
const fuzzCompose = `---
version: "3.8"

services:
  app:
    image: ${IMAGE:-nginx}:1.27.3
    networks:
      - proxy
      - internal
    environment:
      - DOMAIN
      - GREETING=${GREETING}
      - PRICE=$$5
      - HOME_URL=https://$DOMAIN/
    configs:
      - source: nginx_conf
        target: /etc/nginx/conf.d/default.conf
    secrets: [db_password]
    deploy:
      replicas: ${REPLICAS:-1}
      restart_policy:
        condition: on-failure
      update_config:
        failure_action: rollback
        order: start-first
      labels:
        - "traefik.enable=true"
        - "traefik.http.services.${STACK_NAME}.loadbalancer.server.port=80"
        - "traefik.http.routers.${STACK_NAME}.rule=Host(` + "`${DOMAIN}`${EXTRA_DOMAINS}" + `)"
        - "traefik.http.routers.${STACK_NAME}.tls.certresolver=${LETS_ENCRYPT_ENV}"
        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.27.3"
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost"]
      interval: 30s
      timeout: 10s
      retries: 10
      start_period: 1m
  db:
    image: mariadb:11.4
    command: ["--character-set-server=utf8mb4"]
    environment:
      MYSQL_PASSWORD_FILE: /run/secrets/db_password
    volumes:
      - "mariadb:/var/lib/mysql"
    networks: [internal]

networks:
  proxy:
    external: true
  internal:

volumes:
  mariadb:

configs:
  nginx_conf:
    name: ${STACK_NAME}_nginx_conf_${NGINX_CONF_VERSION}
    file: nginx.conf.tmpl
    template_driver: golang

secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION:?set it in the env file}
`

const fuzzEnv = `TYPE=web
DOMAIN=web.example.com
STACK_NAME=web_example_com
GREETING=hi
LETS_ENCRYPT_ENV=production
NGINX_CONF_VERSION=v1
SECRET_DB_PASSWORD_VERSION=v1
`

// sentinel is the content of a file beside the recipe directory: a load
// whose result holds it has read outside the recipe.
const sentinel = "outside-the-recipe-3f9c"

// envOfLines reads KEY=value lines; anything else is skipped, so that the
// fuzzer reaches interpolation with whatever keys and values it likes.
func envOfLines(s string) map[string]string {
	env := map[string]string{}
	for line := range strings.Lines(s) {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), "="); ok {
			env[k] = v
		}
	}
	return env
}

// corpusRecipes returns compose.yml, the first overlay (or "") and an env
// (.env.sample and abra.sh's export lines) of each recipe of the shared
// corpus (../shared/corpus beside the checkout, or $ABRA_CORPUS), which is
// not part of the repository: none when it is absent.
func corpusRecipes(tb testing.TB) [][3]string {
	tb.Helper()
	dir := os.Getenv("ABRA_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	composes, _ := filepath.Glob(filepath.Join(dir, "*", "compose.yml"))
	var out [][3]string
	for _, c := range composes {
		recipe := filepath.Dir(c)
		base, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		var overlay []byte
		if overlays, _ := filepath.Glob(filepath.Join(recipe, "compose.*.yml")); len(overlays) > 0 {
			overlay, _ = os.ReadFile(overlays[0])
		}
		sample, _ := os.ReadFile(filepath.Join(recipe, ".env.sample"))
		abrash, _ := os.ReadFile(filepath.Join(recipe, "abra.sh"))
		env := string(sample) + "\n" + strings.ReplaceAll(string(abrash), "export ", "") +
			"\nSTACK_NAME=app_example_org\nDOMAIN=app.example.org\n"
		out = append(out, [3]string{string(base), string(overlay), env})
	}
	return out
}

// FuzzLoad checks that loading and interpolating compose files never
// panics; that a refusal names the compose file or the service at fault;
// that what loads has a valid image for every service and reads no file
// outside the recipe; that Load leaves the env alone and gives the same
// result twice.
func FuzzLoad(f *testing.F) {
	const overlayPrefix = "version: \"3.8\"\nservices:\n  app:\n"
	for _, s := range [][3]string{
		{fuzzCompose, "", fuzzEnv},
		{fuzzCompose, overlayPrefix + "    environment:\n      - SMTP_HOST=${SMTP_HOST:-mail}\n", fuzzEnv},
		{fuzzCompose, "", "DOMAIN=x\n"},
		{fuzzCompose, "", fuzzEnv + "IMAGE=Bad Image\n"},
		{fuzzCompose, "", fuzzEnv + "REPLICAS=many\n"},
		{"version: \"3.8\"\nservices:\n  app:\n    image: nginx:1\n", "", ""},
		{"services:\n  app:\n    image: ${IMG}\n", "", "IMG=\n"},
		{"services:\n  app: {}\n", "", ""},
		{"services:\n  app:\n    image: nginx\n    env_file: app.env\n", "", ""},
		{"services:\n  app:\n    image: nginx\n    env_file: ../shadow\n", "", ""},
		{"services:\n  app:\n    image: nginx\n    env_file: ${ENV_FILE}\n", "", "ENV_FILE=/etc/hostname\n"},
		{"services:\n  app:\n    image: nginx\nconfigs:\n  c:\n    file: ${CONF:-../shadow}\n", "", ""},
		{"services:\n  app:\n    image: nginx\n    ports: [\"${PORT:-80}:80\"]\n    privileged: true\n", "", ""},
		{"version: \"3.8\"\nservices:\n  app:\n    image: nginx\n    build: .\n    container_name: x\n", "", ""},
		{"x-common: &common\n  image: nginx\nservices:\n  app:\n    <<: *common\n  b:\n    <<: *common\n", "", ""},
		{"services:\n  app:\n    image: \"${A:?need A}\"\n", "", ""},
		{"services:\n  app:\n    image: \"${A\"\n", "", ""},
		{"version: \"2\"\nservices: []\n", "", ""},
		{"", "", ""},
		{"[", "", ""},
		{"services:\n  app:\n    image: nginx\n", "services:\n  app:\n    image: ${X}\n", "X=UPPER/Case\n"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	for _, r := range corpusRecipes(f) {
		f.Add(r[0], r[1], r[2])
	}
	f.Fuzz(func(t *testing.T, compose, overlay, envText string) {
		base := t.TempDir()
		dir := filepath.Join(base, "recipe")
		files := map[string]string{
			"compose.yml":     compose,
			"nginx.conf.tmpl": "server {}\n",
			"app.env":         "FROM_ENV_FILE=1\n",
		}
		list := []string{"compose.yml"}
		if overlay != "" {
			files["compose.smtp.yml"] = overlay
			list = append(list, "compose.smtp.yml")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(base, "shadow"), []byte("SHADOW="+sentinel+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}

		env := envOfLines(envText)
		before := maps.Clone(env)
		opts := LoadOptions{Dir: dir, Files: list, Env: env}
		got, err := Load(opts)
		if !maps.Equal(env, before) {
			t.Fatalf("Load changed its env: %q, was %q", env, before)
		}
		again, err2 := Load(opts)
		// Not the same error: docker/cli's loader reports one of several
		// faults, picked in map order.
		if (err == nil) != (err2 == nil) {
			t.Fatalf("two loads differ: %v, then %v", err, err2)
		}
		if err != nil {
			msg := err.Error()
			names := strings.HasPrefix(msg, "service ")
			for _, f := range list {
				names = names || strings.Contains(msg, f)
			}
			if !names {
				t.Fatalf("error names neither a compose file (%v) nor a service: %v", list, err)
			}
			return
		}
		// The loader lists services in map order.
		byName := func(a, b composetypes.ServiceConfig) int { return strings.Compare(a.Name, b.Name) }
		slices.SortFunc(got.Config.Services, byName)
		slices.SortFunc(again.Config.Services, byName)
		if !reflect.DeepEqual(got.Config, again.Config) {
			t.Fatalf("two loads of the same files differ")
		}
		for _, svc := range got.Config.Services {
			if svc.Image == "" {
				t.Fatalf("service %s loaded without an image", svc.Name)
			}
			for k, v := range svc.Environment {
				if v != nil && strings.Contains(*v, sentinel) {
					t.Fatalf("service %s: %s=%q was read from outside the recipe", svc.Name, k, *v)
				}
			}
		}
		for name, c := range got.Config.Configs {
			if c.File != "" && !inside(dir, c.File) {
				t.Fatalf("config %s: file %s is outside the recipe", name, c.File)
			}
		}
		for name, s := range got.Config.Secrets {
			if s.File != "" && !inside(dir, s.File) {
				t.Fatalf("secret %s: file %s is outside the recipe", name, s.File)
			}
		}
	})
}

func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && filepath.IsLocal(rel)
}
