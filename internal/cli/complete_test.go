package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/ui"
)

const webComposeWithSecret = `version: "3.8"
services:
  app:
    image: nginx:1.25
    secrets: [db_password]
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=1.1.0+1.25"
  db:
    image: postgres:16
secrets:
  db_password:
    external: true
    name: ${STACK_NAME}_db_password_${SECRET_DB_PASSWORD_VERSION}
`

const webAbraSh = `export GREETING_FILE=/etc/greeting
migrate() {
  echo migrate
}
function reset_cache {
  echo reset
}
`

// newCompleteFixture is newFixture plus a second release of "web"
// (1.1.0+1.25) with a db service, a secret and an abra.sh, a catalogue
// clone, and the app's secret version in its env file.
func newCompleteFixture(t *testing.T) *fixture {
	t.Helper()
	fx := newFixture(t)
	repo := filepath.Join(fx.dir, "recipes", "web")
	write(t, filepath.Join(repo, "compose.yml"), webComposeWithSecret)
	write(t, filepath.Join(repo, "abra.sh"), webAbraSh)
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-qm", "db")
	git(t, repo, "tag", "-a", "1.1.0+1.25", "-m", "1.1.0+1.25")
	write(t, filepath.Join(fx.dir, "servers", "default", "app.example.org.env"),
		"TYPE=web\nDOMAIN=app.example.org\nSECRET_DB_PASSWORD_VERSION=v2 # length=32\n")
	write(t, filepath.Join(fx.dir, "servers", "remote.example.org", "other.example.org.env"), "TYPE=web:1.0.0+1.25\n")
	write(t, filepath.Join(fx.dir, "catalogue", "recipes.json"),
		`{"wordpress": {"category": "Apps", "description": "A blog\nand more", "versions": []}, "web": {"description": "nginx"}}`)
	return fx
}

