package ci

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/secret"
	"coopcloud.tech/abra/internal/server"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/update"
)

// Options say what a CI run deploys and what it does around the deploy.
type Options struct {
	// Version is a release of the checkout (its tag). Empty: the checkout's
	// HEAD commit, exported as it was committed (a chaos deploy labelled
	// with the commit; uncommitted changes are not deployed).
	Version string
	// WorkTree deploys the work tree as it is, uncommitted changes included
	// (labelled commit+U when dirty), as `abra app deploy --chaos` does.
	WorkTree bool
	// GenerateSecrets creates the app's missing secrets (values are never
	// shown, nor kept anywhere but on the server).
	GenerateSecrets bool
	// Networks are external networks to create (overlay, attachable) when
	// the server lacks them.
	Networks []string
	// Purge removes the app after it converged: its services, volumes,
	// secrets and records (review apps, smoke tests).
	Purge bool

	NoDomainChecks bool
	Offline        bool
	LockWait       time.Duration // default 10 minutes
	Timeout        time.Duration // convergence; default the recipe's label, else 5 minutes
	Actor          string        // who deploys, in the env record
}

// Result says what a CI run did; Outcome is what the server runs now.
type Result struct {
	App      string
	Server   string
	Stack    string
	Recipe   string
	Version  string // the release deployed ("" for a commit or work tree)
	Commit   string // the commit deployed (full hash)
	Chaos    string // the chaos label (commit, +U when dirty), for commit and work tree deploys
	Outcome  Outcome
	Services []stack.ServiceStatus
	Secrets  []string // secrets generated (names, never values)
	Networks []string // networks created
	Purged   bool
	Warnings []string
}

// Deploy deploys the workspace's app to the cluster. Secrets and networks
// are made only after a dry run of the deploy passed, so a run refused for
// its input, its recipe (lint, compose) or the server (not a manager)
// changes nothing. The returned error's Outcome is also in the result.
func Deploy(ctx context.Context, w *Workspace, c swarm.Cluster, o Options, obs step.Observer) (*Result, error) {
	a := w.App
	res := &Result{App: a.Domain, Server: a.Server, Stack: a.StackName(), Recipe: a.Recipe()}
	err := deploy(ctx, w, c, o, obs, res)
	res.Outcome = OutcomeOf(ctx, err)
	return res, err
}

func deploy(ctx context.Context, w *Workspace, c swarm.Cluster, o Options, obs step.Observer, res *Result) error {
	a := w.App
	do := app.DeployOptions{
		Version: o.Version, Chaos: o.WorkTree, NoDomainChecks: o.NoDomainChecks, Offline: o.Offline,
		Timeout: o.Timeout, IgnoreEnvVersion: true,
		// CI says what the server must run: the same release again is
		// deployed again (swarm leaves unchanged services alone).
		Force: o.Version != "",
	}
	switch {
	case o.Version != "" && o.WorkTree:
		return Refuse(errors.New("a release (--version) and the work tree (--work-tree) exclude each other"))
	case o.Version != "":
		if err := guard.Version(o.Version); err != nil {
			return Refuse(err)
		}
	case !o.WorkTree:
		repo, err := w.Store.OpenRecipe(a.Recipe())
		if err != nil {
			return Refuse(err)
		}
		commit, dirty, err := repo.Head()
		if err != nil {
			return Refuse(err)
		}
		do.Commit = commit
		if dirty {
			note(obs, "check out recipe", "the checkout has uncommitted changes: they are not deployed (the work tree is, with --work-tree)")
		}
	}
	for _, n := range o.Networks {
		if err := guard.NetworkName(n); err != nil {
			return Refuse(err)
		}
	}
	d := &app.Deployer{Store: w.Store, Cluster: c, Observer: obs, LockWait: o.LockWait, Actor: o.Actor}
	if o.GenerateSecrets || len(o.Networks) > 0 {
		dry := do
		dry.DryRun = true
		pre := &app.Deployer{Store: w.Store, Cluster: c, Observer: step.Discard{}}
		if _, err := pre.Deploy(ctx, a, dry); err != nil && !preparedBy(err, o) {
			return Refuse(err)
		}
		if err := step.Run(ctx, obs, step.Step{Name: "prepare server", Run: func(ctx context.Context) error {
			var err error
			if res.Networks, err = ensureNetworks(ctx, c, o.Networks); err != nil {
				return err
			}
			if o.GenerateSecrets {
				res.Secrets, err = generateSecrets(ctx, w, c, do)
			}
			for _, n := range res.Networks {
				note(obs, "prepare server", "created network %s", n)
			}
			for _, s := range res.Secrets {
				note(obs, "prepare server", "generated secret %s", s)
			}
			return err
		}}); err != nil {
			return err
		}
	}
	dr, err := d.Deploy(ctx, a, do)
	if dr != nil {
		res.Version, res.Chaos, res.Services, res.Warnings = dr.Version, dr.Chaos, dr.Services, dr.Warnings
	}
	res.Commit = deployedCommit(w, a, o, do.Commit)
	if err != nil || !o.Purge {
		return err
	}
	return step.Run(ctx, obs, step.Step{Name: "purge", Run: func(ctx context.Context) error {
		if err := Purge(ctx, c, a); err != nil {
			return err
		}
		res.Purged = true
		return nil
	}})
}

// preparedBy reports whether a dry run's error is what preparing the server
// fixes: secrets that will be generated, networks that will be created.
func preparedBy(err error, o Options) bool {
	var secrets *stack.MissingSecretsError
	var network *stack.MissingNetworkError
	return o.GenerateSecrets && errors.As(err, &secrets) ||
		errors.As(err, &network) && slices.Contains(o.Networks, network.Name)
}

