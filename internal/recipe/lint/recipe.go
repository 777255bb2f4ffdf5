package lint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/docker/cli/cli/compose/loader"
	"github.com/docker/cli/cli/compose/template"
	composetypes "github.com/docker/cli/cli/compose/types"

	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/stack"
)

// Lint does not know which app a recipe will become, so the compose files are
// interpolated with a stand-in domain and the stack name derived from it.
const (
	PlaceholderDomain    = "lint.example.com"
	PlaceholderStackName = "lint_example_com"
)

// maxStackName is the longest STACK_NAME abra derives from a domain
// (app.MaxStackNameLength): secret and config names are checked against it.
const maxStackName = 45

// dockerNameLimit is the longest name Docker accepts for a secret or config.
const dockerNameLimit = 64

// Recipe is what the rules look at: a recipe's files, parsed, and its tags.
// Fields that could not be read hold the reason in their Err sibling, so that
// each rule can skip with a reason instead of the whole lint failing.
type Recipe struct {
	Dir string

	// ComposeFiles are the compose*.yml files at the top of Dir: compose.yml
	// first, then the overlays by name. Rules look at all of them, as a
	// recipe's overlays are part of the recipe.
	ComposeFiles []string
	// Raw holds each compose file as parsed YAML, before interpolation, by
	// file name. A file that does not parse is absent; LoadErr says why.
	Raw map[string]map[string]any

	// EnvSample is .env.sample; nil when it is missing or does not parse,
	// and EnvSampleErr says which (errors.Is fs.ErrNotExist when missing).
	EnvSample    *envfile.File
	EnvSampleErr error
	envSample    []byte

	// AbraSh is abra.sh (nil when missing) and Exports its export lines.
	AbraSh  []byte
	Exports map[string]string

	// Env is what compose files are interpolated with: abra.sh exports,
	// .env.sample, and the placeholder STACK_NAME and DOMAIN.
	Env map[string]string

	// Compose is the merged configuration of all ComposeFiles, loaded as a
	// deploy loads it; nil when it does not load, and LoadErr says why.
	Compose         *composetypes.Config
	ComposeWarnings []string
	LoadErr         error

	// Readme is README.md; ReadmeErr is set when it could not be read.
	Readme    string
	ReadmeErr error

	// Outside are the recipe's own files (abra.sh, .env.sample, README.md,
	// compose files) that were not read because they lead out of the recipe
	// (errors.Is guard.ErrOutside); each is also treated as unreadable.
	Outside []error

	// Repo is the recipe's clone, nil when linting plain files.
	Repo *recipe.Repo
	// Releases are the version tags, ascending; ReleasesErr is set when
	// they could not be listed (or there is no Repo).
	Releases    []recipe.Release
	ReleasesErr error
	// Release is the release Dir holds (AtRelease), "" for a work tree or HEAD.
	Release string
	// StackName is the app's STACK_NAME (WithStackName); "" means any,
	// up to the longest abra derives.
	StackName string
}

var errNoRepo = errors.New("not a git repository")

// Load reads the recipe in dir for the rules. Only an unreadable dir is an
// error; every other problem is recorded for the rules to report.
func Load(_ context.Context, dir string, repo *recipe.Repo, opts ...Option) (*Recipe, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("lint %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("lint %s: not a directory", dir)
	}
	r := &Recipe{Dir: dir, Repo: repo, Release: o.release, StackName: o.stackName, Raw: map[string]map[string]any{}}

	r.AbraSh, err = r.readOptional("abra.sh")
	if err != nil {
		return nil, err
	}
	r.Exports = recipe.Exports(r.AbraSh)

	r.envSample, r.EnvSampleErr = r.read(".env.sample")
	if r.EnvSampleErr == nil {
		r.EnvSample, r.EnvSampleErr = envfile.Parse(".env.sample", r.envSample)
	}

	r.Env = maps.Clone(r.Exports)
	if r.EnvSample != nil {
		maps.Copy(r.Env, r.EnvSample.Values())
	}
	r.Env["STACK_NAME"] = PlaceholderStackName
	r.Env["DOMAIN"] = PlaceholderDomain

	readme, err := r.read("README.md")
	r.Readme, r.ReadmeErr = string(readme), err

	if r.ComposeFiles, err = composeFiles(dir); err != nil {
		return nil, err
	}
	r.load()

	if repo == nil {
		r.ReleasesErr = errNoRepo
	} else {
		r.Releases, r.ReleasesErr = repo.Versions()
	}
	return r, nil
}

