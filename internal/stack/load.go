// Package stack turns compose files into swarm objects and applies them to a
// cluster, exactly as `docker stack deploy` does: it uses docker/cli's own compose
// loader and converter, and mirrors its order of operations.
package stack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/loader"
	"github.com/docker/cli/cli/compose/schema"
	composetypes "github.com/docker/cli/cli/compose/types"
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
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("compose file %s: does not exist (listed in COMPOSE_FILE)", path)
			}
			return nil, fmt.Errorf("compose file %s: %w", path, err)
		}
		dict, err := loader.ParseYAML(data)
		if err != nil {
			return nil, fmt.Errorf("compose file %s: %w", path, err)
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

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
