package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	composetypes "github.com/docker/cli/cli/compose/types"

	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/recipe/lint"
	"coopcloud.tech/abra/internal/server"
	"coopcloud.tech/abra/internal/stack"
	"coopcloud.tech/abra/internal/step"
	"coopcloud.tech/abra/internal/swarm"
)

// ErrAlreadyDeployed is returned when deploying the version that already runs.
var ErrAlreadyDeployed = errors.New("already deployed")

// ErrNotDeployed is returned by operations that need a deployed app.
var ErrNotDeployed = errors.New("not deployed")

// DefaultTimeout is how long a deploy waits for convergence without a
// coop-cloud.<stack>.timeout label. Generous: slow healthchecks are common.
const DefaultTimeout = 300 * time.Second

// DeployOptions are the choices of `abra app deploy`.
type DeployOptions struct {
	Version          string // explicit version; "" means pinned, else latest
	Chaos            bool   // deploy the recipe's work tree as it is
	Commit           string // deploy this commit of the recipe's clone (a chaos deploy that leaves the work tree alone)
	Force            bool   // redeploy the same version
	IgnoreEnvVersion bool   // ignore the version pinned in the env file
	NoConvergeChecks bool   // do not wait for the services to converge
	NoDomainChecks   bool   // do not check that the domain resolves to the server
	DryRun           bool   // only compute what would change
	Upgrade          bool   // run POST_UPGRADE_CMDS instead of POST_DEPLOY_CMDS
	Offline          bool   // do not ask the registry for image digests
	// Timeout bounds the wait for convergence; 0 means the
	// coop-cloud.<stack>.timeout label, else DefaultTimeout.
	Timeout time.Duration
}

// DeployResult says what was deployed.
type DeployResult struct {
	App      string
	Stack    string
	Recipe   string
	Version  string // release deployed, or "" for chaos
	Chaos    string // chaos version (commit[+U]) when chaos
	Services []stack.ServiceStatus
	Warnings []string
	Plan     []stack.Change // with DryRun: what would change
}

// Deployer deploys apps to one server's cluster.
type Deployer struct {
	Store    Store
	Cluster  swarm.Cluster
	Observer step.Observer
	unlock   func()
	Resolver Resolver // nil: net.DefaultResolver
	// LockWait is how long to wait for another abra working on the same app
	// (default 10 minutes).
	LockWait time.Duration
	// Locked says the caller already holds the app's lock (the update
	// pipeline holds it from the backup to the verification).
	Locked bool
	// Actor names who deploys in the env record (default: Holder()).
	Actor string
	// NoNodeGrace is how long a task may wait for a node no ready node
	// satisfies the constraints of before the deploy fails (stack.WaitOptions).
	NoNodeGrace time.Duration
}

func (d *Deployer) note(stepName, format string, args ...any) {
	if d.Observer != nil {
		d.Observer.Note(stepName, fmt.Sprintf(format, args...))
	}
}

