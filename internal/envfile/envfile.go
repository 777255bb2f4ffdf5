// Package envfile models an abra app env file
// (~/.abra/servers/<server>/<domain>.env): docker env_file syntax, read with
// compose-go's dotenv semantics, edited in place without disturbing comments,
// blank lines or ordering, and written back atomically.
package envfile

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// File is a parsed env file. It keeps the exact bytes it was parsed from, so
// Bytes of an unmodified File returns its input unchanged. A File is not safe
// for concurrent use.
type File struct {
	path    string
	src     []byte
	lookup  func(string) (string, bool)
	assigns []assignment
	values  map[string]string
	keys    []string
}

// assignment is one statement: KEY=value (possibly spanning several lines
// when the value is a multi-line quoted string) or a bare KEY that takes its
// value from the lookup function.
type assignment struct {
	key        string
	line       int // line of the key, 1-based
	start, end int // whole lines of the statement in src, end includes the newline
	// valStart and valEnd delimit the value text in src as written (quotes
	// included). For a bare KEY both sit just after the key.
	valStart, valEnd int
	bare             bool
	mods             map[string]string
}

// Option configures Parse and Load.
type Option func(*File)

// WithLookup makes lookup the fallback for variables that are referenced
// (${VAR}) or declared bare (a line holding only VAR) but not assigned earlier
// in the file. By default there is none: the process environment is never
// read.
func WithLookup(lookup func(key string) (string, bool)) Option {
	return func(f *File) { f.lookup = lookup }
}

// Load reads and parses the env file at path. Errors reading the file are
// returned unwrapped (they already name the path), so errors.Is(err,
// fs.ErrNotExist) works.
func Load(path string, opts ...Option) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts...)
}

// Parse parses data as an env file. name is used in error messages and
// returned by Path. Syntax errors are *SyntaxError. Parse keeps its own copy
// of data.
func Parse(name string, data []byte, opts ...Option) (*File, error) {
	f := &File{path: name}
	for _, o := range opts {
		o(f)
	}
	if err := f.parse(bytes.Clone(data)); err != nil {
		return nil, err
	}
	return f, nil
}

// Path returns the name given to Parse or the path given to Load.
func (f *File) Path() string { return f.path }

// Bytes returns the file's content: the input unchanged if nothing was Set
// or Unset.
func (f *File) Bytes() []byte { return bytes.Clone(f.src) }

// Get returns the expanded value of key and whether the file defines it.
func (f *File) Get(key string) (string, bool) {
	v, ok := f.values[key]
	return v, ok
}

// Line is the 1-based line of key's last assignment, or 0 when it has none.
func (f *File) Line(key string) int {
	if a := f.last(key); a != nil {
		return a.line
	}
	return 0
}

// Values returns every defined key with its final expanded value; when a key
// is assigned more than once the last assignment wins, as in docker.
func (f *File) Values() map[string]string { return maps.Clone(f.values) }

// Keys returns the defined keys in the order they first appear.
func (f *File) Keys() []string { return append([]string(nil), f.keys...) }

// Modifiers returns the key=value words of the trailing comment on key's
// last assignment: SECRET_DB_PASSWORD_VERSION=v1 # length=32 gives
// {"length": "32"}. Words without "=" are ignored. It returns nil when there
// are none.
func (f *File) Modifiers(key string) map[string]string {
	if a := f.last(key); a != nil {
		return maps.Clone(a.mods)
	}
	return nil
}

// Set assigns value to key. An existing key has its last assignment rewritten
// in place, keeping any export prefix and trailing comment; a new key is
// appended as KEY=value. The value is written bare when that reads back
// unchanged, otherwise double-quoted and escaped. Set fails, leaving the file
// as it was, when key is not a valid name or when the new value breaks a
// later expansion such as ${KEY:?required}.
func (f *File) Set(key, value string) error {
	if msg := checkName(key); msg != "" {
		return fmt.Errorf("set %s: %s", key, msg)
	}
	var src []byte
	if a := f.last(key); a != nil {
		lineEnd := a.valEnd + lineLen(f.src[a.valEnd:])
		enc := encode(value, string(f.src[a.valEnd:lineEnd]))
		if a.bare {
			enc = "=" + enc
		}
		src = concat(f.src[:a.valStart], []byte(enc), f.src[a.valEnd:])
	} else {
		nl := f.newline()
		src = bytes.Clone(f.src)
		if len(src) > 0 && src[len(src)-1] != '\n' {
			src = append(src, nl...)
		}
		src = append(src, key+"="+encode(value, "")+nl...)
	}
	return f.replace(src, "set", key, value)
}

// Unset removes every line assigning key. It is a no-op for an unknown key
// and fails, leaving the file as it was, when a later expansion requires key.
func (f *File) Unset(key string) error {
	if f.last(key) == nil {
		return nil
	}
	var src []byte
	prev := 0
	for _, a := range f.assigns {
		if a.key == key {
			src = append(src, f.src[prev:a.start]...)
			prev = a.end
		}
	}
	return f.replace(append(src, f.src[prev:]...), "unset", key, "")
}

