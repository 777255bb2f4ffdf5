package cicmd

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseSettings(t *testing.T) {
	key := "PLUGIN_DEPLOY_KEY=-----BEGIN OPENSSH PRIVATE KEY-----"
	known := "PLUGIN_KNOWN_HOSTS=swarm.example.org ssh-ed25519 AAAA"
	tests := []struct {
		name  string
		env   []string
		check func(t *testing.T, s *settings)
		err   string // part of the error, "" for none
	}{
		{name: "stack-ssh-deploy's settings", env: []string{key, known, "PLUGIN_HOST=swarm.example.org", "PLUGIN_STACK=example_com",
			"PLUGIN_COMPOSE=compose.yml, compose.smtp.yml", "PLUGIN_GENERATE_SECRETS=true", "PLUGIN_PURGE=yes",
			"PLUGIN_NETWORKS=proxy,,backups", "PLUGIN_PORT=2222", "PLUGIN_USER=deploy", "PLUGIN_TIMEOUT=90", "PLUGIN_LOCK_WAIT=2m"},
			check: func(t *testing.T, s *settings) {
				if s.form != stackForm || s.target != "deploy@swarm.example.org:2222" || s.stack != "example_com" ||
					!slices.Equal(s.compose, []string{"compose.yml", "compose.smtp.yml"}) || !s.generateSecrets || !s.purge ||
					!slices.Equal(s.networks, []string{"proxy", "backups"}) || s.timeout != 90*time.Second || s.lockWait != 2*time.Minute ||
					s.domainChecks || s.knownHosts != "swarm.example.org ssh-ed25519 AAAA" {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "defaults", env: []string{key, "PLUGIN_HOST_FINGERPRINT=SHA256:abc", "PLUGIN_HOST=10.0.0.1", "PLUGIN_STACK=blog"},
			check: func(t *testing.T, s *settings) {
				if s.target != "root@10.0.0.1:22" || s.compose != nil || s.generateSecrets || s.purge || s.lockWait != 10*time.Minute ||
					!slices.Equal(s.fingerprints, []string{"SHA256:abc"}) {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "a JSON list", env: []string{key, known, "PLUGIN_HOST=h", "PLUGIN_STACK=s", `PLUGIN_NETWORKS=["proxy","a,b"]`},
			check: func(t *testing.T, s *settings) {
				if !slices.Equal(s.networks, []string{"proxy", "a,b"}) {
					t.Fatalf("%q", s.networks)
				}
			}},
		{name: "drone-abra's settings, lines of commands", env: []string{key, known, "PLUGIN_ABRA_DIR=ops",
			"PLUGIN_COMMAND=recipe fetch wordpress\n# a comment\n\nabra app deploy 'blog.example.org' --force\n"},
			check: func(t *testing.T, s *settings) {
				want := [][]string{{"recipe", "fetch", "wordpress"}, {"app", "deploy", "blog.example.org", "--force"}}
				if s.form != commandForm || s.abraDir != "ops" || !slices.EqualFunc(s.commands, want, slices.Equal) {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "no form", env: []string{key, known, "PLUGIN_HOST=h"}, err: "no PLUGIN_COMMAND or PLUGIN_STACK"},
		{name: "both forms", env: []string{key, known, "PLUGIN_STACK=s", "PLUGIN_COMMAND=app ls"}, err: "exclude each other"},
		{name: "no deploy key", env: []string{known, "PLUGIN_HOST=h", "PLUGIN_STACK=s"}, err: "PLUGIN_DEPLOY_KEY is required"},
		{name: "no host", env: []string{key, known, "PLUGIN_STACK=s"}, err: "PLUGIN_HOST is required"},
		{name: "a typo", env: []string{key, known, "PLUGIN_HOST=h", "PLUGIN_STACK=s", "PLUGIN_GENERATE_SECRET=true"}, err: "unknown setting PLUGIN_GENERATE_SECRET"},
		{name: "a setting of the other form", env: []string{key, known, "PLUGIN_COMMAND=app ls", "PLUGIN_PURGE=true"}, err: "unknown setting PLUGIN_PURGE for the command form"},
		{name: "not a boolean", env: []string{key, known, "PLUGIN_HOST=h", "PLUGIN_STACK=s", "PLUGIN_PURGE=sometimes"}, err: `PLUGIN_PURGE = "sometimes": want true or false`},
		{name: "not a port", env: []string{key, known, "PLUGIN_HOST=h", "PLUGIN_STACK=s", "PLUGIN_PORT=ssh"}, err: "PLUGIN_PORT"},
		{name: "not a duration", env: []string{key, known, "PLUGIN_HOST=h", "PLUGIN_STACK=s", "PLUGIN_TIMEOUT=soon"}, err: "PLUGIN_TIMEOUT"},
		{name: "a compose file outside", env: []string{key, known, "PLUGIN_HOST=h", "PLUGIN_STACK=s", "PLUGIN_COMPOSE=../x.yml"}, err: "PLUGIN_COMPOSE"},
		{name: "shell syntax in a command", env: []string{key, known, "PLUGIN_COMMAND=app deploy x | tee log"}, err: "without a shell"},
		{name: "an empty command", env: []string{key, known, "PLUGIN_COMMAND= \n# nothing\n"}, err: "PLUGIN_COMMAND is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseSettings(tt.env)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestSplitWords(t *testing.T) {
	tests := map[string][]string{
		`app deploy example.org`:                  {"app", "deploy", "example.org"},
		`  app   cmd x.org app  'say "hi" there'`: {"app", "cmd", "x.org", "app", `say "hi" there`},
		`a "b \"c\" \$d" e\ f`:                    {"a", `b "c" $d`, "e f"},
		`a '' b`:                                  {"a", "", "b"},
		`app cmd x.org app '$HOME;|'`:             {"app", "cmd", "x.org", "app", "$HOME;|"},
	}
	for in, want := range tests {
		if got, err := splitWords(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`a 'b`, `a "b`, `a \`, `a; b`, `a $HOME`, "a `b`", `a > f`, `a && b`} {
		if got, err := splitWords(bad); err == nil {
			t.Errorf("splitWords(%q) = %q, want an error", bad, got)
		}
	}
}

func TestActionsInputsAreSettings(t *testing.T) {
	in := []string{"INPUT_HOST=h", "INPUT_KNOWN-HOSTS=h ssh-ed25519 AAAA", "GITHUB_SHA=abc", "DOMAIN=example.org"}
	want := []string{"PLUGIN_HOST=h", "PLUGIN_KNOWN_HOSTS=h ssh-ed25519 AAAA", "GITHUB_SHA=abc", "DOMAIN=example.org"}
	if got := pluginEnviron(in); !slices.Equal(got, want) || !hasPluginSettings(in) {
		t.Fatalf("pluginEnviron = %q, want %q", got, want)
	}
	// A step with PLUGIN_* settings is read as it is: one set of settings.
	mixed := []string{"PLUGIN_HOST=a", "INPUT_HOST=b"}
	if got := pluginEnviron(mixed); !slices.Equal(got, mixed) {
		t.Fatalf("pluginEnviron(%q) = %q", mixed, got)
	}
	if hasPluginSettings([]string{"GITHUB_SHA=abc", "HOME=/root"}) {
		t.Fatal("no settings taken for settings")
	}
}

func TestAppEnvLeavesOutTheRunner(t *testing.T) {
	environ := []string{
		"DOMAIN=blog.example.org", "SECRET_DB_PASSWORD_VERSION=v1", "LETS_ENCRYPT_ENV=production", "lower_case=ok",
		"PLUGIN_DEPLOY_KEY=secret", "CI=woodpecker", "CI_COMMIT_SHA=abc", "DRONE_BUILD_NUMBER=3", "WOODPECKER_X=1",
		"GITHUB_TOKEN=t", "FORGEJO_TOKEN=t", "GITEA_ACTIONS=true", "RUNNER_OS=Linux", "ACTIONS_RUNTIME_TOKEN=t", "INPUT_X=1",
		"HOME=/root", "PATH=/usr/bin", "HOSTNAME=abc123", "PWD=/drone/src", "SHLVL=1", "TERM=xterm", "SSL_CERT_FILE=/etc/ssl/x",
		"https_proxy=http://proxy", "DOCKER_HOST=tcp://x", "SSH_AUTH_SOCK=/tmp/s", "MY_KEY=-----BEGIN", "1BAD=x", "OTHER_KEY=-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----", "BAD-NAME=x", "noequals",
	}
	got := appEnv(environ, "MY_KEY")
	want := map[string]string{"DOMAIN": "blog.example.org", "SECRET_DB_PASSWORD_VERSION": "v1", "LETS_ENCRYPT_ENV": "production", "lower_case": "ok"}
	if !maps.Equal(got, want) {
		t.Fatalf("appEnv = %v, want %v", got, want)
	}
}

func TestStackDomain(t *testing.T) {
	for _, tt := range []struct{ stack, env, want string }{
		{"example_com", "", "example.com"},
		{"blog", "", "blog"},
		{"blog", "blog.example.org", "blog"}, // DOMAIN stays the app's DOMAIN; the stack names the app
		{"blog_example_org", "blog.example.org", "blog.example.org"},
	} {
		if got, err := stackDomain(tt.stack, tt.env); err != nil || got != tt.want {
			t.Errorf("stackDomain(%q, %q) = %q, %v; want %q", tt.stack, tt.env, got, err, tt.want)
		}
	}
	for _, bad := range []string{"My_Stack", "a__b", "_x", "a-very-long-stack-name-that-abra-would-cut-short-x"} {
		if got, err := stackDomain(bad, ""); err == nil {
			t.Errorf("stackDomain(%q) = %q, want an error", bad, got)
		}
	}
}
