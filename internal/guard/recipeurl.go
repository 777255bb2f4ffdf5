package guard

import (
	"fmt"
	"net/url"
	"strings"
)

// A recipe outside the catalogue is named by its git repository:
// "git.example.org/org/cool-recipe" (what goes in an env file's TYPE=), cloned
// from the URL the operator gave, and kept in $ABRA_DIR/recipes under
// RecipeDirName: git_example_org_org_cool-recipe, as Co-op Cloud's abra does.

// RecipeURL reads a recipe argument that is a git URL — https://host/path,
// http://, ssh://[user@]host[:port]/path, user@host:path, with or without
// .git — and returns the recipe's name (host/path, lowercase host, no .git)
// and the URL to clone. isURL is false, and nothing else is set, for an
// argument that is not a URL (a plain recipe name, or an already reduced
// host/path name).
func RecipeURL(s string) (name, cloneURL string, isURL bool, err error) {
	var host, p string
	switch {
	case strings.Contains(s, "://"):
		u, perr := url.Parse(s)
		if perr != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "ssh" && u.Scheme != "git") {
			return "", "", true, &NameError{Kind: "recipe URL", Value: s, Reason: "not a git URL", Want: "want https://host/org/recipe or ssh://git@host/org/recipe.git"}
		}
		host, p = u.Hostname(), u.Path
	case strings.Contains(s, "@") && strings.Contains(s, ":"): // scp-like: git@host:org/recipe.git
		_, rest, _ := strings.Cut(s, "@")
		host, p, _ = strings.Cut(rest, ":")
	default:
		return "", "", false, nil
	}
	name = strings.ToLower(host) + "/" + strings.TrimSuffix(strings.Trim(p, "/"), ".git")
	if err := RecipeName(name); err != nil {
		return "", "", true, &NameError{Kind: "recipe URL", Value: s, Reason: err.(*NameError).Reason, Want: "want https://host/org/recipe or ssh://git@host/org/recipe.git"}
	}
	return name, s, true, nil
}

// RecipeDirName is the directory under $ABRA_DIR/recipes of a recipe name
// that passed RecipeName: the name itself, or for a host/path name its '.'
// and '/' turned into '_' (one path component).
func RecipeDirName(name string) string {
	if !strings.Contains(name, "/") {
		return name
	}
	return strings.NewReplacer(".", "_", "/", "_").Replace(name)
}

// CloneURL is where a recipe named host/path is cloned from when no URL was
// given: https://host/path. Plain names have none ("").
func CloneURL(name string) string {
	if !strings.Contains(name, "/") {
		return ""
	}
	return "https://" + name
}

// recipePath checks a host/path recipe name: a domain, then path segments
// that are each a recipe-name component.
func recipePath(s string) error {
	parts := strings.Split(s, "/")
	fail := func(reason string) error {
		return &NameError{Kind: "recipe name", Value: s, Reason: reason, Want: "want a recipe name like wordpress, or a repository like git.example.org/org/recipe"}
	}
	if len(parts) < 2 {
		return fail("no path")
	}
	if err := Domain(parts[0]); err != nil {
		return fail(fmt.Sprintf("host %q: %s", parts[0], err.(*NameError).Reason))
	}
	if !strings.Contains(parts[0], ".") {
		return fail(fmt.Sprintf("%q is not a host name with a domain", parts[0]))
	}
	for _, seg := range parts[1:] {
		if err := component("recipe name", seg, "", func(r rune) bool { return isLower(r) || isUpper(r) || isDigit(r) || strings.ContainsRune("-_.", r) }); err != nil {
			return fail(fmt.Sprintf("segment %q: %s", seg, err.(*NameError).Reason))
		}
	}
	return nil
}