// replace re-parses src and adopts it if it parses and, if it defines key,
// yields want for it.
func (f *File) replace(src []byte, verb, key, want string) error {
	g := &File{path: f.path, lookup: f.lookup}
	if err := g.parse(src); err != nil {
		return fmt.Errorf("%s %s: %w", verb, key, err)
	}
	if got, ok := g.values[key]; ok && got != want {
		// Only reachable through a bug in encode; refuse rather than corrupt.
		return fmt.Errorf("%s %s: value would read back as %q", verb, key, got)
	}
	*f = *g
	return nil
}

func (f *File) last(key string) *assignment {
	for i := len(f.assigns) - 1; i >= 0; i-- {
		if f.assigns[i].key == key {
			return &f.assigns[i]
		}
	}
	return nil
}

// newline is the file's line ending, judged by its first line.
func (f *File) newline() string {
	if i := bytes.IndexByte(f.src, '\n'); i > 0 && f.src[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// parse scans src line by line, then evaluates each statement with dotenv in
// order. Scanning ourselves gives exact line numbers, keeps the byte offsets
// that Set needs, and rejects input where dotenv would guess (a key that
// cannot be a variable name, text after a closing quote).
func (f *File) parse(src []byte) error {
	f.src = src
	f.assigns = nil
	f.values = map[string]string{}
	f.keys = nil

	s := string(src)
	// dotenv skips a UTF-8 byte order mark; editors on Windows add one.
	pos := len(s) - len(strings.TrimPrefix(s, "\uFEFF"))
	line := 1
	for pos < len(s) {
		a, next, err := f.scan(s, pos, line)
		if err != nil {
			return err
		}
		if a != nil {
			f.assigns = append(f.assigns, *a)
		}
		line += strings.Count(s[pos:next], "\n")
		pos = next
	}

	budget := maxExpansion
	for _, a := range f.assigns {
		v, ok, err := f.eval(s, a, &budget)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if _, seen := f.values[a.key]; !seen {
			f.keys = append(f.keys, a.key)
		}
		f.values[a.key] = v
	}
	return nil
}

// scan reads the statement starting at the line at pos. It returns nil for a
// blank or comment line, and the offset of the next line.
func (f *File) scan(s string, pos, line int) (*assignment, int, error) {
	lineEnd := pos + lineLen(s[pos:])
	next := lineEnd
	if next < len(s) {
		next++ // the '\n'
	}
	text := s[pos:lineEnd]
	rest := strings.TrimLeftFunc(text, unicode.IsSpace)
	if rest == "" || rest[0] == '#' {
		return nil, next, nil
	}

	a := &assignment{line: line, start: pos}
	bad := func(msg string) (*assignment, int, error) {
		return nil, 0, &SyntaxError{File: f.path, Line: line, Msg: msg}
	}
	if after, ok := strings.CutPrefix(rest, "export"); ok && after != "" && (after[0] == ' ' || after[0] == '\t') {
		rest = strings.TrimLeftFunc(after, isSpace)
		if rest == "" {
			return bad(`"export" without a variable name`)
		}
	}

	sep := strings.IndexAny(rest, "=:")
	if sep < 0 {
		// A bare KEY: docker takes its value from the environment.
		name := strings.TrimRightFunc(rest, isSpace) // dotenv's notion of space, not Unicode's
		if strings.TrimFunc(name, unicode.IsSpace) == "" {
			return bad(`missing variable name`)
		}
		if msg := checkName(name); msg != "" {
			if w := strings.Fields(name); len(w) > 1 && checkName(w[0]) == "" {
				msg = fmt.Sprintf("missing \"=\" in %q: write %s=value, and quote values that contain spaces", name, w[0])
			}
			return bad(msg)
		}
		a.key, a.bare, a.end = name, true, next
		a.valStart = lineEnd - (len(rest) - len(name))
		a.valEnd = a.valStart
		return a, next, nil
	}
	a.key = strings.TrimRightFunc(rest[:sep], unicode.IsSpace)
	if msg := checkName(a.key); msg != "" {
		return bad(msg)
	}
	valText := strings.TrimLeftFunc(rest[sep+1:], isSpace)
	a.valStart = lineEnd - len(valText)

	var comment string
	if valText == "" || (valText[0] != '"' && valText[0] != '\'') {
		// Unquoted: dotenv ends the value at " #" and trims trailing space.
		v, c, found := strings.Cut(valText, " #")
		if found {
			comment = c
		}
		a.valEnd = a.valStart + len(strings.TrimRightFunc(v, unicode.IsSpace))
		a.end = next
	} else {
		n := closingQuote(s[a.valStart:])
		if n < 0 {
			return bad(fmt.Sprintf("unterminated quoted value: add the closing %c", valText[0]))
		}
		a.valEnd = a.valStart + n + 1
		tailEnd := a.valEnd + lineLen(s[a.valEnd:])
		tail := strings.TrimLeftFunc(s[a.valEnd:tailEnd], unicode.IsSpace)
		if tail != "" && tail[0] != '#' {
			return bad(fmt.Sprintf("unexpected %q after the closing quote: start a comment with \" #\", or put the text inside the quotes", tail))
		}
		if tail != "" {
			comment = tail[1:]
		}
		next = tailEnd
		if next < len(s) {
			next++
		}
		a.end = next
	}
	a.mods = modifiers(comment)
	return a, next, nil
}

// maxExpansion bounds the bytes that expansion may copy in one file, so that
// a few lines like A=$A$A$A$A cannot exhaust memory.
const maxExpansion = 1 << 20

// eval computes the value of one statement with dotenv. Expansion sees the
// values assigned earlier in the file, then the caller's lookup; note that
// dotenv itself would consult the lookup first. budget is what is left of
// maxExpansion.
func (f *File) eval(s string, a assignment, budget *int) (string, bool, error) {
	if a.bare {
		if f.lookup == nil {
			return "", false, nil
		}
		v, ok := f.lookup(a.key)
		return v, ok, nil
	}
	stmt := s[a.start:a.end]
	lookup := func(k string) (string, bool) {
		v, ok := f.values[k]
		if !ok && f.lookup != nil {
			v, ok = f.lookup(k)
		}
		if *budget -= len(v); *budget < 0 {
			return "", true
		}
		if !ok && !tested(stmt, k) {
			// compose-go logs a warning through logrus for every unset
			// variable it expands. Unset and empty expand alike unless
			// the variable is tested, so report it set and stay quiet.
			return v, true
		}
		return v, ok
	}
	m, err := dotenv.UnmarshalWithLookup(stmt, lookup)
	if err != nil {
		return "", false, &SyntaxError{File: f.path, Line: a.line, Msg: a.key + ": " + err.Error()}
	}
	if *budget < 0 {
		return "", false, &SyntaxError{File: f.path, Line: a.line,
			Msg: fmt.Sprintf("%s: expansion grows past %d bytes: does a variable repeat itself (A=$A$A)?", a.key, maxExpansion)}
	}
	v, ok := m[a.key]
	return v, ok, nil
}

// tested reports whether stmt may use ${name-…}, ${name+…} or ${name?…}
// (with or without ":"), whose result depends on whether name is set.
func tested(stmt, name string) bool {
	for _, op := range []string{":", "-", "+", "?"} {
		if strings.Contains(stmt, "${"+name+op) {
			return true
		}
	}
	return false
}

// closingQuote returns the index in s (which starts with the opening quote)
// of the closing quote, or -1. A backslash escapes the next byte in both
// quote styles, exactly as dotenv scans.
func closingQuote(s string) int {
	escaped := false
	for i := 1; i < len(s); i++ {
		switch {
		case escaped:
			escaped = false
		case s[i] == '\\':
			escaped = true
		case s[i] == s[0]:
			return i
		}
	}
	return -1
}

// lineLen is the length of the first line of s without its '\n'.
func lineLen[T string | []byte](s T) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return i
		}
	}
	return len(s)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// isSpace is dotenv's notion of space around "=": unicode.IsSpace without
