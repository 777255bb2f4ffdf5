package badinput

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Exit codes from the README.
const (
	failure = 1
	usage   = 2
	partial = 3
)

// An invalid name given as an argument or flag is a usage error (exit 2, as
// the README's table says for wrong arguments, and as 'recipe fetch' and
// 'recipe new' already do); the same value read from a file (an env file, a
// recipe) is a failure (exit 1): the command line was right, the file is not.
// A well-formed name that does not exist (an unknown app, server, recipe or
// version) is a failure too.

// corpus is every case, generated where the same input goes to several commands.
func corpus() []tcase {
	var cs []tcase
	cs = append(cs, domainCases()...)
	cs = append(cs, serverCases()...)
	cs = append(cs, recipeNameCases()...)
	cs = append(cs, versionCases()...)
	cs = append(cs, secretAndServiceCases()...)
	cs = append(cs, envFileCases()...)
	cs = append(cs, evilRecipeCases()...)
	cs = append(cs, argumentCases()...)
	cs = append(cs, concurrentCases()...)
	return cs
}

// pick is every value, or a sample of each kind of wrongness: the same
// refusal behind every command is checked on every value by one command,
// and each command is checked on the sample (each run of abra costs ~0.1 s).
func pick(values []string, all bool) []string {
	if all {
		return values
	}
	var sample []string
	for _, v := range values {
		if sampled[v] {
			sample = append(sample, v)
		}
	}
	return sample
}

var sampled = map[string]bool{
	"": true, "..": true, "../../home": true, "../../home/repo": true, "/etc/passwd": true, "/etc": true,
	"blog_example.org": true, "blog.example.org;rm -rf ~": true, "-blog.example.org": true, "$(id)": true,
	"Web": true, "-rf": true, "srv;id": true, "-f": true, "../../x": true, "1.0.0+1.25;id": true,
}

// q is how abra's messages quote a value (Go's %q).
func q(s string) string { return strconv.Quote(s) }

// short names a value in a case name: printable and not too long.
func short(s string) string {
	if len(s) > 24 {
		s = s[:12] + "…" + strconv.Itoa(len(s))
	}
	return strings.ReplaceAll(strconv.Quote(s), " ", "␣") // t.Run would make spaces '_'
}

var badDomains = []string{
	"",
	".",
	"..",
	"../../home",
	"../../home/shadow",
	"/etc/passwd",
	"blog.example.org/../../../home",
	"blog_example.org",
	"blog example.org",
	"blog..example.org",
	".blog.example.org",
	"blog.example.org.",
	"-blog.example.org",
	"blog-.example.org",
	strings.Repeat("a", 64) + ".example.org",
	strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 62), // 254
	"blog.example.org\n",
	"blog.example.org;rm -rf ~",
	"$(touch pwned).example.org",
	"blog.exämple.org",
	"blog\texample.org",
	"*.example.org",
	"blog.example.org:8080",
	"root@blog.example.org",
	"~/blog",
	`blog.example.org\..\x`,
	"%2e%2e%2fhome",
}

// domainCases: every bad domain × commands that take a domain.
func domainCases() []tcase {
	commands := []struct {
		name string
		args func(d string) []string
		all  bool // every bad domain, or a sample
	}{
		{"app deploy", func(d string) []string { return []string{"app", "deploy", "-n", "--", d} }, true},
		{"app new --domain", func(d string) []string {
			return []string{"app", "new", "web", "--server", "default", "-n", "--domain=" + d}
		}, true},
		{"app env", func(d string) []string { return []string{"app", "env", "--", d} }, false},
		{"app config", func(d string) []string { return []string{"app", "config", "--", d} }, false},
		{"app remove -f", func(d string) []string { return []string{"app", "remove", "-f", "-n", "--", d} }, false},
		{"app undeploy", func(d string) []string { return []string{"app", "undeploy", "-n", "--", d} }, false},
	}
	var cs []tcase
	for _, c := range commands {
		for _, d := range pick(badDomains, c.all) {
			tc := tcase{name: c.name + " domain " + short(d), args: c.args(d), code: usage,
				want: []string{"invalid domain", q(d)}}
			switch {
			case d == "" && c.name == "app new --domain":
				tc.want = []string{"--domain"} // asked for, and -n names the flag
			case strings.Contains(d, "ä"):
				tc.want = append(tc.want, "'ä'") // the character, not its first byte
			}
			cs = append(cs, tc)
		}
	}
	return append(cs,
		tcase{name: "app new mixed-case domain", args: []string{"app", "new", "web", "-n", "--server", "default", "--domain", "Blog.Example.org"},
			code: usage, want: []string{q("Blog.Example.org"), "use blog.example.org"}},
		tcase{name: "app new upper-case spelling of an existing app", args: []string{"app", "new", "web", "-n", "--server", "default", "--domain", "BLOG.EXAMPLE.ORG"},
			code: usage, want: []string{q("BLOG.EXAMPLE.ORG"), "blog.example.org"}},
		tcase{name: "app new domain sharing a stack name after 45 characters", args: []string{"app", "new", "web", "-n", "--server", "default", "--domain", foxLabel + ".example.net"},
			code: failure, want: []string{"stack name", foxLabel + ".example.net", foxLabel + ".example.org", "hint:"}},
		tcase{name: "app new domain of an app on another server", args: []string{"app", "new", "web", "-n", "--server", farServer, "--domain", "app.example.org"},
			code: failure, want: []string{"app.example.org", "already", "default", "hint:"}},
		tcase{name: "app new domain of an app that exists", args: []string{"app", "new", "web", "-n", "--server", "default", "--domain", "blog.example.org"},
			code: failure, want: []string{"blog.example.org", "already", "{ABRA}/servers/default/blog.example.org.env", "hint:"}},
		tcase{name: "app deploy unknown app", args: []string{"app", "deploy", "-n", "nope.example.org"},
			code: failure, want: []string{"nope.example.org", "hint: run 'abra app ls'"}},
	)
}

