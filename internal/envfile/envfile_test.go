package envfile

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

const sample = "TYPE=wordpress:1.2.0+6.4.1\n" +
	"DOMAIN=blog.example.org\n" +
	"## Domain aliases\n" +
	"#EXTRA_DOMAINS=', `www.blog.example.org`'\n" +
	"LETS_ENCRYPT_ENV=production\n" +
	"\n" +
	"COMPOSE_FILE=\"compose.yml\"\n" +
	"#COMPOSE_FILE=\"$COMPOSE_FILE:compose.smtp.yml\"\n" +
	"SECRET_DB_PASSWORD_VERSION=v1 # length=32\n" +
	"SECRET_ADMIN_PASS_VERSION=v1   # length=32 charset=special\n" +
	"export FOO='single $NOT_EXPANDED'\n" +
	"BAR=\"double ${DOMAIN} expanded\"\n"

func mustParse(t *testing.T, input string, opts ...Option) *File {
	t.Helper()
	f, err := Parse("test.env", []byte(input), opts...)
	if err != nil {
		t.Fatalf("Parse(%q): %v", input, err)
	}
	return f
}

func TestValues(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  map[string]string
	}{
		{"abra sample", sample, map[string]string{
			"TYPE":                       "wordpress:1.2.0+6.4.1",
			"DOMAIN":                     "blog.example.org",
			"LETS_ENCRYPT_ENV":           "production",
			"COMPOSE_FILE":               "compose.yml",
			"SECRET_DB_PASSWORD_VERSION": "v1",
			"SECRET_ADMIN_PASS_VERSION":  "v1",
			"FOO":                        "single $NOT_EXPANDED",
			"BAR":                        "double blog.example.org expanded",
		}},
		{"empty file", "", map[string]string{}},
		{"only comments", "# a\n\n  # b\n", map[string]string{}},
		{"append to earlier value", "COMPOSE_FILE=\"compose.yml\"\nCOMPOSE_FILE=\"$COMPOSE_FILE:compose.smtp.yml\"\n",
			map[string]string{"COMPOSE_FILE": "compose.yml:compose.smtp.yml"}},
		{"later assignment wins", "A=1\nA=2\n", map[string]string{"A": "2"}},
		{"later variables not visible", "A=${B}\nB=x\n", map[string]string{"A": "", "B": "x"}},
		{"default value", "A=${B:-fallback}\n", map[string]string{"A": "fallback"}},
		{"default only when unset", "E=\nA=${E-x}\nB=${U-y}\nC=${E:-z}${U}\n", map[string]string{"E": "", "A": "", "B": "y", "C": "z"}},
		{"alternative when set", "E=\nA=${E+x}\nB=${U+y}\nC=${E:+z}\n", map[string]string{"E": "", "A": "x", "B": "", "C": ""}},
		{"unquoted expansion", "A=x\nB=$A/y\n", map[string]string{"A": "x", "B": "x/y"}},
		{"dollar dollar escapes", "A=$$B\n", map[string]string{"A": "$B"}},
		{"single quotes literal", `A='x\ny $B'`, map[string]string{"A": `x\ny $B`}},
		{"double quote escapes", `A="a\tb\nc \"q\" \\ \$B"`, map[string]string{"A": "a\tb\nc \"q\" \\ $B"}},
		{"export prefix", "export A=1\n\texport  B=2\n", map[string]string{"A": "1", "B": "2"}},
		{"export as a name", "export=1\nexportA=2\n", map[string]string{"export": "1", "exportA": "2"}},
		{"spaces around equals", "A = 1\nB= 2 \n", map[string]string{"A": "1", "B": "2"}},
		{"yaml style", "A: 1\n", map[string]string{"A": "1"}},
		{"empty value", "A=\nB=\"\"\nC=''\n", map[string]string{"A": "", "B": "", "C": ""}},
		{"inline comment", "A=v1 # length=32\nB=x#y\nC=\"x # y\" # z\n", map[string]string{"A": "v1", "B": "x#y", "C": "x # y"}},
		{"hash right after equals is a value", "A= # not a comment\n", map[string]string{"A": "# not a comment"}},
		{"tab before hash is not a comment", "A=x\t#y\n", map[string]string{"A": "x\t#y"}},
		{"multi-line double quotes", "A=\"line1\nline2\"\nB=after\n", map[string]string{"A": "line1\nline2", "B": "after"}},
		{"multi-line single quotes", "A='x\n\ny'\n", map[string]string{"A": "x\n\ny"}},
		{"crlf", "A=1\r\nB=\"2\"\r\n# c\r\n", map[string]string{"A": "1", "B": "2"}},
		{"no trailing newline", "A=1\nB=2", map[string]string{"A": "1", "B": "2"}},
		{"byte order mark", "\uFEFFA=1\n", map[string]string{"A": "1"}},
		{"bare key without lookup", "A\nB=1\n", map[string]string{"B": "1"}},
		{"dots and dashes in names", "a.b-c=1\n", map[string]string{"a.b-c": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.input)
			if got := f.Values(); !maps.Equal(got, tt.want) {
				t.Errorf("Values() = %q, want %q", got, tt.want)
			}
			for k, v := range tt.want {
				if got, ok := f.Get(k); !ok || got != v {
					t.Errorf("Get(%q) = %q, %v; want %q, true", k, got, ok, v)
				}
			}
			if _, ok := f.Get("MISSING"); ok {
				t.Errorf("Get(MISSING) reported a value")
			}
		})
	}
}