// the line breaks.
func isSpace(r rune) bool {
	switch r {
	case '\t', '\v', '\f', '\r', ' ', 0x85, 0xA0:
		return true
	}
	return false
}

// checkName returns why name is not a valid variable name, or "". Names are
// stricter than dotenv's, which also takes "[", "]" and any Unicode letter:
// an app's keys are meant to be shell-like names.
func checkName(name string) string {
	if name == "" {
		return `missing variable name before "="`
	}
	for i, r := range name {
		letter := r < utf8.RuneSelf && (r == '_' || unicode.IsLetter(r))
		other := r < utf8.RuneSelf && (r == '.' || r == '-' || unicode.IsDigit(r))
		switch {
		case letter, i > 0 && other:
		case i == 0 && other:
			return fmt.Sprintf("invalid variable name %q: names must start with a letter or \"_\"", name)
		default:
			return fmt.Sprintf("invalid variable name %q: use only letters, digits, \"_\", \".\" and \"-\"", name)
		}
	}
	return ""
}

// modifiers parses the key=value words of a trailing comment.
func modifiers(comment string) map[string]string {
	var mods map[string]string
	for _, w := range strings.Fields(comment) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			continue
		}
		if mods == nil {
			mods = map[string]string{}
		}
		mods[k] = v
	}
	return mods
}

// encode writes value so that dotenv reads it back unchanged when followed
// by tail, the rest of its line: bare when it is plain, else double-quoted.
func encode(value, tail string) string {
	plain := !strings.ContainsFunc(value, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError || strings.ContainsRune("#'\"$\\", r)
	})
	// A bare value ends at the first " #"; an empty one would swallow the
	// comment after it.
	if hash := strings.IndexByte(tail, '#'); hash >= 0 && (value == "" || hash == 0 || tail[hash-1] != ' ') {
		plain = false
	}
	if plain {
		return value
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '\\', '"', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// SyntaxError reports a line of an env file that cannot be parsed.
type SyntaxError struct {
	File string // name given to Parse, or path given to Load
	Line int    // 1-based
	Msg  string // what is wrong and, where possible, how to fix it
}

// Error returns "<file>:<line>: <msg>".
func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }
