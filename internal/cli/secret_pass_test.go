package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/secret"
	"coopcloud.tech/abra/internal/secret/secrettest"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

// secretFixture is the web recipe with a generated secret (db_password) and
// one the operator inserts (ssl_cert), and a fake password store.
func secretFixture(t *testing.T) (*fixture, *secrettest.Pass) {
	t.Helper()
	fx := newFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), webCompose+"    secrets: [db_password, ssl_cert]\nsecrets:\n"+
		"  db_password:\n    external: true\n    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}\n"+
		"  ssl_cert:\n    external: true\n    name: ${STACK_NAME}_ssl_cert_${SECRET_SSL_CERT_VERSION}\n")
	write(t, filepath.Join(repo, ".env.sample"), "TYPE=web\nDOMAIN=web.example.com\nSECRET_DB_PASSWORD_VERSION=v1 # length=24\nSECRET_SSL_CERT_VERSION=v1 # generate=false\n")
	git(t, repo, "commit", "-qam", "secrets")
	git(t, repo, "tag", "-f", "-a", "1.0.0+1.25", "-m", "1.0.0+1.25")
	write(t, filepath.Join(fx.dir, "servers", "default", "app.example.org.env"),
		"TYPE=web\nDOMAIN=app.example.org\nSECRET_DB_PASSWORD_VERSION=v1 # length=24\nSECRET_SSL_CERT_VERSION=v1 # generate=false\n")
	return fx, secrettest.NewPass()
}

func runWith(t *testing.T, fx *fixture, cluster swarm.Cluster, pass secret.PassStore, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb}, AbraDir: fx.dir, Pass: pass,
		Connect: func(context.Context, string) (swarm.Cluster, error) { return cluster, nil }}
	code := Run(context.Background(), f, args)
	return code, out.String(), errb.String()
}