func TestProcessEnvironmentIgnored(t *testing.T) {
	t.Setenv("ENVFILE_TEST_HOME", "/home/x")
	f := mustParse(t, "A=${ENVFILE_TEST_HOME}\nENVFILE_TEST_HOME\n")
	if got := f.Values(); !maps.Equal(got, map[string]string{"A": ""}) {
		t.Errorf("Values() = %q, want the environment ignored", got)
	}
}

func TestUnsetVariablesDoNotLog(t *testing.T) {
	var buf bytes.Buffer
	out := logrus.StandardLogger().Out
	logrus.SetOutput(&buf)
	t.Cleanup(func() { logrus.SetOutput(out) })
	f := mustParse(t, "A=$UNSET/${UNSET}\nB=\"${UNSET:-x}\"\n")
	if err := f.Set("C", "1"); err != nil {
		t.Fatal(err)
	}
	if a, _ := f.Get("A"); a != "/" || buf.Len() > 0 {
		t.Errorf("A = %q, log = %q; want \"/\" and no log", a, buf.String())
	}
}

func TestExpansionBound(t *testing.T) {
	input := "A=0123456789abcdef\n" + strings.Repeat("A=$A$A$A$A\n", 20)
	_, err := Parse("app.env", []byte(input))
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 9 || !strings.Contains(se.Msg, "expansion grows past") {
		t.Fatalf("Parse() error = %v, want a SyntaxError on line 9", err)
	}
}

