package dist

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// Image is one image a release made.
type Image struct {
	Name      string            `json:"name"`
	Ref       string            `json:"ref,omitempty"` // <registry>/<name>:<version>, when pushed
	Digest    string            `json:"digest"`        // of the multi-arch index
	Platforms map[string]string `json:"platforms"`     // "linux/arm64" → that manifest's digest
}

// imageSpec is an image this repository ships.
type imageSpec struct {
	Name        string
	Description string
	files       func(ctx context.Context, o *Options, p Platform) ([]File, error)
	config      func(o *Options) (v1.Config, error)
}

// images are the images of the services this repository ships.
var images = []imageSpec{backupbot, agentImage, abraImage}

// ImageNames lists the images a release builds.
func ImageNames() []string {
	var names []string
	for _, s := range images {
		names = append(names, s.Name)
	}
	return names
}

func imageSpecNamed(n string) (imageSpec, error) {
	for _, s := range images {
		if s.Name == n {
			return s, nil
		}
	}
	return imageSpec{}, fmt.Errorf("no image %q: the images are %s", n, strings.Join(ImageNames(), ", "))
}

// backupbot is the backup service: backupbot and restic, both static, CA
// certificates for restic's https backends, and /usr/bin/ssh, which is
// backupbot itself (its built-in ssh client, internal/sshsftp) for restic's
// sftp: backend, so that every architecture has every backend.
var backupbot = imageSpec{
	Name:        "abra-backupbot",
	Description: "Backups of every app on a Co-op Cloud server that are proven to restore (restic)",
	files: func(ctx context.Context, o *Options, p Platform) ([]File, error) {
		bot, err := o.goBuild(ctx, p, "./cmd/backupbot", "-s -w -X main.version="+o.Version)
		if err != nil {
			return nil, err
		}
		restic, err := o.goBuild(ctx, p, "github.com/restic/restic/cmd/restic", "-s -w", filepath.Join(o.Root, "tools", "restic"))
		if err != nil {
			return nil, err
		}
		return baseFiles(
			File{Name: "backupbot", Mode: 0o755, Data: bot},
			File{Name: "usr/bin/restic", Mode: 0o755, Data: restic},
			File{Name: "usr/bin/ssh", Mode: 0o777, Link: "/backupbot"},
			File{Name: "root/.cache", Mode: 0o700, Dir: true},
			File{Name: "root/.ssh", Mode: 0o700, Dir: true},
			File{Name: "backups", Mode: 0o755, Dir: true},
		), nil
	},
	config: func(o *Options) (v1.Config, error) {
		restic, err := ResticVersion(o.Root)
		if err != nil {
			return v1.Config{}, err
		}
		return v1.Config{
			Entrypoint: []string{"/backupbot"},
			Cmd:        []string{"daemon"},
			Env: []string{"PATH=/usr/bin", "HOME=/root", "TMPDIR=/tmp",
				"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			Labels: map[string]string{"tech.coopcloud.abra.backupbot.restic": strings.TrimPrefix(restic, "v")},
		}, nil
	},
}

// agentImage is the update agent (recipes/abra-agent): abra-agent, and
// /usr/bin/kadabra, the same binary, for kadabra's cron lines. Recipes are
// cloned with go-git (in process, also from local paths), so no git binary.
var agentImage = imageSpec{
	Name:        "abra-agent",
	Description: "Automatic updates of Co-op Cloud apps that never leave an app broken",
	files: func(ctx context.Context, o *Options, p Platform) ([]File, error) {
		bin, err := o.goBuild(ctx, p, "./cmd/abra-agent", "-s -w -X main.version="+o.Version)
		if err != nil {
			return nil, err
		}
		return baseFiles(
			File{Name: "abra-agent", Mode: 0o755, Data: bin},
			File{Name: "usr/bin/kadabra", Mode: 0o777, Link: "/abra-agent"},
			File{Name: "data", Mode: 0o700, Dir: true},
		), nil
	},
	config: func(o *Options) (v1.Config, error) {
		return v1.Config{
			Entrypoint: []string{"/abra-agent"},
			Cmd:        []string{"serve"},
			Env: []string{"PATH=/usr/bin:/", "HOME=/root", "TMPDIR=/tmp",
				"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		}, nil
	},
}

// baseFiles are what every image of ours has besides its own files: the CA
// bundle, a root user, /tmp and root's home.
func baseFiles(own ...File) []File {
	return append([]File{
		{Name: "etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: caBundle()},
		{Name: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/nonexistent\n")},
		{Name: "etc/group", Mode: 0o644, Data: []byte("root:x:0:\n")},
		{Name: "tmp", Mode: 0o1777, Dir: true},
		{Name: "root", Mode: 0o700, Dir: true},
	}, own...)
}

// ResticVersion is the restic that tools/restic pins.
func ResticVersion(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "tools", "restic", "go.mod"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "github.com/restic/restic" {
			return f[1], nil
		}
		if len(f) >= 3 && f[0] == "require" && f[1] == "github.com/restic/restic" {
			return f[2], nil
		}
	}
	return "", fmt.Errorf("%s does not require github.com/restic/restic", filepath.Join(root, "tools", "restic", "go.mod"))
}

// caBundle is Mozilla's root store as x/crypto/x509roots pins it (in go.sum),
// so the bundle is the same wherever the image is built. Roots with extra
// constraints (a distrust date) are left out, as a PEM file cannot say them.
func caBundle() []byte {
	var b bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint == nil {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})
		}
	}
	return b.Bytes()
}

// annotations are the OCI annotations of an image's index and manifests,
// also set as labels so that `docker inspect` shows them.
func (o *Options) annotations(spec imageSpec) map[string]string {
	a := map[string]string{
		"org.opencontainers.image.title":       spec.Name,
		"org.opencontainers.image.description": spec.Description,
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Commit,
		"org.opencontainers.image.created":     o.Time.UTC().Format(time.RFC3339),
		"org.opencontainers.image.licenses":    "GPL-3.0-or-later",
	}
	if o.Source != "" {
		a["org.opencontainers.image.source"] = o.Source
	}
	return a
}

// platformImage builds spec for one platform: one layer, the config, the
// commit's time as every time.
func (o *Options) platformImage(ctx context.Context, spec imageSpec, p Platform) (v1.Image, error) {
	files, err := spec.files(ctx, o, p)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	if err := writeTarGz(&gz, files, o.Time); err != nil {
		return nil, err
	}
	data := gz.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.Time.UTC()}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{Created: created, CreatedBy: "abra dist " + o.Version}})
	if err != nil {
		return nil, err
	}
	cfg, err := spec.config(o)
	if err != nil {
		return nil, err
	}
	ann := o.annotations(spec)
	for k, v := range ann {
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		cfg.Labels[k] = v
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created, cf.Config = p.OS, p.Arch, created, cfg
	if p.Arch == "arm64" {
		cf.Variant = "v8"
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, ann).(v1.Image), nil
}

