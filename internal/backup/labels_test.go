package backup

import (
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/mount"
	mobyswarm "github.com/moby/moby/api/types/swarm"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

func service(name string, labels map[string]string, mounts ...mount.Mount) mobyswarm.Service {
	l := map[string]string{swarm.StackLabel: "blog_example_org"}
	for k, v := range labels {
		l[k] = v
	}
	return mobyswarm.Service{ID: "id-" + name, Spec: mobyswarm.ServiceSpec{
		Annotations:  mobyswarm.Annotations{Name: "blog_example_org_" + name, Labels: l},
		TaskTemplate: mobyswarm.TaskSpec{ContainerSpec: &mobyswarm.ContainerSpec{Mounts: mounts}},
	}}
}

func vol(name, target string) mount.Mount {
	return mount.Mount{Type: mount.TypeVolume, Source: "blog_example_org_" + name, Target: target}
}

func TestParseService(t *testing.T) {
	const base = "/var/lib/docker/volumes/blog_example_org_"
	tests := []struct {
		name    string
		svc     mobyswarm.Service
		paths   []string
		enabled bool
		err     string // substring; "" for success
	}{
		{name: "disabled without the label", svc: service("app", nil, vol("data", "/data")), enabled: false},
		{name: "backup=false", svc: service("app", map[string]string{LabelBackup: "false"}, vol("data", "/data"))},
		{name: "every named volume", enabled: true,
			svc:   service("db", map[string]string{LabelBackup: "true"}, vol("data", "/var/lib/mysql"), vol("conf", "/etc/mysql"), mount.Mount{Type: mount.TypeBind, Source: "/srv", Target: "/srv"}),
			paths: []string{base + "conf/_data", base + "data/_data"}},
		{name: "a volume excluded", enabled: true,
			svc:   service("app", map[string]string{LabelBackup: "true", LabelVolumesPrefix + "cache": "false"}, vol("data", "/data"), vol("cache", "/cache")),
			paths: []string{base + "data/_data"}},
		{name: "volume paths restrict the volume and leave the others out", enabled: true,
			svc: service("app", map[string]string{LabelBackup: "true", LabelVolumesPrefix + "data.path": "dumps, uploads/"},
				vol("data", "/data"), vol("other", "/other")),
			paths: []string{base + "data/_data/dumps", base + "data/_data/uploads"}},
		{name: "older backup.path maps container paths to volumes", enabled: true,
			svc:   service("db", map[string]string{LabelBackup: "true", LabelPath: "/var/lib/postgresql/data/backup.sql"}, vol("postgres", "/var/lib/postgresql/data")),
			paths: []string{base + "postgres/_data/backup.sql"}},
		{name: "no volume at all", svc: service("app", map[string]string{LabelBackup: "true"}),
			err: "service app: label backupbot.backup: backups are enabled but the service mounts no named volume"},
		{name: "every volume excluded", svc: service("app", map[string]string{LabelBackup: "true", LabelVolumesPrefix + "data": "false"}, vol("data", "/data")),
			err: "service app: label backupbot.backup: backups are enabled but every volume (data) is excluded"},
		{name: "label names a volume the service does not mount", svc: service("app", map[string]string{LabelBackup: "true", LabelVolumesPrefix + "dta.path": "x"}, vol("data", "/data")),
			err: `service app: label backupbot.backup.volumes.dta.path: the service mounts no volume "dta" (its volumes: data)`},
		{name: "older path on no volume", svc: service("db", map[string]string{LabelBackup: "true", LabelPath: "/tmp/dump.sql"}, vol("data", "/data")),
			err: "service db: label backupbot.backup.path: path /tmp/dump.sql is on no volume the service mounts (its volumes: data at /data)"},
		{name: "relative older path", svc: service("db", map[string]string{LabelBackup: "true", LabelPath: "dump.sql"}, vol("data", "/data")),
			err: "must be absolute"},
		{name: "path escaping the volume", svc: service("app", map[string]string{LabelBackup: "true", LabelVolumesPrefix + "data.path": "../../etc"}, vol("data", "/data")),
			err: "must name something inside the volume"},
		{name: "unknown volume field", svc: service("app", map[string]string{LabelBackup: "true", LabelVolumesPrefix + "data.paths": "x"}, vol("data", "/data")),
			err: `unknown field "paths"`},
		{name: "bad boolean", svc: service("app", map[string]string{LabelBackup: "true", LabelVolumesPrefix + "data": "no"}, vol("data", "/data")),
			err: `want true or false, got "no"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseService("blog_example_org", DefaultVolumeRoot, tt.svc)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				if hint.Of(err) == "" {
					t.Fatal("no remedy attached")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Enabled != (tt.enabled || len(tt.paths) > 0) || !slices.Equal(s.Paths(), tt.paths) {
				t.Fatalf("enabled %v paths %v, want %v %v", s.Enabled, s.Paths(), tt.enabled, tt.paths)
			}
		})
	}
}

func TestParseStackReportsEveryBrokenService(t *testing.T) {
	_, err := ParseStack("blog_example_org", DefaultVolumeRoot, []mobyswarm.Service{
		service("app", map[string]string{LabelBackup: "true"}),
		service("db", map[string]string{LabelBackup: "true", LabelVolumesPrefix + "x": "false"}, vol("data", "/d")),
		service("web", nil),
	})
	if err == nil || !strings.Contains(err.Error(), "service app:") || !strings.Contains(err.Error(), "service db:") {
		t.Fatalf("err = %v, want both broken services named", err)
	}
}
