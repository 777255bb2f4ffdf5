package app

import (
	"context"
	"errors"

	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/secret"
	"coopcloud.tech/abra/internal/swarm"
)

// Secrets lists the app's secrets, as declared by its recipe at the pinned
// version (the work tree with chaos, or when nothing is released), marking
// those that exist on the server.
func Secrets(ctx context.Context, store Store, c swarm.Cluster, a *App, chaos bool) ([]secret.Secret, error) {
	if !chaos && a.PinnedVersion() == "" {
		repo, err := store.AppRecipe(a)
		if err != nil {
			return nil, err
		}
		if _, err := repo.Latest(); errors.Is(err, recipe.ErrNoReleases) {
			chaos = true
		}
	}
	src, err := store.CheckoutApp(ctx, a, a.PinnedVersion(), chaos)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return SourceSecrets(ctx, c, a, src)
}

// SourceSecrets lists the app's secrets as the source declares them, marking
// those that exist on the server.
func SourceSecrets(ctx context.Context, c swarm.Cluster, a *App, src *Source) ([]secret.Secret, error) {
	loaded, err := LoadCompose(a, src)
	if err != nil {
		return nil, err
	}
	secrets, err := secret.FromConfig(loaded.Config, a.Env)
	if err != nil {
		return nil, err
	}
	if err := secret.MarkExisting(ctx, c, secrets); err != nil {
		return nil, err
	}
	return secrets, nil
}