// Deploy deploys the app at the chosen version and waits until it converged.
func (d *Deployer) Deploy(ctx context.Context, a *App, o DeployOptions) (*DeployResult, error) {
	res := &DeployResult{App: a.Domain, Stack: a.StackName(), Recipe: a.Recipe()}
	if err := d.Store.StackConflict(a.Server, a.Domain); err != nil {
		return res, err
	}
	var (
		src     *Source
		loaded  *stack.Loaded
		spec    *stack.Spec
		ids     []string
		snap    stack.Snapshot
		timeout = DefaultTimeout
	)
	defer func() {
		if src != nil {
			src.Close()
		}
	}()
	steps := []step.Step{
		{Name: "check out recipe", Run: func(ctx context.Context) error {
			version := o.Version
			if version == "" && !o.IgnoreEnvVersion {
				version = a.PinnedVersion()
			}
			var err error
			if o.Commit != "" {
				src, err = d.Store.CheckoutAppCommit(ctx, a, o.Commit)
			} else {
				src, err = d.Store.CheckoutApp(ctx, a, version, o.Chaos)
			}
			if err != nil {
				return err
			}
			res.Version = src.Version
			if src.Chaos {
				res.Chaos = src.ChaosVersion()
				where := "work tree"
				if o.Commit != "" {
					where = "commit"
				}
				d.note("check out recipe", "%s %s at %s (chaos)", src.Recipe, where, res.Chaos)
			} else {
				d.note("check out recipe", "%s %s", src.Recipe, src.Version)
			}
			return nil
		}},
		{Name: "lint recipe", Run: func(ctx context.Context) error {
			if src.Chaos {
				return nil // the work tree is the maintainer's business
			}
			warnings, err := lintRelease(ctx, d.Store, a, src)
			for _, w := range warnings {
				d.note("lint recipe", "warning: %s (this abra's rule: 'abra recipe lint %s' refuses it, a deploy goes on)", w, src.Recipe)
				res.Warnings = append(res.Warnings, "lint: "+w)
			}
			return err
		}},
		{Name: "load compose files", Run: func(ctx context.Context) error {
			var err error
			loaded, err = LoadCompose(a, src)
			if err != nil {
				return err
			}
			res.Warnings = loaded.Warnings
			for _, w := range loaded.Warnings {
				d.note("load compose files", "warning: %s", w)
			}
			policy, err := PolicyLabels(a)
			if err != nil {
				return err
			}
			if err := CheckJobs(a, src, loaded.Config); err != nil {
				return err
			}
			setAbraLabels(loaded.Config, a, src, policy)
			timeout = stackTimeout(loaded.Config, a.StackName())
			if o.Timeout > 0 {
				timeout = o.Timeout
			}
			spec, err = stack.Plan(a.StackName(), loaded.Config)
			return err
		}},
		{Name: "check server", Run: func(ctx context.Context) error {
			if err := CheckManager(ctx, d.Cluster, a.Server); err != nil {
				return err
			}
			if !o.NoDomainChecks && !o.Offline {
				var r Resolver = net.DefaultResolver
				if d.Resolver != nil {
					r = d.Resolver
				}
				if err := CheckDomain(ctx, r, a.Domain, a.Server); err != nil {
					return err
				}
			}
			if o.Chaos || o.Commit != "" || (o.Force && o.Version != "") {
				return nil
			}
			deployed, err := DeployedState(ctx, d.Cluster, a.StackName())
			if err != nil {
				return err
			}
			if !o.Force && o.Version == "" && !o.IgnoreEnvVersion {
				if err := d.checkDowngrade(ctx, a, deployed, src.Version); err != nil {
					return err
				}
			}
			if o.Force || o.DryRun {
				return nil
			}
			if deployed.Deployed && !deployed.Chaos && deployed.Version == src.Version {
				return hint.With(fmt.Errorf("%w: %s runs %s %s", ErrAlreadyDeployed, a.Domain, a.Recipe(), src.Version),
					"pass --force to deploy it again, or name another version")
			}
			return nil
		}},
	}
	if o.DryRun {
		steps = append(steps, step.Step{Name: "plan", Run: func(ctx context.Context) error {
			var err error
			res.Plan, err = stack.Diff(ctx, d.Cluster, spec, false)
			return explainApplyError(err, a)
		}})
		return res, step.Run(ctx, d.Observer, steps...)
	}
	if !d.Locked {
		steps = append(steps, d.lockStep(a))
	}
	steps = append(steps, []step.Step{
		{Name: "apply stack", Run: func(ctx context.Context) error {
			var err error
			if snap, err = stack.TakeSnapshot(ctx, d.Cluster, a.StackName()); err != nil {
				return err
			}
			ids, err = stack.Apply(ctx, d.Cluster, spec, stack.DeployOptions{QueryRegistry: !o.Offline, JobWait: timeout}, func(e stack.Event) {
				if e.Action == "warn" {
					d.note("apply stack", "warning: %s: %s", e.Name, strings.Join(strings.Fields(e.Detail), " "))
					return
				}
				if e.Detail != "" { // a scheduled job's replicas kept, or waited for
					d.note("apply stack", "%s %s %s: %s", e.Action, e.Kind, e.Name, e.Detail)
					return
				}
				d.note("apply stack", "%s %s %s", e.Action, e.Kind, e.Name)
			})
			return explainApplyError(err, a)
		}},
	}...)
	if !o.NoConvergeChecks {
		steps = append(steps, step.Step{Name: "wait for convergence", Run: func(ctx context.Context) error {
			d.note("wait for convergence", "timeout %s", timeout)
			err := d.wait(ctx, a, ids, stack.WaitOptions{Timeout: timeout, Before: snap}, res)
			var nc *stack.NotConvergedError
			if !errors.As(err, &nc) {
				return err
			}
			d.noteLogs(ctx, a, nc.Services)
			if !snap.Existed() {
				if r := placementRemedy(err); r != "" {
					return hint.With(err, r+fmt.Sprintf("; remove what was created with 'abra app undeploy %s'", a.Domain))
				}
				return hint.With(err, fmt.Sprintf("inspect with 'abra app ps %s' and 'abra app logs %s'; remove what was created with 'abra app undeploy %s'", a.Domain, a.Domain, a.Domain))
			}
			return d.restore(ctx, a, snap, timeout, err, res)
		}})
	}
	steps = append(steps, step.Step{Name: "record version", Run: func(ctx context.Context) error {
		if !src.Chaos && a.PinnedVersion() != src.Version {
			// Under the env-file lock, on the file as it is now: an edit made
			// while the deploy ran is kept.
			if err := d.Store.Update(ctx, a, func(env *envfile.File) error {
				return (&App{Env: env}).Pin(src.Version)
			}); err != nil {
				// The env file is replaced atomically: it still pins what it did.
				return hint.With(fmt.Errorf("%s runs %s, but the env file still pins %s: %w", a.Domain, src.Version, cmp.Or(a.PinnedVersion(), "no version"), err),
					fmt.Sprintf("fix the cause (disk space, permissions), then record the running version with 'abra app sync %s'", a.Domain))
			}
		}
		// The server keeps what was deployed, for the update agent.
		actor := cmp.Or(d.Actor, Holder())
		return SaveEnvRecord(ctx, d.Cluster, a, src.Remote, actor)
	}})
	postKey := "POST_DEPLOY_CMDS"
	if o.Upgrade {
		postKey = "POST_UPGRADE_CMDS"
	}
	if cmds, _ := a.Env.Get(postKey); strings.TrimSpace(cmds) != "" && !o.NoConvergeChecks {
		steps = append(steps, step.Step{Name: "run " + postKey, Run: func(ctx context.Context) error {
			return d.postCommands(ctx, a, src, postKey, cmds)
		}})
	}
	err := step.Run(ctx, d.Observer, steps...)
	if d.unlock != nil {
		d.unlock()
		d.unlock = nil
	}
	return res, err
}