var badServers = []string{
	"",
	".",
	"..",
	"../..",
	"../../home",
	"/",
	"/etc",
	"a/b",
	"default/../../home",
	"-f",
	"srv name",
	"srv;id",
	"$(id)",
	"~",
	".hidden",
	strings.Repeat("s", 65),
	"srv\n",
	"*",
}

// serverCases: bad server names × the commands that take one. 'server rm'
// must delete nothing, whatever the name climbs to ("../../home" is the
// operator's home), with or without -n and --force.
func serverCases() []tcase {
	commands := []struct {
		name  string
		args  func(s string) []string
		stdin string
		all   bool
	}{
		{name: "server rm -n", args: func(s string) []string { return []string{"server", "rm", "-n", "--", s} }, all: true},
		{name: "server rm --force", args: func(s string) []string { return []string{"server", "rm", "--force", "--", s} }, all: true},
		{name: "server rm answered yes", args: func(s string) []string { return []string{"server", "rm", "--", s} }, stdin: "y\n"},
		{name: "server add", args: func(s string) []string { return []string{"server", "add", "--", s} }},
		{name: "app new --server", args: func(s string) []string {
			return []string{"app", "new", "web", "-n", "--server=" + s, "--domain", "new.example.org"}
		}},
		{name: "app ls --server", args: func(s string) []string { return []string{"app", "ls", "--server=" + s} }},
	}
	var cs []tcase
	for _, c := range commands {
		for _, s := range pick(badServers, c.all) {
			tc := tcase{name: c.name + " " + short(s), args: c.args(s), stdin: c.stdin, code: usage,
				want: []string{"invalid server name", q(s)}}
			switch {
			case s == "" && c.name == "app ls --server":
				continue // an empty filter is no filter
			case s == "" && c.name == "app new --server":
				tc.want = []string{"--server"}
			case s == "" && c.name == "server add":
				tc.want = []string{"--local"}
			}
			cs = append(cs, tc)
		}
	}
	for _, args := range [][]string{
		{"server", "rm", "-n", "nosuch.example.org"},
		{"server", "rm", "--force", "nosuch.example.org"},
		{"app", "new", "web", "-n", "--server", "nosuch.example.org", "--domain", "new.example.org"},
		{"app", "ls", "--server", "nosuch.example.org"},
	} {
		cs = append(cs, tcase{name: quoteArgs(args) + " (unknown server)", args: args, code: failure,
			want: []string{`unknown server "nosuch.example.org"`, "hint: run 'abra server add nosuch.example.org' first"}})
	}
	return append(cs,
		tcase{name: "server rm with apps, no terminal", args: []string{"server", "rm", "default"}, stdin: "y\n", code: usage,
			want: []string{"default", "app.example.org", "pass --force"}},
		tcase{name: "server rm with apps, -n", args: []string{"server", "rm", "-n", farServer}, code: usage,
			want: []string{farServer, "shop.example.net", "pass --force"}},
	)
}

var badRecipes = []string{
	"",
	".",
	"..",
	"../..",
	"../../home/repo",
	"/etc",
	"/tmp",
	"Web",
	"web/",
	"-rf",
	"web;id",
	"$(id)",
	strings.Repeat("r", 65),
	"web\n",
	".git",
	"web/../web",
	"web name",
}