func TestSecretInsertFileIsABooleanAndKeepsTheBytes(t *testing.T) {
	cert := "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string // the stored value; "" when nothing is stored
		say   string // on stderr
	}{
		{name: "-f reads the file byte for byte", args: []string{"CERT", "-f"}, code: ExitOK, want: cert},
		{name: "--file after the arguments", args: []string{"--file", "CERT"}, code: ExitOK, want: cert},
		{name: "-f with --trim trims", args: []string{"CERT", "-f", "-t"}, code: ExitOK, want: strings.TrimSpace(cert)},
		{name: "without -f the data is the value", args: []string{"CERT"}, code: ExitOK, want: "CERT"},
		{name: "stdin without data, kept as it is", stdin: "from stdin\n", code: ExitOK, want: "from stdin\n"},
		{name: "a missing file is named", args: []string{"/nonexistent/cert.pem", "-f"}, code: ExitFailure, say: "/nonexistent/cert.pem"},
		{name: "-f without data", args: []string{"-f"}, code: ExitUsage, say: "-f/--file needs <data>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx, pass := secretFixture(t)
			certPath := filepath.Join(t.TempDir(), "cert.pem")
			write(t, certPath, cert)
			args := []string{"app", "secret", "insert", "app.example.org", "ssl_cert", "v1"}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "CERT", certPath))
			}
			if tt.want == "CERT" {
				tt.want = certPath
			}
			code, stdout, stderr := runWith(t, fx, fx.cluster, pass, tt.stdin, args...)
			if code != tt.code || !strings.Contains(stderr, tt.say) || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
			}
			got, ok := fx.cluster.SecretData("app_example_org_ssl_cert_v1")
			if tt.want == "" {
				if ok {
					t.Fatalf("a secret was stored: %q", got)
				}
				return
			}
			if string(got) != tt.want {
				t.Fatalf("stored %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSecretAliasesOfAbra(t *testing.T) {
	fx, pass := secretFixture(t)
	for _, args := range [][]string{
		{"app", "secret", "list", "app.example.org", "-m"},
		{"app", "secret", "ls", "app.example.org", "--machine"},
		{"app", "s", "ls", "app.example.org", "--json"},
		{"app", "secret", "gen", "app.example.org", "-a", "-m"},
		{"app", "secret", "i", "app.example.org", "ssl_cert", "v1", "x"},
		{"app", "secret", "delete", "app.example.org", "ssl_cert", "-f"},
		{"app", "secret", "remove", "app.example.org", "--all", "--force", "-C"},
	} {
		if code, _, stderr := runWith(t, fx, fx.cluster, pass, "", args...); code != ExitOK {
			t.Errorf("abra %v: exit %d\n%s", args, code, stderr)
		}
	}
}

func TestSecretGenerateAndRmWithPass(t *testing.T) {
	fx, pass := secretFixture(t)
	code, stdout, stderr := runWith(t, fx, fx.cluster, pass, "", "app", "secret", "generate", "app.example.org", "--all", "--pass", "--json")
	if code != ExitOK {
		t.Fatalf("generate --pass: exit %d\n%s", code, stderr)
	}
	var made []map[string]string
	if err := json.Unmarshal([]byte(stdout), &made); err != nil || len(made) != 1 {
		t.Fatalf("generated %s (%v)", stdout, err)
	}
	entry := "hosts/default/app.example.org/db_password"
	got, err := pass.Show(context.Background(), entry)
	if err != nil || string(got) != made[0]["value"] {
		t.Fatalf("pass entry %s = %q, %v; want the generated value", entry, got, err)
	}
	if onServer, _ := fx.cluster.SecretData("app_example_org_db_password_v1"); string(onServer) != made[0]["value"] {
		t.Fatal("the server and the password store disagree")
	}
	if strings.Contains(stderr, made[0]["value"]) {
		t.Fatal("the value leaked to stderr")
	}

	code, _, stderr = runWith(t, fx, fx.cluster, pass, "", "app", "secret", "rm", "app.example.org", "db_password", "--pass", "--force")
	if code != ExitOK || !strings.Contains(stderr, "removed pass entry "+entry) {
		t.Fatalf("rm --pass: exit %d\n%s", code, stderr)
	}
	if _, err := pass.Show(context.Background(), entry); !errors.Is(err, secret.ErrNoPassEntry) {
		t.Fatalf("pass entry left after rm --pass: %v", err)
	}
}

func TestSecretGenerateWithPassFailingLeavesNoSecret(t *testing.T) {
	fx, pass := secretFixture(t)
	pass.FailInsert = "db_password"
	code, stdout, stderr := runWith(t, fx, fx.cluster, pass, "", "app", "secret", "generate", "app.example.org", "db_password", "-P")
	if code != ExitFailure || !strings.Contains(stderr, "store in pass") || stdout != "" {
		t.Fatalf("exit %d, stdout %q\n%s", code, stdout, stderr)
	}
	if _, ok := fx.cluster.SecretData("app_example_org_db_password_v1"); ok {
		t.Fatal("a secret whose value could not be kept is left on the server")
	}
}

func TestAppNewWithSecretsAndPassIsAllOrNothing(t *testing.T) {
	fx, _ := secretFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), webCompose+"    secrets: [a, b]\nsecrets:\n  a:\n    external: true\n    name: ${STACK_NAME}_a_${SECRET_A_VERSION}\n  b:\n    external: true\n    name: ${STACK_NAME}_b_${SECRET_B_VERSION}\n")
	write(t, filepath.Join(repo, ".env.sample"), "TYPE=web\nDOMAIN=web.example.com\nSECRET_A_VERSION=v1 # length=20\nSECRET_B_VERSION=v1 # length=20\n")
	git(t, repo, "commit", "-qam", "two secrets")
	git(t, repo, "tag", "-f", "-a", "1.0.0+1.25", "-m", "1.0.0+1.25")
	newArgs := []string{"app", "new", "web", "--server", "default", "--domain", "new.example.org", "--secrets", "--pass", "-n"}

	t.Run("pass fails on the second secret", func(t *testing.T) {
		pass := secrettest.NewPass()
		pass.FailInsert = "/b"
		code, stdout, stderr := runWith(t, fx, fx.cluster, pass, "", newArgs...)
		if code != ExitFailure || !strings.Contains(stderr, "nothing was created") || stdout != "" {
			t.Fatalf("exit %d, stdout %q\n%s", code, stdout, stderr)
		}
		if names := pass.Names(); len(names) != 0 {
			t.Errorf("pass entries left behind: %v", names)
		}
		if secrets, _ := fx.cluster.Secrets(context.Background(), "new_example_org"); len(secrets) != 0 {
			t.Errorf("secrets left behind: %v", secrets)
		}
		if _, err := os.Stat(filepath.Join(fx.dir, "servers", "default", "new.example.org.env")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("env file left behind: %v", err)
		}
	})
	t.Run("all stored", func(t *testing.T) {
		pass := secrettest.NewPass()
		code, stdout, stderr := runWith(t, fx, fx.cluster, pass, "", newArgs...)
		if code != ExitOK {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		for _, n := range []string{"a", "b"} {
			v, err := pass.Show(context.Background(), "hosts/default/new.example.org/"+n)
			onServer, _ := fx.cluster.SecretData("new_example_org_" + n + "_v1")
			if err != nil || len(v) != 20 || string(v) != string(onServer) || !strings.Contains(stdout, string(v)) {
				t.Errorf("secret %s: pass %q (%v), server %q", n, v, err, onServer)
			}
		}
	})
	t.Run("--pass needs --secrets", func(t *testing.T) {
		code, _, stderr := runWith(t, fx, fx.cluster, secrettest.NewPass(), "", "app", "new", "web", "--server", "default", "--domain", "other.example.org", "-P", "-n")
		if code != ExitUsage || !strings.Contains(stderr, "--secrets") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
}