// ErrDowngrade is returned when the env file pins an older release than the
// one the server runs (someone, e.g. the update agent, upgraded it since).
var ErrDowngrade = errors.New("the env file pins an older version than the server runs")

// checkDowngrade refuses to deploy the pinned release when the server runs a
// newer one: no silent downgrades of what the update agent installed.
func (d *Deployer) checkDowngrade(ctx context.Context, a *App, deployed Deployed, pinned string) error {
	if !deployed.Deployed || deployed.Chaos || deployed.Version == "" {
		return nil
	}
	running, err1 := recipe.ParseVersion(deployed.Version)
	want, err2 := recipe.ParseVersion(pinned)
	if err1 != nil || err2 != nil || running.Compare(want) <= 0 {
		return nil
	}
	who := ""
	if rec, ok, err := LoadEnvRecord(ctx, d.Cluster, a.StackName()); err == nil && ok {
		who = fmt.Sprintf(" (deployed by %s at %s)", rec.DeployedBy, rec.DeployedAt.Local().Format(time.DateTime))
	}
	return hint.With(fmt.Errorf("%w: %s runs %s%s, %s pins %s; deploying would downgrade it", ErrDowngrade, a.Domain, deployed.Version, who, a.Path, pinned),
		fmt.Sprintf("record the running version in the env file with 'abra app sync %s', or deploy %s anyway with --force", a.Domain, pinned))
}

