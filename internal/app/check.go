package app

import (
	"context"
	"fmt"
	"slices"

	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/guard"
)

// MissingKeys are the keys of the recipe's .env.sample at version ("" for
// the work tree with chaos, else the pinned one) that the app's env file
// lacks ('abra app check'; the dashboard asks about the newest release).
func (s Store) MissingKeys(ctx context.Context, a *App, version string, chaos bool) ([]string, error) {
	src, err := s.CheckoutApp(ctx, a, version, chaos)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return MissingSampleKeys(a, src)
}

// MissingSampleKeys are the keys of src's .env.sample the app's env file lacks.
func MissingSampleKeys(a *App, src *Source) ([]string, error) {
	data, err := guard.ReadFile(src.Dir, ".env.sample")
	if err != nil {
		return nil, fmt.Errorf("recipe %s: %w", a.Recipe(), err)
	}
	sample, err := envfile.Parse(a.Recipe()+"/.env.sample", data)
	if err != nil {
		return nil, err
	}
	missing := []string{}
	have := a.Env.Keys()
	// TYPE and RECIPE are two names of one key: an env file with RECIPE=
	// does not miss the sample's TYPE=, nor the other way round.
	if slices.Contains(have, "TYPE") || slices.Contains(have, "RECIPE") {
		have = append(have, "TYPE", "RECIPE")
	}
	for _, k := range sample.Keys() {
		if !slices.Contains(have, k) {
			missing = append(missing, k)
		}
	}
	return missing, nil
}
