// Package guard is the one place that checks outside input: names that come
// from arguments, env files and recipes (domains, servers, recipes, versions,
// secrets, services, COMPOSE_FILE entries), and paths that a recipe makes abra
// read, which must stay inside the recipe.
//
// A name that passes is a single path component that cannot start an option
// (no leading "-"), so joining it to a directory never leaves that directory.
package guard

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrInvalid is wrapped by every error about a name that does not pass.
var ErrInvalid = errors.New("invalid name")

// NameError says which kind of name was refused, why, and what is wanted.
type NameError struct {
	Kind   string // "domain", "server name", …
	Value  string
	Reason string
	Want   string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s; %s", e.Kind, e.Value, e.Reason, e.Want)
}

func (e *NameError) Unwrap() error { return ErrInvalid }

// FileError is a refused value that was read from a file (an env file's
// TYPE=, a name in recipes.json) rather than typed as an argument: it names
// the file, line and key. The CLI treats it as a failure (exit 1), not as a
// usage error (exit 2).
type FileError struct {
	Path string
	Line int // 0 when unknown
	Key  string
	Err  error
}

func (e *FileError) Error() string {
	where := e.Path
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.Path, e.Line)
	}
	if e.Key != "" {
		where += ": " + e.Key
	}
	return where + ": " + e.Err.Error()
}

func (e *FileError) Unwrap() error { return e.Err }

// IsUsage reports whether err refuses a name given as an argument or flag:
// a NameError not read from a file.
func IsUsage(err error) bool {
	var fe *FileError
	return errors.Is(err, ErrInvalid) && !errors.As(err, &fe)
}

// Lengths from the DNS (RFC 1035) and Docker's object names.
const (
	maxDomain = 253
	maxLabel  = 63
	maxName   = 64
)

const wantDomain = "want a lowercase host name like app.example.org (letters, digits, '-' and '.')"

// Domain checks an app's domain: a host name of lowercase letters, digits and
// '-' in dot-separated labels of 1–63 characters, at most 253 in all, no label
// starting or ending with '-'. Upper case is refused (not folded) so that one
// app never has two spellings; underscores are refused because the stack name
// turns '.' into '_', and blog_example.org would share blog.example.org's stack.
func Domain(s string) error {
	fail := func(reason string) error {
		return &NameError{Kind: "domain", Value: s, Reason: reason, Want: wantDomain}
	}
	switch {
	case s == "":
		return fail("empty")
	case len(s) > maxDomain:
		return fail(fmt.Sprintf("%d characters, more than %d", len(s), maxDomain))
	case strings.ToLower(s) != s:
		return &NameError{Kind: "domain", Value: s, Reason: "has upper-case letters", Want: "use " + strings.ToLower(s)}
	}
	for label := range strings.SplitSeq(s, ".") {
		switch {
		case label == "":
			return fail("empty label (leading, trailing or double '.')")
		case len(label) > maxLabel:
			return fail(fmt.Sprintf("label %q has %d characters, more than %d", label, len(label), maxLabel))
		case label[0] == '-' || label[len(label)-1] == '-':
			return fail(fmt.Sprintf("label %q starts or ends with '-'", label))
		}
		for _, r := range label {
			if !isLower(r) && !isDigit(r) && r != '-' {
				return fail(fmt.Sprintf("character %q is not allowed", r))
			}
		}
	}
	return nil
}

// ServerName checks a server name: a host name, an ~/.ssh/config alias or
// user@host[:port]. It becomes a directory under $ABRA_DIR/servers and an ssh
// destination, so it is one path component that cannot be read as an option.
func ServerName(s string) error {
	return component("server name", s, "want a host name like example.org or an ~/.ssh/config alias",
		func(r rune) bool { return isLower(r) || isUpper(r) || isDigit(r) || strings.ContainsRune("-._@:", r) })
}

