package guard_test

import (
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/guard"
)

// components are the checks whose accepted names become one path component.
var components = []struct {
	kind  string
	check func(string) error
}{
	{"server name", guard.ServerName},
	{"recipe name", guard.RecipeName},
	{"version", guard.Version},
	{"secret name", guard.SecretName},
	{"service name", guard.ServiceName},
	{"domain", guard.Domain},
}

// dockerName is what Docker accepts as an object name, which a stack name
// prefixes (<stack>_<secret>_<version>).
var dockerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// oneComponent says why s is not a single path component that cannot be
// read as an option, or "" when it is one.
func oneComponent(s string) string {
	switch {
	case !filepath.IsLocal(s):
		return "not a local path"
	case strings.ContainsAny(s, `/\`) || strings.ContainsRune(s, filepath.Separator):
		return "has a path separator"
	case s == "." || s == "..":
		return "is . or .."
	case filepath.Base(s) != s:
		return "is not its own base name"
	case strings.HasPrefix(s, "-"):
		return "starts with '-'"
	case strings.ContainsAny(s, "\x00\n\r"):
		return "has a NUL or a newline"
	}
	return ""
}

// refused checks that err is a refusal of value that names it.
func refused(t *testing.T, kind, value string, err error) {
	t.Helper()
	if !errors.Is(err, guard.ErrInvalid) {
		t.Fatalf("%s %q: error %v does not wrap ErrInvalid", kind, value, err)
	}
	var ne *guard.NameError
	if !errors.As(err, &ne) || ne.Kind == "" || ne.Reason == "" || ne.Want == "" {
		t.Fatalf("%s %q: error %#v is not a complete *NameError", kind, value, err)
	}
	if !strings.Contains(err.Error(), strconv.Quote(ne.Value)) {
		t.Fatalf("%s %q: error %q does not name the value", kind, value, err)
	}
}

// FuzzNames checks every name check: an accepted name is one path component
// that cannot start an option; an accepted domain is lower case and turns
// into a stack name Docker accepts and no other domain shares; an accepted
// TYPE= is an accepted recipe name and version; an accepted COMPOSE_FILE
// entry stays inside the recipe; a refused name gives a *NameError that
// wraps ErrInvalid and names it.
func FuzzNames(f *testing.F) {
	for _, s := range []string{
		"wordpress", "bonfire-deploy", "git.example.org/org/cool-recipe", "https://git.example.org/org/cool-recipe.git", "custom-php", "foodsharing-cms", "docs.coopcloud.tech",
		"app.example.org", "blog.example.org", "a-1.b2.example.org", "localhost", "xn--bcher-kva.example",
		"1.2.0+6.4.1", "0.3.0+v2.4.8", "2.0.1+1.27.2-alpine", "e7f4ff72ff32", "main",
		"db_password", "smtp_password", "app", "db", "web.1", "example.org", "user@example.org:2222", "my-alias",
		"wordpress:1.2.0+6.4.1", "wordpress: 1.2.0", " custom-html ", "compose.yml", "compose.smtp.yml",
		"overlays/compose.x.yml", "compose.${X}.yml",
		"", "..", "../etc", "a/b", "a\\b", "/etc/shadow", "-oProxyCommand=id", "--help", ".hidden", "a..b",
		"App.Example.org", "blog_example.org", "blog..example.org", "-a.example.org", "a-.example.org", ".example.org",
		"wordpress:../x", "wordpress:", ":1.0.0", "a\x00b", "line\nbreak", "ünïcödé.org", strings.Repeat("a", 65),
		strings.Repeat("a.", 127) + "a", strings.Repeat("a", 64) + ".org",
	} {
		f.Add(s, "app.example.org")
	}
	f.Fuzz(func(t *testing.T, s, other string) {
		for _, c := range components {
			err := c.check(s)
			if err != nil {
				refused(t, c.kind, s, err)
				continue
			}
			name := s
			if c.kind == "recipe name" { // host/org/recipe names live in one directory
				name = guard.RecipeDirName(s)
			}
			if why := oneComponent(name); why != "" {
				t.Fatalf("%s %q accepted but %s", c.kind, name, why)
			}
		}

		if err := guard.Domain(s); err == nil {
			if strings.ToLower(s) != s {
				t.Fatalf("domain %q accepted with upper case", s)
			}
			stack := app.StackName(s)
			if !dockerName.MatchString(stack) || strings.Contains(stack, ".") || oneComponent(stack) != "" {
				t.Fatalf("domain %q accepted but its stack name %q is not a Docker name", s, stack)
			}
			if other != s && guard.Domain(other) == nil && len(s) <= app.MaxStackNameLength &&
				len(other) <= app.MaxStackNameLength && app.StackName(other) == stack {
				t.Fatalf("domains %q and %q share the stack name %q", s, other, stack)
			}
		}

		if err := guard.RecipeRef(s); err != nil {
			refused(t, "TYPE", s, err)
		} else {
			name, version, pinned := strings.Cut(strings.TrimSpace(s), ":")
			if guard.RecipeName(name) != nil || (pinned && guard.Version(version) != nil) {
				t.Fatalf("TYPE=%s accepted but %q:%q is not a recipe name and version", s, name, version)
			}
		}

		if err := guard.ComposeFile(s); err != nil {
			refused(t, "COMPOSE_FILE entry", s, err)
		} else {
			dir := filepath.Join(string(filepath.Separator), "recipe")
			rel, err := filepath.Rel(dir, filepath.Join(dir, s))
			if !filepath.IsLocal(s) || err != nil || !filepath.IsLocal(rel) || rel == "." || strings.HasPrefix(s, "-") {
				t.Fatalf("COMPOSE_FILE entry %q accepted but is not a file inside the recipe, or starts an option", s)
			}
		}
	})
}
