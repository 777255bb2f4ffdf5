package lint

// Rules for what breaks a recipe's traefik labels on Traefik v3 (R110–R116).
//
// What Traefik v3 does, from its source and documentation:
//   - The default rule syntax gives each matcher one value (Header,
//     HeaderRegexp, Query and QueryRegexp: two); a rule that does not parse
//     or check makes Traefik drop the router, and a request nothing routes
//     gets a 404. A router may keep the v2 syntax with
//     traefik.http.routers.<name>.ruleSyntax=v2, which is deprecated: "will
//     be removed in the next major version".
//   - Headers, HeadersRegexp and HostHeader are v2's only; v2's HostRegexp,
//     Path and PathPrefix read gorilla/mux templates ({name:regexp}), v3's
//     HostRegexp a plain Go regexp, and v3's Path and PathPrefix literal text.
//   - Swarm services are read by the swarm provider, whose own labels are
//     traefik.swarm.*; traefik.docker.* still works there but "Labels
//     traefik.docker.* for Swarm provider are deprecated", and both together
//     are refused ("both Docker and Swarm labels are defined"): the service is
//     skipped, with every router on it.
//   - Swarm gives Traefik no port: a service's labels must name one
//     (loadbalancer.server.port). When a service's labels define no http
//     service Traefik makes one, finds no port ("port is missing") and skips
//     the whole service, routers to api@internal included.
//
// Only services with traefik.enable=true are looked at (the traefik recipe
// sets exposedByDefault: false); a value from a variable counts as true.

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// ---- the rule tokenizer ----

type ruleTokenKind int

const (
	tokIdent  ruleTokenKind = iota // Host
	tokString                      // `…` or "…"
	tokVar                         // ${VAR} or $VAR outside a string: opaque text
	tokLParen
	tokRParen
	tokComma
	tokAnd // &&
	tokOr  // ||
	tokNot // !
	tokOther
)

// ruleToken is one token of a router rule, as written.
type ruleToken struct {
	Kind ruleTokenKind
	Pos  int    // byte offset in the rule
	Text string // rule[Pos:Pos+len(Text)]
	Open bool   // a string without its closing quote
}

// value is a string token's text between its quotes (escapes left as written).
func (t ruleToken) value() string {
	if t.Kind != tokString || len(t.Text) < 1 {
		return t.Text
	}
	v := t.Text[1:]
	if !t.Open && len(v) > 0 {
		v = v[:len(v)-1]
	}
	return v
}

// quote is a string token's quote character.
func (t ruleToken) quote() string {
	if t.Kind != tokString || t.Text == "" {
		return "`"
	}
	return t.Text[:1]
}

// tokenizeRule splits a router rule into tokens. Strings are Go literals, as
// Traefik reads them: backquoted, or double-quoted with backslash escapes.
// A compose interpolation (${VAR}, $VAR) is one opaque token outside a string
// and opaque text inside one, so a ` or , in its default does not end or
// split anything; $$ is an escaped $. It never fails: what it does not know
// is a tokOther.
func tokenizeRule(s string) []ruleToken {
	var toks []ruleToken
	add := func(kind ruleTokenKind, start, end int) {
		toks = append(toks, ruleToken{Kind: kind, Pos: start, Text: s[start:end]})
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '`' || c == '"':
			end, closed := scanRuleString(s, i)
			toks = append(toks, ruleToken{Kind: tokString, Pos: i, Text: s[i:end], Open: !closed})
			i = end
		case c == '$':
			n := interpolationLen(s[i:])
			switch {
			case n > 0:
				add(tokVar, i, i+n)
				i += n
			case strings.HasPrefix(s[i:], "$$"):
				add(tokOther, i, i+2)
				i += 2
			default:
				add(tokOther, i, i+1)
				i++
			}
		case c == '(':
			add(tokLParen, i, i+1)
			i++
		case c == ')':
			add(tokRParen, i, i+1)
			i++
		case c == ',':
			add(tokComma, i, i+1)
			i++
		case c == '!':
			add(tokNot, i, i+1)
			i++
		case c == '&' && strings.HasPrefix(s[i:], "&&"):
			add(tokAnd, i, i+2)
			i += 2
		case c == '|' && strings.HasPrefix(s[i:], "||"):
			add(tokOr, i, i+2)
			i += 2
		case isIdentByte(c, true):
			j := i + 1
			for j < len(s) && isIdentByte(s[j], false) {
				j++
			}
			add(tokIdent, i, j)
			i = j
		default:
			_, n := utf8.DecodeRuneInString(s[i:])
			add(tokOther, i, i+n)
			i += n
		}
	}
	return toks
}