// RecipeName checks a recipe name: lowercase letters, digits, '-', '_' and
// '.', as the catalogue's recipes are named, or a recipe outside the
// catalogue named by its repository, host/org/recipe (see RecipeURL). Its
// directory under $ABRA_DIR/recipes is RecipeDirName.
func RecipeName(s string) error {
	if strings.Contains(s, "/") && !strings.HasPrefix(s, ".") && !strings.HasPrefix(s, "/") {
		return recipePath(s)
	}
	return component("recipe name", s, "want a recipe name like wordpress or bonfire-deploy",
		func(r rune) bool { return isLower(r) || isDigit(r) || strings.ContainsRune("-_.", r) })
}

// Version checks a recipe version or git revision given by an operator:
// letters, digits and "._+-" (1.2.0+6.4.1, a commit), never an option.
func Version(s string) error {
	return component("version", s, "want a version like 1.2.0+6.4.1 ('abra recipe versions <recipe>' lists them)",
		func(r rune) bool { return isLower(r) || isUpper(r) || isDigit(r) || strings.ContainsRune("-._+", r) })
}

// SnapshotID checks a backup snapshot ID given by an operator: restic's
// hexadecimal IDs, whole or short, or "latest".
func SnapshotID(s string) error {
	return component("snapshot ID", s, "want a snapshot ID like 4f2a9c1e ('abra app backup ls <domain>' lists them)",
		func(r rune) bool { return isLower(r) || isDigit(r) })
}

// SecretName checks a secret's name as the recipe declares it (db_password).
func SecretName(s string) error {
	return component("secret name", s, "want a name from the recipe's compose files like db_password ('abra app secret ls <domain>' lists them)",
		func(r rune) bool { return isLower(r) || isUpper(r) || isDigit(r) || strings.ContainsRune("-_.", r) })
}

// ServiceName checks a compose service name (app, db).
func ServiceName(s string) error {
	return component("service name", s, "want a service of the recipe like app or db ('abra app services <domain>' lists them)",
		func(r rune) bool { return isLower(r) || isUpper(r) || isDigit(r) || strings.ContainsRune("-_.", r) })
}

// RecipeRef checks the value of an env file's TYPE= or RECIPE=:
// <recipe>[:<version>].
func RecipeRef(s string) error {
	name, version, pinned := strings.Cut(strings.TrimSpace(s), ":")
	if err := RecipeName(name); err != nil {
		return err
	}
	if pinned {
		return Version(version)
	}
	return nil
}

// ComposeFile checks one COMPOSE_FILE entry: a relative path that stays inside
// the recipe (compose.yml, compose.smtp.yml, overlays/compose.x.yml).
func ComposeFile(s string) error {
	fail := func(reason string) error {
		return &NameError{Kind: "COMPOSE_FILE entry", Value: s, Reason: reason,
			Want: "want a compose file of the recipe like compose.yml or compose.smtp.yml"}
	}
	switch {
	case s == "":
		return fail("empty")
	case filepath.IsAbs(s) || strings.HasPrefix(s, "/"):
		return fail("an absolute path")
	case !filepath.IsLocal(s) || strings.Contains(s, "\\"):
		return fail("leaves the recipe's directory")
	case filepath.Clean(s) == "." || strings.HasSuffix(s, "/"):
		return fail("a directory, not a file")
	case strings.HasPrefix(s, "-"):
		return fail("starts with '-'")
	}
	return nil
}

// component checks a name that becomes one path component: not empty, not
// "." or "..", no leading '-' or '.', at most 64 characters, only the runes ok
// allows.
func component(kind, s, want string, ok func(rune) bool) error {
	fail := func(reason string) error { return &NameError{Kind: kind, Value: s, Reason: reason, Want: want} }
	switch {
	case s == "":
		return fail("empty")
	case len(s) > maxName:
		return fail(fmt.Sprintf("%d characters, more than %d", len(s), maxName))
	case s[0] == '-':
		return fail("starts with '-'")
	case s[0] == '.':
		return fail("starts with '.'")
	case strings.Contains(s, ".."):
		return fail("contains '..'")
	}
	for _, r := range s {
		if !ok(r) {
			return fail(fmt.Sprintf("character %q is not allowed", r))
		}
	}
	return nil
}

func isLower(r rune) bool { return r >= 'a' && r <= 'z' }
func isUpper(r rune) bool { return r >= 'A' && r <= 'Z' }
func isDigit(r rune) bool { return r >= '0' && r <= '9' }
