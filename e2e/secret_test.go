package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/secret/secrettest"
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

// A certificate inserted with 'secret insert … -f' reaches the service byte
// for byte; 'app new --secrets --pass' keeps the generated values in a real
// pass store, and 'secret rm --pass' removes them from it.
func TestSecretsFromAFileAndInPass(t *testing.T) {
	run(t, repoRoot, filepath.Join(repoRoot, "scripts", "build-busybox-image.sh"))
	dir := filepath.Join(t.TempDir(), "shellsecrets")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// busybox, so that the test can cat the files: 'docker cp' of a file in
	// /run/secrets gives an empty file (secrets are a mount it does not read).
	writeFile(t, filepath.Join(dir, "compose.yml"), `version: "3.8"
services:
  app:
    image: abra-test/busybox:1
    command: ["sleep", "3600"]
    secrets: [db_password, ssl_cert]
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=0.1.0+1"
secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}
  ssl_cert:
    external: true
    name: ${STACK_NAME}_ssl_cert_${SECRET_SSL_CERT_VERSION}
`)
	writeFile(t, filepath.Join(dir, ".env.sample"), "TYPE=shellsecrets\nDOMAIN=x.example.com\nSECRET_DB_PASSWORD_VERSION=v1 # length=32\nSECRET_SSL_CERT_VERSION=v1 # generate=false\n")
	run(t, dir, "git", "init", "-q", "-b", "main")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-qm", "secrets")
	run(t, dir, "git", "tag", "-a", "0.1.0+1", "-m", "0.1.0+1")

	// A real certificate: PEM, several lines, a trailing newline.
	certDir := t.TempDir()
	cert := filepath.Join(certDir, "cert.pem")
	run(t, certDir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", filepath.Join(certDir, "key.pem"),
		"-out", cert, "-days", "1", "-subj", "/CN=secretfile.e2e.localhost")
	want := readFile(t, cert)
	if !strings.HasSuffix(want, "-----END CERTIFICATE-----\n") || strings.Count(want, "\n") < 5 {
		t.Fatalf("not a multi-line PEM with a trailing newline: %q", want)
	}

	const domain, stack = "secretfile.e2e.localhost", "secretfile_e2e_localhost"
	e := newEnv(t)
	passEnv := secrettest.PassEnv(t)
	e.extra = append(e.extra, passEnv...)
	pass := func(args ...string) (string, error) {
		cmd := exec.Command("pass", args...)
		cmd.Env = append(os.Environ(), passEnv...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		e.abra("app", "undeploy", domain)
		waitStackGone(t, stack)
		for _, n := range []string{"db_password_v1", "ssl_cert_v1"} {
			_ = runQuiet(dockerBin(), "secret", "rm", stack+"_"+n)
		}
	})
	e.mustAbra("server", "add", "--local")
	e.mustAbra("recipe", "fetch", "shellsecrets", "--url", dir)
	r := e.mustAbra("app", "new", "shellsecrets", "--server", "default", "--domain", domain, "--secrets", "--pass", "-n")
	entry := "hosts/default/" + domain + "/db_password"
	inPass, err := pass("show", entry)
	if err != nil || len(inPass) != 32 || !strings.Contains(r.stdout, inPass) {
		t.Fatalf("pass show %s = %q, %v; app new printed:\n%s", entry, inPass, err, r.stdout)
	}
	if strings.Contains(r.stderr, inPass) {
		t.Fatal("the generated value is on stderr")
	}

	// -f is a boolean: the argument names the file holding the value.
	e.mustAbra("app", "secret", "insert", domain, "ssl_cert", "v1", cert, "-f")
	e.mustAbra("app", "deploy", domain, "-n")
	ctr := docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+stack+"_app")
	if got := containerFile(t, ctr, "/run/secrets/ssl_cert"); got != want {
		t.Fatalf("certificate in the service differs from the file:\n got %q\nwant %q", got, want)
	}
	if got := containerFile(t, ctr, "/run/secrets/db_password"); got != inPass {
		t.Fatalf("db_password in the service %q, in pass %q", got, inPass)
	}

	e.mustAbra("app", "undeploy", domain)
	waitStackGone(t, stack)
	r = e.mustAbra("app", "secret", "rm", domain, "db_password", "--pass", "--force")
	if !strings.Contains(r.stderr, "removed pass entry "+entry) {
		t.Fatalf("rm --pass: %s", r)
	}
	if out, err := pass("show", entry); err == nil {
		t.Fatalf("pass entry %s left after rm --pass: %q", entry, out)
	}
}

// containerFile reads a file of a container with cat.
func containerFile(t *testing.T, ctr, path string) string {
	t.Helper()
	out, err := exec.Command(dockerBin(), "exec", ctr, "cat", path).Output()
	if err != nil {
		t.Fatalf("cat %s in %s: %v", path, ctr, err)
	}
	return string(out)
}
