package recipe

import (
	"bufio"
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
	sc := bufio.NewScanner(bytes.NewReader(script))
	for sc.Scan() {
		m := exportLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		out[m[1]] = shellWord(strings.TrimSpace(m[2]))
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