// deployedCommit is the full hash of what was deployed.
func deployedCommit(w *Workspace, a *app.App, o Options, commit string) string {
	if commit != "" {
		return commit
	}
	repo, err := w.Store.OpenRecipe(a.Recipe())
	if err != nil {
		return ""
	}
	if o.Version != "" {
		if rel, err := repo.Find(o.Version); err == nil {
			return rel.Commit
		}
		return ""
	}
	head, _, _ := repo.Head()
	return head
}

// ensureNetworks creates the networks the server lacks, as `abra server add
// --init` creates proxy: overlay, swarm scope, attachable.
func ensureNetworks(ctx context.Context, c swarm.Cluster, names []string) ([]string, error) {
	var made []string
	for _, n := range names {
		_, err := c.InspectNetwork(ctx, n)
		if err == nil {
			continue
		}
		if !errors.Is(err, swarm.ErrNotFound) {
			return made, fmt.Errorf("network %s: %w", n, err)
		}
		if err := c.CreateNetwork(ctx, n, swarm.NetworkSpec{Driver: "overlay", Scope: "swarm", Attachable: true}); err != nil {
			return made, fmt.Errorf("create network %s: %w", n, err)
		}
		made = append(made, n)
	}
	return made, nil
}

// generateSecrets creates the secrets of the deployed source that are
// missing, as `abra app secret generate --all` does, and returns their
// names. Secrets marked generate=false are the operator's to insert.
func generateSecrets(ctx context.Context, w *Workspace, c swarm.Cluster, do app.DeployOptions) ([]string, error) {
	a := w.App
	var (
		src *app.Source
		err error
	)
	switch {
	case do.Commit != "":
		src, err = w.Store.CheckoutAppCommit(ctx, a, do.Commit)
	default:
		src, err = w.Store.CheckoutApp(ctx, a, do.Version, do.Chaos)
	}
	if err != nil {
		return nil, err
	}
	defer src.Close()
	secrets, err := app.SourceSecrets(ctx, c, a, src)
	if err != nil {
		return nil, err
	}
	var made []string
	for _, s := range secrets {
		if s.Exists || !s.Generate {
			continue
		}
		value, err := secret.Value(s)
		if err == nil {
			err = secret.Create(ctx, c, a.StackName(), s, value)
		}
		if err != nil {
			return made, fmt.Errorf("secret %s: %w", s.Name, err)
		}
		made = append(made, s.Name)
	}
	return made, nil
}

// Purge removes the app from the server: services, configs and networks
// (undeploy), then its volumes and secrets, and its upgrade records.
func Purge(ctx context.Context, c swarm.Cluster, a *app.App) error {
	if err := app.Undeploy(ctx, c, a, nil); err != nil && !errors.Is(err, app.ErrNotDeployed) {
		return err
	}
	left, err := app.FindLeftovers(ctx, c, a)
	if err != nil {
		return err
	}
	if err := app.Remove(ctx, c, a, left); err != nil {
		return err
	}
	_, err = (update.Records{Cluster: c}).Forget(ctx, a.StackName())
	return err
}

func note(obs step.Observer, stepName, format string, args ...any) {
	if obs != nil {
		obs.Note(stepName, fmt.Sprintf(format, args...))
	}
}

// Outcome is what a CI run left on the server, for CI to branch on.
type Outcome string

// The outcomes, from best to worst.
const (
	// Converged: the app runs what was deployed (and was purged, if asked).
	Converged Outcome = "converged"
	// Refused: the run stopped before changing anything on the server (bad
	// input, unknown host key, authentication, unreachable, lint, compose,
	// not a manager, missing secrets or networks).
	Refused Outcome = "refused"
	// LockTimeout: another deploy held the app's lock for longer than the
	// lock wait; nothing was changed.
	LockTimeout Outcome = "lock_timeout"
	// RolledBack: the deploy did not converge and the previous version was
	// put back and runs again.
	RolledBack Outcome = "rolled_back"
	// RollbackFailed: the deploy did not converge and no good version runs:
	// putting the previous one back failed, or there was none (a first
	// deploy, left as it is for inspection).
	RollbackFailed Outcome = "rollback_failed"
	// Failed: the run failed after it started changing the server, in a way
	// that says nothing more (connection lost, post-deploy command, purge).
	Failed Outcome = "failed"
	// Interrupted: the run was cancelled (SIGINT, SIGTERM).
	Interrupted Outcome = "interrupted"
)

// ErrRefused is matched (errors.Is) by errors that Refuse marks.
var ErrRefused = errors.New("refused")

type refusedError struct{ err error }

func (e *refusedError) Error() string        { return e.err.Error() }
func (e *refusedError) Unwrap() error        { return e.err }
func (e *refusedError) Is(target error) bool { return target == ErrRefused }

// Refuse marks an error as stopping the run before anything on the server
// changed (nil stays nil).
func Refuse(err error) error {
	if err == nil {
		return nil
	}
	return &refusedError{err: err}
}

// OutcomeOf classifies a CI run's error.
func OutcomeOf(ctx context.Context, err error) Outcome {
	var conn *swarm.ConnectError
	switch {
	case err == nil:
		return Converged
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return Interrupted
	case errors.Is(err, app.ErrLocked):
		return LockTimeout
	case errors.Is(err, app.ErrRolledBack):
		return RolledBack
	case errors.Is(err, stack.ErrNotConverged):
		return RollbackFailed
	case errors.Is(err, ErrRefused), app.ChangedNothing(err), errors.As(err, &conn), errors.Is(err, server.ErrUnknown):
		return Refused
	}
	return Failed
}
