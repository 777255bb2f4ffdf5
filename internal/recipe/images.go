package recipe

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ServiceImage is a service of a release and the image it runs.
type ServiceImage struct {
	Service string `json:"service"`
	Image   string `json:"image"` // as written, without the tag
	Tag     string `json:"tag"`
}

// Images lists the services of compose.yml at a release and their images, as
// written in the file (variables are not interpolated, as in the catalogue).
func (r *Repo) Images(rev string) ([]ServiceImage, error) {
	data, err := r.FileAt(rev, "compose.yml")
	if err != nil {
		return nil, fmt.Errorf("%s: compose.yml: %w", rev, err)
	}
	out, err := ComposeImages(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rev, err)
	}
	return out, nil
}

// ComposeImages lists the services of a compose file and their images, as
// written (variables are not interpolated).
func ComposeImages(data []byte) ([]ServiceImage, error) {
	var doc struct {
		Services map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("compose.yml: %w", err)
	}
	var out []ServiceImage
	for _, name := range slices.Sorted(maps.Keys(doc.Services)) {
		image, tag := SplitImage(doc.Services[name].Image)
		out = append(out, ServiceImage{Service: name, Image: image, Tag: tag})
	}
	return out, nil
}

// SplitImage splits "repo/name:tag@digest" into name and tag ("" when untagged).
func SplitImage(ref string) (image, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}
