package app

import (
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/envfile"
)

func TestShownEnvMasksEverySecretLikeValue(t *testing.T) {
	env, err := envfile.Parse("a.env", []byte(strings.Join([]string{
		"TYPE=web:1.0.0+1",
		"DOMAIN=blog.example.org",
		"DB_PASSWORD=pw-one-long",
		"SECRET_DB_PASSWORD_VERSION=v1",
		"SMTP_PASS=pw-two",
		"API_KEY=key-three",
		"KEYCLOAK_URL=https://id.example.org",
		"DATABASE_URL=postgres://app:${DB_PASSWORD}@db/app",
		"S3_URL=https://user:pw-four@s3.example.org",
		"MAIL_FROM=noreply@example.org",
		"ADMIN_MAIL_PWD=pw-five",
		"OIDC_CLIENT=pw-six",
		"AUTH_ENABLED=true",
		"ENABLE_AUTO_UPDATE=true",
		"",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]EnvVar{}
	for _, v := range ShownEnv(&App{Env: env}, []string{"oidc_client"}) {
		got[v.Key] = v
	}
	for _, k := range []string{"DB_PASSWORD", "SECRET_DB_PASSWORD_VERSION", "SMTP_PASS", "API_KEY", "DATABASE_URL", "S3_URL", "ADMIN_MAIL_PWD", "OIDC_CLIENT", "AUTH_ENABLED"} {
		if !got[k].Masked || got[k].Value != Mask {
			t.Errorf("%s = %+v, want masked", k, got[k])
		}
	}
	for k, want := range map[string]string{"TYPE": "web:1.0.0+1", "DOMAIN": "blog.example.org", "KEYCLOAK_URL": "https://id.example.org", "MAIL_FROM": "noreply@example.org",
		"ENABLE_AUTO_UPDATE": "true"} {
		if got[k].Masked || got[k].Value != want {
			t.Errorf("%s = %+v, want %q shown", k, got[k], want)
		}
	}
	for _, v := range got {
		if strings.Contains(v.Value, "pw-") || strings.Contains(v.Value, "key-three") {
			t.Errorf("%s shows a secret: %q", v.Key, v.Value)
		}
	}
	line := `ContainerSpec.Env: ["DB_PASSWORD=pw-one-long","OLD_TOKEN=pw-gone"] → "SMTP_PASS=pw-two OIDC=pw-six"`
	if got := Redact(line, SecretValues(&App{Env: env}, []string{"oidc_client"})); strings.Contains(got, "pw-") {
		t.Errorf("Redact left a secret: %s", got)
	}
}
