// Package secret manages an app's swarm secrets the Co-op Cloud way: each
// secret is declared `external: true` in the recipe with the Docker name
// ${STACK_NAME}_<name>_${SECRET_<NAME>_VERSION}; its version and generation
// policy come from the app's env file (`SECRET_DB_PASSWORD_VERSION=v1 # length=32`).
// Values are generated here, handed to the caller once, and never written to disk.
package secret

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	composetypes "github.com/docker/cli/cli/compose/types"
	mobyswarm "github.com/moby/moby/api/types/swarm"
	"github.com/sethvargo/go-diceware/diceware"

	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

// Passphrase words when no length is given.
const passphraseWords = 5

// ErrExists is returned when creating a secret whose Docker name is taken.
var ErrExists = errors.New("secret already exists")

// Secret is one secret of an app.
type Secret struct {
	Name       string `json:"name"`        // the recipe's name for it, e.g. db_password
	Version    string `json:"version"`     // from SECRET_<NAME>_VERSION
	DockerName string `json:"docker_name"` // ${STACK_NAME}_<name>_<version>
	Length     int    `json:"length,omitempty"`
	Charset    string `json:"charset,omitempty"`
	Generate   bool   `json:"generate"` // false: the operator inserts it
	Exists     bool   `json:"exists"`   // on the server
}

// Policy describes how a value is made: "passphrase (5 words)", "32 chars", "manual".
func (s Secret) Policy() string {
	switch {
	case !s.Generate:
		return "manual (insert it)"
	case s.Length > 0:
		p := fmt.Sprintf("%d chars", s.Length)
		if s.Charset != "" {
			p += " (" + s.Charset + ")"
		}
		return p
	}
	return fmt.Sprintf("passphrase (%d words)", passphraseWords)
}

// VersionKey is the env key that holds a secret's version.
func VersionKey(name string) string {
	return "SECRET_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name)) + "_VERSION"
}

// FromConfig lists the external secrets of a loaded compose config, with their
// versions and modifiers from the app's env file.
func FromConfig(cfg *composetypes.Config, env *envfile.File) ([]Secret, error) {
	var out []Secret
	for key, s := range cfg.Secrets {
		if !s.External.External {
			continue
		}
		vk := VersionKey(key)
		version, _ := env.Get(vk)
		sec := Secret{Name: key, Version: version, DockerName: s.Name, Generate: true}
		if sec.DockerName == "" {
			sec.DockerName = key
		}
		mods := env.Modifiers(vk)
		if v, ok := mods["length"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("%s: modifier length=%q: want a positive number", vk, v)
			}
			sec.Length = n
		}
		sec.Charset = mods["charset"]
		if mods["generate"] == "false" {
			sec.Generate = false
		}
		out = append(out, sec)
	}
	slices.SortFunc(out, func(a, b Secret) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// MarkExisting sets Exists on the secrets found on the cluster.
func MarkExisting(ctx context.Context, c swarm.Cluster, secrets []Secret) error {
	names := make([]string, len(secrets))
	for i, s := range secrets {
		names[i] = s.DockerName
	}
	ids, err := c.SecretIDs(ctx, names)
	if err != nil {
		return err
	}
	for i := range secrets {
		_, secrets[i].Exists = ids[secrets[i].DockerName]
	}
	return nil
}

// Value makes a new value following the secret's policy.
func Value(s Secret) (string, error) {
	if s.Length == 0 {
		words, err := diceware.Generate(passphraseWords)
		if err != nil {
			return "", err
		}
		return strings.Join(words, "-"), nil
	}
	chars, err := charset(s.Charset)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for range s.Length {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			return "", err
		}
		b.WriteByte(chars[n.Int64()])
	}
	return b.String(), nil
}

const (
	alnum   = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	special = "!#%&()*+,-.:;<=>?@[]^_{|}~"
)

// charset reads a charset modifier: empty (letters and digits), "special"
// (plus punctuation), "safe" (plus - and _), or a comma list of those.
func charset(spec string) (string, error) {
	if spec == "" {
		return alnum, nil
	}
	out := ""
	for part := range strings.SplitSeq(spec, ",") {
		switch strings.TrimSpace(part) {
		case "default", "alnum":
			out += alnum
		case "special":
			out += alnum + special
		case "safe":
			out += alnum + "-_"
		default:
			return "", fmt.Errorf("charset=%q: want default, special or safe (comma-separated)", spec)
		}
	}
	return out, nil
}

// Create stores a value as the app's secret on the cluster. It never
// overwrites: secrets cannot change in swarm, a new value needs a new version.
func Create(ctx context.Context, c swarm.Cluster, stack string, s Secret, value string) error {
	ids, err := c.SecretIDs(ctx, []string{s.DockerName})
	if err != nil {
		return err
	}
	if _, ok := ids[s.DockerName]; ok {
		return hint.With(fmt.Errorf("%w: %s", ErrExists, s.DockerName),
			fmt.Sprintf("to change it, bump %s in the env file and generate or insert the new version", VersionKey(s.Name)))
	}
	return c.CreateSecret(ctx, mobyswarm.SecretSpec{
		Annotations: mobyswarm.Annotations{Name: s.DockerName, Labels: map[string]string{
			"coop-cloud." + stack + ".secret":  s.Name,
			"coop-cloud." + stack + ".version": s.Version,
		}},
		Data: []byte(value),
	})
}

// Remove deletes the app's secret from the cluster.
func Remove(ctx context.Context, c swarm.Cluster, s Secret) error {
	ids, err := c.SecretIDs(ctx, []string{s.DockerName})
	if err != nil {
		return err
	}
	id, ok := ids[s.DockerName]
	if !ok {
		return fmt.Errorf("secret %s: %w", s.DockerName, swarm.ErrNotFound)
	}
	if err := c.RemoveSecret(ctx, id); err != nil {
		if strings.Contains(err.Error(), "in use") {
			return hint.With(fmt.Errorf("secret %s is in use by a service", s.DockerName), "undeploy the app first, or rotate instead: bump the version, generate, redeploy")
		}
		return err
	}
	return nil
}
