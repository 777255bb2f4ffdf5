package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/docker/cli/cli/compose/convert"
	mobyswarm "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"coopcloud.tech/abra/internal/swarm"
)

// Change is one planned change to a stack's services, networks, secrets or configs.
type Change struct {
	Action string        `json:"action"` // add, remove, change
	Kind   string        `json:"kind"`   // service, network, secret, config
	Name   string        `json:"name"`
	Fields []FieldChange `json:"fields,omitempty"`
}

// FieldChange is one field of a service spec that changes.
type FieldChange struct {
	Path string `json:"path"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// Diff computes what Apply would change, without changing anything. Services
// are compared field by field; fields the daemon fills in with defaults are
// not reported as removed.
func Diff(ctx context.Context, c swarm.Cluster, spec *Spec, prune bool) ([]Change, error) {
	if err := checkExternalNetworks(ctx, c, spec.ExternalNetworks); err != nil {
		return nil, err
	}
	if err := CheckExternalSecrets(ctx, c, spec.cfg); err != nil {
		return nil, err
	}
	var changes []Change
	netIDs, err := networkIDs(ctx, c, spec) // the daemon stores network targets as IDs
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Networks)) {
		if _, ok := netIDs[name]; !ok {
			changes = append(changes, Change{Action: "add", Kind: "network", Name: name})
		}
	}
	configs, err := c.ConfigIDs(ctx, configNames(spec))
	if err != nil {
		return nil, err
	}
	for _, cf := range spec.Configs {
		if _, ok := configs[cf.Name]; !ok {
			changes = append(changes, Change{Action: "add", Kind: "config", Name: cf.Name})
		}
	}
	ns := convert.NewNamespace(spec.Name)
	want, err := convert.Services(ctx, ns, spec.cfg, planLookup{idLookup{c: c}})
	if err != nil {
		return nil, err
	}
	existing, err := c.Services(ctx, spec.Name)
	if err != nil {
		return nil, err
	}
	byName := map[string]mobyswarm.Service{}
	for _, s := range existing {
		byName[s.Spec.Name] = s
	}
	for _, short := range slices.Sorted(maps.Keys(want)) {
		name := ns.Scope(short)
		svc, ok := byName[name]
		if !ok {
			changes = append(changes, Change{Action: "add", Kind: "service", Name: short})
			continue
		}
		newSpec, _ := keepPinned(svc, want[short], false)
		newSpec.TaskTemplate.Networks = resolveNetworks(newSpec.TaskTemplate.Networks, netIDs)
		if fields := specDiff(svc.Spec, newSpec); len(fields) > 0 {
			changes = append(changes, Change{Action: "change", Kind: "service", Name: short, Fields: fields})
		}
	}
	if prune {
		for _, name := range slices.Sorted(maps.Keys(byName)) {
			if _, ok := want[ns.Descope(name)]; !ok {
				changes = append(changes, Change{Action: "remove", Kind: "service", Name: ns.Descope(name)})
			}
		}
	}
	return changes, nil
}

func configNames(spec *Spec) []string {
	var names []string
	for _, c := range spec.Configs {
		names = append(names, c.Name)
	}
	return names
}

// planLookup answers secret/config ID lookups for objects a dry run would
// create, so conversion works before they exist.
type planLookup struct{ idLookup }

func (l planLookup) ConfigList(ctx context.Context, o client.ConfigListOptions) (client.ConfigListResult, error) {
	res, err := l.idLookup.ConfigList(ctx, o)
	if err != nil {
		return res, err
	}
	have := map[string]bool{}
	for _, c := range res.Items {
		have[c.Spec.Name] = true
	}
	for _, name := range filterNames(o.Filters) {
		if !have[name] {
			res.Items = append(res.Items, mobyswarm.Config{ID: "(new)", Spec: mobyswarm.ConfigSpec{Annotations: mobyswarm.Annotations{Name: name}}})
		}
	}
	return res, nil
}

// specDiff lists differing leaf fields. Paths only in the old spec are
// reported only under label maps: elsewhere they are daemon defaults.
func specDiff(old, new mobyswarm.ServiceSpec) []FieldChange {
	a, b := flatten(old), flatten(new)
	var out []FieldChange
	for _, path := range slices.Sorted(maps.Keys(b)) {
		if a[path] != b[path] {
			out = append(out, FieldChange{Path: path, Old: a[path], New: b[path]})
		}
	}
	for _, path := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[path]; !ok && strings.Contains(path, "Labels.") {
			out = append(out, FieldChange{Path: path, Old: a[path]})
		}
	}
	slices.SortFunc(out, func(x, y FieldChange) int { return strings.Compare(x.Path, y.Path) })
	return out
}

// flatten turns a value's JSON into path → scalar; arrays are kept whole.
func flatten(v any) map[string]string {
	raw, _ := json.Marshal(v)
	var tree any
	_ = json.Unmarshal(raw, &tree)
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, child := range t {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, child)
			}
		case nil:
		default:
			b, _ := json.Marshal(t)
			out[prefix] = string(b)
		}
	}
	walk("", tree)
	return out
}

// String renders a change on one line (fields on following lines).
func (c Change) String() string {
	sign := map[string]string{"add": "+", "remove": "-", "change": "~"}[c.Action]
	s := fmt.Sprintf("%s %s %s", sign, c.Kind, c.Name)
	for _, f := range c.Fields {
		switch {
		case f.Old == "":
			s += fmt.Sprintf("\n    %s: + %s", f.Path, f.New)
		case f.New == "":
			s += fmt.Sprintf("\n    %s: - %s", f.Path, f.Old)
		default:
			s += fmt.Sprintf("\n    %s: %s → %s", f.Path, f.Old, f.New)
		}
	}
	return s
}