func isIdentByte(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

// scanRuleString returns the end of the string starting at s[i] (a quote),
// and whether it is closed.
func scanRuleString(s string, i int) (end int, closed bool) {
	q := s[i]
	for j := i + 1; j < len(s); {
		switch {
		case s[j] == q:
			return j + 1, true
		case q == '"' && s[j] == '\\':
			j += 2
		case strings.HasPrefix(s[j:], "$$"):
			j += 2
		case s[j] == '$':
			if n := interpolationLen(s[j:]); n > 0 {
				j += n
			} else {
				j++
			}
		default:
			j++
		}
	}
	return len(s), false
}

// interpolationLen is the length of the compose interpolation s starts
// with: ${…} up to its matching brace, or $NAME; 0 when there is none.
func interpolationLen(s string) int {
	if len(s) < 2 || s[0] != '$' {
		return 0
	}
	if s[1] == '{' {
		depth := 0
		for j := 1; j < len(s); j++ {
			switch s[j] {
			case '{':
				depth++
			case '}':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return 0
	}
	if !isIdentByte(s[1], true) {
		return 0
	}
	j := 2
	for j < len(s) && isIdentByte(s[j], false) {
		j++
	}
	return j
}

// varName is the name of an interpolation token: EXTRA_DOMAINS for
// ${EXTRA_DOMAINS}, ${EXTRA_DOMAINS:-} or $EXTRA_DOMAINS.
func varName(v string) string {
	v = strings.TrimPrefix(v, "$")
	v = strings.TrimPrefix(v, "{")
	end := 0
	for end < len(v) && isIdentByte(v[end], end == 0) {
		end++
	}
	return v[:end]
}

// ---- matcher calls ----

// ruleArg is one argument of a matcher call.
type ruleArg struct {
	Text string     // as written, without Trailing
	Str  *ruleToken // the string, when the argument is one string
	// Trailing are interpolations right after the string, inside the
	// call: ${EXTRA_DOMAINS} in Host(`${DOMAIN}`${EXTRA_DOMAINS}), which
	// may add arguments.
	Trailing []string
}

// ruleCall is a matcher call of a rule: Host(`a`, `b`).
type ruleCall struct {
	Name       string // as written
	Start, End int    // its text is rule[Start:End]
	Args       []ruleArg
	Closed     bool
	// Negated is true after a !, InAnd when an && is next to it: a
	// rewrite into several matchers joined with || then needs parentheses.
	Negated, InAnd bool
}

// parseRuleCalls finds the matcher calls of a rule: an identifier and the
// parenthesised arguments after it, split at the commas outside strings
// and inner parentheses.
func parseRuleCalls(rule string) []ruleCall {
	toks := tokenizeRule(rule)
	var calls []ruleCall
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].Kind != tokIdent || toks[i+1].Kind != tokLParen {
			continue
		}
		c := ruleCall{Name: toks[i].Text, Start: toks[i].Pos, End: len(rule)}
		k := i - 1
		for k >= 0 && toks[k].Kind == tokNot {
			k--
		}
		c.Negated = k < i-1
		c.InAnd = k >= 0 && toks[k].Kind == tokAnd
		depth := 1
		var arg []ruleToken
		j := i + 2
	scan:
		for ; j < len(toks); j++ {
			t := toks[j]
			switch t.Kind {
			case tokLParen:
				depth++
			case tokRParen:
				depth--
				if depth == 0 {
					c.Closed = true
					break scan
				}
			case tokComma:
				if depth == 1 {
					c.Args = appendRuleArg(c.Args, rule, arg)
					arg = nil
					continue
				}
			}
			arg = append(arg, t)
		}
		c.Args = appendRuleArg(c.Args, rule, arg)
		if c.Closed {
			c.End = toks[j].Pos + 1
			if j+1 < len(toks) && toks[j+1].Kind == tokAnd {
				c.InAnd = true
			}
		}
		calls = append(calls, c)
		i = j
	}
	return calls
}

func appendRuleArg(args []ruleArg, rule string, toks []ruleToken) []ruleArg {
	if len(toks) == 0 {
		return args
	}
	last := toks[len(toks)-1]
	a := ruleArg{Text: strings.TrimSpace(rule[toks[0].Pos : last.Pos+len(last.Text)])}
	if toks[0].Kind == tokString && !toks[0].Open {
		rest := toks[1:]
		if !slices.ContainsFunc(rest, func(t ruleToken) bool { return t.Kind != tokVar }) {
			str := toks[0]
			a.Str, a.Text = &str, str.Text
			for _, t := range rest {
				a.Trailing = append(a.Trailing, t.Text)
			}
		}
	}
	return append(args, a)
}

// matcherArity is how many values a matcher of Traefik v3 takes.
type matcherArity struct{ min, max int }

// v3Matchers are Traefik v3's matchers by protocol, by lower-case name
// (Traefik accepts Host, host, HOST and Host).
var v3Matchers = map[string]map[string]matcherArity{
	"http": {
		"clientip": {1, 1}, "method": {1, 1}, "host": {1, 1}, "hostregexp": {1, 1},
		"path": {1, 1}, "pathregexp": {1, 1}, "pathprefix": {1, 1},
		"header": {2, 2}, "headerregexp": {2, 2}, "query": {1, 2}, "queryregexp": {1, 2},
	},
	"tcp": {
		"alpn": {1, 1}, "clientip": {1, 1}, "hostsni": {1, 1}, "hostsniregexp": {1, 1},
	},
}

// ruleIssue is what Traefik v3 makes of one matcher call of a rule.
type ruleIssue struct {
	// V2Only marks a matcher or form only Traefik v2 reads (R111); the
	// others are matchers given more values than v3 takes (R110).
	V2Only bool
	Text   string
}

// traefikRuleIssues lists what in a router rule Traefik v3 (with its default
// rule syntax) drops or reads differently from v2, each with what to write.
func traefikRuleIssues(rule, proto string) []ruleIssue {
	var out []ruleIssue
	for _, c := range parseRuleCalls(rule) {
		if is, ok := callIssue(rule, proto, c); ok {
			out = append(out, is)
		}
	}
	return out
}

func callIssue(rule, proto string, c ruleCall) (ruleIssue, bool) {
	text := rule[c.Start:c.End]
	name := strings.ToLower(c.Name)
	switch {
	case proto == "http" && (name == "headers" || name == "headersregexp"):
		v3 := "Header"
		if name == "headersregexp" {
			v3 = "HeaderRegexp"
		}
		return ruleIssue{V2Only: true, Text: fmt.Sprintf("%s is Traefik v2 syntax: v3 has no %s matcher and drops this router (404); write %s",
			text, c.Name, pairsRewrite(c, v3))}, true
	case proto == "http" && name == "hostheader":
		return ruleIssue{V2Only: true, Text: fmt.Sprintf("%s is Traefik v2 syntax: v3 has no HostHeader matcher and drops this router (404); write %s",
			text, orRewrite(c, func(a ruleArg) string { return "Host(" + a.Text + ")" }))}, true
	case proto == "http" && name == "query" && slices.ContainsFunc(c.Args, func(a ruleArg) bool { return a.Str != nil && strings.Contains(a.Str.value(), "=") }):
		return ruleIssue{V2Only: true, Text: fmt.Sprintf("%s is Traefik v2's key=value form: v3 takes Query(`key`, `value`) and looks for a parameter named %s, which never comes; write %s",
			text, firstQueryPair(c), queryRewrite(c))}, true
	case proto == "http" && name == "hostregexp" || proto == "tcp" && name == "hostsniregexp":
		if rewrite, ok := hostRegexpRewrite(c, proto); ok {
			return ruleIssue{V2Only: true, Text: fmt.Sprintf("%s reads as a Traefik v2 host template (literal text with {name:regexp} placeholders): v3 reads a Go regexp instead, unanchored, in which . matches any character and a placeholder only its own text; write %s%s",
				text, rewrite, rewriteNotes(rewrite))}, true
		}
	case proto == "http" && (name == "path" || name == "pathprefix"):
		if rewrite, ok := pathRewrite(c, name == "pathprefix"); ok {
			return ruleIssue{V2Only: true, Text: fmt.Sprintf("%s uses Traefik v2's {name:regexp} placeholders: v3's %s reads them literally and never matches; write %s%s",
				text, c.Name, rewrite, rewriteNotes(rewrite))}, true
		}
	}
	arity, ok := v3Matchers[proto][name]
	if !ok {
		return ruleIssue{}, false
	}
	n := len(c.Args)
	var vars []string
	for _, a := range c.Args {
		for _, v := range a.Trailing {
			if !slices.Contains(vars, v) {
				vars = append(vars, v)
			}
		}
	}
	maybe := len(vars) > 0
	if n <= arity.max && !(maybe && n >= arity.max) {
		return ruleIssue{}, false
	}
	takes := fmt.Sprint(arity.max)
	if arity.min != arity.max {
		takes = fmt.Sprintf("%d or %d", arity.min, arity.max)
	}
	var what string
	switch {
	case maybe && n > 1:
		what = fmt.Sprintf("has %d arguments and %s may add more", n, strings.Join(vars, ", "))
	case maybe:
		what = fmt.Sprintf("may have more arguments: %s adds them", strings.Join(vars, ", "))
	default:
		what = fmt.Sprintf("has %d arguments", n)
	}
	drops := "drops this router (404)"
	if maybe && n <= arity.max {
		drops += " once " + strings.Join(varNames(vars), ", ") + " is set"
	}
	if arity.max > 1 {
		return ruleIssue{Text: fmt.Sprintf("%s %s; Traefik v3 takes %s and %s: write one %s(…) per condition, joined with && or ||",
			text, what, takes, drops, c.Name)}, true
	}
	rewrite := orRewrite(c, func(a ruleArg) string { return c.Name + "(" + a.Text + ")" })
	advice := ""
	switch {
	case slices.Contains(varNames(vars), "EXTRA_DOMAINS"):
		advice = fmt.Sprintf(" with EXTRA_DOMAINS=' || %s(`www.example.org`)' instead of ', `www.example.org`' (in .env.sample too), which Traefik v2 reads as well", c.Name)
	case maybe:
		advice = fmt.Sprintf(", and have %s add ` || %s(…)` instead of `, …`", strings.Join(vars, ", "), c.Name)
	}
	return ruleIssue{Text: fmt.Sprintf("%s %s; Traefik v3 takes %s and %s: write %s%s", text, what, takes, drops, rewrite, advice)}, true
}

func varNames(vars []string) []string {
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = varName(v)
	}
	return out
}

