package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Secrets of an app: generate, deploy with them, rotate (bump the version,
// generate, redeploy), insert, and remove.
func TestSecretsGenerateRotateRemove(t *testing.T) {
	buildDemoImage(t, "0.1.0")
	dir := filepath.Join(t.TempDir(), "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(repoRoot, "recipes", "demo"), dir)
	compose := filepath.Join(dir, "compose.yml")
	replaceInFile(t, compose, "    healthcheck:", "    secrets:\n      - db_password\n      - api_token\n    healthcheck:")
	writeFile(t, compose, readFile(t, compose)+`
secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}
  api_token:
    external: true
    name: ${STACK_NAME}_api_token_${SECRET_API_TOKEN_VERSION}
`)
	writeFile(t, filepath.Join(dir, ".env.sample"), readFile(t, filepath.Join(dir, ".env.sample"))+"SECRET_DB_PASSWORD_VERSION=v1 # length=32\nSECRET_API_TOKEN_VERSION=v1 # generate=false\n")
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", "secrets")
	run(t, dir, "git", "tag", "-a", "0.1.0+0.1.0", "-m", "0.1.0+0.1.0")

	const domain, port, stack = "secrets.e2e.localhost", "18100", "secrets_e2e_localhost"
	e := newEnv(t)
	t.Cleanup(func() {
		e.abra("app", "undeploy", domain)
		waitStackGone(t, stack)
		for _, n := range []string{"db_password_v1", "db_password_v2", "api_token_v1"} {
			_ = runQuiet(dockerBin(), "secret", "rm", stack+"_"+n)
		}
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "demo", "--url", dir)
	e.mustAbra("app", "new", "demo", "--server", "default", "--domain", domain, "-n")
	envPath := filepath.Join(e.abraDir, "servers", "default", domain+".env")
	replaceInFile(t, envPath, "DEMO_PORT=8080", "DEMO_PORT="+port)

	// Deploying without the secrets fails before anything is created, saying how to fix it.
	r := e.abra("app", "deploy", domain, "-n")
	if r.code == 0 || !strings.Contains(r.stderr, "abra app secret generate "+domain+" --all") {
		t.Fatalf("deploy without secrets: %s", r)
	}
	if out := docker(t, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+stack); out != "" {
		t.Fatalf("a failed deploy created services: %s", out)
	}

	r = e.mustAbra("app", "secret", "generate", domain, "--all", "--json")
	var made []map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &made); err != nil || len(made) != 1 || len(made[0]["value"]) != 32 {
		t.Fatalf("generate: %s", r)
	}
	if strings.Contains(r.stderr, made[0]["value"]) {
		t.Fatal("generated value printed on stderr")
	}
	r = e.abra("app", "secret", "insert", domain, "api_token", "v1", "token-from-the-provider")
	if r.code != 0 {
		t.Fatalf("insert: %s", r)
	}
	e.mustAbra("app", "deploy", domain, "-n")
	refs := func() string {
		return docker(t, "service", "inspect", stack+"_app", "--format", "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}} {{end}}")
	}
	if got := refs(); !strings.Contains(got, stack+"_db_password_v1") || !strings.Contains(got, stack+"_api_token_v1") {
		t.Fatalf("service secrets = %q", got)
	}

	// Rotation: bump the version, generate, redeploy.
	replaceInFile(t, envPath, "SECRET_DB_PASSWORD_VERSION=v1 # length=32", "SECRET_DB_PASSWORD_VERSION=v2 # length=32")
	e.mustAbra("app", "secret", "generate", domain, "--all")
	e.mustAbra("app", "deploy", domain, "--force", "-n")
	if got := refs(); !strings.Contains(got, stack+"_db_password_v2") || strings.Contains(got, "db_password_v1") {
		t.Fatalf("after rotation the service uses %q", got)
	}

	// A secret in use cannot be removed; after undeploy it can.
	if r := e.abra("app", "secret", "rm", domain, "db_password", "--force"); r.code == 0 || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("removing a secret in use: %s", r)
	}
	e.mustAbra("app", "undeploy", domain)
	e.mustAbra("app", "secret", "rm", domain, "--all", "--force")
	var list []map[string]any
	if err := json.Unmarshal([]byte(e.mustAbra("app", "secret", "ls", domain, "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s["exists"] != false {
			t.Fatalf("secret still on the server after rm --all: %v", s)
		}
	}
}
