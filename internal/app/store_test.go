package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/guard"
)

func newStore(t *testing.T, servers ...string) Store {
	t.Helper()
	s := Store{Root: t.TempDir()}
	for _, srv := range servers {
		if _, err := s.Servers().Add(srv); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

var sample = []byte("TYPE=web\nDOMAIN=x\n# a comment\nGREETING=hi\n")

func TestCreateIsExclusive(t *testing.T) {
	s := newStore(t, "one", "two")
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := []string{"one", "two"}[i%2]
			_, errs[i] = s.Create(ctx, NewOptions{Recipe: "web", Server: srv, Domain: "blog.example.org", Sample: sample})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrExists):
			t.Errorf("a losing create: %v, want ErrExists", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent creates of one domain succeeded, want 1", ok, n)
	}
	refs, _ := s.Refs()
	if len(refs) != 1 {
		t.Fatalf("env files = %v, want one, on one server", refs)
	}
}

func TestCreateRefusesSharedStackNames(t *testing.T) {
	long := "a-very-long-subdomain-name.of-a-long-domain.example"
	tests := []struct{ name, first, second, want string }{
		{"domains equal in their first 45 characters", long + ".org", long + ".net", "both get stack name"},
		{"an underscore for a dot", "blog.example.org", "blog_example.org", "character '_'"},
		{"another case", "blog.example.org", "Blog.Example.org", "use blog.example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, "one")
			ctx := context.Background()
			if _, err := s.Create(ctx, NewOptions{Recipe: "web", Server: "one", Domain: tt.first, Sample: sample}); err != nil {
				t.Fatal(err)
			}
			_, err := s.Create(ctx, NewOptions{Recipe: "web", Server: "one", Domain: tt.second, Sample: sample})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("second create: %v, want an error containing %q", err, tt.want)
			}
			if refs, _ := s.Refs(); len(refs) != 1 {
				t.Fatalf("env files = %v, want only the first", refs)
			}
		})
	}
}

func TestStackConflictOfHandMadeEnvFiles(t *testing.T) {
	s := newStore(t, "one")
	long := "a-very-long-subdomain-name.of-a-long-domain.example"
	for _, d := range []string{long + ".org", long + ".net"} {
		if err := os.WriteFile(filepath.Join(s.Servers().Path("one"), d+".env"), sample, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	err := s.StackConflict("one", long+".org")
	if !errors.Is(err, ErrStackTaken) || !strings.Contains(err.Error(), long+".net") {
		t.Fatalf("StackConflict = %v, want ErrStackTaken naming the other app", err)
	}
}

func TestCreateRefusesBadNames(t *testing.T) {
	s := newStore(t, "one")
	outside := filepath.Join(s.Root, "..", "home")
	for _, o := range []NewOptions{
		{Recipe: "web", Server: "../../home", Domain: "x.example.org"},
		{Recipe: "web", Server: "..", Domain: "x.example.org"},
		{Recipe: "web", Server: "one", Domain: "../x"},
		{Recipe: "../../repo", Server: "one", Domain: "x.example.org"},
	} {
		o.Sample = sample
		if _, err := s.Create(context.Background(), o); !errors.Is(err, guard.ErrInvalid) {
			t.Errorf("Create(%+v) = %v, want guard.ErrInvalid", o, err)
		}
	}
	if _, err := os.Stat(outside); err == nil {
		t.Fatalf("something was written outside ABRA_DIR: %s", outside)
	}
	if refs, _ := s.Refs(); len(refs) != 0 {
		t.Fatalf("env files = %v, want none", refs)
	}
}

func TestUpdateKeepsAnotherWritersChange(t *testing.T) {
	s := newStore(t, "one")
	ctx := context.Background()
	a, err := s.Create(ctx, NewOptions{Recipe: "web", Server: "one", Domain: "blog.example.org", Sample: sample})
	if err != nil {
		t.Fatal(err)
	}
	// Someone edits the file while a (say, a long deploy) holds it in memory.
	other, _ := envfile.Load(a.Path)
	if err := other.Set("GREETING", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := other.Save(); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, a, func(env *envfile.File) error { return (&App{Env: env}).Pin("1.0.0+1") }); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(a.Path)
	if !strings.Contains(string(b), "GREETING=hello") || !strings.Contains(string(b), "TYPE=web:1.0.0+1") || !strings.Contains(string(b), "# a comment") {
		t.Fatalf("env file lost a change:\n%s", b)
	}
}

func TestReplaceIfUnchanged(t *testing.T) {
	s := newStore(t, "one")
	ctx := context.Background()
	a, err := s.Create(ctx, NewOptions{Recipe: "web", Server: "one", Domain: "blog.example.org", Sample: sample})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := s.Find("blog.example.org")
	before, _ := os.ReadFile(a.Path)
	edited := []byte(strings.Replace(string(before), "GREETING=hi", "GREETING=edited", 1))

	meanwhile := []byte(string(before) + "NEW=1\n")
	if err := os.WriteFile(a.Path, meanwhile, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceIfUnchanged(ctx, ref, before, edited); !errors.Is(err, ErrChanged) {
		t.Fatalf("a file changed meanwhile: %v, want ErrChanged", err)
	}
	if b, _ := os.ReadFile(a.Path); string(b) != string(meanwhile) {
		t.Fatalf("the other change was overwritten:\n%s", b)
	}
	if err := s.ReplaceIfUnchanged(ctx, ref, meanwhile, edited); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(a.Path); string(b) != string(edited) {
		t.Fatalf("edit not saved:\n%s", b)
	}
	if err := s.ReplaceIfUnchanged(ctx, ref, edited, []byte("NOT VALID=\n")); err == nil {
		t.Fatal("an edit that does not parse was saved")
	}
}

func TestFindIsCaseInsensitiveAndChecksTheName(t *testing.T) {
	s := newStore(t, "one")
	if _, err := s.Create(context.Background(), NewOptions{Recipe: "web", Server: "one", Domain: "blog.example.org", Sample: sample}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Find("Blog.Example.ORG"); err != nil || r.Domain != "blog.example.org" {
		t.Fatalf("Find in another case = %v, %v", r, err)
	}
	if _, err := s.Find("../one/blog.example.org"); !errors.Is(err, guard.ErrInvalid) {
		t.Fatalf("Find of a path = %v, want guard.ErrInvalid", err)
	}
}

func TestLoadChecksRecipeAndComposeFiles(t *testing.T) {
	s := newStore(t, "one")
	tests := []struct{ name, env, want string }{
		{"TYPE climbing out", "DOMAIN=x.example.org\nTYPE=../../repo\n", ":2: TYPE: invalid recipe name"},
		{"RECIPE absolute", "RECIPE=/etc\n", ":1: RECIPE: invalid recipe name"},
		{"COMPOSE_FILE climbing out", "TYPE=web\nCOMPOSE_FILE=compose.yml:../../../../etc/passwd\n", ":2: COMPOSE_FILE: invalid COMPOSE_FILE entry \"../../../../etc/passwd\""},
		{"COMPOSE_FILE absolute", "TYPE=web\nCOMPOSE_FILE=/etc/passwd\n", ":2: COMPOSE_FILE: invalid COMPOSE_FILE entry \"/etc/passwd\": an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(s.Servers().Path("one"), "x.example.org.env")
			if err := os.WriteFile(p, []byte(tt.env), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Get("x.example.org")
			if err == nil || !strings.Contains(err.Error(), p+tt.want) {
				t.Fatalf("Get = %v, want an error containing %q", err, p+tt.want)
			}
		})
	}
}
