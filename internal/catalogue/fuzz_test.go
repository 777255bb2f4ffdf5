package catalogue

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzParse checks that reading recipes.json never panics; that what it
// accepts encodes, reads back and encodes to the same bytes; that a file the
// schema accepts is read, and still passes the schema once written back (so
// Write never refuses a catalogue that Read took from a valid file); and that
// Read's refusal names the file.
func FuzzParse(f *testing.F) {
	testdata, err := os.ReadFile(filepath.Join("testdata", FileName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(testdata)
	const recipe = `"category":"Apps","default_branch":"main","description":"d","icon":"","name":"a",` +
		`"repository":"https://git.coopcloud.tech/coop-cloud/a.git","ssh_url":"ssh://git@git.coopcloud.tech:2222/coop-cloud/a.git","website":"",` +
		`"features":{"backups":"Yes","email":"No","healthcheck":"Yes","image":{"image":"nginx","rating":"4","source":"upstream","url":""},"status":3,"tests":"No","sso":"N/A"}`
	for _, s := range []string{
		`{}`, `null`, `[]`, ``, `{"a":null}`, `{"a":{}}`,
		`{"a":{` + recipe + `,"versions":[]}}`,
		`{"a":{` + recipe + `,"versions":[{"1.0.0+1.25.3":{"app":{"digest":"sha256:` + strings.Repeat("ab", 32) + `","image":"nginx","tag":"1.25.3"}}}]}}`,
		`{"a":{` + recipe + `,"versions":[{"1.0.0+1.25.3":{}},{"1.1.0+1.26.0":{"app":{"digest":"unknown","image":"nginx","tag":"1.26.0"}}}]}}`,
		`{"a":{` + recipe + `,"versions":[{"1.0.0":{},"2.0.0":{}}]}}`,
		`{"a":{` + recipe + `,"versions":[null]}}`,
		`{"a":{` + recipe + `,"versions":null}}`,
		`{"a":{` + strings.Replace(recipe, `"status":3`, `"status":3.0`, 1) + `,"versions":[]}}`,
		`{"a":{` + strings.Replace(recipe, `"status":3`, `"status":"3"`, 1) + `,"versions":[]}}`,
		`{"a":{` + strings.Replace(recipe, `"description":"d"`, `"description":"<b>&amp;</b> \u2028 \ud800 é"`, 1) + `,"versions":[]}}`,
		`{"a":{` + recipe + `,"versions":[],"extra":1}}`,
		`{"a":{` + recipe + `,"versions":[]},"a":{"name":"b"}}`,
		`{"A":{"NAME":"x","Versions":[]}}`,
		`{"../x":{` + recipe + `,"versions":[]}}`,
		"{\"a\":{\"description\":\"\xff\xfe\"}}",
		`{"a":{"versions":[{"1.0.0":{"app":{"digest":"x"}}}]}} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "parse catalogue") {
				t.Fatalf("Parse: error %q does not say what it parsed", err)
			}
			path := filepath.Join(t.TempDir(), FileName)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, rerr := Read(path); rerr == nil || !strings.Contains(rerr.Error(), path) {
				t.Fatalf("Read: error %v does not name %s", rerr, path)
			}
			if Validate(b) == nil {
				t.Fatalf("recipes.schema.json accepts what Parse refuses (%v): %q", err, b)
			}
			return
		}
		if names := c.Names(); len(names) != len(c) || !slices.IsSorted(names) {
			t.Fatalf("Names() = %q for %d recipes", names, len(c))
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("Parse(Encode()) = %v; encoded %q", err, enc)
		}
		enc2, err := again.Encode()
		if err != nil {
			t.Fatalf("Encode again: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode is not stable:\n%s\nthen\n%s", enc, enc2)
		}
		if Validate(b) == nil {
			if err := Validate(enc); err != nil {
				t.Fatalf("a catalogue the schema accepts is refused once written back: %v\n%s", err, enc)
			}
		}
	})
}
