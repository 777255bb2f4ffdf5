package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/swarm"
	"coopcloud.tech/abra/internal/update/policy"
)

// EnvRecord is what the last successful deploy of an app used, kept on the
// server so that the update agent redeploys exactly that: the env file as it
// was (secret values are never in it: they live in swarm secrets), with its
// overlays (COMPOSE_FILE), and where the recipe comes from. It is a swarm
// config that no service mounts, so the app's containers never see it; only
// what can reach the Docker API of a manager can read it.
type EnvRecord struct {
	Domain     string    `json:"domain"`
	Server     string    `json:"server"`
	Recipe     string    `json:"recipe"`
	Remote     string    `json:"remote,omitempty"` // the recipe clone's origin, without credentials
	Env        string    `json:"env"`              // the env file's text
	DeployedBy string    `json:"deployed_by"`
	DeployedAt time.Time `json:"deployed_at"`
}

const envRecordLabel = "coop-cloud.env-record"

func envRecordName(stack string, data []byte) string {
	s := sha256.Sum256([]byte(stack))
	d := sha256.Sum256(data)
	return "abra-env." + hex.EncodeToString(s[:8]) + "." + hex.EncodeToString(d[:8])
}

// SaveEnvRecord writes the app's env record and removes older ones.
func SaveEnvRecord(ctx context.Context, c swarm.Cluster, a *App, remote, by string) error {
	rec := EnvRecord{Domain: a.Domain, Server: a.Server, Recipe: a.Recipe(), Remote: recipe.Redact(remote), Env: string(a.Env.Bytes()),
		DeployedBy: by, DeployedAt: time.Now().UTC()}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	stack := a.StackName()
	name := envRecordName(stack, []byte(rec.Env+"\x00"+rec.Remote))
	olds, err := envRecords(ctx, c, stack)
	if err != nil {
		return err
	}
	spec := mobyswarm.ConfigSpec{Annotations: mobyswarm.Annotations{Name: name, Labels: map[string]string{
		envRecordLabel: stack, envRecordLabel + ".at": rec.DeployedAt.Format(time.RFC3339Nano),
	}}, Data: data}
	if i := slices.IndexFunc(olds, func(o swarm.Object) bool { return o.Name == name }); i >= 0 {
		// Same content: keep it, with the new time and deployer.
		if err := c.RemoveConfig(ctx, olds[i].ID); err != nil {
			return fmt.Errorf("env record of %s: %w", a.Domain, err)
		}
	}
	if err := c.CreateConfig(ctx, spec); err != nil {
		return fmt.Errorf("env record of %s: %w", a.Domain, err)
	}
	for _, o := range olds {
		if o.Name != name {
			_ = c.RemoveConfig(ctx, o.ID)
		}
	}
	return nil
}

func envRecords(ctx context.Context, c swarm.Cluster, stack string) ([]swarm.Object, error) {
	all, err := c.Configs(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read env records: %w", err)
	}
	var out []swarm.Object
	for _, o := range all {
		if o.Labels[envRecordLabel] == stack && strings.HasPrefix(o.Name, "abra-env.") {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b swarm.Object) int {
		return strings.Compare(a.Labels[envRecordLabel+".at"], b.Labels[envRecordLabel+".at"])
	})
	return out, nil
}

// LoadEnvRecord reads the newest env record of a stack; found is false when
// the app was never deployed by an abra that keeps one.
func LoadEnvRecord(ctx context.Context, c swarm.Cluster, stack string) (rec EnvRecord, found bool, err error) {
	recs, err := envRecords(ctx, c, stack)
	if err != nil || len(recs) == 0 {
		return rec, false, err
	}
	data, err := c.ConfigData(ctx, recs[len(recs)-1].ID)
	if err != nil {
		return rec, false, fmt.Errorf("env record of %s: %w", stack, err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, false, fmt.Errorf("env record of %s: %w", stack, err)
	}
	return rec, true, nil
}

// RemoveEnvRecords removes a stack's env records (after an undeploy).
func RemoveEnvRecords(ctx context.Context, c swarm.Cluster, stack string) error {
	recs, err := envRecords(ctx, c, stack)
	if err != nil {
		return err
	}
	for _, o := range recs {
		if err := c.RemoveConfig(ctx, o.ID); err != nil {
			return err
		}
	}
	return nil
}

// Policy reads the app's update policy from its env file; an unknown value
// is an error naming the file and line.
func Policy(a *App) (policy.Policy, error) {
	p, err := policy.Parse(a.Env.Get, func(key string) string {
		if n := a.Env.Line(key); n > 0 {
			return fmt.Sprintf("%s:%d", a.Path, n)
		}
		return a.Path
	})
	if err != nil {
		return p, hint.With(err, "fix it in "+a.Path+" ('abra app config "+a.Domain+"'); see 'abra app upgrade --help' for the update policy keys")
	}
	return p, nil
}

// PersonPolicy is the policy of an upgrade a person runs and watches:
// converged is enough, unless the app sets a verify window of its own.
func PersonPolicy(a *App) (policy.Policy, error) {
	p, err := Policy(a)
	if _, set := a.Env.Get(policy.KeyVerify); !set {
		p.Verify = time.Millisecond
	}
	return p, err
}

// PolicyLabels checks the app's update policy and returns the labels that mirror it.
func PolicyLabels(a *App) (map[string]string, error) {
	p, err := Policy(a)
	if err != nil {
		return nil, err
	}
	return p.Labels(a.StackName()), nil
}