// Index builds spec for every image platform as one multi-arch index.
func (o *Options) Index(ctx context.Context, spec imageSpec) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range ImagePlatforms {
		img, err := o.platformImage(ctx, spec, p)
		if err != nil {
			return nil, fmt.Errorf("image %s for %s: %w", spec.Name, p, err)
		}
		plat := &v1.Platform{OS: p.OS, Architecture: p.Arch}
		if p.Arch == "arm64" {
			plat.Variant = "v8"
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	return mutate.Annotations(idx, o.annotations(spec)).(v1.ImageIndex), nil
}

// buildImage builds spec into <dir>/images/<name> (an OCI image layout) and
// pushes it to <Registry>/<name>:<Version> when a registry is set.
func (o *Options) buildImage(ctx context.Context, spec imageSpec, dir string) (*Image, error) {
	idx, err := o.Index(ctx, spec)
	if err != nil {
		return nil, err
	}
	digest, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	res := &Image{Name: spec.Name, Digest: digest.String(), Platforms: map[string]string{}}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		res.Platforms[d.Platform.OS+"/"+d.Platform.Architecture] = d.Digest.String()
	}
	lp, err := layout.Write(filepath.Join(dir, "images", spec.Name), empty.Index)
	if err != nil {
		return nil, err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.Version})); err != nil {
		return nil, err
	}
	o.logf("image %s %s (%s)", spec.Name, digest, strings.Join(slices.Sorted(maps.Keys(res.Platforms)), ", "))
	if o.Registry == "" {
		return res, nil
	}
	ref, err := name.ParseReference(strings.TrimRight(o.Registry, "/") + "/" + spec.Name + ":" + o.Version)
	if err != nil {
		return nil, fmt.Errorf("REGISTRY %q: %w", o.Registry, err)
	}
	o.logf("push %s", ref)
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return nil, fmt.Errorf("push %s: %w", ref, err)
	}
	res.Ref = ref.String()
	return res, nil
}

// WriteDockerArchive writes the named image for one platform as a `docker
// load` archive tagged tag: the offline way onto a server without a registry.
func (o *Options) WriteDockerArchive(ctx context.Context, image, tag string, p Platform, w io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	spec, err := imageSpecNamed(image)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	img, err := o.platformImage(ctx, spec, p)
	if err != nil {
		return err
	}
	return tarball.Write(ref, img, w)
}
