package recipe

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// corpusFiles returns the contents of the files called name in the shared
// recipe corpus (../shared/corpus beside the checkout, or $ABRA_CORPUS), for
// seeding fuzz targets with real recipes. The corpus is not part of the
// repository, so there are none when it is absent.
func corpusFiles(tb testing.TB, name string) [][]byte {
	tb.Helper()
	dir := os.Getenv("ABRA_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*", name))
	var out [][]byte
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			out = append(out, b)
		}
	}
	return out
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{
		"1.2.0+6.4.1", "0.3.0+v2.4.8", "2.0.1+1.27.2-alpine", "v1.0.0", "1.0.0",
		"1.0.0-rc.1+2.0", "1.2+3", "01.0.0", "1.0.0+", "1.0.0+a..b", "",
		"1.0.0+latest_2024-01", "10.20.30+5.0.0-fpm-alpine3.13", "1.0.0+-x", "1.0.0+1.0 ", "1.0.0++",
	} {
		f.Add(s, "1.0.0+1.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, err := ParseVersion(a)
		if err != nil {
			if !errors.Is(err, ErrInvalidVersion) {
				t.Fatalf("ParseVersion(%q): error %v does not wrap ErrInvalidVersion", a, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(a)) {
				t.Fatalf("ParseVersion(%q): error %q does not name the input", a, err)
			}
			return
		}
		if va.String() != a {
			t.Fatalf("ParseVersion(%q).String() = %q", a, va.String())
		}
		again, err := ParseVersion(va.String())
		if err != nil {
			t.Fatalf("reparse %q: %v", va.String(), err)
		}
		if again.Compare(va) != 0 || again.Upstream() != va.Upstream() || !again.Recipe().Equal(va.Recipe()) {
			t.Fatalf("reparse of %q differs: %q", a, again)
		}
		vb, err := ParseVersion(b)
		if err != nil {
			return
		}
		if ab, ba := va.Compare(vb), vb.Compare(va); ab != -ba || (ab == 0) != (a == b) {
			t.Fatalf("Compare(%q, %q) = %d, reverse %d", a, b, ab, ba)
		}
	})
}

var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// renderExports writes exports back as an abra.sh, each value quoted so
// that it reads back as itself.
func renderExports(m map[string]string) []byte {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch {
		case !strings.Contains(v, "'"):
			v = "'" + v + "'"
		case !strings.Contains(v, `"`):
			v = `"` + v + `"`
		}
		// A value holding both quotes came from an unquoted word, which
		// has neither blanks nor a comment: it stands as it is.
		b.WriteString("export " + k + "=" + v + "\n")
	}
	return []byte(b.String())
}

// FuzzExports checks that reading abra.sh never panics, that it yields shell
// names and one-line values, that writing the exports back and reading them
// again gives the same exports, that lines which are not exports change
// nothing, and that a later export wins.
func FuzzExports(f *testing.F) {
	for _, s := range []string{
		"", "export NGINX_CONF_VERSION=v2\n", "#!/bin/bash\nexport A='x y'\nexport B=\"z\"\n",
		"export A=v1 # bump on change\n", "  export A=v1\nexport A=v3\n", "B=1\nfoo() {\n  echo export\n}\n",
		"export A=\n", "export A='unterminated\n", "export A=\"it's\"\nexport B='say \"hi\"'\n",
		"export A=a'b\"c\n", "export A=x;export B=y\n", "\texport\tA=1\r\nexport B=2\r\n",
		"export 1A=x\nexport A-B=y\nexport =z\n", "export A=$B\nexport C=${D:-e}\n",
		"#!/bin/bash\n\nexport ENTRYPOINT_CONF_VERSION=v3\nexport PHP_INI_VERSION=v1\n\nabra_backup_app() {\n  _abra_backup_dir \"app:/var/www\"\n}\n",
	} {
		f.Add([]byte(s), "EXTRA_VERSION", "v9")
	}
	for _, b := range corpusFiles(f, "abra.sh") {
		f.Add(b, "NGINX_CONF_VERSION", "v10")
	}
	f.Fuzz(func(t *testing.T, script []byte, key, value string) {
		got := Exports(script)
		for k, v := range got {
			if !shellName.MatchString(k) {
				t.Fatalf("Exports(%q): key %q is not a shell name", script, k)
			}
			if strings.ContainsAny(v, "\n") {
				t.Fatalf("Exports(%q): %s=%q spans lines", script, k, v)
			}
			if !strings.Contains(string(script), k+"=") {
				t.Fatalf("Exports(%q): %s is not in the script", script, k)
			}
		}

		written := renderExports(got)
		if again := Exports(written); !maps.Equal(again, got) {
			t.Fatalf("Exports(%q) = %q; written back as %q it reads %q", script, got, written, again)
		}

		// Lines abra.sh has besides exports: functions, comments, plain
		// assignments, an export that is not an assignment.
		noise := "\n# export NOT_ME=1\nfoo() {\n  echo export\n}\nPLAIN=1\nexport\n"
		if withNoise := Exports(append(append([]byte{}, script...), noise...)); !maps.Equal(withNoise, got) {
			t.Fatalf("Exports(%q + noise) = %q, without %q", script, withNoise, got)
		}

		if !shellName.MatchString(key) || strings.ContainsAny(value, "'\n\r") {
			return
		}
		later := append(append([]byte{}, script...), "\nexport "+key+"='"+value+"'\n"...)
		want := maps.Clone(got)
		want[key] = value
		if after := Exports(later); !maps.Equal(after, want) {
			t.Fatalf("Exports(%q) = %q, want the last export to win: %q", later, after, want)
		}
	})
}