// recipeNameCases: bad recipe names × the commands that take one.
// "../../home/repo" is the operator's own repository with uncommitted work:
// 'recipe reset --force' must leave it alone.
func recipeNameCases() []tcase {
	commands := []struct {
		name string
		args func(r string) []string
		all  bool
	}{
		{"recipe reset --force", func(r string) []string { return []string{"recipe", "reset", "--force", "--", r} }, true},
		{"app new", func(r string) []string {
			return []string{"app", "new", "-n", "--server", "default", "--domain", "new.example.org", "--", r}
		}, true},
		{"recipe fetch", func(r string) []string { return []string{"recipe", "fetch", "--", r} }, true},
		{"recipe lint", func(r string) []string { return []string{"recipe", "lint", "--", r} }, false},
		{"recipe versions", func(r string) []string { return []string{"recipe", "versions", "--", r} }, false},
		{"recipe diff", func(r string) []string { return []string{"recipe", "diff", "--", r} }, false},
		{"recipe new", func(r string) []string { return []string{"recipe", "new", "--", r} }, false},
		{"app ls --recipe", func(r string) []string { return []string{"app", "ls", "--recipe=" + r} }, false},
	}
	var cs []tcase
	for _, c := range commands {
		for _, r := range pick(badRecipes, c.all) {
			switch {
			case c.name == "app ls --recipe" && r == "":
				continue // an empty filter is no filter
			case c.name == "recipe fetch" && strings.ContainsAny(r, "/:"):
				continue // a git URL or path to clone from, not a recipe name
			}
			cs = append(cs, tcase{name: c.name + " " + short(r), args: c.args(r), code: usage,
				want: []string{"invalid recipe name", q(r)}})
		}
	}
	for _, verb := range []string{"sync", "release", "upgrade"} {
		cs = append(cs, tcase{name: "recipe " + verb + " the operator's repository", args: []string{"recipe", verb, "-n", "../../home/repo"},
			code: usage, want: []string{"invalid recipe name", q("../../home/repo")}})
	}
	return append(cs,
		tcase{name: "recipe new over an existing recipe", args: []string{"recipe", "new", "web"}, code: failure,
			want: []string{"{ABRA}/recipes/web", "exists"}},
		tcase{name: "recipe fetch a path that is no git repository", args: []string{"recipe", "fetch", "-n", "/etc"}, code: failure,
			want: []string{"/etc", "hint:"}},
		tcase{name: "recipe lint unknown recipe", args: []string{"recipe", "lint", "nosuch"}, code: failure,
			want: []string{"nosuch", "hint: run 'abra recipe fetch nosuch' first"}},
		tcase{name: "recipe reset answered yes without a terminal", args: []string{"recipe", "reset", "web"}, stdin: "y\n", code: usage,
			setup: func(t *testing.T, fx *fixture) {
				write(t, filepath.Join(fx.recipe(), "compose.yml"), webCompose+"# my unsaved edit\n")
			},
			want: []string{"compose.yml", "pass --force"}},
	)
}

var badVersions = []string{
	"../../x",
	"..",
	"-rf",
	"--upload-pack=touch pwned",
	"1.0.0+1.25;id",
	"$(id)",
	"HEAD~1",
	"1.0.0+1.25 ",
	"1.0.0+1.25\n",
	"1.0.0+1.25:x",
	"/etc/passwd",
	"refs/tags/../../x",
	strings.Repeat("1", 65),
}

// versionCases: bad versions × the commands that take one. A version is
// checked against the recipe before any server is asked what runs.
func versionCases() []tcase {
	commands := []struct {
		name string
		args func(v string) []string
		all  bool
	}{
		{"app deploy", func(v string) []string { return []string{"app", "deploy", "-n", "--", "app.example.org", v} }, true},
		{"app new", func(v string) []string {
			return []string{"app", "new", "-n", "--server", "default", "--domain", "new.example.org", "--", "web", v}
		}, false},
		{"app upgrade", func(v string) []string { return []string{"app", "upgrade", "-n", "--", "app.example.org", v} }, false},
		{"app rollback", func(v string) []string { return []string{"app", "rollback", "-n", "--", "app.example.org", v} }, false},
	}
	var cs []tcase
	for _, c := range commands {
		for _, v := range pick(badVersions, c.all) {
			cs = append(cs, tcase{name: c.name + " version " + short(v), args: c.args(v), code: usage,
				want: []string{"invalid version", q(v)}})
		}
		cs = append(cs, tcase{name: c.name + " unknown version", args: c.args("9.9.9+1"), code: failure,
			want: []string{"9.9.9+1", "abra recipe versions web"}})
	}
	return cs
}

