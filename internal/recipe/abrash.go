package recipe

import (
	"bytes"
	"regexp"
	"strings"
)

var exportLine = regexp.MustCompile(`^\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

// Exports returns the `export NAME=value` assignments of an abra.sh script, in
// the order they appear (later ones win). The script is parsed, never run:
// recipes use these lines to version their configs (NGINX_CONF_VERSION=v2).
// Values may be quoted with ' or "; anything after an unquoted # is a comment.
func Exports(script []byte) map[string]string {
	out := map[string]string{}
	// Not a bufio.Scanner: it stops at a line longer than 64 KiB (an
	// embedded certificate or blob), and the exports after it would be lost.
	for line := range bytes.Lines(script) {
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		m := exportLine.FindSubmatch(line)
		if m == nil {
			continue
		}
		out[string(m[1])] = shellWord(strings.TrimSpace(string(m[2])))
	}
	return out
}

// shellWord reads the first word of a shell assignment value.
func shellWord(v string) string {
	if v == "" {
		return ""
	}
	switch q := v[0]; q {
	case '\'', '"':
		if end := strings.IndexByte(v[1:], q); end >= 0 {
			return v[1 : end+1]
		}
		return v[1:]
	}
	if i := strings.IndexAny(v, " \t;#"); i >= 0 {
		v = v[:i]
	}
	return v
}