func TestLookup(t *testing.T) {
	env := map[string]string{"HOST": "env.example.org", "A": "from-env", "BARE": "inherited"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name  string
		input string
		want  map[string]string
	}{
		{"fills undefined variables", "URL=https://${HOST}/\n", map[string]string{"URL": "https://env.example.org/"}},
		{"file values win", "A=file\nB=$A\n", map[string]string{"A": "file", "B": "file"}},
		{"bare key inherits", "BARE\n", map[string]string{"BARE": "inherited"}},
		{"bare key missing from lookup", "NOPE\n", map[string]string{}},
		{"single quotes still literal", "B='$HOST'\n", map[string]string{"B": "$HOST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.input, WithLookup(lookup))
			if got := f.Values(); !maps.Equal(got, tt.want) {
				t.Errorf("Values() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	f := mustParse(t, "B=1\n# A=0\nA=2\nB=3\nC\nexport D=4\n")
	if got, want := f.Keys(), []string{"B", "A", "D"}; !slices.Equal(got, want) {
		t.Errorf("Keys() = %q, want %q", got, want)
	}
}

func TestModifiers(t *testing.T) {
	tests := []struct {
		name  string
		input string
		key   string
		want  map[string]string
	}{
		{"single", "S=v1 # length=32\n", "S", map[string]string{"length": "32"}},
		{"several with padding", "S=v1   # length=32 charset=special,safe\n", "S", map[string]string{"length": "32", "charset": "special,safe"}},
		{"generate false", "S=v1 # generate=false\n", "S", map[string]string{"generate": "false"}},
		{"after quoted value", "S=\"v1\"# length=8\n", "S", map[string]string{"length": "8"}},
		{"after single quoted value", "S='v 1' # length=8\n", "S", map[string]string{"length": "8"}},
		{"crlf", "S=v1 # length=32\r\n", "S", map[string]string{"length": "32"}},
		{"words without equals ignored", "S=v1 # keep length=32 me\n", "S", map[string]string{"length": "32"}},
		{"plain comment", "S=v1 # the admin password\n", "S", nil},
		{"no comment", "S=v1\n", "S", nil},
		{"hash inside value", "S=v1#length=32\n", "S", nil},
		{"last assignment counts", "S=v1 # length=32\nS=v2\n", "S", nil},
		{"unknown key", "S=v1 # length=32\n", "T", nil},
		{"multi-line value", "S=\"a\nb\" # length=4\n", "S", map[string]string{"length": "4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.input).Modifiers(tt.key)
			if !maps.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Modifiers(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"abra sample", sample},
		{"empty", ""},
		{"no trailing newline", "A=1\n# end"},
		{"no trailing newline after value", "A=1"},
		{"crlf", "A=1\r\n\r\n# c\r\nB=\"x\"  # length=3\r\n"},
		{"mixed line endings", "A=1\r\nB=2\nC=3\r"},
		{"blank lines with spaces", "\n  \n\t\nA=1\n\n"},
		{"multi-line value", "A=\"x\ny\"   # c\nB=2\n"},
		{"byte order mark", "\uFEFF# c\nA=1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, tt.input).Bytes(); string(got) != tt.input {
				t.Errorf("Bytes() = %q, want %q", got, tt.input)
			}
		})
	}
}

func TestPath(t *testing.T) {
	if got := mustParse(t, "").Path(); got != "test.env" {
		t.Errorf("Path() = %q, want test.env", got)
	}
}

func TestSyntaxError(t *testing.T) {
	tests := []struct {
		name  string
		input string
		line  int
		msg   string
	}{
		{"missing equals", "A=1\nFOO BAR\n", 2, `missing "=" in "FOO BAR": write FOO=value`},
		{"digit first", "# c\n1FOO=x\n", 2, `invalid variable name "1FOO": names must start with a letter or "_"`},
		{"bad character", "FOO$=x\n", 1, `invalid variable name "FOO$"`},
		{"space in name", "MY VAR=x\n", 1, `invalid variable name "MY VAR"`},
		{"empty name", "=x\n", 1, `missing variable name before "="`},
		{"unterminated double quote", "A=1\n\nB=\"abc\nC=2\n", 3, `unterminated quoted value: add the closing "`},
		{"unterminated single quote", "B='abc", 1, `unterminated quoted value: add the closing '`},
		{"escaped closing quote", `B="abc\"`, 1, "unterminated quoted value"},
		{"text after closing quote", "A=\"x\" y\n", 1, `unexpected "y" after the closing quote`},
		{"second assignment after quote", "A=\"x\" B=1\n", 1, `unexpected "B=1"`},
		{"bare key with comment", "A # c\n", 1, `missing "=" in "A # c"`},
		{"export alone", "export  \n", 1, `"export" without a variable name`},
		{"export then unicode space", "export \u2028\n", 1, `missing variable name`},
		{"bare invalid name", "1A\n", 1, `invalid variable name "1A"`},
		{"line after multi-line value", "A=\"x\ny\"\nB C\n", 3, `missing "="`},
		{"invalid template", "A=${B\n", 1, "A: Invalid template"},
		{"required variable", "A=1\nB=${MISSING:?set it}\n", 2, "B: required variable MISSING is missing a value: set it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("app.env", []byte(tt.input))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse() error = %v, want *SyntaxError", err)
			}
			if se.File != "app.env" || se.Line != tt.line || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("error = %+v, want line %d and message containing %q", se, tt.line, tt.msg)
			}
			if want := "app.env:" + strconv.Itoa(tt.line) + ": " + se.Msg; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		name  string
		input string
		key   string
		value string
		want  string
	}{
		{"rewrite in place", "A=1\nB=2\nC=3\n", "B", "x", "A=1\nB=x\nC=3\n"},
		{"keeps export and modifiers", "export S=v1   # length=32\n", "S", "v2", "export S=v2   # length=32\n"},
		{"last assignment only", "A=1\nA=2\n", "A", "3", "A=1\nA=3\n"},
		{"append", "A=1\n", "B", "2", "A=1\nB=2\n"},
		{"append without trailing newline", "A=1", "B", "2", "A=1\nB=2\n"},
		{"append to empty file", "", "B", "2", "B=2\n"},
		{"append keeps crlf", "A=1\r\n", "B", "2", "A=1\r\nB=2\r\n"},
		{"rewrite keeps crlf", "A=1 # c\r\nB=2\r\n", "A", "x y", "A=\"x y\" # c\r\nB=2\r\n"},
		{"quotes spaces", "", "A", "a b", "A=\"a b\"\n"},
		{"quotes hash", "", "A", "a#b", "A=\"a#b\"\n"},
		{"escapes dollar", "", "A", "$HOME", "A=\"\\$HOME\"\n"},
		{"escapes quotes and backslash", "", "A", `say "hi" \o/`, "A=\"say \\\"hi\\\" \\\\o/\"\n"},
		{"escapes newline", "", "A", "a\nb", "A=\"a\\nb\"\n"},
		{"single quote", "", "A", "it's", "A=\"it's\"\n"},
		{"empty value", "A=1\n", "A", "", "A=\n"},
		{"empty value before comment", "A=1 # length=3\n", "A", "", "A=\"\" # length=3\n"},
		{"quoted to plain", "A=\"x y\" # c\n", "A", "z", "A=z # c\n"},
		{"comment glued to quote", "A=\"x\"# c\n", "A", "z", "A=\"z\"# c\n"},
		{"multi-line value replaced", "A=\"x\ny\" # c\nB=2\n", "A", "z", "A=z # c\nB=2\n"},
		{"yaml style kept", "A: 1\n", "A", "2", "A: 2\n"},
		{"spaces after equals kept", "A= 1\n", "A", "2", "A= 2\n"},
		{"bare key", "A\nB=1\n", "A", "x", "A=x\nB=1\n"},
		{"plain punctuation", "", "A", "compose.yml:compose.smtp.yml", "A=compose.yml:compose.smtp.yml\n"},
		{"expansion follows", "D=a\nURL=https://${D}/\n", "D", "b", "D=b\nURL=https://${D}/\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.input)
			before := f.Values()
			if err := f.Set(tt.key, tt.value); err != nil {
				t.Fatalf("Set: %v", err)
			}
			if got := string(f.Bytes()); got != tt.want {
				t.Errorf("Bytes() = %q, want %q", got, tt.want)
			}
			again := mustParse(t, string(f.Bytes()))
			if got, _ := again.Get(tt.key); got != tt.value {
				t.Errorf("reparsed %s = %q, want %q", tt.key, got, tt.value)
			}
			if !maps.Equal(again.Values(), f.Values()) {
				t.Errorf("reparsed Values() = %q, File says %q", again.Values(), f.Values())
			}
			if strings.Contains(tt.input, "${") {
				return // dependants change with the key
			}
			for k, v := range before {
				if got, _ := again.Get(k); k != tt.key && got != v {
					t.Errorf("reparsed %s = %q, want unchanged %q", k, got, v)
				}
			}
		})
	}
}

// TestSetRoundTripsValues sets awkward values into awkward files and checks
// that every one reads back exactly, leaving the other keys alone.
func TestSetRoundTripsValues(t *testing.T) {
	files := []string{
		"",
		"K=old\n",
		"K=old # length=32\n",
		"K=old   #length=32\r\n",
		"K=\"old\"# c\n",
		"K='o\nld'\t# c\nX=1",
		"export K=old\nX=\"y\"\n",
		"K\n",
		"K: old # c\n",
	}
	values := []string{
		"", "v2", " lead", "trail ", "a b", "#", " #", "a #b", "a#b", "'", `"`, `\`, `\\`, `\"`,
		"$", "$$", "${K}", "$K", `\$`, "\n", "\r\n", "\t", "a\\nb", `\0123`, "\x00", "\x7f",
		"é", "\u00a0x", "x\u00a0", "\u2028", "\xff", "`cmd`", "=", "a=b # c=d",
	}
	for _, file := range files {
		for _, v := range values {
			f := mustParse(t, file)
			before := f.Values()
			if err := f.Set("K", v); err != nil {
				t.Errorf("%q: Set(K, %q): %v", file, v, err)
				continue
			}
			again, err := Parse("again", f.Bytes())
			if err != nil {
				t.Errorf("%q: Set(K, %q) wrote %q: %v", file, v, f.Bytes(), err)
				continue
			}
			want := maps.Clone(before)
			want["K"] = v
			if got := again.Values(); !maps.Equal(got, want) {
				t.Errorf("%q: Set(K, %q) wrote %q, which reads back as %q", file, v, f.Bytes(), got)
			}
		}
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		key   string
		value string
		msg   string
	}{
		{"invalid key", "A=1\n", "1A", "x", `set 1A: invalid variable name "1A"`},
		{"key with equals", "A=1\n", "A=B", "x", "invalid variable name"},
		{"breaks a required variable", "A=1\nB=${A:?A is needed}\n", "A", "", "set A: test.env:2: B: required variable A is missing a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.input)
			err := f.Set(tt.key, tt.value)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Set() error = %v, want %q", err, tt.msg)
			}
			if got := string(f.Bytes()); got != tt.input {
				t.Errorf("failed Set changed the file to %q", got)
			}
		})
	}
}

