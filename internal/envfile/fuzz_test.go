package envfile

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// FuzzParse checks that Parse never panics, that a refusal names the file and
// a line of it, that what it accepts it reads as dotenv does and writes back
// byte for byte, and that Set keeps the file consistent.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		sample, "", "A=1", "A=1\r\nB='x'\r\n", "A=\"x\ny\" # length=3\n", "B=1\nexport A=$B\nC\n", "A=${U-x}${U:+y}",
		"A: 1 # c=d\n", "A=${B:-x}\n", "A=\"\\\"\"#\n", "\uFEFFA=1", "A= # x\n", "FOO BAR\n",
	} {
		f.Add([]byte(s), "new value", uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, value string, pick uint8) {
		file, err := Parse("fuzz.env", data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.File != "fuzz.env" || se.Line < 1 || se.Line > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("Parse: error %v is not a *SyntaxError naming fuzz.env and a line of it", err)
			}
			return
		}
		if got := file.Bytes(); string(got) != string(data) {
			t.Fatalf("Bytes() = %q, want the input", got)
		}
		// Newline-terminate: at end of input dotenv misreads a bare KEY as
		// the value of an empty key.
		want, err := dotenv.UnmarshalWithLookup(strings.TrimPrefix(string(data), "\uFEFF")+"\n", nil)
		if err != nil {
			t.Fatalf("Parse accepted what dotenv rejects: %v", err)
		}
		if got := file.Values(); !maps.Equal(got, want) {
			t.Fatalf("Values() = %q, dotenv says %q", got, want)
		}

		key := "NEW_KEY"
		if keys := file.Keys(); len(keys) > 0 && pick < 200 {
			key = keys[int(pick)%len(keys)]
		}
		if err := file.Set(key, value); err != nil {
			// Only a required-variable check (${K:?msg}, ${K?msg}) can
			// reject a new value.
			if !strings.Contains(string(data), "?") {
				t.Fatalf("Set(%q, %q): %v", key, value, err)
			}
			if string(file.Bytes()) != string(data) {
				t.Fatalf("failed Set changed the file")
			}
			return
		}
		again, err := Parse("again", file.Bytes())
		if err != nil {
			t.Fatalf("Set(%q, %q) wrote %q: %v", key, value, file.Bytes(), err)
		}
		if got, _ := again.Get(key); got != value {
			t.Fatalf("Set(%q, %q) reads back as %q from %q", key, value, got, file.Bytes())
		}
		if !maps.Equal(again.Values(), file.Values()) {
			t.Fatalf("after Set, reparsed %q, File says %q", again.Values(), file.Values())
		}
		if !strings.Contains(string(data), "$") {
			for k, v := range want {
				if got, _ := again.Get(k); k != key && got != v {
					t.Fatalf("Set(%q) changed %s from %q to %q", key, k, v, got)
				}
			}
		}
	})
}
