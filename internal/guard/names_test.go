package guard

import (
	"errors"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name  string
		check func(string) error
		value string
		want  string // "" accepts; otherwise a piece of the reason
	}{
		{"domain", Domain, "blog.example.org", ""},
		{"single-label domain", Domain, "localhost", ""},
		{"domain with digits and hyphens", Domain, "a-1.b2.example.org", ""},
		{"empty domain", Domain, "", "empty"},
		{"domain climbing out", Domain, "..", "empty label"},
		{"domain with a slash", Domain, "a/b.org", "not allowed"},
		{"domain with upper case", Domain, "Blog.example.org", "use blog.example.org"},
		{"domain with an underscore", Domain, "blog_example.org", `'_'`},
		{"domain with a leading hyphen", Domain, "-x.example.org", "starts or ends with '-'"},
		{"domain with a double dot", Domain, "a..b", "empty label"},
		{"domain with a long label", Domain, long + ".org", "more than 63"},
		{"domain too long", Domain, strings.Repeat("abcdefghi.", 26) + "org", "more than 253"},
		{"domain with a space", Domain, "a b.org", "not allowed"},

		{"server", ServerName, "example.org", ""},
		{"server alias with user and port", ServerName, "root@srv.example.org:2222", ""},
		{"server ..", ServerName, "..", "starts with '.'"},
		{"server .", ServerName, ".", "starts with '.'"},
		{"server empty", ServerName, "", "empty"},
		{"server path", ServerName, "../../x", "starts with '.'"},
		{"server with a slash", ServerName, "a/b", "not allowed"},
		{"server option", ServerName, "-oProxyCommand=x", "starts with '-'"},

		{"recipe", RecipeName, "bonfire-deploy", ""},
		{"recipe climbing out", RecipeName, "../../repo", "starts with '.'"},
		{"recipe with a slash", RecipeName, "a/b", "not a host name with a domain"},
		{"recipe named by its repository", RecipeName, "git.example.org/org/cool-recipe", ""},
		{"recipe repository climbing out", RecipeName, "git.example.org/../x", "starts with '.'"},
		{"recipe repository with an option", RecipeName, "git.example.org/-x", "starts with '-'"},
		{"recipe with upper case", RecipeName, "WordPress", "not allowed"},
		{"recipe too long", RecipeName, long + "a", "more than 64"},

		{"version", Version, "1.2.0+6.4.1", ""},
		{"version option", Version, "--upload-pack=x", "starts with '-'"},
		{"version with a slash", Version, "refs/heads/x", "not allowed"},

		{"secret", SecretName, "db_password", ""},
		{"secret with a slash", SecretName, "a/b", "not allowed"},
		{"service", ServiceName, "app", ""},
		{"service option", ServiceName, "-x", "starts with '-'"},

		{"TYPE", RecipeRef, "wordpress", ""},
		{"TYPE pinned", RecipeRef, "wordpress:1.2.0+6.4.1", ""},
		{"TYPE climbing out", RecipeRef, "../../repo", "recipe name"},
		{"TYPE with a bad version", RecipeRef, "wordpress:../x", "version"},

		{"compose file", ComposeFile, "compose.yml", ""},
		{"compose overlay in a folder", ComposeFile, "overlays/compose.x.yml", ""},
		{"compose file climbing out", ComposeFile, "../../../../etc/passwd", "leaves the recipe"},
		{"compose file absolute", ComposeFile, "/etc/passwd", "absolute"},
		{"compose file the recipe itself", ComposeFile, ".", "a directory"},
		{"compose file a folder", ComposeFile, "overlays/..", "a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.value)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("%q refused: %v", tt.value, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("%q accepted, want refused (%s)", tt.value, tt.want)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "want") && !strings.Contains(err.Error(), "use ") {
				t.Fatalf("error %q: want ErrInvalid mentioning %q and what is wanted", err, tt.want)
			}
			_, part, _ := strings.Cut(tt.value, ":") // RecipeRef names the refused part
			if tt.value != "" && !strings.Contains(err.Error(), tt.value) && !strings.Contains(err.Error(), part) {
				t.Fatalf("error %q does not name the value %q", err, tt.value)
			}
		})
	}
}

func TestRecipeURL(t *testing.T) {
	for _, tt := range []struct{ in, name, dir string }{
		{"https://git.example.org/org/cool-recipe", "git.example.org/org/cool-recipe", "git_example_org_org_cool-recipe"},
		{"https://Git.Example.org/org/cool-recipe.git/", "git.example.org/org/cool-recipe", "git_example_org_org_cool-recipe"},
		{"ssh://git@git.example.org:2222/org/cool-recipe.git", "git.example.org/org/cool-recipe", "git_example_org_org_cool-recipe"},
		{"git@git.example.org:org/cool-recipe.git", "git.example.org/org/cool-recipe", "git_example_org_org_cool-recipe"},
	} {
		name, clone, isURL, err := RecipeURL(tt.in)
		if err != nil || !isURL || name != tt.name || clone != tt.in || RecipeDirName(name) != tt.dir {
			t.Errorf("RecipeURL(%q) = %q %q %v %v, dir %q; want %q in %q", tt.in, name, clone, isURL, err, RecipeDirName(name), tt.name, tt.dir)
		}
	}
	if _, _, isURL, err := RecipeURL("wordpress"); isURL || err != nil {
		t.Errorf("a plain name is not a URL: %v %v", isURL, err)
	}
	for _, bad := range []string{"https://git.example.org/../../etc", "file:///etc/passwd", "https:///x", "git@-oProxyCommand=x:y"} {
		if _, _, _, err := RecipeURL(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("RecipeURL(%q) = %v, want refused", bad, err)
		}
	}
}