// read reads one of the recipe's files, refusing (and recording in
// Outside) one that leads out of the recipe.
func (r *Recipe) read(name string) ([]byte, error) {
	b, err := guard.ReadFile(r.Dir, name)
	if errors.Is(err, guard.ErrOutside) {
		r.Outside = append(r.Outside, err)
	}
	return b, err
}

// readOptional reads a file that may be missing (nil then); one that leads
// out of the recipe is treated as missing, and recorded in Outside.
func (r *Recipe) readOptional(name string) ([]byte, error) {
	b, err := r.read(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, guard.ErrOutside) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lint: %w", err)
	}
	return b, nil
}

// composeFiles lists compose.yml and the compose.*.yml overlays, files or
// symlinks (which must stay inside the recipe: R107).
func composeFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lint: %w", err)
	}
	var files []string
	for _, e := range entries {
		n := e.Name()
		if (e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0) && strings.HasPrefix(n, "compose") && (strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".yaml")) {
			files = append(files, n)
		}
	}
	slices.SortFunc(files, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "compose.yml":
			return -1
		case b == "compose.yml":
			return 1
		}
		return strings.Compare(a, b)
	})
	return files, nil
}

// load parses every compose file and loads them merged, as a deploy with
// all overlays enabled would.
func (r *Recipe) load() {
	if !slices.Contains(r.ComposeFiles, "compose.yml") {
		r.LoadErr = errors.New("no compose.yml")
		return
	}
	for _, f := range r.ComposeFiles {
		b, err := r.read(f)
		if err != nil {
			r.LoadErr = err
			return
		}
		dict, err := loader.ParseYAML(b)
		if err != nil {
			r.LoadErr = fmt.Errorf("%s: %w", f, err)
			return
		}
		r.Raw[f] = dict
	}
	loaded, err := stack.Load(stack.LoadOptions{Dir: r.Dir, Files: r.ComposeFiles, Env: r.Env})
	if err != nil {
		r.LoadErr = err
		return
	}
	r.Compose, r.ComposeWarnings = loaded.Config, loaded.Warnings
}

// loadErr is LoadErr without the temporary directory in its paths.
func (r *Recipe) loadErr() string { return r.relDir(r.LoadErr.Error()) }

// rawFiles returns the parsed compose files in order.
func (r *Recipe) rawFiles() []map[string]any {
	var out []map[string]any
	for _, f := range r.ComposeFiles {
		if d, ok := r.Raw[f]; ok {
			out = append(out, d)
		}
	}
	return out
}

