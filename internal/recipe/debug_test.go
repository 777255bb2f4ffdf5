package recipe

import (
	"fmt"
	"path/filepath"
	"testing"
)

func TestDebugStatus(t *testing.T) {
	fx := newFixture(t)
	r := open(t, fx.dir)
	writeFile(t, filepath.Join(fx.dir, ".git", "info", "exclude"), "scratch/\n", 0o644)
	wt, _ := r.repo.Worktree()
	f, err := wt.Filesystem.Open(".git/info/exclude")
	fmt.Printf("%T %v %v\n", wt.Filesystem, f, err)
}
