// Package template holds the recipe that `abra recipe new` starts from: it
// passes every critical lint rule and deploys behind traefik.
package template

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

//go:embed files
var files embed.FS

// Names of the embedded templates → file names in the recipe.
var layout = map[string]string{
	"compose.yml.tmpl": "compose.yml",
	"env.sample.tmpl":  ".env.sample",
	"abra.sh.tmpl":     "abra.sh",
	"README.md.tmpl":   "README.md",
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// Write creates the recipe's files in dir, which must not exist yet.
func Write(dir, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid recipe name %q: use lower-case letters, digits and dashes", name)
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s already exists", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data := struct{ Name, Title string }{name, strings.ToUpper(name[:1]) + name[1:]}
	for src, dst := range layout {
		raw, err := files.ReadFile("files/" + src)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := template.Must(template.New(src).Delims("{{", "}}").Parse(string(raw))).Execute(&buf, data); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if dst == "abra.sh" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, dst), buf.Bytes(), mode); err != nil {
			return err
		}
	}
	return nil
}