// lockStep takes the app's lock for the rest of the deploy; Deploy releases it.
func (d *Deployer) lockStep(a *App) step.Step {
	return step.Step{Name: "lock app", Run: func(ctx context.Context) error {
		wait := d.LockWait
		if wait == 0 {
			wait = 10 * time.Minute
		}
		unlock, err := Lock(ctx, d.Cluster, a.StackName(), Holder(), wait, func(holder string, since time.Time) {
			d.note("lock app", "waiting: %s has been working on %s since %s ('abra app lock %s' shows it)", holder, a.Domain, since.Local().Format(time.TimeOnly), a.Domain)
		})
		if err != nil {
			return LockHint(err, a.Domain)
		}
		d.unlock = unlock
		return nil
	}}
}

// WaitConverged waits until the app's services run their current specs, for
// a deploy that a process which has since died started: every task and update
// state counts (there is no snapshot from before it), so an update swarm
// completed is converged and one it rolled back is a failure.
func (d *Deployer) WaitConverged(ctx context.Context, a *App) error {
	services, err := d.Cluster.Services(ctx, a.StackName())
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(services))
	timeout, found := DefaultTimeout, false
	for _, svc := range services {
		ids = append(ids, svc.ID)
		if d, ok := timeoutLabel(svc.Spec.Labels, a.StackName()); ok && !found {
			timeout, found = d, true
		}
	}
	return step.Run(ctx, d.Observer, step.Step{Name: "wait for convergence", Run: func(ctx context.Context) error {
		d.note("wait for convergence", "timeout %s", timeout)
		return d.wait(ctx, a, ids, stack.WaitOptions{Timeout: timeout}, &DeployResult{})
	}})
}

// wait waits for convergence, reporting per-service progress as notes.
func (d *Deployer) wait(ctx context.Context, a *App, ids []string, opts stack.WaitOptions, res *DeployResult) error {
	opts.Progress = func(st []stack.ServiceStatus) {
		res.Services = st
		parts := make([]string, len(st))
		for i, s := range st {
			parts[i] = s.String()
		}
		d.note("wait for convergence", "%s", strings.Join(parts, ", "))
	}
	opts.NoNodeGrace = d.NoNodeGrace
	opts.Lost = func(err error) {
		if err == nil {
			d.note("wait for convergence", "the server answers again")
			return
		}
		d.note("wait for convergence", "lost contact with the server (%v); waiting for it up to the timeout (%s)", err, opts.Timeout)
	}
	err := stack.Wait(ctx, d.Cluster, a.StackName(), ids, opts)
	var nc *stack.NotConvergedError
	if errors.As(err, &nc) {
		res.Services = nc.Services
	}
	if errors.Is(err, stack.ErrLostContact) {
		return hint.With(err, fmt.Sprintf("what was applied stays applied and swarm goes on without abra: once the server answers, see how %s runs with 'abra app ps %s', and deploy again with --force if it did not converge", a.Domain, a.Domain))
	}
	return err
}

// restore puts the previous specs back after a failed update and verifies the
// old version runs again. The result is still an error: the deploy failed.
func (d *Deployer) restore(ctx context.Context, a *App, before stack.Snapshot, timeout time.Duration, cause error, res *DeployResult) error {
	d.note("wait for convergence", "putting the previous version back")
	if errors.Is(cause, stack.ErrNoSuitableNode) {
		// swarmkit's updater waits for the old task to stop before it starts
		// the new one (stop-first), up to a minute; one that never had a node
		// never reports it stopped.
		d.note("wait for convergence", "swarm waits up to a minute for the task that never had a node before it starts the previous version's")
	}
	ids, err := stack.Restore(ctx, d.Cluster, a.StackName(), before, func(e stack.Event) {
		d.note("wait for convergence", "%s %s %s", e.Action, e.Kind, e.Name)
	})
	if err == nil {
		err = d.wait(ctx, a, ids, stack.WaitOptions{Timeout: timeout, Before: before, Restoring: true}, res)
	}
	if err != nil {
		remedy := fmt.Sprintf("redeploy the version in %s with 'abra app deploy %s --force', and inspect with 'abra app ps %s'", a.Path, a.Domain, a.Domain)
		if r := placementRemedy(cause); r != "" {
			remedy = r + "; then " + remedy
		}
		return hint.With(fmt.Errorf("%w; %w: %v", cause, ErrRollbackFailed, err), remedy)
	}
	if r := placementRemedy(cause); r != "" {
		return hint.With(fmt.Errorf("%w; %w", cause, ErrRolledBack), r+"; the previous version runs and the env file still names it")
	}
	return hint.With(fmt.Errorf("%w; %w", cause, ErrRolledBack),
		fmt.Sprintf("see why with 'abra app logs %s'; the env file still names the previous version", a.Domain))
}

