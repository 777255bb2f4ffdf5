package recipe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"coopcloud.tech/abra/internal/atomicfile"
	"coopcloud.tech/abra/internal/hint"
)

// VersionLabel is the deploy label of a recipe's main service that carries
// the recipe version, as recipes write it (the stack name is interpolated at
// deploy time).
const VersionLabel = "coop-cloud.${STACK_NAME}.version"

// ComposeFiles lists a recipe's compose files: compose.yml first, then the
// compose.*.yml overlays by name.
func ComposeFiles(dir string) ([]string, error) {
	overlays, err := filepath.Glob(filepath.Join(dir, "compose.*.yml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(overlays)
	files := []string{}
	if _, err := os.Stat(filepath.Join(dir, "compose.yml")); err == nil {
		files = append(files, "compose.yml")
	}
	for _, o := range overlays {
		files = append(files, filepath.Base(o))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s has no compose.yml", dir)
	}
	return files, nil
}

// ImageLine is a service's image: line in a compose file.
type ImageLine struct {
	File    string `json:"file"` // compose.yml, compose.<x>.yml
	Service string `json:"service"`
	Line    int    `json:"line"`
	Ref     string `json:"ref"`   // as written
	Image   string `json:"image"` // without tag
	Tag     string `json:"tag"`
	// Skip says why the tag cannot be upgraded (interpolated, pinned by
	// digest, untagged); empty when it can.
	Skip string `json:"skip,omitempty"`
}

// ComposeImageLines lists every service's image in every compose file of
// the recipe at dir, in file order then service order.
func ComposeImageLines(dir string) ([]ImageLine, error) {
	files, err := ComposeFiles(dir)
	if err != nil {
		return nil, err
	}
	var out []ImageLine
	for _, f := range files {
		doc, err := loadComposeText(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		out = append(out, doc.imageLines(f)...)
	}
	return out, nil
}

// imageLines lists the services' image lines of one compose file.
func (d *composeText) imageLines(file string) []ImageLine {
	var out []ImageLine
	for _, svc := range d.services() {
		img := mapValue(svc.node, "image")
		if img == nil || img.Kind != yaml.ScalarNode {
			continue
		}
		il := ImageLine{File: file, Service: svc.name, Line: img.Line, Ref: img.Value}
		il.Image, il.Tag = SplitImage(img.Value)
		switch {
		case strings.Contains(img.Value, "$"):
			il.Skip = "interpolated from the environment"
		case strings.Contains(img.Value, "@"):
			il.Skip = "pinned by digest"
		case il.Tag == "":
			il.Skip = "no tag"
		case !d.editable(img):
			il.Skip = "not a one-line value"
		}
		out = append(out, il)
	}
	return out
}

// ImageChange sets a new tag on one image line.
type ImageChange struct {
	File, Service string
	From, To      string // tags
}

// SetImageTags rewrites image tags in place, line by line, so comments and
// formatting stay as they were. Each change must still find its service's
// image with the From tag; otherwise nothing is written to that file.
func SetImageTags(dir string, changes []ImageChange) error {
	byFile := map[string][]ImageChange{}
	var order []string
	for _, c := range changes {
		if _, ok := byFile[c.File]; !ok {
			order = append(order, c.File)
		}
		byFile[c.File] = append(byFile[c.File], c)
	}
	for _, f := range order {
		path := filepath.Join(dir, f)
		doc, err := loadComposeText(path)
		if err != nil {
			return err
		}
		for _, c := range byFile[f] {
			svc := doc.service(c.Service)
			img := mapValue(svc, "image")
			if img == nil || img.Kind != yaml.ScalarNode {
				return fmt.Errorf("%s: service %s has no image", f, c.Service)
			}
			image, tag := SplitImage(img.Value)
			if tag != c.From || strings.Contains(img.Value, "@") {
				return fmt.Errorf("%s: service %s: image is %s, not tagged %s", f, c.Service, img.Value, c.From)
			}
			if err := doc.replaceScalar(img, image+":"+c.To); err != nil {
				return fmt.Errorf("%s: service %s: %w", f, c.Service, err)
			}
		}
		if err := doc.write(); err != nil {
			return err
		}
	}
	return nil
}

// MainService is the service that carries abra's labels: "app", or else the
// first service of compose.yml.
func MainService(dir string) (string, error) {
	doc, err := loadComposeText(filepath.Join(dir, "compose.yml"))
	if err != nil {
		return "", err
	}
	return doc.mainService()
}

// ReadVersionLabel returns the value of the version label of the main
// service in compose.yml ("" and false when there is none).
func ReadVersionLabel(dir string) (string, bool, error) {
	doc, err := loadComposeText(filepath.Join(dir, "compose.yml"))
	if err != nil {
		return "", false, err
	}
	name, err := doc.mainService()
	if err != nil {
		return "", false, err
	}
	n, _, err := doc.versionLabel(name)
	if err != nil || n == nil {
		return "", false, err
	}
	v, _ := strings.CutPrefix(n.Value, VersionLabel+"=")
	return v, true, nil
}

// WriteVersionLabel sets the version label of the main service in
// compose.yml to version, editing only that line (or adding one line after
// the last label when the label is missing).
func WriteVersionLabel(dir, version string) error {
	path := filepath.Join(dir, "compose.yml")
	doc, err := loadComposeText(path)
	if err != nil {
		return err
	}
	name, err := doc.mainService()
	if err != nil {
		return err
	}
	n, labels, err := doc.versionLabel(name)
	if err != nil {
		return err
	}
	switch {
	case n != nil && labels.Kind == yaml.SequenceNode:
		err = doc.replaceScalar(n, VersionLabel+"="+version)
	case n != nil:
		err = doc.replaceScalar(n, version)
	default:
		err = doc.appendLabel(labels, version)
	}
	if err != nil {
		return hint.With(fmt.Errorf("compose.yml: service %s: version label: %w", name, err),
			"add - \""+VersionLabel+"=\" to deploy.labels of service "+name+" by hand")
	}
	return doc.write()
}

// composeText is a compose file kept as lines, with its YAML tree for
// finding things; edits touch lines only.
type composeText struct {
	path  string
	mode  os.FileMode
	lines []string // with their line endings
	root  *yaml.Node
}

func loadComposeText(path string) (*composeText, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := parseComposeText(path, data)
	if err != nil {
		return nil, err
	}
	doc.mode = st.Mode().Perm()
	return doc, nil
}

// parseComposeText reads compose content; path names it in errors (and is
// where write puts it).
func parseComposeText(path string, data []byte) (*composeText, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	doc := &composeText{path: path, mode: 0o644, lines: strings.SplitAfter(string(data), "\n")}
	if len(root.Content) > 0 {
		doc.root = root.Content[0]
	}
	return doc, nil
}

type namedNode struct {
	name string
	node *yaml.Node
}

func (d *composeText) services() []namedNode {
	svcs := mapValue(d.root, "services")
	if svcs == nil || svcs.Kind != yaml.MappingNode {
		return nil
	}
	var out []namedNode
	for i := 0; i+1 < len(svcs.Content); i += 2 {
		out = append(out, namedNode{svcs.Content[i].Value, svcs.Content[i+1]})
	}
	return out
}

func (d *composeText) service(name string) *yaml.Node {
	for _, s := range d.services() {
		if s.name == name {
			return s.node
		}
	}
	return nil
}

func (d *composeText) mainService() (string, error) {
	svcs := d.services()
	if len(svcs) == 0 {
		return "", fmt.Errorf("%s: no services", filepath.Base(d.path))
	}
	if d.service("app") != nil {
		return "app", nil
	}
	return svcs[0].name, nil
}

// versionLabel finds the version label of a service: the label's scalar
// (the list item, or the mapping value) and the labels node; label is nil
// when the service has labels but not this one.
func (d *composeText) versionLabel(service string) (label, labels *yaml.Node, err error) {
	labels = mapValue(mapValue(d.service(service), "deploy"), "labels")
	if labels == nil {
		return nil, nil, hint.With(fmt.Errorf("compose.yml: service %s has no deploy.labels", service),
			"add deploy.labels with - \""+VersionLabel+"=\" to service "+service)
	}
	switch labels.Kind {
	case yaml.SequenceNode:
		for _, item := range labels.Content {
			if strings.HasPrefix(item.Value, VersionLabel+"=") {
				return item, labels, nil
			}
		}
	case yaml.MappingNode:
		return mapValue(labels, VersionLabel), labels, nil
	default:
		return nil, nil, fmt.Errorf("compose.yml: service %s: deploy.labels is neither a list nor a mapping", service)
	}
	return nil, labels, nil
}

// appendLabel adds the version label after the last label of a block list
// or mapping, indented like it.
func (d *composeText) appendLabel(labels *yaml.Node, version string) error {
	if labels.Style&yaml.FlowStyle != 0 || len(labels.Content) == 0 {
		return errors.New("labels are not a block list or mapping with entries")
	}
	last := labels.Content[len(labels.Content)-1]
	if last.Kind != yaml.ScalarNode || !d.editable(last) {
		return errors.New("the last label spans several lines")
	}
	line := d.lines[last.Line-1]
	indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
	var text string
	if labels.Kind == yaml.SequenceNode {
		text = indent + `- "` + VersionLabel + "=" + version + `"`
	} else {
		text = indent + VersionLabel + ": " + version
	}
	eol := "\n"
	if strings.HasSuffix(line, "\r\n") {
		eol = "\r\n"
	}
	if !strings.HasSuffix(line, "\n") {
		d.lines[last.Line-1] += eol
	}
	d.lines = slices.Insert(d.lines, last.Line, text+eol)
	return nil
}

// rawScalar returns where a one-line scalar is written on its line (rune
// offsets) and its quote character (0 for plain), or ok=false when the text
// there is not the scalar's value written on one line.
func (d *composeText) rawScalar(n *yaml.Node) (start, end int, quote rune, ok bool) {
	if n.Line < 1 || n.Line > len(d.lines) {
		return 0, 0, 0, false
	}
	line := []rune(strings.TrimRight(d.lines[n.Line-1], "\r\n"))
	start = n.Column - 1
	if start < 0 || start >= len(line) {
		return 0, 0, 0, false
	}
	var raw string
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		quote, raw = '"', `"`+n.Value+`"`
		if strings.ContainsAny(n.Value, "\"\\") {
			return 0, 0, 0, false
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		quote, raw = '\'', `'`+strings.ReplaceAll(n.Value, "'", "''")+`'`
	case n.Style == 0 || n.Style == yaml.FlowStyle:
		raw = n.Value
	default:
		return 0, 0, 0, false // literal or folded blocks
	}
	rest := string(line[start:])
	if !strings.HasPrefix(rest, raw) {
		return 0, 0, 0, false
	}
	end = start + len([]rune(raw))
	if quote == 0 && end < len(line) && !strings.ContainsRune(" \t,]}#", line[end]) {
		return 0, 0, 0, false
	}
	return start, end, quote, true
}

func (d *composeText) editable(n *yaml.Node) bool {
	_, _, _, ok := d.rawScalar(n)
	return ok
}

// replaceScalar writes value in place of a one-line scalar, quoted as the
// old value was.
func (d *composeText) replaceScalar(n *yaml.Node, value string) error {
	start, end, quote, ok := d.rawScalar(n)
	if !ok {
		return fmt.Errorf("line %d: %q is not written on one line; edit it by hand", n.Line, n.Value)
	}
	var raw string
	switch quote {
	case '"':
		raw = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(value) + `"`
	case '\'':
		raw = `'` + strings.ReplaceAll(value, "'", "''") + `'`
	default:
		raw = value
	}
	full := d.lines[n.Line-1]
	body := strings.TrimRight(full, "\r\n")
	eol := full[len(body):]
	line := []rune(body)
	d.lines[n.Line-1] = string(line[:start]) + raw + string(line[end:]) + eol
	return nil
}

// write replaces the file atomically, keeping its permissions.
func (d *composeText) write() error {
	return atomicfile.Write(d.path, []byte(strings.Join(d.lines, "")), d.mode)
}

// mapValue returns the value of key in a mapping node, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