func TestUnset(t *testing.T) {
	tests := []struct {
		name  string
		input string
		key   string
		want  string
	}{
		{"every assignment", "A=1\nB=2\nexport A=3 # c\n", "A", "B=2\n"},
		{"multi-line value", "A=\"x\ny\"\nB=2", "A", "B=2"},
		{"last line without newline", "B=2\nA=1", "A", "B=2\n"},
		{"bare key", "A\nB=2\n", "A", "B=2\n"},
		{"unknown key", "B=2\n", "A", "B=2\n"},
		{"keeps comments", "# about A\nA=1\n\n", "A", "# about A\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.input)
			if err := f.Unset(tt.key); err != nil {
				t.Fatalf("Unset: %v", err)
			}
			if got := string(f.Bytes()); got != tt.want {
				t.Errorf("Bytes() = %q, want %q", got, tt.want)
			}
			if _, ok := f.Get(tt.key); ok {
				t.Errorf("Get(%q) still reports a value", tt.key)
			}
		})
	}
}

func TestUnsetRequired(t *testing.T) {
	f := mustParse(t, "A=1\nB=${A:?}\n")
	if err := f.Unset("A"); err == nil || !strings.HasPrefix(err.Error(), "unset A: test.env:1: B: required variable A") {
		t.Fatalf("Unset() error = %v, want the required-variable error", err)
	}
	if v, _ := f.Get("A"); v != "1" || !bytes.Equal(f.Bytes(), []byte("A=1\nB=${A:?}\n")) {
		t.Errorf("failed Unset changed the file")
	}
}
