package recipe

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FetchResult is the outcome of fetching one recipe.
type FetchResult struct {
	Name    string
	Err     error // names the remote that failed
	Elapsed time.Duration
}

// FetchAll fetches every recipe clone under recipesDir from its origin,
// concurrency at a time (at least 1). each, when set, is called as every
// fetch finishes, one call at a time. The results come back sorted by name
// (os.ReadDir's order);
// a directory that is not a recipe clone is a failed result, not an error.
func FetchAll(ctx context.Context, recipesDir string, concurrency int, each func(FetchResult)) ([]FetchResult, error) {
	entries, err := os.ReadDir(recipesDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && e.Name()[0] != '.' {
			names = append(names, e.Name())
		}
	}
	results := make([]FetchResult, len(names))
	sem := make(chan struct{}, max(concurrency, 1))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			res := FetchResult{Name: name}
			repo, err := Open(filepath.Join(recipesDir, name))
			if err == nil {
				err = repo.Fetch(ctx)
			}
			res.Err, res.Elapsed = err, time.Since(start)
			results[i] = res
			if each != nil {
				mu.Lock()
				each(res)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return results, nil
}
