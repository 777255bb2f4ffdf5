package recipe

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestDiffAndReset(t *testing.T) {
	r := releasedRecipe(t, "1.0.0+1.2.0")
	dir := r.Dir()
	replace(t, dir, "compose.yml", "e2e/app:1.2.0", "e2e/app:1.3.0")
	if err := os.Remove(filepath.Join(dir, ".env.sample")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, NextNotes), "notes\n", 0o644)
	writeFile(t, filepath.Join(dir, "debug.log"), "ignored\n", 0o644)

	changed, err := r.Changed()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(changed, "|"); got != " D .env.sample| M compose.yml|?? release/next" {
		t.Errorf("Changed = %q", got)
	}
	var out bytes.Buffer
	if err := r.Diff(context.Background(), &out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"-    image: 127.0.0.1:5000/e2e/app:1.2.0", "+    image: 127.0.0.1:5000/e2e/app:1.3.0", "deleted file mode", ".env.sample"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("diff lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\x1b[") {
		t.Error("colour without asking")
	}

	if err := r.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "compose.yml")); got != syncCompose {
		t.Errorf("compose.yml after reset:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ".env.sample")); err != nil {
		t.Errorf("deleted file not restored: %v", err)
	}
	if readFile(t, filepath.Join(dir, NextNotes)) != "notes\n" {
		t.Error("reset removed an untracked file")
	}
	if changed, _ := r.Changed(); strings.Join(changed, "|") != "?? release/next" {
		t.Errorf("after reset Changed = %q", changed)
	}
}

func TestFetchAll(t *testing.T) {
	recipes := t.TempDir()
	// Two recipes cloned from origins; the second origin then disappears.
	for _, name := range []string{"alpha", "beta", "gamma"} {
		origin := releasedRecipe(t, "1.0.0+1.2.0").Dir()
		runGit(t, "", "clone", "-q", origin, filepath.Join(recipes, name))
		runGit(t, origin, "tag", "-a", "-m", "new", "1.1.0+1.3.0")
		if name == "beta" {
			if err := os.RemoveAll(origin); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Mkdir(filepath.Join(recipes, "not-a-recipe"), 0o755); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	res, err := FetchAll(context.Background(), recipes, 2, func(FetchResult) { calls.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 4 || len(res) != 4 {
		t.Fatalf("%d callbacks, %d results; want 4", calls.Load(), len(res))
	}
	for _, r := range res {
		failed := r.Err != nil
		wantFail := r.Name == "beta" || r.Name == "not-a-recipe"
		if failed != wantFail {
			t.Errorf("%s: err = %v", r.Name, r.Err)
		}
		if r.Name == "beta" && !strings.Contains(r.Err.Error(), "fetch /") {
			t.Errorf("beta's error does not name its remote: %v", r.Err)
		}
		if !failed {
			if rel, err := open(t, filepath.Join(recipes, r.Name)).Latest(); err != nil || rel.Tag != "1.1.0+1.3.0" {
				t.Errorf("%s: latest after fetch = %s, %v", r.Name, rel.Tag, err)
			}
		}
	}
	if res[0].Name != "alpha" || res[3].Name != "not-a-recipe" {
		t.Errorf("results not in name order: %+v", res)
	}
}
