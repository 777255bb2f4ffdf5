package dist

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"

	"coopcloud.tech/abra/internal/cli"
)

// completionScripts are abra's bash, zsh and fish completion scripts where
// Debian's shells look for them, made by the CLI itself (in process: the
// scripts are the same on every architecture).
func completionScripts() (map[string][]byte, error) {
	places := map[string]string{
		"bash": "/usr/share/bash-completion/completions/abra",
		"zsh":  "/usr/share/zsh/vendor-completions/_abra",
		"fish": "/usr/share/fish/vendor_completions.d/abra.fish",
	}
	out := map[string][]byte{}
	for shell, dst := range places {
		var stdout, stderr bytes.Buffer
		if code := cli.Main([]string{"autocomplete", shell}, bytes.NewReader(nil), &stdout, &stderr); code != 0 {
			return nil, fmt.Errorf("abra autocomplete %s: exit %d: %s", shell, code, stderr.String())
		}
		out[dst] = stdout.Bytes()
	}
	return out, nil
}

// writeDeb packages bin as abra_<version>_<arch>.deb with nfpm: the binary in
// /usr/bin, the completion scripts, the licence as Debian's copyright file.
func (o *Options) writeDeb(dir string, p Platform, bin []byte, docs []File, completions map[string][]byte) (string, error) {
	tmp, err := os.MkdirTemp("", "abra-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	var contents files.Contents
	add := func(dst string, data []byte, mode os.FileMode) error {
		src := filepath.Join(tmp, fmt.Sprint(len(contents)))
		if err := os.WriteFile(src, data, 0o600); err != nil {
			return err
		}
		contents = append(contents, &files.Content{Source: src, Destination: dst,
			FileInfo: &files.ContentFileInfo{Mode: mode, MTime: o.Time, Owner: "root", Group: "root"}})
		return nil
	}
	if err := add("/usr/bin/abra", bin, 0o755); err != nil {
		return "", err
	}
	for _, d := range docs {
		dst := "/usr/share/doc/abra/" + d.Name
		if d.Name == "LICENSE" {
			dst = "/usr/share/doc/abra/copyright"
		}
		if err := add(dst, d.Data, 0o644); err != nil {
			return "", err
		}
	}
	for _, dst := range slices.Sorted(maps.Keys(completions)) {
		if err := add(dst, completions[dst], 0o644); err != nil {
			return "", err
		}
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:        "abra",
		Arch:        p.Arch,
		Platform:    p.OS,
		Version:     o.Version,
		Section:     "admin",
		Priority:    "optional",
		Maintainer:  "Co-op Cloud <helo@coopcloud.tech>",
		Description: "The Co-op Cloud command-line tool\nabra deploys and manages libre apps (recipes) on Docker Swarm servers over SSH.",
		Homepage:    "https://coopcloud.tech",
		License:     "GPL-3.0-or-later",
		MTime:       o.Time,
		Overridables: nfpm.Overridables{
			Contents:   contents,
			Recommends: []string{"openssh-client", "git"},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("deb for %s: %w", p, err)
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("abra_%s_%s.deb", o.Version, p.Arch)
	return name, o.writeFile(dir, name, func(w io.Writer) error { return pkg.Package(info, w) })
}
