package catalogue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEncodeRoundTrip(t *testing.T) {
	in := readTestdata(t, "recipes.json")
	c, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := c["custom-html"].Latest(); got != "0.2.0+1.27.0" {
		t.Errorf("latest %q", got)
	}
	if c["custom-html"].Versions[1].Services["cron"].Image != "mcuadros/ofelia" {
		t.Errorf("versions %+v", c["custom-html"].Versions)
	}
	out, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Errorf("encode(parse(x)) != x:\n%s", out)
	}
}

func TestVersionWithSeveralKeysIsRefused(t *testing.T) {
	_, err := Parse([]byte(`{"x": {"name": "x", "versions": [{"1.0.0+1": {}, "1.1.0+1": {}}]}}`))
	if err == nil || !strings.Contains(err.Error(), "one key") {
		t.Errorf("err = %v", err)
	}
}

func TestWriteRefusesWhatTheSchemaRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recipes.json")
	// nil versions are written as [], which the schema accepts.
	if err := (Catalogue{"a": {Name: "a"}}).Write(path); err != nil {
		t.Fatalf("nil versions: %v", err)
	}
	bad := Catalogue{"a": {Name: "a", Features: Features{Status: 9}}}
	if err := bad.Write(path); err == nil || !strings.Contains(err.Error(), "recipes.schema.json") {
		t.Errorf("status 9 written: %v", err)
	}
	if c, _ := Read(path); c["a"].Features.Status != 0 {
		t.Error("the refused catalogue replaced the file")
	}
}

func TestReadMissing(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "recipes.json"))
	if !errors.Is(err, ErrNoCatalogue) {
		t.Errorf("err = %v, want ErrNoCatalogue", err)
	}
}

func TestReadErrorNamesTheFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recipes.json")
	if err := os.WriteFile(path, []byte("{\n  \"a\": {},\n  oops\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Read(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("err = %v, want one naming %s and line 3", err, path)
	}
}

// The schema's "integer" is any whole number, 3.0 too: what it accepts is read.
func TestStatusIsAnyWholeNumber(t *testing.T) {
	tests := []struct {
		name, status string
		want         int
		wantErr      string
	}{
		{name: "integer", status: "3", want: 3},
		{name: "with a zero fraction", status: "3.0", want: 3},
		{name: "exponent", status: "1e0", want: 1},
		{name: "null", status: "null", want: 0},
		{name: "fraction", status: "3.5", wantErr: "features.status: 3.5 is not a whole number"},
		{name: "string", status: `"3"`, wantErr: `features.status: "3" is not a number`},
		{name: "too large", status: "1e300", wantErr: "not a whole number that fits an int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(`{"a": {"name": "a", "features": {"status": ` + tt.status + `}}}`))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || c["a"].Features.Status != tt.want {
				t.Fatalf("status %v (err %v), want %d", c["a"].Features.Status, err, tt.want)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	c, err := Parse(readTestdata(t, "recipes.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pattern string
		want    string
	}{
		{"", "custom-html demo"},
		{"HTML", "custom-html"},
		{"development", "demo"},
		{"static", "custom-html demo"},
		{"nothing", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(c.Filter(tt.pattern).Names(), " "); got != tt.want {
			t.Errorf("Filter(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestWriteIsAtomicAndReadable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "recipes.json")
	c := Catalogue{"a": {Name: "a", Versions: Versions{{Name: "1.0.0+1", Services: map[string]ServiceMeta{"app": {Image: "x", Tag: "1", Digest: UnknownDigest}}}}}}
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil || got["a"].Latest() != "1.0.0+1" {
		t.Fatalf("read back %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left %d files beside recipes.json", len(entries)-1)
	}
}

func TestSchemaAcceptsCatalogues(t *testing.T) {
	if err := Validate(readTestdata(t, "recipes.json")); err != nil {
		t.Errorf("testdata/recipes.json: %v", err)
	}

	// A generated catalogue: git recipes, a README-less one, unknown digests.
	w := newWorld(t)
	sources := []Source{
		w.recipe(t, "wordpress", wordpressREADME,
			release{"1.0.0+6.4.1", []string{"app=wordpress:6.4.1", "db=mariadb:10.6"}},
			release{"1.1.0+6.5.0", []string{"app=wordpress:6.5.0", "db=${DB_IMAGE}"}}),
		w.recipe(t, "bare", "", release{"0.1.0+1", []string{"app=nginx"}}),
		w.recipe(t, "unreleased", "# Unreleased\n"),
	}
	out, err := (&Generator{Resolver: &fakeResolver{}, Concurrency: 2}).Generate(context.Background(), sources)
	if err != nil {
		t.Fatal(err)
	}
	b, err := out.Catalogue.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(b); err != nil {
		t.Errorf("generated catalogue: %v\n%s", err, b)
	}
}

func TestSchemaRejects(t *testing.T) {
	good := string(readTestdata(t, "recipes.json"))
	tests := []struct{ name, old, new string }{
		{"status as string", `"status": 3`, `"status": "3"`},
		{"missing field", `"ssh_url": "",`, ``},
		{"extra field", `"icon": "",`, `"icon": "", "stars": 3,`},
		{"bad digest", `"digest": "a1b2c3d4"`, `"digest": "latest"`},
		{"version with two keys", `"0.1.0+1.20.0": {`, `"0.1.0+1.20.0": {}, "0.1.1+1.20.0": {`},
		{"service without tag", `"tag": "v0.3.0"`, `"tags": "v0.3.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("fixture lacks %q", tt.old)
			}
			bad := strings.Replace(good, tt.old, tt.new, 1)
			if err := Validate([]byte(bad)); err == nil {
				t.Errorf("schema accepted a catalogue with %s", tt.name)
			}
		})
	}
}