// orRewrite joins one call per argument with ||, keeping each argument's
// trailing interpolations after its call; parenthesised when the call is
// negated or an operand of &&.
func orRewrite(c ruleCall, one func(ruleArg) string) string {
	parts := make([]string, 0, len(c.Args))
	trailing := false
	for _, a := range c.Args {
		parts = append(parts, one(a)+strings.Join(a.Trailing, ""))
		trailing = trailing || len(a.Trailing) > 0
	}
	out := strings.Join(parts, " || ")
	if (len(parts) > 1 || trailing) && (c.Negated || c.InAnd) {
		out = "(" + out + ")"
	}
	return out
}

// pairsRewrite turns v2's Headers(`k1`, `v1`, `k2`, `v2`) into
// Header(`k1`, `v1`) && Header(`k2`, `v2`).
func pairsRewrite(c ruleCall, v3 string) string {
	if len(c.Args) == 0 || len(c.Args)%2 != 0 {
		return v3 + "(`name`, `value`) for each header"
	}
	var parts []string
	for i := 0; i+1 < len(c.Args); i += 2 {
		parts = append(parts, fmt.Sprintf("%s(%s, %s)", v3, c.Args[i].Text, c.Args[i+1].Text))
	}
	out := strings.Join(parts, " && ")
	if len(parts) > 1 && c.Negated {
		out = "(" + out + ")"
	}
	return out
}