// placementRemedy says what to do about a deploy that did not converge
// because its tasks found no node: none satisfies the placement constraints
// (noNodeRemedy), or the nodes that might take them take no tasks now
// (stuckRemedy); "" for any other failure.
func placementRemedy(err error) string {
	var nc *stack.NotConvergedError
	if !errors.As(err, &nc) {
		return ""
	}
	if nc.NoNode {
		return noNodeRemedy
	}
	if nodes := nc.StuckOn(); len(nodes) > 0 {
		return stuckRemedy(nodes)
	}
	return ""
}

// stuckRemedy is the hint for a deploy whose tasks waited on nodes that take
// no new tasks (down, drained, paused), swarm putting them nowhere else.
func stuckRemedy(nodes []string) string {
	return "tasks waited on nodes that take no new tasks: " + strings.Join(nodes, ", ") +
		" (the placement constraints allow no other node that does): start a down node's dockerd again, or make a drained or paused one active ('docker node update --availability active <node>' on a manager); a node gone for good: 'docker node rm --force <node>' and give another node what the constraints ask ('docker node update --label-add KEY=VALUE <node>'), or change the constraints"
}

// noNodeRemedy is the hint for a deploy no node could run: swarm places a
// task only on a node that satisfies every constraint.
const noNodeRemedy = "no node satisfies the service's placement constraints: give a node what they ask for ('docker node update --label-add KEY=VALUE <node>' on a manager, or add a node), or change the constraints, then deploy again; 'docker node ls' on a manager lists the nodes"

// noteLogs shows the last log lines of the services that did not converge.
func (d *Deployer) noteLogs(ctx context.Context, a *App, statuses []stack.ServiceStatus) {
	for _, st := range statuses {
		if st.State == "converged" {
			continue
		}
		id, err := ServiceID(ctx, d.Cluster, a, st.Name)
		if err != nil {
			continue
		}
		lines, err := stack.LastLogs(ctx, d.Cluster, id, 10)
		if err != nil || len(lines) == 0 {
			continue
		}
		d.note("wait for convergence", "last log lines of %s:\n    %s", st.Name, strings.Join(lines, "\n    "))
	}
}

// postCommands runs "<service> <function> [args]" entries, separated by "|",
// as `abra app cmd` would: each abra.sh function inside its service's container.
func (d *Deployer) postCommands(ctx context.Context, a *App, src *Source, key, value string) error {
	script, err := guard.ReadFile(src.Dir, "abra.sh")
	if err != nil {
		if errors.Is(err, guard.ErrOutside) {
			return fmt.Errorf("%s: recipe %s: %w", key, src.Recipe, err)
		}
		return fmt.Errorf("%s is set but the recipe has no abra.sh: %w", key, err)
	}
	for entry := range strings.SplitSeq(value, "|") {
		f := strings.Fields(entry)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return fmt.Errorf("%s: %q: want <service> <function> [args]", key, strings.TrimSpace(entry))
		}
		program, err := CmdScript(script, f[1])
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		ct, err := ServiceContainer(ctx, d.Cluster, a, f[0])
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		var out strings.Builder
		code, err := d.Cluster.Exec(ctx, ct.ID, swarm.ExecOptions{
			Cmd: append([]string{"sh", "-c", program, "abra-cmd"}, f[2:]...), Stdout: &out, Stderr: &out,
		})
		if text := strings.TrimSpace(out.String()); text != "" {
			d.note("run "+key, "%s %s: %s", f[0], f[1], text)
		}
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", key, f[0], f[1], err)
		}
		if code != 0 {
			return hint.With(fmt.Errorf("%s: %s %s exited with %d", key, f[0], f[1], code),
				fmt.Sprintf("the app is deployed; run it again with 'abra app cmd %s %s %s'", a.Domain, f[0], f[1]))
		}
	}
	return nil
}

