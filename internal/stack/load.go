// Package stack turns compose files into swarm objects and applies them to a
// cluster, exactly as `docker stack deploy` does: it uses docker/cli's own compose
// loader and converter, and mirrors its order of operations.
package stack

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/loader"
	"github.com/docker/cli/cli/compose/schema"
	"github.com/docker/cli/cli/compose/template"
	composetypes "github.com/docker/cli/cli/compose/types"

	"coopcloud.tech/abra/internal/guard"
)

// LoadOptions says which compose files to load and with which environment.
type LoadOptions struct {
	// Dir is the directory the compose files are relative to (the recipe checkout).
	Dir string
	// Files are the compose files in merge order, relative to Dir (COMPOSE_FILE).
	Files []string
	// Env is the whole environment used for interpolation; the process
	// environment is deliberately not consulted.
	Env map[string]string
}

// Loaded is a parsed and merged compose configuration.
type Loaded struct {
	Config *composetypes.Config
	// Warnings are the unsupported or deprecated options docker would ignore.
	Warnings []string
}

// ComposeFiles splits a COMPOSE_FILE value (":"-separated) into file names;
// an empty value means compose.yml.
func ComposeFiles(value string) []string {
	var files []string
	for f := range strings.SplitSeq(value, ":") {
		if f = strings.TrimSpace(f); f != "" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		files = []string{"compose.yml"}
	}
	return files
}

// Load reads, interpolates, validates and merges the compose files.
//
// A recipe is outside input, so unlike `docker stack deploy` Load refuses
// files that lie outside Dir: compose files, and the files they make the
// loader and converter read (FileRefs), checked before anything reads them.
func Load(opts LoadOptions) (*Loaded, error) {
	if len(opts.Files) == 0 {
		return nil, errors.New("no compose files given")
	}
	details := composetypes.ConfigDetails{WorkingDir: opts.Dir, Environment: opts.Env}
	for _, name := range opts.Files {
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(opts.Dir, name)
		}
		data, err := guard.ReadFile(opts.Dir, name)
		if err != nil {
			switch {
			case errors.Is(err, guard.ErrOutside):
				return nil, fmt.Errorf("COMPOSE_FILE: %w", err)
			case errors.Is(err, os.ErrNotExist):
				return nil, fmt.Errorf("compose file %s: does not exist (listed in COMPOSE_FILE)", path)
			}
			return nil, fmt.Errorf("compose file %s: %w", path, err)
		}
		dict, err := loader.ParseYAML(data)
		if err != nil {
			return nil, fmt.Errorf("compose file %s: %w", path, err)
		}
		for _, ref := range FileRefs(name, dict, opts.Env) {
			if err := guard.Inside(opts.Dir, ref.Path); err != nil {
				return nil, ref.wrap(err)
			}
		}
		details.ConfigFiles = append(details.ConfigFiles, composetypes.ConfigFile{Filename: path, Config: dict})
	}
	details.Version = schema.Version(details.ConfigFiles[0].Config)

	cfg, err := loader.Load(details)
	if err != nil {
		var fpe *loader.ForbiddenPropertiesError
		if errors.As(err, &fpe) {
			return nil, fmt.Errorf("compose files %s contain options swarm does not support: %s",
				strings.Join(opts.Files, ", "), strings.Join(sortedKeys(fpe.Properties), ", "))
		}
		return nil, fmt.Errorf("compose files %s: %w", strings.Join(opts.Files, ", "), err)
	}

	dicts := make([]map[string]any, 0, len(details.ConfigFiles))
	for _, f := range details.ConfigFiles {
		dicts = append(dicts, f.Config)
	}
	var warnings []string
	if u := loader.GetUnsupportedProperties(dicts...); len(u) > 0 {
		warnings = append(warnings, "ignoring unsupported options: "+strings.Join(u, ", "))
	}
	if d := loader.GetDeprecatedProperties(dicts...); len(d) > 0 {
		warnings = append(warnings, "ignoring deprecated options: "+strings.Join(sortedKeys(d), ", "))
	}
	for _, svc := range cfg.Services {
		if svc.Image == "" {
			return nil, fmt.Errorf("service %s: no image specified", svc.Name)
		}
		if _, err := reference.ParseAnyReference(svc.Image); err != nil {
			return nil, fmt.Errorf("service %s: invalid image reference %q: %w", svc.Name, svc.Image, err)
		}
	}
	return &Loaded{Config: cfg, Warnings: warnings}, nil
}

// FileRef is a file that a compose file makes docker/cli read on the
// machine running abra: the loader reads services' env_file, the converter
// the file of configs and secrets.
type FileRef struct {
	Compose string // the compose file, as listed
	Field   string // e.g. configs.nginx_conf.file, services.app.env_file
	Value   string // as written
	Path    string // interpolated: what docker/cli opens, relative to the recipe
}

func (r FileRef) wrap(err error) error {
	return fmt.Errorf("%s: %s: %w", r.Compose, r.Field, err)
}

// FileRefs returns the files a parsed compose file (loader.ParseYAML) makes
// docker/cli read, interpolated with env as the loader interpolates them:
// configs.*.file and secrets.*.file unless external, and services.*.env_file
// (a string or a list). A value that does not interpolate is left out:
// loading fails on it before anything is read.
func FileRefs(composeFile string, dict map[string]any, env map[string]string) []FileRef {
	var refs []FileRef
	add := func(field string, v any) {
		s, ok := v.(string)
		if !ok {
			return
		}
		p, err := template.Substitute(s, func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		})
		if err != nil {
			return
		}
		refs = append(refs, FileRef{Compose: composeFile, Field: field, Value: s, Path: p})
	}
	for _, kind := range []string{"configs", "secrets"} {
		defs, _ := dict[kind].(map[string]any)
		for _, key := range slices.Sorted(maps.Keys(defs)) {
			def, _ := defs[key].(map[string]any)
			if def == nil || external(def["external"]) {
				continue
			}
			if f, ok := def["file"]; ok {
				add(kind+"."+key+".file", f)
			}
		}
	}
	services, _ := dict["services"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(services)) {
		svc, _ := services[name].(map[string]any)
		field := "services." + name + ".env_file"
		switch ef := svc["env_file"].(type) {
		case string:
			add(field, ef)
		case []any:
			for i, e := range ef {
				add(fmt.Sprintf("%s[%d]", field, i), e)
			}
		}
	}
	return refs
}

// external reports whether a config or secret is external (true, or the
// deprecated external: {name: …}); docker/cli then reads no file.
func external(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true")
	case map[string]any:
		return true
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
