package catalogue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
)

// catalogueRemote makes a bare catalogue repository holding c, and returns
// its path.
func catalogueRemote(t *testing.T, c Catalogue) string {
	t.Helper()
	root := t.TempDir()
	seed := filepath.Join(root, "seed")
	r, err := git.PlainInitWithOptions(seed, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(filepath.Join(seed, FileName)); err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	if _, err := wt.Add(FileName); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit("catalogue", &git.CommitOptions{Author: testSig, Committer: testSig}); err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(root, "catalogue.git")
	if _, err := git.PlainClone(bare, true, &git.CloneOptions{URL: seed}); err != nil {
		t.Fatal(err)
	}
	return bare
}

func TestLocalSyncClonesUpdatesAndPublishes(t *testing.T) {
	ctx := context.Background()
	remote := catalogueRemote(t, Catalogue{"a": {Name: "a", Versions: Versions{}}})
	mine := Local{Dir: filepath.Join(t.TempDir(), "catalogue"), URL: remote}
	if err := mine.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := mine.Read()
	if err != nil || len(c) != 1 {
		t.Fatalf("after clone: %v, %v", c, err)
	}

	// Someone else publishes; our Sync fast-forwards to it.
	theirs := Local{Dir: filepath.Join(t.TempDir(), "catalogue"), URL: remote}
	if err := theirs.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := theirs.Publish(ctx, "same"); !errors.Is(err, ErrNothingToPublish) {
		t.Errorf("publish without change: %v", err)
	}
	c["b"] = RecipeMeta{Name: "b", Versions: Versions{}}
	if err := c.Write(theirs.Path()); err != nil {
		t.Fatal(err)
	}
	commit, err := theirs.Publish(ctx, "add b")
	if err != nil {
		t.Fatal(err)
	}
	if head := remoteHead(t, remote); head != commit {
		t.Errorf("remote main at %s, published %s", head, commit)
	}
	if err := mine.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := mine.Read(); len(c) != 2 {
		t.Errorf("after sync: %v", c.Names())
	}
}

func remoteHead(t *testing.T, bare string) string {
	t.Helper()
	r, err := git.PlainOpen(bare)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.Reference("refs/heads/main", true)
	if err != nil {
		t.Fatal(err)
	}
	return ref.Hash().String()
}

func TestLocalSyncUnreachableRemoteKeepsLocalCopy(t *testing.T) {
	ctx := context.Background()
	remote := catalogueRemote(t, Catalogue{"a": {Name: "a", Versions: Versions{}}})
	l := Local{Dir: filepath.Join(t.TempDir(), "catalogue"), URL: remote}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(l.Path())
	if err := os.Rename(remote, remote+".away"); err != nil {
		t.Fatal(err)
	}
	err := l.Sync(ctx)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), remote) {
		t.Fatalf("err = %v, want a RemoteError naming %s", err, remote)
	}
	after, _ := os.ReadFile(l.Path())
	if !bytes.Equal(before, after) {
		t.Error("local copy changed")
	}

	// No local copy at all: the clone fails naming the remote, and leaves nothing behind.
	fresh := Local{Dir: filepath.Join(t.TempDir(), "catalogue"), URL: remote}
	if err := fresh.Sync(ctx); !errors.As(err, &re) || re.Op != "clone" || re.URL != remote {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(fresh.Dir); !os.IsNotExist(err) {
		t.Errorf("failed clone left %s", fresh.Dir)
	}
}

func TestLocalInitThenPublishToEmptyRemote(t *testing.T) {
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "catalogue.git")
	if _, err := git.PlainInit(bare, true); err != nil {
		t.Fatal(err)
	}
	l := Local{Dir: filepath.Join(t.TempDir(), "catalogue"), URL: bare}
	if err := l.Sync(ctx); err == nil {
		t.Fatal("cloning an empty remote succeeded")
	}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	if err := (Catalogue{"a": {Name: "a", Versions: Versions{}}}).Write(l.Path()); err != nil {
		t.Fatal(err)
	}
	commit, err := l.Publish(ctx, "first catalogue")
	if err != nil {
		t.Fatal(err)
	}
	if head := remoteHead(t, bare); head != commit {
		t.Errorf("remote main %s, want %s", head, commit)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{}
	c := ConfigFromEnv(func(k string) string { return env[k] })
	if c.URL != DefaultURL || c.RecipeURL("wordpress") != "https://git.coopcloud.tech/coop-cloud/wordpress.git" {
		t.Errorf("defaults %+v", c)
	}
	env["ABRA_CATALOGUE_URL"] = "/srv/git/catalogue.git"
	env["ABRA_RECIPE_BASE_URL"] = "/srv/git/"
	c = ConfigFromEnv(func(k string) string { return env[k] })
	if c.URL != "/srv/git/catalogue.git" || c.RecipeURL("demo") != "/srv/git/demo.git" {
		t.Errorf("from env %+v", c)
	}
}
