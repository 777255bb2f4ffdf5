package recipe

import (
	"fmt"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Init makes dir (holding a new recipe's files) a git repository with one
// commit of everything in it, authored as the user's global git identity.
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
	sig := &object.Signature{Name: "abra", Email: "abra@localhost", When: time.Now()}
	if cfg, err := config.LoadConfig(config.GlobalScope); err == nil && cfg.User.Name != "" {
		sig.Name, sig.Email = cfg.User.Name, cfg.User.Email
	}
	if _, err := wt.Commit(message, &git.CommitOptions{Author: sig}); err != nil {
		return nil, fmt.Errorf("git commit: %w", err)
	}
	return Open(dir)
}
