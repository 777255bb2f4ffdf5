// Package backup is the server-side backup service: it reads backup-bot-two
// compatible labels from an app's services, runs their hooks in the running
// containers, drives restic through its --json output, records a manifest
// (path, size, sha256 of every file) in each snapshot, verifies snapshots by
// restoring them into a scratch directory, and restores apps safely.
package backup

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/mount"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

// Labels read from the deploy labels of an app's services, as backup-bot-two reads them.
const (
	LabelBackup          = "backupbot.backup"           // true|false
	LabelPreHook         = "backupbot.backup.pre-hook"  // shell command run before the backup
	LabelPostHook        = "backupbot.backup.post-hook" // shell command run after the backup
	LabelRestorePreHook  = "backupbot.restore.pre-hook"
	LabelRestorePostHook = "backupbot.restore.post-hook"
	LabelPath            = "backupbot.backup.path" // older: comma-separated paths in the container
	// LabelVolumesPrefix starts backupbot.backup.volumes.<volume>=false and
	// backupbot.backup.volumes.<volume>.path=<p1>,<p2>.
	LabelVolumesPrefix = "backupbot.backup.volumes."
	// LabelService marks the backup service itself; it is never stopped by a restore.
	LabelService = "coop-cloud.backupbot.enabled"
	// ServiceNameLabel is the container label naming the swarm service of a task.
	ServiceNameLabel = "com.docker.swarm.service.name"
)

// DefaultVolumeRoot is where Docker keeps named volumes; the backup service
// mounts it at the same path, so snapshot paths are the host's paths
// (/var/lib/docker/volumes/<stack>_<volume>/_data), as with backup-bot-two.
const DefaultVolumeRoot = "/var/lib/docker/volumes"

// Volume is one volume of a service to back up.
type Volume struct {
	Name   string   // the compose name, as used in labels (e.g. "data")
	Source string   // the Docker volume name (e.g. "blog_example_org_data")
	Target string   // where the service mounts it
	Paths  []string // absolute paths to back up, under <root>/<Source>/_data
}

// Service is a service of an app with its backup settings.
type Service struct {
	Name      string // short name, e.g. "app"
	SwarmName string // e.g. "blog_example_org_app"
	ID        string
	Enabled   bool
	PreHook   string
	PostHook  string
	// RestorePreHook and RestorePostHook run around a restore.
	RestorePreHook  string
	RestorePostHook string
	Volumes         []Volume
}

// Paths lists every path of the service to back up.
func (s Service) Paths() []string {
	var out []string
	for _, v := range s.Volumes {
		out = append(out, v.Paths...)
	}
	return out
}

// ShortName strips the stack prefix from a swarm service name.
func ShortName(stack, swarmName string) string {
	return strings.TrimPrefix(swarmName, stack+"_")
}

