package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/swarm"
)

// Direction says whether a version change goes up (upgrade) or down (rollback).
type Direction int

// Directions of a version change.
const (
	Up Direction = iota
	Down
)

func (d Direction) verb() string {
	if d == Up {
		return "upgrade"
	}
	return "rollback"
}

// ErrNoCandidates is returned when no version lies in the asked direction.
var ErrNoCandidates = errors.New("no version to change to")

// Candidates are the releases above (Up) or below (Down) the current version,
// nearest first for Down and in ascending order for Up.
func Candidates(rels []recipe.Release, current string, dir Direction) ([]recipe.Release, error) {
	cur, err := recipe.ParseVersion(current)
	if err != nil {
		return nil, fmt.Errorf("deployed version: %w", err)
	}
	var out []recipe.Release
	for _, r := range rels {
		c := r.Version.Compare(cur)
		if dir == Up && c > 0 || dir == Down && c < 0 {
			out = append(out, r)
		}
	}
	if dir == Down {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	if len(out) == 0 {
		return nil, hint.With(fmt.Errorf("%w: %s is the %s version", ErrNoCandidates, current, map[Direction]string{Up: "newest", Down: "oldest"}[dir]),
			"fetch new versions with 'abra recipe fetch <recipe>'")
	}
	return out, nil
}

// Pick chooses the target among candidates: the named version, else the
// newest (Up) or the nearest older one (Down).
func Pick(cands []recipe.Release, want string, dir Direction) (recipe.Release, error) {
	if want == "" {
		if dir == Up {
			return cands[len(cands)-1], nil
		}
		return cands[0], nil
	}
	var tags []string
	for _, c := range cands {
		if c.Tag == want {
			return c, nil
		}
		tags = append(tags, c.Tag)
	}
	return recipe.Release{}, hint.With(fmt.Errorf("%s to %s: not a candidate (candidates: %s)", dir.verb(), want, strings.Join(tags, ", ")),
		map[Direction]string{Up: "to go down, use 'abra app rollback'", Down: "to go up, use 'abra app upgrade'"}[dir])
}

// Note is a version's release notes.
type Note struct {
	Version string `json:"version"`
	Text    string `json:"text"`
}

// ReleaseNotes reads release/<version> from a recipe checkout for every
// version between current (exclusive) and target (inclusive), in order.
func ReleaseNotes(dir string, cands []recipe.Release, target recipe.Release, d Direction) []Note {
	var notes []Note
	for _, c := range cands {
		if d == Up && c.Version.Compare(target.Version) > 0 {
			continue
		}
		if d == Down && c.Version.Compare(target.Version) < 0 {
			continue
		}
		b, err := guard.ReadFile(dir, filepath.Join("release", c.Tag))
		if err != nil {
			continue
		}
		notes = append(notes, Note{Version: c.Tag, Text: strings.TrimSpace(string(b))})
	}
	return notes
}

// MajorChange reports whether the recipe part's major version differs.
func MajorChange(current string, target recipe.Release) bool {
	cur, err := recipe.ParseVersion(current)
	if err != nil || cur.Recipe() == nil || target.Version.Recipe() == nil {
		return false
	}
	return cur.Recipe().Major() != target.Version.Recipe().Major()
}

// VersionChange is the plan of an upgrade or a rollback: the release the
// server runs, the releases in that direction and the one chosen.
type VersionChange struct {
	Current    string
	Candidates []recipe.Release
	Target     recipe.Release
}

// PlanVersionChange chooses the target of an upgrade (Up) or a rollback
// (Down) of a deployed app among the releases of its recipe's clone (want:
// a named version, "" for the newest or the previous one). It fetches
// nothing: a front end fetches first if it may.
func (s Store) PlanVersionChange(ctx context.Context, c swarm.Cluster, a *App, dir Direction, want string) (VersionChange, error) {
	verb := dir.verb()
	repo, err := s.AppRecipe(a)
	if err != nil {
		return VersionChange{}, err
	}
	if want != "" { // a version that does not exist is refused before the server is asked
		if _, err := repo.Find(want); err != nil {
			return VersionChange{}, hint.With(fmt.Errorf("%s %s: recipe %s: %w", verb, a.Domain, a.Recipe(), err), "list versions with 'abra recipe versions "+a.Recipe()+"'")
		}
	}
	st, err := DeployedState(ctx, c, a.StackName())
	if err != nil {
		return VersionChange{}, err
	}
	if !st.Deployed {
		return VersionChange{}, hint.With(fmt.Errorf("%s %s: %w", verb, a.Domain, ErrNotDeployed), "deploy it first with 'abra app deploy "+a.Domain+"'")
	}
	vc := VersionChange{Current: st.Release(a)}
	if vc.Current == "" {
		return VersionChange{}, hint.With(fmt.Errorf("%s %s: the deployed version is unknown (chaos deploy without a pinned version)", verb, a.Domain),
			"deploy a release with 'abra app deploy "+a.Domain+" <version>'")
	}
	rels, err := repo.Versions()
	if err != nil {
		return VersionChange{}, err
	}
	if vc.Candidates, err = Candidates(rels, vc.Current, dir); err != nil {
		return VersionChange{}, err
	}
	vc.Target, err = Pick(vc.Candidates, want, dir)
	return vc, err
}
