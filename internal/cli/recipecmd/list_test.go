package recipecmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"coopcloud.tech/abra/internal/cli/command"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/ui"
)

// catalogueFixture is Co-op Cloud-shaped recipes.json test data.
var catalogueFixture = filepath.Join("..", "..", "catalogue", "testdata", "recipes.json")

// catalogueRemote makes a git repository holding content as recipes.json.
func catalogueRemote(t *testing.T, content []byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "catalogue")
	r, err := gogit.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "recipes.json"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	if _, err := wt.Add("recipes.json"); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "t", Email: "t@example.org", When: time.Unix(1700000000, 0)}
	if _, err := wt.Commit("catalogue", &gogit.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runListFor(t *testing.T, abraDir, remote string, offline bool, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	f := &command.Factory{IO: ui.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, AbraDir: abraDir, Offline: offline}
	cmd := newListCmd(f, func(ctx context.Context, o *listOptions) error {
		o.getenv = func(k string) string {
			if k == "ABRA_CATALOGUE_URL" {
				return remote
			}
			return ""
		}
		return runList(ctx, o)
	})
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.Execute()
	return out.String(), errb.String(), err
}

func TestListJSONRoundTrips(t *testing.T) {
	want, err := os.ReadFile(catalogueFixture)
	if err != nil {
		t.Fatal(err)
	}
	remote := catalogueRemote(t, want)
	abraDir := t.TempDir()
	out, stderr, err := runListFor(t, abraDir, remote, false, "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if out != string(want) {
		t.Errorf("recipe ls --json differs from recipes.json:\n%s", out)
	}
	local, _ := os.ReadFile(filepath.Join(abraDir, "catalogue", "recipes.json"))
	if !bytes.Equal(local, want) {
		t.Error("local copy differs from the remote's")
	}
}

func TestListTableAndPattern(t *testing.T) {
	content, _ := os.ReadFile(catalogueFixture)
	remote := catalogueRemote(t, content)
	out, _, err := runListFor(t, t.TempDir(), remote, false, "--pattern", "html")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(out)
	want := []string{"custom-html", "Apps", "3", "Yes", "Yes", "N/A", "No", "N/A", "0.2.0+1.27.0"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("table = %q, want %q", out, want)
	}
}

func TestListOfflineAndUnreachable(t *testing.T) {
	content, _ := os.ReadFile(catalogueFixture)
	remote := catalogueRemote(t, content)
	abraDir := t.TempDir()
	if _, _, err := runListFor(t, abraDir, remote, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(remote, remote+".away"); err != nil {
		t.Fatal(err)
	}
	// Offline: the local copy, without a word about the remote.
	out, stderr, err := runListFor(t, abraDir, remote, true, "--json")
	if err != nil || out != string(content) || stderr != "" {
		t.Errorf("offline: %v, stderr %q", err, stderr)
	}
	// Online, remote gone: the local copy, with a warning naming the remote.
	out, stderr, err = runListFor(t, abraDir, remote, false, "--json")
	if err != nil || out != string(content) || !strings.Contains(stderr, "warning: catalogue: fetch "+remote) {
		t.Errorf("unreachable: %v, stderr %q", err, stderr)
	}
	// No local copy and the remote gone: an error naming it, with a hint.
	_, _, err = runListFor(t, t.TempDir(), remote, false)
	if err == nil || !strings.Contains(err.Error(), "clone "+remote) || !strings.Contains(hint.Of(err), "ABRA_CATALOGUE_URL") {
		t.Errorf("no copy: %v (hint %q)", err, hint.Of(err))
	}
}