// complete runs 'abra __complete args…' and returns the candidates (with
// their descriptions) and the directive.
func complete(t *testing.T, fx *fixture, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	var out, errb strings.Builder
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: fx.dir,
		Connect: func(_ context.Context, server string) (swarm.Cluster, error) {
			t.Errorf("__complete %q connected to server %s", args, server)
			return nil, errors.New("no connections while completing")
		}}
	code := Run(context.Background(), f, append([]string{"__complete"}, args...))
	stdout, stderr := out.String(), errb.String()
	if code != 0 {
		t.Fatalf("__complete %q: exit %d\n%s%s", args, code, stdout, stderr)
	}
	if strings.Contains(stderr, "panic") {
		t.Fatalf("__complete %q: %s", args, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	d, err := strconv.Atoi(strings.TrimPrefix(last, ":"))
	if !strings.HasPrefix(last, ":") || err != nil {
		t.Fatalf("__complete %q: no directive last: %q", args, stdout)
	}
	return lines[:len(lines)-1], cobra.ShellCompDirective(d)
}

func TestComplete(t *testing.T) {
	const (
		noFile = cobra.ShellCompDirectiveNoFileComp
		order  = cobra.ShellCompDirectiveKeepOrder
	)
	tests := []struct {
		name  string
		args  []string
		want  []string
		dir   cobra.ShellCompDirective
		setup func(t *testing.T, fx *fixture)
	}{
		{name: "apps of every server", args: []string{"app", "deploy", ""},
			want: []string{"app.example.org\tdefault", "other.example.org\tremote.example.org"}, dir: noFile},
		{name: "apps by prefix", args: []string{"app", "logs", "oth"}, want: []string{"other.example.org\tremote.example.org"}, dir: noFile},
		{name: "app of a nested command", args: []string{"app", "secret", "ls", "app"}, want: []string{"app.example.org\tdefault"}, dir: noFile},
		{name: "versions of the app's recipe, newest first", args: []string{"app", "deploy", "app.example.org", ""},
			want: []string{"1.1.0+1.25\tlatest", "1.0.0+1.25"}, dir: noFile | order},
		{name: "the pinned version is named", args: []string{"app", "upgrade", "other.example.org", ""},
			want: []string{"1.1.0+1.25\tlatest", "1.0.0+1.25\tpinned in the env file"}, dir: noFile | order},
		{name: "nothing after the last argument", args: []string{"app", "deploy", "app.example.org", "1.0.0+1.25", ""}, dir: noFile},
		{name: "recipes", args: []string{"app", "new", ""}, want: []string{"web"}, dir: noFile},
		{name: "versions of the recipe argument", args: []string{"app", "new", "web", ""},
			want: []string{"1.1.0+1.25\tlatest", "1.0.0+1.25"}, dir: noFile | order},
		{name: "recipe versions", args: []string{"recipe", "versions", "w"}, want: []string{"web"}, dir: noFile},
		{name: "a version being released is new", args: []string{"recipe", "release", "web", ""}, dir: noFile},
		{name: "servers for --server", args: []string{"app", "new", "web", "--server", ""},
			want: []string{"default", "remote.example.org"}, dir: noFile},
		{name: "servers for -s", args: []string{"app", "ls", "-s", "r"}, want: []string{"remote.example.org"}, dir: noFile},
		{name: "recipes for -r", args: []string{"app", "ls", "-r", ""}, want: []string{"web"}, dir: noFile},
		{name: "a new domain is not completed", args: []string{"app", "new", "web", "--domain", ""}, dir: noFile},
		{name: "-s of restore is a snapshot, not a server", args: []string{"app", "restore", "app.example.org", "-s", ""}},
		{name: "servers", args: []string{"server", "rm", ""}, want: []string{"default", "remote.example.org"}, dir: noFile},
		{name: "a new host is not completed", args: []string{"server", "add", ""}, dir: noFile},
		{name: "services at the latest release", args: []string{"app", "logs", "app.example.org", ""},
			want: []string{"app\tnginx:1.25", "db\tpostgres:16"}, dir: noFile},
		{name: "services at the pinned version", args: []string{"app", "logs", "other.example.org", ""},
			want: []string{"app\tnginx:1.25"}, dir: noFile},
		{name: "services of the work tree when nothing is released", args: []string{"app", "restart", "app.example.org", ""},
			setup: func(t *testing.T, fx *fixture) {
				repo := filepath.Join(fx.dir, "recipes", "web")
				git(t, repo, "tag", "-d", "1.0.0+1.25", "1.1.0+1.25")
				write(t, filepath.Join(repo, "compose.yml"), strings.ReplaceAll(webComposeWithSecret, "db:", "cache:"))
			},
			want: []string{"app\tnginx:1.25", "cache\tpostgres:16"}, dir: noFile},
		{name: "services given are not offered again", args: []string{"app", "restart", "app.example.org", "app", ""},
			want: []string{"db\tpostgres:16"}, dir: noFile},
		{name: "secrets", args: []string{"app", "secret", "generate", "app.example.org", ""},
			want: []string{"db_password\t32 chars"}, dir: noFile},
		{name: "secret version from the env file", args: []string{"app", "secret", "insert", "app.example.org", "db_password", ""},
			want: []string{"v2\tcurrent SECRET_DB_PASSWORD_VERSION"}, dir: noFile},
		{name: "service or function", args: []string{"app", "cmd", "app.example.org", ""},
			want: []string{"app\tnginx:1.25", "db\tpostgres:16", "migrate", "reset_cache"}, dir: noFile},
		{name: "function after the service", args: []string{"app", "cmd", "app.example.org", "app", "re"},
			want: []string{"reset_cache"}, dir: noFile},
		{name: "recipes of the catalogue for fetch", args: []string{"recipe", "fetch", ""},
			want: []string{"web", "wordpress\tA blog"}, dir: noFile},
		{name: "paths for cp", args: []string{"app", "cp", "app.example.org", ""}, dir: cobra.ShellCompDirectiveDefault},
		{name: "shells", args: []string{"autocomplete", ""}, want: shells, dir: noFile},
		{name: "shells (completion alias)", args: []string{"completion", "f"}, want: []string{"fish"}, dir: noFile},
		{name: "subcommands still complete", args: []string{"app", "dep"}, want: []string{"deploy\tDeploy an app and wait until it runs"}, dir: noFile},

		// Failures give nothing, never a message on stdout or a panic.
		{name: "unknown app", args: []string{"app", "logs", "nope.example.org", ""}, dir: noFile},
		{name: "bad domain", args: []string{"app", "logs", "../../etc", ""}, dir: noFile},
		{name: "broken env file", args: []string{"app", "logs", "app.example.org", ""}, dir: noFile,
			setup: func(t *testing.T, fx *fixture) {
				write(t, filepath.Join(fx.dir, "servers", "default", "app.example.org.env"), "TYPE=web\nFOO BAR\n")
			}},
		{name: "env file without a recipe", args: []string{"app", "deploy", "app.example.org", ""}, dir: noFile,
			setup: func(t *testing.T, fx *fixture) {
				write(t, filepath.Join(fx.dir, "servers", "default", "app.example.org.env"), "DOMAIN=app.example.org\n")
			}},
		{name: "missing recipe clone", args: []string{"app", "cmd", "app.example.org", ""}, dir: noFile,
			setup: func(t *testing.T, fx *fixture) {
				if err := os.RemoveAll(filepath.Join(fx.dir, "recipes", "web")); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "compose file that does not load", args: []string{"app", "logs", "app.example.org", ""}, dir: noFile,
			setup: func(t *testing.T, fx *fixture) {
				write(t, filepath.Join(fx.dir, "servers", "default", "app.example.org.env"), "TYPE=web\nCOMPOSE_FILE=nope.yml\n")
			}},
		{name: "no catalogue", args: []string{"recipe", "fetch", ""}, want: []string{"web"}, dir: noFile,
			setup: func(t *testing.T, fx *fixture) {
				if err := os.RemoveAll(filepath.Join(fx.dir, "catalogue")); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "no servers directory", args: []string{"app", "deploy", ""}, dir: noFile,
			setup: func(t *testing.T, fx *fixture) {
				if err := os.RemoveAll(filepath.Join(fx.dir, "servers")); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newCompleteFixture(t)
			if tt.setup != nil {
				tt.setup(t, fx)
			}
			got, dir := complete(t, fx, tt.args...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("candidates:\n got %q\nwant %q", got, tt.want)
			}
			if dir != tt.dir {
				t.Errorf("directive %d, want %d", dir, tt.dir)
			}
		})
	}
}

func TestCompletionPlaces(t *testing.T) {
	tests := []struct {
		use  string
		want string
	}{
		{"deploy <domain> [version]", "domain version"},
		{"new <recipe> [version] --server <server> --domain <domain>", "recipe version"},
		{"cmd <domain> [service] <function> [-- args...]", "domain service|function function"},
		{"run <domain> <service> [--] <command...>", "domain service"},
		{"restart <domain> [service...] | --all-services", "domain service..."},
		{"fetch <recipe|git-url> [--url <git-url>] | fetch --all", "recipe|git-url"},
		{"insert <domain> <secret> <version> [value]", "domain secret version value"},
		{"generate [recipe…]", "recipe..."},
		{"ls [-s <server>] [-r <recipe>]", ""},
		{"ls", ""},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range completionPlaces(tt.use) {
			s := strings.Join(p.kinds, "|")
			if p.variadic {
				s += "..."
			}
			got = append(got, s)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("completionPlaces(%q) = %q, want %q", tt.use, strings.Join(got, " "), tt.want)
		}
	}
}

func TestAutocomplete(t *testing.T) {
	fx := newFixture(t)
	for _, shell := range shells {
		for _, cmd := range []string{"autocomplete", "ac", "completion"} {
			code, stdout, stderr := fx.run(t, cmd, shell)
			if code != 0 || !strings.Contains(stdout, "__complete") || stderr != "" {
				t.Errorf("abra %s %s: exit %d, %d bytes on stdout, stderr %q", cmd, shell, code, len(stdout), stderr)
			}
		}
	}
	// Without Debian's bash-completion package the script must not call
	// _get_comp_words_by_ref unguarded (cobra's script does).
	_, stdout, _ := fx.run(t, "autocomplete", "bash")
	if !strings.Contains(stdout, bashWordsFallback) || strings.Contains(stdout, "{\n    COMPREPLY=()\n"+bashWordsCall) {
		t.Errorf("bash script without the fallback for a shell without bash-completion:\n%s", stdout)
	}
	code, _, _ := fx.run(t, "autocomplete", "--help")
	if code != 0 {
		t.Errorf("autocomplete --help: exit %d", code)
	}
	for _, args := range [][]string{{"autocomplete"}, {"autocomplete", "tcsh"}, {"autocomplete", "bash", "zsh"}} {
		code, stdout, stderr := fx.run(t, args...)
		if code != ExitUsage || stdout != "" || !strings.Contains(stderr, "bash, zsh, fish, powershell") {
			t.Errorf("abra %q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	_, help, _ := fx.run(t, "autocomplete", "--help")
	for _, want := range []string{"source <(abra autocomplete bash)", "_abra", "abra.fish", "Invoke-Expression"} {
		if !strings.Contains(help, want) {
			t.Errorf("autocomplete --help does not say %q", want)
		}
	}
}

// BenchmarkCompleteDomains measures 'abra __complete app deploy ""' with
// 200 apps over 5 servers: the whole command tree is built, as on every
// tab press.
func BenchmarkCompleteDomains(b *testing.B) {
	dir := b.TempDir()
	for s := range 5 {
		for a := range 40 {
			path := filepath.Join(dir, "servers", fmt.Sprintf("server%d.example.org", s), fmt.Sprintf("app%d-%d.example.org.env", s, a))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path, []byte("TYPE=web:1.0.0+1.25\n"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	connect := func(context.Context, string) (swarm.Cluster, error) {
		b.Fatal("completion connected to a server")
		return nil, nil
	}
	var out strings.Builder
	for b.Loop() {
		out.Reset()
		f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: io.Discard}, AbraDir: dir, Connect: connect}
		if code := Run(context.Background(), f, []string{"__complete", "app", "deploy", ""}); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != 201 {
		b.Fatalf("%d lines, want 200 apps and the directive", n)
	}
}
