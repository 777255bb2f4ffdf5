package catalogue

import (
	_ "embed"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
)

//go:embed html.tmpl
var htmlTemplate string

var page = template.Must(template.New("catalogue").Parse(htmlTemplate))

// HTMLOptions are the page's title and the generation date shown in its
// footer ("" leaves it out, for reproducible pages).
type HTMLOptions struct {
	Title     string
	Generated string
}

type htmlRecipe struct {
	RecipeMeta
	Rows []htmlRow
}

type htmlRow struct {
	Version, Service, Image, Digest string
}

// ShortDigest is the first 12 hex digits, as docker shows image IDs.
func (r htmlRow) ShortDigest() string {
	d := strings.TrimPrefix(r.Digest, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// RenderHTML writes the catalogue as one static page: every recipe with its
// category, description, features, versions and links, newest version
// first, with a search box and a category filter (a few lines of inline
// script; the page works without it).
func RenderHTML(w io.Writer, c Catalogue, o HTMLOptions) error {
	if o.Title == "" {
		o.Title = "Recipes"
	}
	data := struct {
		HTMLOptions
		Categories []string
		Recipes    []htmlRecipe
	}{HTMLOptions: o}
	cats := map[string]bool{}
	for _, name := range c.Names() {
		r := c[name]
		if r.Category != "" {
			cats[r.Category] = true
		}
		hr := htmlRecipe{RecipeMeta: r}
		for i := len(r.Versions) - 1; i >= 0; i-- {
			v := r.Versions[i]
			for _, svc := range slices.Sorted(maps.Keys(v.Services)) {
				m := v.Services[svc]
				image := m.Image
				if m.Tag != "" {
					image += ":" + m.Tag
				}
				hr.Rows = append(hr.Rows, htmlRow{Version: v.Name, Service: svc, Image: image, Digest: m.Digest})
			}
		}
		data.Recipes = append(data.Recipes, hr)
	}
	data.Categories = slices.Sorted(maps.Keys(cats))
	return page.Execute(w, data)
}