func firstQueryPair(c ruleCall) string {
	for _, a := range c.Args {
		if a.Str != nil && strings.Contains(a.Str.value(), "=") {
			return a.Text
		}
	}
	return ""
}

// queryRewrite turns v2's Query(`a=b`, `c=d`) into
// Query(`a`, `b`) && Query(`c`, `d`).
func queryRewrite(c ruleCall) string {
	var parts []string
	for _, a := range c.Args {
		if a.Str != nil {
			if k, v, ok := strings.Cut(a.Str.value(), "="); ok {
				q := a.Str.quote()
				parts = append(parts, fmt.Sprintf("Query(%s%s%s, %s%s%s)", q, k, q, q, v, q))
				continue
			}
		}
		parts = append(parts, "Query("+a.Text+")")
	}
	out := strings.Join(parts, " && ")
	if len(parts) > 1 && c.Negated {
		out = "(" + out + ")"
	}
	return out
}

// hostRegexpRewrite rewrites a HostRegexp (HostSNIRegexp) whose arguments
// are v2 host templates: with placeholders into an anchored Go regexp, a
// plain host name into Host (HostSNI). ok is false when no argument is a
// v2 template, that is all are regexps already.
func hostRegexpRewrite(c ruleCall, proto string) (string, bool) {
	host := "Host"
	if proto == "tcp" {
		host = "HostSNI"
	}
	v2 := false
	out := orRewrite(c, func(a ruleArg) string {
		if a.Str == nil {
			return c.Name + "(" + a.Text + ")"
		}
		val, q := a.Str.value(), a.Str.quote()
		if re, ok := v2Template(val, "[^.]+", false); ok {
			v2 = true
			return c.Name + "(" + q + quoteFor(re, q) + q + ")"
		}
		if isLiteralHost(val) {
			v2 = true
			return host + "(" + a.Text + ")"
		}
		return c.Name + "(" + a.Text + ")"
	})
	return out, v2
}

