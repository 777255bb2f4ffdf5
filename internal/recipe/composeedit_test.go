package recipe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeRecipeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readRecipeFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const editCompose = `---
version: "3.8"
# the main app
services:
  app:
    image: "nginx:1.2-alpine" # pinned on purpose
    deploy:
      labels:
        - "traefik.enable=true"
        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.2-alpine"
        # a comment after the labels
  db:
    image: mariadb:10.6   # trailing comment
  cache:
    image: 'redis:7'
  env:
    image: ${IMAGE:-nginx}:1.2
  pinned:
    image: nginx:1.25@sha256:0000000000000000000000000000000000000000000000000000000000000000
  latest:
    image: busybox
  folded:
    image: >-
      nginx:1.2
`

func TestComposeImageLines(t *testing.T) {
	dir := writeRecipeFiles(t, map[string]string{
		"compose.yml":      editCompose,
		"compose.smtp.yml": "services:\n  smtp:\n    image: mailu/postfix:2.0\n",
		"compose.other":    "services:\n  x:\n    image: nope:1\n",
	})
	lines, err := ComposeImageLines(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		got = append(got, l.File+":"+l.Service+":"+l.Image+":"+l.Tag+":"+l.Skip)
	}
	want := []string{
		"compose.yml:app:nginx:1.2-alpine:",
		"compose.yml:db:mariadb:10.6:",
		"compose.yml:cache:redis:7:",
		"compose.yml:env:${IMAGE:-nginx}:1.2:interpolated from the environment",
		"compose.yml:pinned:nginx:1.25:pinned by digest",
		"compose.yml:latest:busybox::no tag",
		"compose.yml:folded:nginx:1.2:not a one-line value",
		"compose.smtp.yml:smtp:mailu/postfix:2.0:",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSetImageTagsKeepsFormatting(t *testing.T) {
	dir := writeRecipeFiles(t, map[string]string{
		"compose.yml":      editCompose,
		"compose.smtp.yml": "services:\n  smtp:\n    image: mailu/postfix:2.0\n",
	})
	err := SetImageTags(dir, []ImageChange{
		{File: "compose.yml", Service: "app", From: "1.2-alpine", To: "1.3-alpine"},
		{File: "compose.yml", Service: "db", From: "10.6", To: "10.11"},
		{File: "compose.yml", Service: "cache", From: "7", To: "7.2"},
		{File: "compose.smtp.yml", Service: "smtp", From: "2.0", To: "2.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		`image: "nginx:1.2-alpine" # pinned on purpose`, `image: "nginx:1.3-alpine" # pinned on purpose`,
		"image: mariadb:10.6   # trailing comment", "image: mariadb:10.11   # trailing comment",
		"image: 'redis:7'", "image: 'redis:7.2'",
	).Replace(editCompose)
	if got := readRecipeFile(t, dir, "compose.yml"); got != want {
		t.Errorf("compose.yml:\n%s\nwant:\n%s", got, want)
	}
	if got := readRecipeFile(t, dir, "compose.smtp.yml"); got != "services:\n  smtp:\n    image: mailu/postfix:2.1\n" {
		t.Errorf("compose.smtp.yml: %q", got)
	}
}

func TestSetImageTagsRefusesStaleChange(t *testing.T) {
	dir := writeRecipeFiles(t, map[string]string{"compose.yml": editCompose})
	for _, c := range []ImageChange{
		{File: "compose.yml", Service: "db", From: "10.5", To: "10.11"},
		{File: "compose.yml", Service: "nope", From: "1", To: "2"},
		{File: "compose.yml", Service: "folded", From: "1.2", To: "1.3"},
	} {
		if err := SetImageTags(dir, []ImageChange{c}); err == nil {
			t.Errorf("change %+v: no error", c)
		}
	}
	if got := readRecipeFile(t, dir, "compose.yml"); got != editCompose {
		t.Errorf("a refused change wrote the file:\n%s", got)
	}
}

func TestVersionLabel(t *testing.T) {
	tests := []struct {
		name     string
		compose  string
		read     string
		found    bool
		want     string // compose.yml after writing 2.0.0+1.3
		writeErr bool
	}{
		{
			name:    "quoted list item",
			compose: editCompose,
			read:    "1.0.0+1.2-alpine", found: true,
			want: strings.Replace(editCompose, "version=1.0.0+1.2-alpine", "version=2.0.0+1.3", 1),
		},
		{
			name:    "empty value from the template",
			compose: "services:\n  app:\n    deploy:\n      labels:\n        - coop-cloud.${STACK_NAME}.version=\n",
			read:    "", found: true,
			want: "services:\n  app:\n    deploy:\n      labels:\n        - coop-cloud.${STACK_NAME}.version=2.0.0+1.3\n",
		},
		{
			name:    "mapping",
			compose: "services:\n  web:\n    deploy:\n      labels:\n        traefik.enable: \"true\"\n        coop-cloud.${STACK_NAME}.version: 1.0.0+1.2\n",
			read:    "1.0.0+1.2", found: true,
			want: "services:\n  web:\n    deploy:\n      labels:\n        traefik.enable: \"true\"\n        coop-cloud.${STACK_NAME}.version: 2.0.0+1.3\n",
		},
		{
			name:    "missing label is added after the last one",
			compose: "services:\n  db:\n    image: x:1\n  app:\n    deploy:\n      labels:\n        - \"traefik.enable=true\"\n    # comment\n",
			want:    "services:\n  db:\n    image: x:1\n  app:\n    deploy:\n      labels:\n        - \"traefik.enable=true\"\n        - \"coop-cloud.${STACK_NAME}.version=2.0.0+1.3\"\n    # comment\n",
		},
		{
			name:     "no labels",
			compose:  "services:\n  app:\n    image: x:1\n",
			writeErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeRecipeFiles(t, map[string]string{"compose.yml": tt.compose})
			v, found, err := ReadVersionLabel(dir)
			if !tt.writeErr && err != nil {
				t.Fatal(err)
			}
			if v != tt.read || found != tt.found {
				t.Errorf("ReadVersionLabel = %q, %v; want %q, %v", v, found, tt.read, tt.found)
			}
			err = WriteVersionLabel(dir, "2.0.0+1.3")
			if tt.writeErr {
				if err == nil {
					t.Fatal("WriteVersionLabel: no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readRecipeFile(t, dir, "compose.yml"); got != tt.want {
				t.Errorf("compose.yml:\n%s\nwant:\n%s", got, tt.want)
			}
			if v, _, _ := ReadVersionLabel(dir); v != "2.0.0+1.3" {
				t.Errorf("read back %q", v)
			}
		})
	}
}