// LintRelease runs the release's lint as a deploy does: an error for failed
// critical rules of the original abra, warnings for this abra's own.
func LintRelease(ctx context.Context, store Store, a *App, src *Source) (warnings []string, err error) {
	return lintRelease(ctx, store, a, src)
}

// RunCommands runs "<service> <function> [args]" entries ("|"-separated)
// of the release's abra.sh in the app's containers, as POST_DEPLOY_CMDS are.
func (d *Deployer) RunCommands(ctx context.Context, a *App, version, key, value string) error {
	src, err := d.Store.CheckoutApp(ctx, a, version, false)
	if err != nil {
		return err
	}
	defer src.Close()
	return d.postCommands(ctx, a, src, key, value)
}

// lintRelease refuses a release that fails a critical rule of the original
// abra; failures of this abra's own critical rules are returned as warnings.
func lintRelease(ctx context.Context, store Store, a *App, src *Source) (warnings []string, err error) {
	repo, err := store.OpenRecipe(src.Recipe)
	if err != nil {
		return nil, err
	}
	report, err := lint.Run(ctx, src.Dir, repo, lint.AtRelease(src.Version), lint.WithStackName(a.StackName()))
	if err != nil {
		return nil, fmt.Errorf("lint %s %s: %w", src.Recipe, src.Version, err)
	}
	var parts []string
	for _, f := range report.CriticalFailures() {
		text := fmt.Sprintf("%s %s (%s)", f.ID, f.Description, f.Detail)
		if !lint.OfAbra(f.ID) {
			warnings = append(warnings, text)
			continue
		}
		parts = append(parts, text)
	}
	if len(parts) == 0 {
		return warnings, nil
	}
	return warnings, hint.With(fmt.Errorf("recipe %s %s fails critical lint rules: %s", src.Recipe, src.Version, strings.Join(parts, "; ")),
		fmt.Sprintf("see 'abra recipe lint %s'; fix the recipe and release it, or deploy its work tree with --chaos", src.Recipe))
}

