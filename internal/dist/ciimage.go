package dist

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// abraImage is abra for CI runners: /usr/bin/abra and /usr/bin/abra-ci, the
// same binary, which runs as 'abra ci' (the entry point: a Drone or
// Woodpecker plugin reading PLUGIN_* settings, or 'abra ci deploy …' given as
// arguments). SSH and git are in process, so there is no ssh, no git and no
// shell. No working directory is set: CI runners start plugins in the
// checkout (Drone /drone/src, Woodpecker /woodpecker/src/…, Forgejo Actions
// the workspace).
var abraImage = imageSpec{
	Name:        "abra",
	Description: "abra for CI runners: deploys from Drone, Woodpecker, Forgejo Actions or any CI (abra ci)",
	files: func(ctx context.Context, o *Options, p Platform) ([]File, error) {
		bin, err := o.goBuild(ctx, p, "./cmd/abra", o.abraLDFlags())
		if err != nil {
			return nil, err
		}
		return baseFiles(
			File{Name: "usr/bin/abra", Mode: 0o755, Data: bin},
			File{Name: "usr/bin/abra-ci", Mode: 0o777, Link: "/usr/bin/abra"},
		), nil
	},
	config: func(o *Options) (v1.Config, error) {
		return v1.Config{
			Entrypoint: []string{"/usr/bin/abra-ci"},
			Env: []string{"PATH=/usr/bin", "HOME=/root", "TMPDIR=/tmp",
				"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		}, nil
	},
}