// services returns the names of the services in any compose file, sorted.
func (r *Recipe) services() []string {
	seen := map[string]bool{}
	for _, d := range r.rawFiles() {
		for name := range asMap(d["services"]) {
			seen[name] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// service returns a service's definition merged over all compose files:
// maps merge key by key, anything else is replaced by the later file.
func (r *Recipe) service(name string) map[string]any {
	out := map[string]any{}
	for _, d := range r.rawFiles() {
		if s, ok := asMap(d["services"])[name].(map[string]any); ok {
			out = merge(out, s)
		}
	}
	return out
}

// section returns a top-level section (configs, secrets) merged over all
// compose files.
func (r *Recipe) section(name string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, d := range r.rawFiles() {
		for k, v := range asMap(d[name]) {
			m, _ := v.(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			out[k] = merge(out[k], m)
		}
	}
	return out
}

func merge(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(maps.Clone(dm), sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// label is a deploy label as written, and interpolated with Env.
type label struct {
	Service  string
	Key, Val string // as written
	IKey     string // interpolated
	IVal     string
}

// labels returns the deploy labels of every service, file by file, in list
// (["k=v"]) or map form. Later files override earlier ones per key.
func (r *Recipe) labels() []label {
	var out []label
	for _, svc := range r.services() {
		byKey := map[string]label{}
		var order []string
		for _, d := range r.rawFiles() {
			s := asMap(asMap(d["services"])[svc])
			for k, v := range rawLabels(asMap(s["deploy"])["labels"]) {
				if _, ok := byKey[k]; !ok {
					order = append(order, k)
				}
				byKey[k] = label{Service: svc, Key: k, Val: v, IKey: r.interpolate(k), IVal: r.interpolate(v)}
			}
		}
		slices.Sort(order)
		for _, k := range order {
			out = append(out, byKey[k])
		}
	}
	return out
}

func rawLabels(v any) map[string]string {
	out := map[string]string{}
	switch l := v.(type) {
	case []any:
		for _, e := range l {
			s, ok := e.(string)
			if !ok {
				continue
			}
			k, val, _ := strings.Cut(s, "=")
			out[strings.TrimSpace(k)] = val
		}
	case map[string]any:
		for k, val := range l {
			out[k] = fmt.Sprint(val)
		}
	}
	return out
}

// interpolate substitutes Env into s as the compose loader does; s is
// returned as it is when it is not a valid template.
func (r *Recipe) interpolate(s string) string {
	return interpolateWith(s, r.Env)
}

func interpolateWith(s string, env map[string]string) string {
	out, err := template.Substitute(s, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		return s
	}
	return out
}

// variable is a ${VAR} reference in a compose file.
type variable struct {
	Name       string
	HasDefault bool // ${VAR:-x} or ${VAR-x}
}

// varPattern matches what docker's compose interpolation substitutes: $$ (an
// escaped $), $VAR, and ${VAR} with an optional :-, -, :? or ? modifier.
var varPattern = regexp.MustCompile(`\$(?:(\$)|([_a-zA-Z][_a-zA-Z0-9]*)|\{([_a-zA-Z][_a-zA-Z0-9]*)(:?[-?][^}]*)?\})`)

// variables returns the variables referenced in s.
func variables(s string) []variable {
	var out []variable
	for _, m := range varPattern.FindAllStringSubmatch(s, -1) {
		switch {
		case m[1] != "":
			continue
		case m[2] != "":
			out = append(out, variable{Name: m[2]})
		default:
			op := strings.TrimPrefix(m[4], ":")
			out = append(out, variable{Name: m[3], HasDefault: strings.HasPrefix(op, "-")})
		}
	}
	return out
}

// walkStrings calls fn with every string value of v, which is what compose
// interpolation substitutes into (keys are left alone).
func walkStrings(v any, fn func(string)) {
	switch t := v.(type) {
	case string:
		fn(t)
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			walkStrings(t[k], fn)
		}
	case []any:
		for _, e := range t {
			walkStrings(e, fn)
		}
	}
}

// latest returns the release the recipe's files should be labelled with:
// the one given to AtRelease, else the highest.
func (r *Recipe) latest() (recipe.Release, bool) {
	if len(r.Releases) == 0 {
		return recipe.Release{}, false
	}
	if r.Release == "" {
		return r.Releases[len(r.Releases)-1], true
	}
	for _, rel := range r.Releases {
		if rel.Tag == r.Release {
			return rel, true
		}
	}
	return recipe.Release{}, false
}

// previous returns the release the files are compared with to see what
// changed: the highest, or the one before the AtRelease one.
func (r *Recipe) previous() (recipe.Release, bool) {
	if r.Release == "" {
		return r.latest()
	}
	var prev recipe.Release
	for _, rel := range r.Releases {
		if rel.Tag == r.Release {
			return prev, prev.Tag != ""
		}
		prev = rel
	}
	return recipe.Release{}, false
}
