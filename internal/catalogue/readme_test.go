package catalogue

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestParseREADMEGolden(t *testing.T) {
	inputs := map[string]string{
		"demo":      filepath.Join("..", "..", "recipes", "demo", "README.md"),
		"wordpress": "", // wordpressREADME, the documented example
	}
	mds, _ := filepath.Glob(filepath.Join("testdata", "readme", "*.md"))
	for _, md := range mds {
		inputs[strings.TrimSuffix(filepath.Base(md), ".md")] = md
	}
	for name, path := range inputs {
		t.Run(name, func(t *testing.T) {
			src := []byte(wordpressREADME)
			if path != "" {
				var err error
				if src, err = os.ReadFile(path); err != nil {
					t.Fatal(err)
				}
			}
			got, err := json.MarshalIndent(ParseREADME(src), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("readme", name+".golden"), append(got, '\n'))
		})
	}
}

func TestParseREADMEFields(t *testing.T) {
	r := ParseREADME([]byte(wordpressREADME))
	want := Features{Backups: "Yes", Email: "3", Healthcheck: "Yes", Status: 3, Tests: "2", SSO: "No",
		Image: Image{Image: "wordpress", Rating: "4", Source: "upstream", URL: "https://hub.docker.com/_/wordpress"}}
	if r.Features != want {
		t.Errorf("features\n got %+v\nwant %+v", r.Features, want)
	}
	if r.Title != "Wordpress" || r.Category != "Apps" || r.Description != "The most popular blogging software" || len(r.Warnings) != 0 {
		t.Errorf("readme %+v", r)
	}
}

func TestParseREADMEWarnings(t *testing.T) {
	tests := []struct {
		name, readme, want string
	}{
		{"no block", "# X\n> y\n", "no <!-- metadata -->"},
		{"status", "<!-- metadata -->\n* **Status**: great\n<!-- endmetadata -->", `status "great" is not a number`},
		{"status out of range", "<!-- metadata -->\n* **Status**: 7\n<!-- endmetadata -->", `status "7" is not a number 1-5`},
		{"image", "<!-- metadata -->\n* **Image**: nginx, 4\n<!-- endmetadata -->", `image line "nginx, 4"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ParseREADME([]byte(tt.readme))
			if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], tt.want) {
				t.Errorf("warnings %q, want one containing %q", r.Warnings, tt.want)
			}
		})
	}
}