// ParseService reads the backup labels of one service of the stack. A service
// with backups enabled whose labels name no volume it mounts is an error that
// names the service and the label: backups never become a silent no-op.
func ParseService(stack, root string, svc mobyswarm.Service) (Service, error) {
	labels := svc.Spec.Labels
	s := Service{
		Name: ShortName(stack, svc.Spec.Name), SwarmName: svc.Spec.Name, ID: svc.ID,
		Enabled:         strings.EqualFold(strings.TrimSpace(labels[LabelBackup]), "true"),
		PreHook:         labels[LabelPreHook],
		PostHook:        labels[LabelPostHook],
		RestorePreHook:  labels[LabelRestorePreHook],
		RestorePostHook: labels[LabelRestorePostHook],
	}
	if !s.Enabled {
		return s, nil
	}
	bad := func(label, format string, args ...any) error {
		return hint.With(fmt.Errorf("service %s: label %s: %s", s.Name, label, fmt.Sprintf(format, args...)),
			"fix the service's deploy labels in the recipe's compose file: labels name volumes by their compose name, "+
				"and the service must mount them (volumes: - <name>:<path>)")
	}

	var mounts []mount.Mount
	if cs := svc.Spec.TaskTemplate.ContainerSpec; cs != nil {
		mounts = cs.Mounts
	}
	byName := map[string]Volume{}
	var names []string
	for _, m := range mounts {
		if m.Type != mount.TypeVolume || m.Source == "" {
			continue
		}
		name := ShortName(stack, m.Source)
		byName[name] = Volume{Name: name, Source: m.Source, Target: m.Target}
		names = append(names, name)
	}
	sort.Strings(names)

	// backupbot.backup.volumes.<volume>=false and .<volume>.path=…
	disabled := map[string]bool{}
	subPaths := map[string][]string{}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, LabelVolumesPrefix)
		if !ok {
			continue
		}
		name, field, _ := strings.Cut(rest, ".")
		if _, ok := byName[name]; !ok {
			return s, bad(k, "the service mounts no volume %q (its volumes: %s)", name, listOrNone(names))
		}
		switch field {
		case "":
			switch strings.ToLower(strings.TrimSpace(labels[k])) {
			case "false":
				disabled[name] = true
			case "true":
			default:
				return s, bad(k, "want true or false, got %q", labels[k])
			}
		case "path":
			for _, p := range splitList(labels[k]) {
				clean := path.Clean("/" + p)
				if clean == "/" || strings.Contains(p, "..") {
					return s, bad(k, "path %q must name something inside the volume", p)
				}
				subPaths[name] = append(subPaths[name], strings.TrimPrefix(clean, "/"))
			}
		default:
			return s, bad(k, "unknown field %q (want %s<volume>=false or %s<volume>.path=<p1>,<p2>)", field, LabelVolumesPrefix, LabelVolumesPrefix)
		}
	}

	// The older backupbot.backup.path: paths inside the container, each under one
	// of the service's volume mounts.
	if old := labels[LabelPath]; strings.TrimSpace(old) != "" {
		for _, p := range splitList(old) {
			if !strings.HasPrefix(p, "/") {
				return s, bad(LabelPath, "path %q must be absolute (a path inside the container)", p)
			}
			p = path.Clean(p)
			best := ""
			for _, n := range names {
				t := path.Clean(byName[n].Target)
				if (p == t || strings.HasPrefix(p, strings.TrimSuffix(t, "/")+"/")) && len(t) > len(byName[best].Target) {
					best = n
				}
			}
			if best == "" {
				return s, bad(LabelPath, "path %s is on no volume the service mounts (its volumes: %s)", p, mountList(byName, names))
			}
			rel := strings.TrimPrefix(strings.TrimPrefix(p, path.Clean(byName[best].Target)), "/")
			if rel == "" {
				subPaths[best] = append(subPaths[best], "")
			} else {
				subPaths[best] = append(subPaths[best], rel)
			}
		}
	}

	restrict := len(subPaths) > 0
	for _, n := range names {
		if disabled[n] {
			continue
		}
		v := byName[n]
		base := path.Join(root, v.Source, "_data")
		switch {
		case len(subPaths[n]) > 0:
			for _, sp := range subPaths[n] {
				v.Paths = append(v.Paths, path.Join(base, sp))
			}
		case restrict:
			// Path labels name what to back up; volumes they do not name are left out,
			// as with backup-bot-two.
			continue
		default:
			v.Paths = []string{base}
		}
		slices.Sort(v.Paths)
		v.Paths = slices.Compact(v.Paths)
		s.Volumes = append(s.Volumes, v)
	}
	if len(s.Volumes) == 0 {
		if len(names) == 0 {
			return s, bad(LabelBackup, "backups are enabled but the service mounts no named volume")
		}
		return s, bad(LabelBackup, "backups are enabled but every volume (%s) is excluded by %s<volume>=false", listOrNone(names), LabelVolumesPrefix)
	}
	return s, nil
}

// ParseStack reads the backup settings of every service of a stack, sorted by
// name. Errors of all services are reported together.
func ParseStack(stack, root string, svcs []mobyswarm.Service) ([]Service, error) {
	var out []Service
	var errs []string
	var first error
	for _, svc := range svcs {
		if svc.Spec.Labels[swarm.StackLabel] != stack && svc.Spec.Labels[swarm.StackLabel] != "" {
			continue
		}
		s, err := ParseService(stack, root, svc)
		if err != nil {
			if first == nil {
				first = err
			}
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, s)
	}
	if len(errs) == 1 {
		return nil, first
	}
	if len(errs) > 1 {
		return nil, hint.With(fmt.Errorf("%s", strings.Join(errs, "; ")), hint.Of(first))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func mountList(byName map[string]Volume, names []string) string {
	var out []string
	for _, n := range names {
		out = append(out, n+" at "+byName[n].Target)
	}
	return listOrNone(out)
}