// explainConnectError attaches the remedy for the usual SSH failures. Host
// keys are never trusted silently: the operator checks the fingerprint.
func explainConnectError(err error, serverName string) error {
	msg := err.Error()
	host, port := server.SSHTarget(serverName)
	switch {
	case strings.Contains(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED"):
		return hint.With(err, fmt.Sprintf("the server's SSH host key changed: if you know why (reinstall), remove the old key with 'ssh-keygen -R %s' and trust the new one after checking its fingerprint with 'ssh-keyscan -p %s %s | ssh-keygen -lf -'", host, port, host))
	case strings.Contains(msg, "Host key verification failed"), strings.Contains(msg, "host key is known"):
		return hint.With(err, fmt.Sprintf("the server's SSH host key is not in known_hosts: check its fingerprint with 'ssh-keyscan -p %s %s | ssh-keygen -lf -', then trust it with 'ssh-keyscan -p %s %s >> ~/.ssh/known_hosts' (or 'ssh %s' once)", port, host, port, host, serverName))
	case strings.Contains(msg, "Permission denied"):
		return hint.With(err, "check the User and IdentityFile for this host in ~/.ssh/config, and that your key is loaded (ssh-add -l)")
	case strings.Contains(msg, "Connection refused"), strings.Contains(msg, "Could not resolve hostname"), strings.Contains(msg, "timed out"):
		return hint.With(err, "check that the server is up and reachable with 'ssh "+serverName+"'; 'abra server ls --status' shows which servers answer")
	}
	return err
}

// CheckManager verifies the server is a swarm manager, with the command that fixes it.
func CheckManager(ctx context.Context, c swarm.Cluster, serverName string) error {
	info, err := c.Info(ctx)
	if err != nil {
		return explainConnectError(fmt.Errorf("server %s: %w", serverName, err), serverName)
	}
	if info.SwarmState != "active" {
		return hint.With(fmt.Errorf("server %s: %w (swarm state: %s)", serverName, swarm.ErrNotManager, info.SwarmState),
			"run on the server: docker swarm init --advertise-addr <server address>")
	}
	if !info.IsManager {
		return hint.With(fmt.Errorf("server %s: %w (it is a worker)", serverName, swarm.ErrNotManager),
			"point abra at a manager node, or promote this one: docker node promote <node>")
	}
	return nil
}

// Env is the environment a recipe's compose files are interpolated with: the
// app env file, the `export` lines of the recipe's abra.sh, STACK_NAME and DOMAIN.
func Env(a *App, dir string) (map[string]string, error) {
	env := map[string]string{}
	script, err := guard.ReadFile(dir, "abra.sh")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("recipe %s: %w", a.Recipe(), err)
	}
	maps.Copy(env, recipe.Exports(script))
	maps.Copy(env, a.Env.Values())
	env["STACK_NAME"] = a.StackName()
	if _, ok := env["DOMAIN"]; !ok {
		env["DOMAIN"] = a.Domain
	}
	return env, nil
}

// LoadCompose loads the app's compose files (COMPOSE_FILE) from the source.
func LoadCompose(a *App, src *Source) (*stack.Loaded, error) {
	env, err := Env(a, src.Dir)
	if err != nil {
		return nil, err
	}
	files := stack.ComposeFiles(env["COMPOSE_FILE"])
	loaded, err := stack.Load(stack.LoadOptions{Dir: src.Dir, Files: files, Env: env})
	if err != nil {
		return nil, fmt.Errorf("recipe %s: %w", src.Recipe, err)
	}
	return loaded, nil
}

// Label names abra puts on an app's "app" service.
func Label(stackName, key string) string { return "coop-cloud." + stackName + "." + key }

func setAbraLabels(cfg *composetypes.Config, a *App, src *Source, policy map[string]string) {
	stackName := a.StackName()
	for i := range cfg.Services {
		svc := &cfg.Services[i]
		if svc.Name != "app" {
			continue
		}
		if svc.Deploy.Labels == nil {
			svc.Deploy.Labels = composetypes.Labels{}
		}
		l := svc.Deploy.Labels
		if !src.Chaos {
			l[Label(stackName, "version")] = src.Version
		}
		l[Label(stackName, "chaos")] = strconv.FormatBool(src.Chaos)
		if src.Chaos {
			l[Label(stackName, "chaos-version")] = src.ChaosVersion()
		}
		l[Label(stackName, "recipe")] = src.Recipe
		maps.Copy(l, policy)
	}
}

func stackTimeout(cfg *composetypes.Config, stackName string) time.Duration {
	for _, svc := range cfg.Services {
		if d, ok := timeoutLabel(svc.Deploy.Labels, stackName); ok {
			return d
		}
	}
	return DefaultTimeout
}

// timeoutLabel reads coop-cloud.<stack>.timeout (seconds) from labels.
func timeoutLabel(labels map[string]string, stackName string) (time.Duration, bool) {
	v, ok := labels[Label(stackName, "timeout")]
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

func explainApplyError(err error, a *App) error {
	if err == nil {
		return nil
	}
	var missing *stack.MissingNetworkError
	if errors.As(err, &missing) {
		return hint.With(err, missing.Hint())
	}
	var secrets *stack.MissingSecretsError
	if errors.As(err, &secrets) || strings.Contains(err.Error(), "secret not found") {
		return hint.With(err, "generate them with 'abra app secret generate "+a.Domain+" --all' (or insert your own values with 'abra app secret insert')")
	}
	return err
}
