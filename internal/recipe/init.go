package recipe

import (
	"fmt"
	"time"

	git "github.com/go-git/go-git/v5"
)

// Init makes dir (holding a new recipe's files) a git repository with one
// commit of everything in it, authored as the user's git identity (Signature).
func Init(dir, message string) (*Repo, error) {
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"},
	})
	if err != nil {
		return nil, fmt.Errorf("git init %s: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	if err := wt.AddGlob("."); err != nil {
		return nil, fmt.Errorf("git add: %w", err)
	}
	if _, err := wt.Commit(message, &git.CommitOptions{Author: Signature(repo, time.Now())}); err != nil {
		return nil, fmt.Errorf("git commit: %w", err)
	}
	return Open(dir)
}