// pathRewrite rewrites a Path or PathPrefix with v2 placeholders into
// PathRegexp; ok is false when no argument has one.
func pathRewrite(c ruleCall, prefix bool) (string, bool) {
	v2 := false
	out := orRewrite(c, func(a ruleArg) string {
		if a.Str != nil {
			if re, ok := v2Template(a.Str.value(), "[^/]+", prefix); ok {
				v2 = true
				q := a.Str.quote()
				return "PathRegexp(" + q + quoteFor(re, q) + q + ")"
			}
		}
		return c.Name + "(" + a.Text + ")"
	})
	return out, v2
}

// quoteFor escapes a regexp for a double-quoted rule string.
func quoteFor(re, quote string) string {
	if quote == `"` {
		return strings.ReplaceAll(re, `\`, `\\`)
	}
	return re
}

// rewriteNotes says how a rewritten rule is written into a compose file.
func rewriteNotes(rewrite string) string {
	var notes []string
	if strings.Contains(rewrite, "$$") {
		notes = append(notes, "$$ is how a compose file writes $")
	}
	if strings.Contains(rewrite, `\`) {
		notes = append(notes, `in a double-quoted YAML string, write each \ as \\`)
	}
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, "; ") + ")"
}

// literalHost is a host name, maybe with interpolations: no regexp in it.
var literalHost = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)

func isLiteralHost(s string) bool {
	return literalHost.MatchString(stripInterpolations(s, "x"))
}

// stripInterpolations replaces each ${…} and $VAR of s with repl.
func stripInterpolations(s, repl string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if n := interpolationLen(s[i:]); n > 0 {
			b.WriteString(repl)
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// v2Template converts a gorilla/mux template, as Traefik v2's HostRegexp,
// Path and PathPrefix read them (literal text with {name} and
// {name:regexp} variables), into the anchored Go regexp v3 reads. Compose
// interpolations are kept as they are; a {name} variable becomes anyVar.
// ok is false when s has no variable.
func v2Template(s, anyVar string, prefix bool) (string, bool) {
	var b strings.Builder
	found := false
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$$") {
			b.WriteString("$$")
			i += 2
			continue
		}
		if n := interpolationLen(s[i:]); n > 0 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		if s[i] == '{' {
			if pattern, n, ok := templateVar(s[i:], anyVar); ok {
				b.WriteString(pattern)
				found = true
				i += n
				continue
			}
		}
		b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		i++
	}
	if !found {
		return "", false
	}
	re := "^" + b.String()
	if !prefix {
		re += "$$" // $, as a compose file writes it
	}
	return re, true
}

// templateVar reads a mux variable at the start of s: {name} or
// {name:pattern}, the pattern up to the brace that balances the first.
func templateVar(s, anyVar string) (pattern string, n int, ok bool) {
	j := 1
	for j < len(s) && isIdentByte(s[j], j == 1) {
		j++
	}
	if j == 1 || j >= len(s) {
		return "", 0, false
	}
	if s[j] == '}' {
		return anyVar, j + 1, true
	}
	if s[j] != ':' {
		return "", 0, false
	}
	depth := 1
	for k := j + 1; k < len(s); k++ {
		switch s[k] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				if p := s[j+1 : k]; p != "" {
					return p, k + 1, true
				}
				return anyVar, k + 1, true
			}
		}
	}
	return "", 0, false
}

// ---- traefik labels by service ----

// traefikRouter is a router defined by a service's labels.
type traefikRouter struct {
	Proto string // http or tcp
	Name  string // as first written
	// Props are its labels by lower-case property: rule, rulesyntax,
	// entrypoints, service, tls.certresolver…
	Props map[string]label
}

func (rt *traefikRouter) syntax() string {
	if l, ok := rt.Props["rulesyntax"]; ok {
		return strings.TrimSpace(l.IVal)
	}
	return ""
}

// traefikService is a compose service with traefik.enable=true, and what its
// labels define.
type traefikService struct {
	Name    string
	Routers []*traefikRouter // http, then tcp, by name
	// HTTPServices are the http services its labels define, by lower-case
	// interpolated name: their labels by lower-case property.
	HTTPServices map[string]map[string]label
	httpNames    map[string]string // the name as first written
	// Provider are its traefik.docker.* and traefik.swarm.* labels.
	Provider map[string][]label
}

func (s *traefikService) httpRouters() []*traefikRouter {
	return slices.DeleteFunc(slices.Clone(s.Routers), func(rt *traefikRouter) bool { return rt.Proto != "http" })
}

// labelPath splits a label key at its dots, keeping interpolations whole.
func labelPath(key string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(key); {
		if n := interpolationLen(key[i:]); n > 0 {
			i += n
			continue
		}
		if key[i] == '.' {
			parts = append(parts, key[start:i])
			start = i + 1
		}
		i++
	}
	return append(parts, key[start:])
}

// traefikEnabled reads traefik.enable as Traefik does (true in any case);
// a value from a variable counts as true.
func traefikEnabled(val string) bool {
	v := strings.TrimSpace(strings.Trim(strings.TrimSpace(val), `"'`))
	return strings.EqualFold(v, "true") || len(variables(v)) > 0
}

// traefikServices returns the services with traefik.enable=true, by name,
// and what their labels (over all compose files) define.
func (r *Recipe) traefikServices() []*traefikService {
	bySvc := map[string][]label{}
	for _, l := range r.labels() {
		bySvc[l.Service] = append(bySvc[l.Service], l)
	}
	var out []*traefikService
	for _, name := range slices.Sorted(maps.Keys(bySvc)) {
		s := &traefikService{Name: name, HTTPServices: map[string]map[string]label{}, httpNames: map[string]string{}, Provider: map[string][]label{}}
		enabled := false
		routers := map[string]*traefikRouter{}
		for _, l := range bySvc[name] {
			p := labelPath(l.Key)
			if len(p) < 2 || !strings.EqualFold(p[0], "traefik") {
				continue
			}
			kind := strings.ToLower(p[1])
			switch {
			case kind == "enable" && len(p) == 2:
				enabled = traefikEnabled(l.Val)
			case kind == "docker" || kind == "swarm":
				s.Provider[kind] = append(s.Provider[kind], l)
			case (kind == "http" || kind == "tcp") && len(p) >= 5:
				objName, prop := p[3], strings.ToLower(strings.Join(p[4:], "."))
				id := strings.ToLower(r.interpolate(objName))
				switch strings.ToLower(p[2]) {
				case "routers":
					rt := routers[kind+"\x00"+id]
					if rt == nil {
						rt = &traefikRouter{Proto: kind, Name: objName, Props: map[string]label{}}
						routers[kind+"\x00"+id] = rt
					}
					rt.Props[prop] = l
				case "services":
					if kind != "http" {
						continue
					}
					if s.HTTPServices[id] == nil {
						s.HTTPServices[id] = map[string]label{}
						s.httpNames[id] = objName
					}
					s.HTTPServices[id][prop] = l
				}
			}
		}
		if !enabled {
			continue
		}
		for _, rt := range routers {
			s.Routers = append(s.Routers, rt)
		}
		slices.SortFunc(s.Routers, func(a, b *traefikRouter) int {
			if a.Proto != b.Proto {
				return strings.Compare(a.Proto, b.Proto)
			}
			return strings.Compare(a.Name, b.Name)
		})
		out = append(out, s)
	}
	return out
}

// traefikView returns the enabled services, or the result of a rule that
// has nothing to look at.
func (r *Recipe) traefikView() ([]*traefikService, Result, bool) {
	if len(r.rawFiles()) == 0 {
		return nil, skip(notLoaded), false
	}
	svcs := r.traefikServices()
	if len(svcs) == 0 {
		return nil, pass("no service has traefik.enable=true"), false
	}
	return svcs, Result{}, true
}

// ruleIssues are the issues of a router's rule: of the rule as written, or,
// when that is only variables (rule=${ROUTER_RULE}), of the rule with
// .env.sample's values.
func (rt *traefikRouter) ruleIssues() []ruleIssue {
	l, ok := rt.Props["rule"]
	if !ok {
		return nil
	}
	if len(parseRuleCalls(l.Val)) == 0 && l.IVal != l.Val {
		issues := traefikRuleIssues(l.IVal, rt.Proto)
		for i := range issues {
			issues[i].Text = "with .env.sample's values, " + issues[i].Text
		}
		return issues
	}
	return traefikRuleIssues(l.Val, rt.Proto)
}

func resultOf(bad []string, okDetail string) Result {
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "))
	}
	return pass(okDetail)
}

// checkRuleIssues reports the rule issues of one kind, of routers on v3's
// rule syntax.
func checkRuleIssues(r *Recipe, v2Only bool) Result {
	svcs, res, ok := r.traefikView()
	if !ok {
		return res
	}
	var bad []string
	for _, s := range svcs {
		for _, rt := range s.Routers {
			if rt.syntax() == "v2" {
				continue // R115
			}
			for _, is := range rt.ruleIssues() {
				if is.V2Only == v2Only {
					bad = append(bad, fmt.Sprintf("%s: %s: %s", s.Name, rt.Props["rule"].Key, is.Text))
				}
			}
		}
	}
	return resultOf(bad, "")
}

func checkTraefikArguments(r *Recipe) Result { return checkRuleIssues(r, false) }

func checkTraefikV2Matchers(r *Recipe) Result { return checkRuleIssues(r, true) }

func labelKeys(ls []label, withValues bool) string {
	keys := make([]string, len(ls))
	for i, l := range ls {
		keys[i] = l.Key
		if withValues {
			keys[i] += "=" + l.Val
		}
	}
	return strings.Join(keys, ", ")
}

func checkTraefikProviderLabels(r *Recipe) Result {
	svcs, res, ok := r.traefikView()
	if !ok {
		return res
	}
	var bad []string
	for _, s := range svcs {
		if len(s.Provider["docker"]) > 0 && len(s.Provider["swarm"]) > 0 {
			bad = append(bad, fmt.Sprintf("%s: %s and %s: Traefik v3 refuses a service with both (\"both Docker and Swarm labels are defined\") and serves none of its routers; keep only the traefik.swarm.* labels",
				s.Name, labelKeys(s.Provider["docker"], false), labelKeys(s.Provider["swarm"], false)))
		}
	}
	return resultOf(bad, "")
}

func checkTraefikPorts(r *Recipe) Result {
	svcs, res, ok := r.traefikView()
	if !ok {
		return res
	}
	defined := map[string]bool{} // http services of every enabled service, by lower-case name
	for _, s := range svcs {
		for id := range s.HTTPServices {
			defined[id] = true
		}
	}
	var bad []string
	for _, s := range svcs {
		routers := s.httpRouters()
		if len(routers) == 0 {
			continue
		}
		names := make([]string, len(routers))
		for i, rt := range routers {
			names[i] = rt.Name
		}
		dropsAll := fmt.Sprintf("Swarm gives Traefik no port, so it skips %s and drops all its routers (%s)", s.Name, strings.Join(names, ", "))
		if len(s.HTTPServices) == 0 {
			even := ""
			if slices.ContainsFunc(routers, func(rt *traefikRouter) bool { return strings.Contains(rt.Props["service"].IVal, "@") }) {
				even = ", even those whose service is a provider's (api@internal)"
			}
			bad = append(bad, fmt.Sprintf("%s: no traefik.http.services.<name>.loadbalancer.server.port label: %s%s; add traefik.http.services.%s.loadbalancer.server.port=<port>",
				s.Name, dropsAll, even, routers[0].Name))
			continue
		}
		for _, id := range slices.Sorted(maps.Keys(s.HTTPServices)) {
			if l, ok := s.HTTPServices[id]["loadbalancer.server.port"]; !ok || strings.TrimSpace(l.Val) == "" {
				bad = append(bad, fmt.Sprintf("%s: traefik.http.services.%s has no loadbalancer.server.port: %s; add traefik.http.services.%s.loadbalancer.server.port=<port>",
					s.Name, s.httpNames[id], dropsAll, s.httpNames[id]))
			}
		}
		for _, rt := range routers {
			l, named := rt.Props["service"]
			ref := strings.TrimSpace(l.IVal)
			switch {
			case !named && len(s.HTTPServices) > 1:
				var svcNames []string
				for _, id := range slices.Sorted(maps.Keys(s.HTTPServices)) {
					svcNames = append(svcNames, s.httpNames[id])
				}
				bad = append(bad, fmt.Sprintf("%s: router %s names no service and %s defines %d (%s): Traefik drops the router; add traefik.http.routers.%s.service=<one of them>",
					s.Name, rt.Name, s.Name, len(svcNames), strings.Join(svcNames, ", "), rt.Name))
			case !named || strings.Contains(ref, "@"):
			case !defined[strings.ToLower(ref)]:
				bad = append(bad, fmt.Sprintf("%s: %s=%s: no service of the recipe defines traefik.http.services.%s (with a port), so Traefik drops the router",
					s.Name, l.Key, l.Val, l.Val))
			}
		}
	}
	return resultOf(bad, "")
}

func checkTraefikDockerLabels(r *Recipe) Result {
	svcs, res, ok := r.traefikView()
	if !ok {
		return res
	}
	var bad []string
	for _, s := range svcs {
		if len(s.Provider["docker"]) == 0 || len(s.Provider["swarm"]) > 0 {
			continue // none, or both: R112
		}
		for _, l := range s.Provider["docker"] {
			p := labelPath(l.Key)
			swarmKey := "traefik.swarm." + strings.Join(p[2:], ".")
			what := fmt.Sprintf("write %s once the server runs Traefik v3 (v2 reads only traefik.docker.*)", swarmKey)
			if strings.EqualFold(strings.Join(p[2:], "."), "network") && strings.TrimSpace(l.IVal) == "proxy" {
				what = "drop it: the traefik recipe gives its provider network: proxy already"
			}
			bad = append(bad, fmt.Sprintf("%s: %s=%s: Traefik v3 reads traefik.swarm.* for Swarm services and warns that traefik.docker.* is deprecated there; %s",
				s.Name, l.Key, l.Val, what))
		}
	}
	return resultOf(bad, "")
}

func checkTraefikRuleSyntax(r *Recipe) Result {
	svcs, res, ok := r.traefikView()
	if !ok {
		return res
	}
	var bad []string
	for _, s := range svcs {
		for _, rt := range s.Routers {
			syntax := rt.syntax()
			l := rt.Props["rulesyntax"]
			switch syntax {
			case "", "v3":
			case "v2":
				var texts []string
				for _, is := range rt.ruleIssues() {
					texts = append(texts, is.Text)
				}
				next := "the rule needs no v2 syntax: remove the label"
				if len(texts) > 0 {
					next = "in v3's syntax, " + strings.Join(texts, "; ")
				}
				bad = append(bad, fmt.Sprintf("%s: %s=%s: the v2 rule syntax is deprecated and Traefik's next major version removes it; %s",
					s.Name, l.Key, l.Val, next))
			default:
				bad = append(bad, fmt.Sprintf("%s: %s=%s: Traefik knows the rule syntaxes v2 and v3 only", s.Name, l.Key, l.Val))
			}
		}
	}
	return resultOf(bad, "")
}

func checkTraefikEntrypoints(r *Recipe) Result {
	svcs, res, ok := r.traefikView()
	if !ok {
		return res
	}
	var bad []string
	for _, s := range svcs {
		for _, rt := range s.Routers {
			if _, ok := rt.Props["rule"]; !ok {
				continue
			}
			if _, ok := rt.Props["entrypoints"]; !ok {
				ep := "web-secure"
				if rt.Proto != "http" {
					ep = "<entrypoint>"
				}
				bad = append(bad, fmt.Sprintf("%s: traefik.%s.routers.%s has a rule but no entrypoints: Traefik serves it on every entrypoint (or those marked asDefault); add traefik.%s.routers.%s.entrypoints=%s",
					s.Name, rt.Proto, rt.Name, rt.Proto, rt.Name, ep))
			}
		}
	}
	return resultOf(bad, "")
}
