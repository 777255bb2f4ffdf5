// Package catalogue is the recipe catalogue: recipes.json, the index of
// every recipe with its README metadata and, per published version, the
// image, tag and digest of each service. The format is Co-op Cloud's, so a
// catalogue generated here is read by every abra and the other way round.
//
// The package reads, searches, generates (recipes fetched and digests
// resolved concurrently, with a cache) and renders the catalogue; it keeps
// the local copy, a git clone, in sync with its remote.
package catalogue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"coopcloud.tech/abra/internal/atomicfile"
)

// FileName is the catalogue's file in the catalogue repository.
const FileName = "recipes.json"

// UnknownDigest is the digest of an image whose registry could not be asked
// (unreachable, no such tag, an image name built from variables).
const UnknownDigest = "unknown"

// Catalogue is recipes.json: recipes keyed by name.
type Catalogue map[string]RecipeMeta

// RecipeMeta is one recipe of the catalogue. The field set, names and types
// are those of Co-op Cloud's recipes.json.
type RecipeMeta struct {
	Category      string   `json:"category"`
	DefaultBranch string   `json:"default_branch"`
	Description   string   `json:"description"`
	Features      Features `json:"features"`
	Icon          string   `json:"icon"`
	Name          string   `json:"name"`
	Repository    string   `json:"repository"`
	SSHURL        string   `json:"ssh_url"`
	Versions      Versions `json:"versions"`
	Website       string   `json:"website"`
}

// Features are what the recipe's README metadata block says it supports.
// Values are kept as written ("Yes", "No", "3", "?"), except Status, the
// overall score 1–5 (0 when unknown).
type Features struct {
	Backups     string `json:"backups"`
	Email       string `json:"email"`
	Healthcheck string `json:"healthcheck"`
	Image       Image  `json:"image"`
	Status      int    `json:"status"`
	Tests       string `json:"tests"`
	SSO         string `json:"sso"`
}

// UnmarshalJSON reads Status as the schema allows it, any whole number
// (3 or 3.0), so that every recipes.json that passes recipes.schema.json is
// read.
func (f *Features) UnmarshalJSON(b []byte) error {
	type plain Features
	aux := struct {
		*plain
		Status json.RawMessage `json:"status"`
	}{plain: (*plain)(f)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if len(aux.Status) == 0 || string(aux.Status) == "null" {
		return nil
	}
	status, err := wholeNumber(aux.Status)
	if err != nil {
		return fmt.Errorf("features.status: %w", err)
	}
	f.Status = status
	return nil
}

// wholeNumber reads a JSON number without a fractional part as an int.
func wholeNumber(raw json.RawMessage) (int, error) {
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, fmt.Errorf("%s is not a number", raw)
	}
	n := json.Number(raw)
	if i, err := n.Int64(); err == nil && i >= math.MinInt && i <= math.MaxInt {
		return int(i), nil
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || f < math.MinInt || f >= math.MaxInt {
		return 0, fmt.Errorf("%s is not a whole number that fits an int", raw)
	}
	return int(f), nil
}

// Image describes the recipe's main image: its name, rating (1–4), source
// ("upstream", "own", …) and a link to it.
type Image struct {
	Image  string `json:"image"`
	Rating string `json:"rating"`
	Source string `json:"source"`
	URL    string `json:"url"`
}

// ServiceMeta is a service of a version: its image as written in
// compose.yml (without the tag), the tag, and the digest the registry gave
// for image:tag ("sha256:…", or UnknownDigest).
type ServiceMeta struct {
	Digest string `json:"digest"`
	Image  string `json:"image"`
	Tag    string `json:"tag"`
}

// Versions are a recipe's published versions in ascending order. In JSON
// each element is an object with one key, the version, whose value maps
// service names to their ServiceMeta (Co-op Cloud's layout).
type Versions []Version

// MarshalJSON writes no versions as [], never null.
func (vs Versions) MarshalJSON() ([]byte, error) {
	if vs == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]Version(vs))
}

// Version is one published version of a recipe.
type Version struct {
	Name     string
	Services map[string]ServiceMeta
}

// MarshalJSON writes {"<version>": {"<service>": {…}}}.
func (v Version) MarshalJSON() ([]byte, error) {
	services := v.Services
	if services == nil {
		services = map[string]ServiceMeta{}
	}
	return json.Marshal(map[string]map[string]ServiceMeta{v.Name: services})
}

// UnmarshalJSON reads an object with exactly one key.
func (v *Version) UnmarshalJSON(b []byte) error {
	var m map[string]map[string]ServiceMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if len(m) != 1 {
		return fmt.Errorf("a version is an object with one key, the version; got %d keys", len(m))
	}
	for name, services := range m {
		v.Name, v.Services = name, services
	}
	return nil
}

// Find returns the version called name.
func (vs Versions) Find(name string) (Version, bool) {
	for _, v := range vs {
		if v.Name == name {
			return v, true
		}
	}
	return Version{}, false
}

// Latest is the name of the last (highest) version, "" when there is none.
func (r RecipeMeta) Latest() string {
	if len(r.Versions) == 0 {
		return ""
	}
	return r.Versions[len(r.Versions)-1].Name
}

// Names returns the recipe names in order.
func (c Catalogue) Names() []string { return slices.Sorted(maps.Keys(c)) }

// Filter returns the recipes whose name, description or category contain
// pattern, ignoring case. An empty pattern matches every recipe.
func (c Catalogue) Filter(pattern string) Catalogue {
	p := strings.ToLower(pattern)
	out := Catalogue{}
	for name, r := range c {
		if p == "" || strings.Contains(strings.ToLower(name), p) ||
			strings.Contains(strings.ToLower(r.Description), p) ||
			strings.Contains(strings.ToLower(r.Category), p) {
			out[name] = r
		}
	}
	return out
}

// ErrNoCatalogue means there is no recipes.json at the expected place.
var ErrNoCatalogue = errors.New("no recipe catalogue")

// Read reads a recipes.json file. A missing file gives an error wrapping
// ErrNoCatalogue.
func Read(path string) (Catalogue, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoCatalogue, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read catalogue: %w", err)
	}
	c, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("parse catalogue %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes recipes.json content.
func Parse(b []byte) (Catalogue, error) {
	c, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("parse catalogue: %w", err)
	}
	return c, nil
}

// decode reads recipes.json; a syntax error says on which line it is.
func decode(b []byte) (Catalogue, error) {
	c := Catalogue{}
	if err := json.Unmarshal(b, &c); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		return nil, err
	}
	return c, nil
}

// Encode returns the catalogue as indented JSON, keys sorted, HTML
// characters unescaped, ending with a newline: byte for byte what
// 'abra recipe ls --json' prints, so that the two can be compared.
func (c Catalogue) Encode() ([]byte, error) {
	if c == nil {
		c = Catalogue{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Write writes the catalogue to path atomically (readers see the old file
// or the new one, never a part), after checking it against Schema: a file
// other abras could not read is never written.
func (c Catalogue) Write(path string) error {
	b, err := c.Encode()
	if err != nil {
		return fmt.Errorf("encode catalogue: %w", err)
	}
	if err := Validate(b); err != nil {
		return err
	}
	return writeAtomic(path, b)
}

// writeAtomic replaces path with b (0644), creating its directory.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