// secretAndServiceCases: bad secret and service names, refused before the
// server is asked anything.
func secretAndServiceCases() []tcase {
	names := []string{"../../x", "-rf", "a;b"}
	secret := []struct {
		name string
		args func(s string) []string
	}{
		{"app secret insert", func(s string) []string {
			return []string{"app", "secret", "insert", "-n", "--", "app.example.org", s, "v1", "value"}
		}},
		{"app secret generate", func(s string) []string {
			return []string{"app", "secret", "generate", "-n", "--", "app.example.org", s, "v1"}
		}},
		{"app secret rm", func(s string) []string {
			return []string{"app", "secret", "rm", "-f", "-n", "--", "app.example.org", s}
		}},
	}
	service := []struct {
		name string
		args func(s string) []string
	}{
		{"app logs", func(s string) []string { return []string{"app", "logs", "-n", "--", "app.example.org", s} }},
		{"app restart", func(s string) []string { return []string{"app", "restart", "-n", "--", "app.example.org", s} }},
		{"app run", func(s string) []string { return []string{"app", "run", "-n", "--", "app.example.org", s, "sh"} }},
	}
	var cs []tcase
	for _, n := range names {
		for _, c := range secret {
			cs = append(cs, tcase{name: c.name + " " + short(n), args: c.args(n), code: usage,
				want: []string{"invalid secret name", q(n)}})
		}
		for _, c := range service {
			cs = append(cs, tcase{name: c.name + " service " + short(n), args: c.args(n), code: usage,
				want: []string{"invalid service name", q(n)}})
		}
		if !strings.HasPrefix(n, "-") { // app cmd takes its function's arguments after --
			cs = append(cs, tcase{name: "app cmd service " + short(n), args: []string{"app", "cmd", "-n", "app.example.org", n, "hello"}, code: usage,
				want: []string{"invalid service name", q(n)}})
		}
	}
	return append(cs,
		tcase{name: "app cmd --local function climbing out", args: []string{"app", "cmd", "-n", "--local", "app.example.org", "../../x"}, code: failure,
			want: []string{q("../../x"), "abra.sh", "hint:"}}, // no such function: names are looked up, never used as paths
		tcase{name: "app cmd with -- before the domain", args: []string{"app", "cmd", "-n", "--", "app.example.org", "app", "hello"}, code: usage,
			want: []string{"app cmd", "<domain>"}},
		tcase{name: "app cmd --local unknown function", args: []string{"app", "cmd", "-n", "--local", "app.example.org", "nosuch"}, code: failure,
			want: []string{"nosuch", "abra.sh"}},
		tcase{name: "app restore snapshot climbing out", args: []string{"app", "restore", "-n", "-f", "--snapshot", "../x", "app.example.org"}, code: usage,
			want: []string{"snapshot", q("../x")}},
		tcase{name: "app cp service climbing out", args: []string{"app", "cp", "-n", "app.example.org", "../x:/etc", "./y"}, code: usage,
			want: []string{q("../x")}},
	)
}

