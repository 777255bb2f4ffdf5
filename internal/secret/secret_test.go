package secret

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"

	composetypes "github.com/docker/cli/cli/compose/types"

	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/swarm/swarmtest"
)

func config() *composetypes.Config {
	return &composetypes.Config{Secrets: map[string]composetypes.SecretConfig{
		"db_password":   {Name: "s_db_password_v1", External: composetypes.External{External: true}},
		"api_key":       {Name: "s_api_key_v2", External: composetypes.External{External: true}},
		"smtp_password": {Name: "s_smtp_password_v1", External: composetypes.External{External: true}},
		"from_file":     {Name: "s_from_file", File: "./x"},
	}}
}

func TestFromConfig(t *testing.T) {
	env, err := envfile.Parse("app.env", []byte("SECRET_DB_PASSWORD_VERSION=v1 # length=32 charset=special\nSECRET_API_KEY_VERSION=v2\nSECRET_SMTP_PASSWORD_VERSION=v1 # generate=false\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromConfig(config(), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("want the 3 external secrets, got %+v", got)
	}
	want := map[string]string{"api_key": "passphrase (5 words)", "db_password": "32 chars (special)", "smtp_password": "manual (insert it)"}
	for _, s := range got {
		if s.Policy() != want[s.Name] {
			t.Errorf("%s: policy %q, want %q", s.Name, s.Policy(), want[s.Name])
		}
	}
	if got[0].Name != "api_key" || got[0].Version != "v2" || got[0].DockerName != "s_api_key_v2" {
		t.Errorf("api_key = %+v", got[0])
	}
	bad, _ := envfile.Parse("app.env", []byte("SECRET_DB_PASSWORD_VERSION=v1 # length=lots\n"))
	if _, err := FromConfig(config(), bad); err == nil || !strings.Contains(err.Error(), "length") {
		t.Fatalf("bad length modifier: err = %v", err)
	}
}

func TestValue(t *testing.T) {
	v, err := Value(Secret{Length: 40})
	if err != nil || len(v) != 40 || strings.IndexFunc(v, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) >= 0 {
		t.Fatalf("alphanumeric value %q, %v", v, err)
	}
	other, _ := Value(Secret{Length: 40})
	if other == v {
		t.Fatal("two values are equal")
	}
	if v, _ := Value(Secret{Length: 400, Charset: "special"}); !strings.ContainsAny(v, special) {
		t.Fatalf("charset=special gave no punctuation in %q", v)
	}
	if v, _ := Value(Secret{}); len(strings.Split(v, "-")) < passphraseWords {
		t.Fatalf("passphrase %q", v)
	}
	if _, err := Value(Secret{Length: 8, Charset: "emoji"}); err == nil {
		t.Fatal("unknown charset accepted")
	}
}

func TestCreateNeverOverwrites(t *testing.T) {
	c := swarmtest.New()
	ctx := context.Background()
	s := Secret{Name: "db_password", Version: "v1", DockerName: "s_db_password_v1"}
	if err := Create(ctx, c, "s", s, "one"); err != nil {
		t.Fatal(err)
	}
	if err := Create(ctx, c, "s", s, "two"); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: err = %v, want ErrExists", err)
	}
	if err := Remove(ctx, c, s); err != nil {
		t.Fatal(err)
	}
	if err := Remove(ctx, c, s); err == nil {
		t.Fatal("removing a missing secret succeeded")
	}
}