// envFileCases: broken env files × the commands that read them. The file is
// named with its line, and 'app ls' still lists the other apps (exit 3).
func envFileCases() []tcase {
	const bad = "bad.example.org"
	path := "{ABRA}/servers/default/" + bad + ".env"
	contents := []struct {
		name, content string
		line          int
		want          []string
		sampled       bool
	}{
		{"TYPE climbing out", "TYPE=../../x\nDOMAIN=bad.example.org\n", 1, []string{"TYPE", q("../../x")}, true},
		{"TYPE absolute", "TYPE=/etc\n", 1, []string{"TYPE", q("/etc")}, false},
		{"TYPE with a space", "TYPE=web extra\n", 1, []string{"TYPE", q("web extra")}, false},
		{"RECIPE absolute", "DOMAIN=bad.example.org\nRECIPE=/etc\n", 2, []string{"RECIPE", q("/etc")}, true},
		{"TYPE version climbing out", "TYPE=web:../../x\n", 1, []string{"TYPE", q("../../x")}, false},
		{"TYPE version an option", "TYPE=web:--upload-pack=x\n", 1, []string{"TYPE", q("--upload-pack=x")}, false},
		{"COMPOSE_FILE climbing out", "TYPE=web\nCOMPOSE_FILE=compose.yml:../../../../etc/passwd\n", 2, []string{"COMPOSE_FILE", q("../../../../etc/passwd")}, true},
		{"COMPOSE_FILE absolute", "TYPE=web\nCOMPOSE_FILE=/etc/passwd\n", 2, []string{"COMPOSE_FILE", q("/etc/passwd")}, false},
		{"COMPOSE_FILE an option", "TYPE=web\n\nCOMPOSE_FILE=-x.yml\n", 3, []string{"COMPOSE_FILE", q("-x.yml")}, false},
		{"COMPOSE_FILE dot-dot", "TYPE=web\nCOMPOSE_FILE=compose.yml:..\n", 2, []string{"COMPOSE_FILE", q("..")}, false},
		{"line without =", "TYPE=web\nDOMAIN=bad.example.org\nFOO BAR\n", 3, []string{"FOO BAR"}, true},
		{"unterminated quote", "TYPE=web\nFOO=\"bar\n", 2, nil, false},
		{"variable name with a digit first", "1FOO=x\nTYPE=web\n", 1, []string{q("1FOO")}, false},
		{"no variable name", " =x\nTYPE=web\n", 1, nil, false},
		{"NUL byte in a name", "TYPE=web\n\x00=1\n", 2, nil, false},
	}
	commands := []struct {
		name string
		args []string
		code int
		out  []string
		all  bool
	}{
		{"app env", []string{"app", "env", bad}, failure, nil, true},
		{"app ls", []string{"app", "ls"}, partial, []string{"app.example.org", "blog.example.org", "shop.example.net"}, true},
		{"app deploy", []string{"app", "deploy", "-n", bad}, failure, nil, false},
		{"app check", []string{"app", "check", bad}, failure, nil, false},
		{"app secret ls", []string{"app", "secret", "ls", bad}, failure, nil, false},
	}
	var cs []tcase
	for _, c := range contents {
		for _, cmd := range commands {
			if !cmd.all && !c.sampled {
				continue
			}
			content := c.content
			cs = append(cs, tcase{
				name:   cmd.name + " env file " + c.name,
				args:   cmd.args,
				setup:  func(t *testing.T, fx *fixture) { write(t, fx.envPath("default", bad), content) },
				code:   cmd.code,
				want:   append([]string{path + ":" + strconv.Itoa(c.line) + ":"}, c.want...),
				stdout: cmd.out,
			})
		}
	}
	noRecipe := map[string]string{"empty TYPE": "TYPE=\nDOMAIN=bad.example.org\n", "no TYPE": "DOMAIN=bad.example.org\nGREETING=hi\n"}
	for name, content := range noRecipe {
		for _, args := range [][]string{{"app", "deploy", "-n", bad}, {"app", "check", bad}, {"app", "secret", "ls", bad}} {
			cs = append(cs, tcase{name: strings.Join(args[:len(args)-1], " ") + " env file " + name, args: args, code: failure,
				setup: func(t *testing.T, fx *fixture) { write(t, fx.envPath("default", bad), content) },
				want:  []string{path, "TYPE"}})
		}
	}
	unknownRecipe := func(t *testing.T, fx *fixture) { write(t, fx.envPath("default", bad), "TYPE=nosuch\n") }
	dirEnv := func(t *testing.T, fx *fixture) {
		if err := os.MkdirAll(fx.envPath("default", "dir.example.org"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dangling := func(t *testing.T, fx *fixture) {
		symlink(t, filepath.Join(fx.home, "gone.env"), fx.envPath("default", "dangling.example.org"))
	}
	twice := func(t *testing.T, fx *fixture) {
		write(t, fx.envPath(farServer, "app.example.org"), "TYPE=web\nDOMAIN=app.example.org\n")
	}
	return append(cs,
		tcase{name: "app deploy env file with an unknown recipe", args: []string{"app", "deploy", "-n", bad}, setup: unknownRecipe, code: failure,
			want: []string{"nosuch", "hint: run 'abra recipe fetch nosuch' first"}},
		tcase{name: "app env of a directory named like an env file", args: []string{"app", "env", "dir.example.org"}, setup: dirEnv, code: failure,
			want: []string{"{ABRA}/servers/default/dir.example.org.env", "directory"}},
		tcase{name: "app new over a directory named like the env file", args: []string{"app", "new", "web", "-n", "--server", "default", "--domain", "dir.example.org"},
			setup: dirEnv, code: failure, want: []string{"{ABRA}/servers/default/dir.example.org.env"}},
		tcase{name: "app env of a dangling symlink", args: []string{"app", "env", "dangling.example.org"}, setup: dangling, code: failure,
			want: []string{"{ABRA}/servers/default/dangling.example.org.env"}},
		tcase{name: "app ls with a dangling symlink", args: []string{"app", "ls"}, setup: dangling, code: partial,
			want: []string{"{ABRA}/servers/default/dangling.example.org.env"}, stdout: []string{"app.example.org", "shop.example.net"}},
		tcase{name: "app env of a domain on two servers", args: []string{"app", "env", "app.example.org"}, setup: twice, code: failure,
			want: []string{"{ABRA}/servers/default/app.example.org.env", "{ABRA}/servers/" + farServer + "/app.example.org.env"}},
		tcase{name: "app deploy of a domain on two servers", args: []string{"app", "deploy", "-n", "app.example.org"}, setup: twice, code: failure,
			want: []string{"{ABRA}/servers/default/app.example.org.env", "{ABRA}/servers/" + farServer + "/app.example.org.env"}},
		tcase{name: "app ls with an env file named like no domain", args: []string{"app", "ls"}, code: partial,
			setup: func(t *testing.T, fx *fixture) { write(t, fx.envPath("default", "Bad_Name"), "TYPE=web\n") },
			want:  []string{"{ABRA}/servers/default/Bad_Name.env"}, stdout: []string{"app.example.org"}},
		tcase{name: "app ls with an env file named .env", args: []string{"app", "ls"}, code: partial,
			setup: func(t *testing.T, fx *fixture) { write(t, fx.envPath("default", ""), "TYPE=web\n") },
			want:  []string{"{ABRA}/servers/default/.env"}, stdout: []string{"app.example.org"}},
	)
}

// evilRelease commits files and symlinks into the recipe and tags the commit
// evilTag, so that both the release and the work tree (--chaos) hold them.
func evilRelease(files map[string]string, links map[string]string) func(t *testing.T, fx *fixture) {
	return func(t *testing.T, fx *fixture) {
		repo := fx.recipe()
		for name, content := range files {
			write(t, filepath.Join(repo, name), fx.expand(content))
		}
		for name, target := range links {
			symlink(t, fx.expand(target), filepath.Join(repo, name))
		}
		git(t, repo, "add", "-A")
		git(t, repo, "commit", "-qm", "evil")
		git(t, repo, "tag", "-a", evilTag, "-m", evilTag)
	}
}

func composeWith(extra string) string {
	return strings.Replace(webCompose, "1.0.0+1.25", evilTag, 1) + extra
}

// evilRecipeCases: recipes that name files outside themselves, in compose
// files, as symlinks in a release, or in the work tree. Refused while loading,
// before any server is asked; the victim's files are never read into anything.
func evilRecipeCases() []tcase {
	recipes := []struct {
		name  string
		setup func(t *testing.T, fx *fixture)
		want  []string
	}{
		{"config file absolute", evilRelease(map[string]string{"compose.yml": composeWith(
			"    configs:\n      - source: x\n        target: /x\nconfigs:\n  x:\n    name: ${STACK_NAME}_x_${X_VERSION}\n    file: {HOME}/shadow\n")}, nil),
			[]string{"configs.x.file", "{HOME}/shadow", "outside the recipe"}},
		{"config file climbing out", evilRelease(map[string]string{"compose.yml": composeWith(
			"    configs:\n      - source: x\n        target: /x\nconfigs:\n  x:\n    name: ${STACK_NAME}_x_${X_VERSION}\n    file: ../../../home/shadow\n")}, nil),
			[]string{"configs.x.file", "../../../home/shadow", "outside the recipe"}},
		{"secret file absolute", evilRelease(map[string]string{"compose.yml": composeWith(
			"    secrets:\n      - s\nsecrets:\n  s:\n    name: ${STACK_NAME}_s_${SECRET_S_VERSION}\n    file: {HOME}/shadow\n")}, nil),
			[]string{"secrets.s.file", "{HOME}/shadow", "outside the recipe"}},
		{"env_file climbing out", evilRelease(map[string]string{"compose.yml": strings.Replace(composeWith(""),
			"    environment:\n", "    env_file: ../../../home/x\n    environment:\n", 1)}, nil),
			[]string{"env_file", "../../../home/x", "outside the recipe"}},
		{"env_file absolute", evilRelease(map[string]string{"compose.yml": strings.Replace(composeWith(""),
			"    environment:\n", "    env_file: {HOME}/x\n    environment:\n", 1)}, nil),
			[]string{"env_file", "{HOME}/x", "outside the recipe"}},
		{"compose.yml a symlink out", evilRelease(nil, map[string]string{"compose.yml": "{HOME}/shadow"}),
			[]string{"compose.yml", "outside the recipe"}},
		{"compose.yml a relative symlink out", evilRelease(nil, map[string]string{"compose.yml": "../../../home/shadow"}),
			[]string{"compose.yml", "outside the recipe"}},
		{"abra.sh a symlink out", evilRelease(nil, map[string]string{"abra.sh": "{HOME}/shadow"}),
			[]string{"abra.sh", "outside the recipe"}},
	}
	var cs []tcase
	for _, r := range recipes {
		cs = append(cs,
			tcase{name: "app deploy release with " + r.name, args: []string{"app", "deploy", "-n", "app.example.org", evilTag},
				setup: r.setup, code: failure, want: r.want},
			tcase{name: "app deploy --chaos work tree with " + r.name, args: []string{"app", "deploy", "-n", "--chaos", "app.example.org"},
				setup: r.setup, code: failure, want: r.want},
			tcase{name: "recipe lint release with " + r.name, args: []string{"recipe", "lint", "web"},
				setup: r.setup, code: failure, want: []string{"outside the recipe"}, stdout: []string{"R101"}},
		)
	}
	envSample := evilRelease(nil, map[string]string{".env.sample": "{HOME}/shadow"})
	envSampleRel := evilRelease(nil, map[string]string{".env.sample": "../../../home/shadow"})
	want := []string{".env.sample", "outside the recipe"}
	return append(cs,
		tcase{name: "app new release with .env.sample a symlink out", args: []string{"app", "new", "web", evilTag, "-n", "--server", "default", "--domain", "new.example.org"},
			setup: envSample, code: failure, want: want},
		tcase{name: "app new latest release with .env.sample a relative symlink out", args: []string{"app", "new", "web", "-n", "--server", "default", "--domain", "new.example.org"},
			setup: envSampleRel, code: failure, want: want},
		tcase{name: "app new --chaos with .env.sample a symlink out", args: []string{"app", "new", "web", "--chaos", "-n", "--server", "default", "--domain", "new.example.org"},
			setup: envSample, code: failure, want: want},
		tcase{name: "app check against .env.sample a symlink out", args: []string{"app", "check", "app.example.org"},
			setup: envSample, code: failure, want: want},
		tcase{name: "app cmd --list with abra.sh a symlink out", args: []string{"app", "cmd", "-n", "--local", "--chaos", "--list", "app.example.org"},
			setup: evilRelease(nil, map[string]string{"abra.sh": "{HOME}/shadow"}), code: failure, want: []string{"abra.sh", "outside the recipe"}},
		tcase{name: "app deploy --chaos with a COMPOSE_FILE overlay that is a symlink out", args: []string{"app", "deploy", "-n", "--chaos", "app.example.org"},
			setup: func(t *testing.T, fx *fixture) {
				symlink(t, filepath.Join(fx.home, "shadow"), filepath.Join(fx.recipe(), "compose.evil.yml"))
				write(t, fx.envPath("default", "app.example.org"), "TYPE=web\nDOMAIN=app.example.org\nCOMPOSE_FILE=compose.yml:compose.evil.yml\n")
			},
			code: failure, want: []string{"compose.evil.yml", "outside the recipe"}},
	)
}

// argumentCases: unknown commands, wrong argument counts, bad flags and
// answers that cannot be given without a terminal.
func argumentCases() []tcase {
	u := func(name string, args []string, want ...string) tcase {
		return tcase{name: name, args: args, code: usage, want: want}
	}
	return []tcase{
		u("unknown command", []string{"bogus"}, q("bogus")),
		u("unknown command close to app", []string{"ap"}, q("ap"), "app"),
		u("unknown app verb", []string{"app", "nosuchverb"}, q("nosuchverb"), "abra app"),
		u("app verb typo", []string{"app", "deplyo", "app.example.org"}, q("deplyo"), "did you mean deploy"),
		u("app group typo", []string{"app", "secert", "ls", "app.example.org"}, q("secert"), "did you mean secret"),
		u("unknown app secret verb", []string{"app", "secret", "nosuch", "x"}, q("nosuch"), "abra app secret"),
		u("app secret verb typo", []string{"app", "secret", "generat", "app.example.org"}, q("generat"), "did you mean generate"),
		u("unknown server verb", []string{"server", "bogus"}, q("bogus"), "abra server"),
		u("server verb typo", []string{"server", "rn", "default"}, q("rn"), "did you mean", "rm"),
		u("recipe verb typo", []string{"recipe", "fecth", "web"}, q("fecth"), "did you mean fetch"),
		u("recipe verb typo lint", []string{"recipe", "lnit", "web"}, q("lnit"), "did you mean lint"),
		u("unknown catalogue verb", []string{"catalogue", "bogus"}, q("bogus"), "abra catalogue"),
		u("unknown app volume verb", []string{"app", "volume", "bogus", "app.example.org"}, q("bogus"), "abra app volume"),
		u("app backup verb typo", []string{"app", "backup", "creat", "app.example.org"}, q("creat"), "did you mean create"),
		u("app deploy without a domain", []string{"app", "deploy"}, "app deploy", "arg"),
		u("app deploy with three arguments", []string{"app", "deploy", "app.example.org", release, "extra"}, "app deploy", "arg"),
		u("app new without a recipe", []string{"app", "new"}, "app new", "arg"),
		u("app new with three arguments", []string{"app", "new", "web", release, "extra"}, "app new", "arg"),
		u("app env without a domain", []string{"app", "env"}, "app env", "arg"),
		u("app config with two domains", []string{"app", "config", "app.example.org", "blog.example.org"}, "app config", "arg"),
		u("app ls with an argument", []string{"app", "ls", "app.example.org"}, "app ls", q("app.example.org")),
		u("app secret insert without a value's name", []string{"app", "secret", "insert", "app.example.org"}, "app secret insert", "arg"),
		u("app run without a service", []string{"app", "run", "app.example.org"}, "app run", "arg"),
		u("server rm without a server", []string{"server", "rm"}, "server rm", "arg"),
		u("server rm with two servers", []string{"server", "rm", "default", farServer}, "server rm", "arg"),
		u("recipe lint without a recipe", []string{"recipe", "lint"}, "recipe lint", "arg"),
		u("recipe versions with two recipes", []string{"recipe", "versions", "web", "web"}, "recipe versions", "arg"),
		u("recipe fetch without a recipe", []string{"recipe", "fetch"}, "--all"),
		u("recipe fetch a recipe and --all", []string{"recipe", "fetch", "web", "--all"}, "--all"),
		u("server add without a host", []string{"server", "add"}, "--local"),
		u("server add a host and --local", []string{"server", "add", "example.org", "--local"}, "--local"),
		u("server add --traefik-email without --traefik", []string{"server", "add", "example.org", "--traefik-email", "certs@example.org"}, "--traefik"),
		u("server add --traefik locally without a domain", []string{"server", "add", "--local", "--traefik"}, "--traefik-domain"),
		u("server add --traefik with a bad e-mail", []string{"server", "add", "example.org", "--traefik", "--traefik-email", "certs example"}, "--traefik-email", q("certs example")),
		u("server add --traefik with a bad domain", []string{"server", "add", "example.org", "--traefik", "--traefik-domain", "Traefik_Example"}, "--traefik-domain"),
		u("unknown flag", []string{"app", "ls", "--bogus"}, "--bogus"),
		u("unknown flag of deploy", []string{"app", "deploy", "app.example.org", "--forse"}, "--forse"),
		u("flag value not a duration", []string{"app", "ls", "--status", "--timeout", "abc"}, q("abc"), "--timeout"),
		u("boolean flag given a word", []string{"--no-input=maybe", "app", "ls"}, q("maybe"), "--no-input"),
		u("app new without --server and no terminal", []string{"app", "new", "web", "-n"}, "--server"),
		u("app new without --domain and no terminal", []string{"app", "new", "web", "--server", "default", "-n"}, "--domain"),
		u("app cp with two local paths", []string{"app", "cp", "app.example.org", "./a", "./b"}, "<service>:/absolute/path"),
	}
}

// concurrentCases: writers racing each other. Exactly one wins; the others
// name what they lost to, and the winner's file is whole.
func concurrentCases() []tcase {
	newApp := func(server, domain string) []string {
		return []string{"app", "new", "web", "-n", "--server", server, "--domain", domain}
	}
	wantFile := func(server, domain string) func(t *testing.T, fx *fixture, runs []result) {
		return func(t *testing.T, fx *fixture, runs []result) {
			b, err := os.ReadFile(fx.envPath(server, domain))
			if err != nil {
				t.Errorf("the winner's env file: %v", err)
				return
			}
			if want := "TYPE=web\nDOMAIN=" + domain + "\nGREETING=hi\n"; string(b) != want {
				t.Errorf("the winner's env file is not whole:\n%s\nwant:\n%s", b, want)
			}
		}
	}
	race := make([][]string, 8)
	for i := range race {
		race[i] = newApp("default", "race.example.org")
	}
	var stack [][]string
	for i := range 6 {
		stack = append(stack, newApp("default", catLabel+[]string{".example.org", ".example.net"}[i%2]))
	}
	servers := [][]string{newApp("default", "twin.example.org"), newApp(farServer, "twin.example.org"),
		newApp("default", "twin.example.org"), newApp(farServer, "twin.example.org")}

	editor := func(script string) []string { return []string{"VISUAL=", "EDITOR=" + script} }
	return []tcase{
		{name: "8 concurrent app new of one domain", concurrent: race, code: failure,
			want:    []string{"race.example.org", "already"},
			changes: []string{"{ABRA}/servers/default/race.example.org.env"},
			check:   wantFile("default", "race.example.org")},
		{name: "6 concurrent app new of two domains with one stack name", concurrent: stack, code: failure,
			want:    []string{catLabel + ".example."},
			changes: []string{"{ABRA}/servers/default/" + catLabel + ".example.org.env", "{ABRA}/servers/default/" + catLabel + ".example.net.env"},
			check: func(t *testing.T, fx *fixture, runs []result) {
				var won string
				for _, r := range runs {
					if r.code == 0 {
						won = r.args[len(r.args)-1]
					} else if !strings.Contains(r.stderr, "already") && !strings.Contains(r.stderr, "stack name") {
						t.Errorf("a loser does not say what it lost to:\n%s", r.stderr)
					}
				}
				if won != "" {
					wantFile("default", won)(t, fx, runs)
				}
				n := 0
				for _, d := range []string{".example.org", ".example.net"} {
					if _, err := os.Stat(fx.envPath("default", catLabel+d)); err == nil {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d env files with one stack name, want 1", n)
				}
			}},
		{name: "4 concurrent app new of one domain on two servers", concurrent: servers, code: failure,
			want:    []string{"twin.example.org", "already"},
			changes: []string{"{ABRA}/servers/default/twin.example.org.env", "{ABRA}/servers/" + farServer + "/twin.example.org.env"},
			check: func(t *testing.T, fx *fixture, runs []result) {
				n := 0
				for _, s := range []string{"default", farServer} {
					if _, err := os.Stat(fx.envPath(s, "twin.example.org")); err == nil {
						n++
						wantFile(s, "twin.example.org")(t, fx, runs)
					}
				}
				if n != 1 {
					t.Errorf("%d env files for twin.example.org, want 1", n)
				}
			}},
		{name: "app config while another writer changes the env file", args: []string{"app", "config", "app.example.org"},
			env:  editor(`printf 'TYPE=web\nDOMAIN=app.example.org\nOTHER=theirs\n' > {ABRA}/servers/default/app.example.org.env; printf 'TYPE=web\nDOMAIN=app.example.org\nMINE=1\n' >`),
			code: failure, want: []string{"{ABRA}/servers/default/app.example.org.env", "changed", "hint:"},
			changes: []string{"{ABRA}/servers/default/app.example.org.env"},
			check: func(t *testing.T, fx *fixture, runs []result) {
				b, _ := os.ReadFile(fx.envPath("default", "app.example.org"))
				if want := "TYPE=web\nDOMAIN=app.example.org\nOTHER=theirs\n"; string(b) != want {
					t.Errorf("the other writer's change was lost:\n%s", b)
				}
			}},
		{name: "app config saving TYPE climbing out", args: []string{"app", "config", "app.example.org"},
			env:  editor(`printf 'TYPE=../../x\nDOMAIN=app.example.org\n' >`),
			code: failure, want: []string{"TYPE", q("../../x"), "{ABRA}/servers/default/app.example.org.env"}},
		{name: "app config saving COMPOSE_FILE absolute", args: []string{"app", "config", "app.example.org"},
			env:  editor(`printf 'TYPE=web\nCOMPOSE_FILE=/etc/passwd\n' >`),
			code: failure, want: []string{"COMPOSE_FILE", q("/etc/passwd"), "{ABRA}/servers/default/app.example.org.env"}},
		{name: "app config saving a syntax error", args: []string{"app", "config", "app.example.org"},
			env:  editor(`printf 'TYPE=web\nFOO BAR\n' >`),
			code: failure, want: []string{"app.example.org.env:2", "FOO BAR", "{ABRA}/servers/default/app.example.org.env"}},
	}
}
