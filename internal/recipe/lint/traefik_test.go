package lint

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// tokenString shows tokens compactly: kind:text, punctuation as itself.
func tokenString(toks []ruleToken) string {
	var parts []string
	for _, t := range toks {
		switch t.Kind {
		case tokIdent:
			parts = append(parts, "id:"+t.Text)
		case tokString:
			s := "str:" + t.Text
			if t.Open {
				s += "(open)"
			}
			parts = append(parts, s)
		case tokVar:
			parts = append(parts, "var:"+t.Text)
		case tokOther:
			parts = append(parts, "other:"+t.Text)
		default:
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, " ")
}

func TestTokenizeRule(t *testing.T) {
	tests := []struct{ rule, want string }{
		{"Path(`/a,b`)", "id:Path ( str:`/a,b` )"},
		{"Host(`${DOMAIN}`${EXTRA_DOMAINS})", "id:Host ( str:`${DOMAIN}` var:${EXTRA_DOMAINS} )"},
		{"Host(`${DOMAIN}`)${EXTRA_DOMAINS}", "id:Host ( str:`${DOMAIN}` ) var:${EXTRA_DOMAINS}"},
		{"!(Host(`a`) || Host(\"b\\\"c,d\")) && PathPrefix(`/x`)",
			"! ( id:Host ( str:`a` ) || id:Host ( str:\"b\\\"c,d\" ) ) && id:PathPrefix ( str:`/x` )"},
		// A ` or , in an interpolation's default neither ends a string nor splits it.
		{"Host(`${A:-`x`,y}`, $B)", "id:Host ( str:`${A:-`x`,y}` , var:$B )"},
		{"Host(${HOSTS:-`a`, `b`})", "id:Host ( var:${HOSTS:-`a`, `b`} )"},
		{"Host(`a", "id:Host ( str:`a(open)"},
		{"Host(`a`) & | $$ $ é 'b'", "id:Host ( str:`a` ) other:& other:| other:$$ other:$ other:é other:' id:b other:'"},
		{"Host(`$${x}`)", "id:Host ( str:`$${x}` )"},
		{"  \t\n", ""},
	}
	for _, tt := range tests {
		if got := tokenString(tokenizeRule(tt.rule)); got != tt.want {
			t.Errorf("tokenizeRule(%q)\n got %s\nwant %s", tt.rule, got, tt.want)
		}
	}
}

// callString shows calls compactly: Name/args[/trailing][!][&][open].
func callString(calls []ruleCall) string {
	var parts []string
	for _, c := range calls {
		s := fmt.Sprintf("%s/%d", c.Name, len(c.Args))
		for _, a := range c.Args {
			if len(a.Trailing) > 0 {
				s += "+" + strings.Join(a.Trailing, "")
			}
		}
		if c.Negated {
			s += "!"
		}
		if c.InAnd {
			s += "&"
		}
		if !c.Closed {
			s += "(open)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestParseRuleCalls(t *testing.T) {
	tests := []struct{ rule, want string }{
		{"Path(`/a,b`)", "Path/1"},
		{"Host(\"a,b\", `c`)", "Host/2"},
		{"(Host(`a`) || Host(`b`, `c`)) && !PathPrefix(`/x,y`)", "Host/1 Host/2 PathPrefix/1!&"},
		{"Host(`a`) && (Path(`/p`) || Method(`GET`, `POST`))", "Host/1& Path/1 Method/2"},
		{"Host(`${DOMAIN}`${EXTRA_DOMAINS})", "Host/1+${EXTRA_DOMAINS}"},
		{"Host(`${DOMAIN}`)${EXTRA_DOMAINS}", "Host/1"},
		{"Host(`a`, `b`${X}${Y})", "Host/2+${X}${Y}"},
		{"Host(`a`,)", "Host/1"},
		{"Host()", "Host/0"},
		{"Host(`a`", "Host/1(open)"},
		{"Host((`a`), `b`)", "Host/2"},
		{"${ROUTER_RULE}", ""},
	}
	for _, tt := range tests {
		if got := callString(parseRuleCalls(tt.rule)); got != tt.want {
			t.Errorf("parseRuleCalls(%q) = %s, want %s", tt.rule, got, tt.want)
		}
	}
}

// traefikRuleCases are rules with what Traefik v3 makes of them: "" for
// nothing, else "R110: …" or "R111: …" and a part of the issue's text.
var traefikRuleCases = []struct{ proto, rule, want string }{
	{"http", "Host(`a`)", ""},
	{"http", "Path(`/a,b`)", ""},
	{"http", "Host(`${DOMAIN}`) && PathPrefix(`/fss-cms`)", ""},
	{"http", "Host(`a`, `b`)", "R110: Host(`a`, `b`) has 2 arguments; Traefik v3 takes 1 and drops this router (404): write Host(`a`) || Host(`b`)"},
	{"http", "Host(`a`, `b`) && PathPrefix(`/x`)", "R110: write (Host(`a`) || Host(`b`))"},
	{"http", "PathPrefix(`/x`) && Host(`a`, `b`)", "R110: write (Host(`a`) || Host(`b`))"},
	{"http", "!Host(`a`, `b`)", "R110: write (Host(`a`) || Host(`b`))"},
	{"http", "Host(`a`, `b`) || PathPrefix(`/x`)", "R110: write Host(`a`) || Host(`b`)"},
	{"http", "(Host(`a`) || Host(`b`, \"c\")) && !PathPrefix(`/x,y`)", "R110: Host(`b`, \"c\") has 2 arguments"},
	{"http", "Host(`${DOMAIN}`${EXTRA_DOMAINS})", "R110: ${EXTRA_DOMAINS} adds them; Traefik v3 takes 1 and drops this router (404) once EXTRA_DOMAINS is set: write Host(`${DOMAIN}`)${EXTRA_DOMAINS} with EXTRA_DOMAINS=' || Host(`www.example.org`)'"},
	{"http", "Host(`${DOMAIN}`${EXTRA_DOMAINS}) && PathPrefix(`/app`)", "R110: write (Host(`${DOMAIN}`)${EXTRA_DOMAINS}) with"},
	{"http", "Host(`${DOMAIN}`, `www.${DOMAIN}`${EXTRA_DOMAINS})", "R110: has 2 arguments and ${EXTRA_DOMAINS} may add more"},
	{"http", "Host(`${DOMAIN}`)${EXTRA_DOMAINS}", ""},
	{"http", "Host(`${DOMAIN}`${ALIASES})", "R110: write Host(`${DOMAIN}`)${ALIASES}, and have ${ALIASES} add ` || Host(…)`"},
	{"http", "Host(${HOSTS})", ""},
	{"http", "host(`a`, `b`)", "R110: write host(`a`) || host(`b`)"},
	{"http", "Method(`GET`, `POST`)", "R110: write Method(`GET`) || Method(`POST`)"},
	{"http", "ClientIP(`10.0.0.0/8`, `::1`)", "R110: write ClientIP(`10.0.0.0/8`) || ClientIP(`::1`)"},
	{"http", "PathPrefix(`/a`, `/b`)", "R110: write PathPrefix(`/a`) || PathPrefix(`/b`)"},
	{"http", "Header(`X-A`, `b`)", ""},
	{"http", "Header(`X-A`, `b`, `X-C`, `d`)", "R110: has 4 arguments; Traefik v3 takes 2 and drops this router"},
	{"http", "Query(`page`, `2`)", ""},
	{"http", "Query(`debug`)", ""},
	{"http", "Query(`page=2`)", "R111: Query(`page=2`) is Traefik v2's key=value form: v3 takes Query(`key`, `value`) and looks for a parameter named `page=2`, which never comes; write Query(`page`, `2`)"},
	{"http", "Query(`a=1`, `b=2`)", "R111: write Query(`a`, `1`) && Query(`b`, `2`)"},
	{"http", "Headers(`X-A`, `b`)", "R111: Headers(`X-A`, `b`) is Traefik v2 syntax: v3 has no Headers matcher and drops this router (404); write Header(`X-A`, `b`)"},
	{"http", "HeadersRegexp(`X-A`, `b.*`, `X-C`, `d`)", "R111: write HeaderRegexp(`X-A`, `b.*`) && HeaderRegexp(`X-C`, `d`)"},
	{"http", "HostHeader(`a`, `b`)", "R111: v3 has no HostHeader matcher and drops this router (404); write Host(`a`) || Host(`b`)"},
	{"http", "HostRegexp(`{subdomain:[a-z]+}.example.com`)", "R111: write HostRegexp(`^[a-z]+\\.example\\.com$$`) ($$ is how a compose file writes $; in a double-quoted YAML string, write each \\ as \\\\)"},
	{"http", "HostRegexp(`{subdomain:.+}.${DOMAIN}`, `${DOMAIN}`)", "R111: write HostRegexp(`^.+\\.${DOMAIN}$$`) || Host(`${DOMAIN}`)"},
	{"http", "HostRegexp(`{sub}.example.com`)", "R111: write HostRegexp(`^[^.]+\\.example\\.com$$`)"},
	{"http", "HostRegexp(\"{a:[a-z]{2}}.b\")", "R111: write HostRegexp(\"^[a-z]{2}\\\\.b$$\")"},
	{"http", "HostRegexp(`www.example.com`)", "R111: write Host(`www.example.com`)"},
	{"http", "HostRegexp(`^.+\\.example\\.com$$`)", ""},
	{"http", "HostRegexp(`.+`)", ""},
	{"http", "HostRegexp(`^a$$`, `^b$$`)", "R110: write HostRegexp(`^a$$`) || HostRegexp(`^b$$`)"},
	{"http", "PathPrefix(`/item/{id:[0-9]+}`)", "R111: v3's PathPrefix reads them literally and never matches; write PathRegexp(`^/item/[0-9]+`)"},
	{"http", "Path(`/u/{name}`)", "R111: write PathRegexp(`^/u/[^/]+$$`)"},
	{"http", "Path(`/${PREFIX}/x`)", ""},
	{"http", "Unknown(`a`, `b`)", ""},
	{"tcp", "HostSNI(`*`)", ""},
	{"tcp", "HostSNI(`a`, `b`)", "R110: write HostSNI(`a`) || HostSNI(`b`)"},
	{"tcp", "HostSNIRegexp(`{sub:[a-z]+}.example.com`)", "R111: write HostSNIRegexp(`^[a-z]+\\.example\\.com$$`)"},
	{"tcp", "Host(`a`, `b`)", ""},
}

func TestTraefikRuleIssues(t *testing.T) {
	for _, tt := range traefikRuleCases {
		issues := traefikRuleIssues(tt.rule, tt.proto)
		var got []string
		for _, is := range issues {
			id := "R110"
			if is.V2Only {
				id = "R111"
			}
			got = append(got, id+": "+is.Text)
		}
		if tt.want == "" {
			if len(got) > 0 {
				t.Errorf("%s %q: %v, want none", tt.proto, tt.rule, got)
			}
			continue
		}
		id, part, _ := strings.Cut(tt.want, ": ")
		if len(got) != 1 || !strings.HasPrefix(got[0], id+": ") || !strings.Contains(got[0], part) {
			t.Errorf("%s %q:\n got %q\nwant one %s containing %q", tt.proto, tt.rule, got, id, part)
		}
	}
}

func TestV2Template(t *testing.T) {
	tests := []struct {
		in, anyVar string
		prefix     bool
		want       string
		ok         bool
	}{
		{"{sub:[a-z]+}.example.com", "[^.]+", false, `^[a-z]+\.example\.com$$`, true},
		{"{sub}.${DOMAIN}", "[^.]+", false, `^[^.]+\.${DOMAIN}$$`, true},
		{"/a/{id:[0-9]{3}}/b", "[^/]+", true, `^/a/[0-9]{3}/b`, true},
		{"{id:}", "[^/]+", false, `^[^/]+$$`, true},
		{"example.com", "[^.]+", false, "", false},
		{"{", "x", false, "", false},
		{"{unclosed:abc", "x", false, "", false},
		{"{1a}", "x", false, "", false},
		{"${DOMAIN}", "x", false, "", false},
	}
	for _, tt := range tests {
		got, ok := v2Template(tt.in, tt.anyVar, tt.prefix)
		if got != tt.want || ok != tt.ok {
			t.Errorf("v2Template(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLabelPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"traefik.http.routers.${STACK_NAME}.rule", "traefik|http|routers|${STACK_NAME}|rule"},
		{"traefik.http.routers.${NAME:-a.b}.rule", "traefik|http|routers|${NAME:-a.b}|rule"},
		{"traefik.enable", "traefik|enable"},
		{"a..b.", "a||b|"},
	}
	for _, tt := range tests {
		if got := strings.Join(labelPath(tt.in), "|"); got != tt.want {
			t.Errorf("labelPath(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestTraefikRules(t *testing.T) {
	const (
		rule    = "traefik.http.routers.${STACK_NAME}.rule=Host(`${DOMAIN}`)"
		enable  = "\"traefik.enable=true\""
		port    = "traefik.http.services.${STACK_NAME}.loadbalancer.server.port=80"
		entry   = "\"traefik.http.routers.${STACK_NAME}.entrypoints=web-secure\"\n"
		label   = "        - \"coop-cloud.${STACK_NAME}.version=1.0.0+1.25.3\"\n"
		ruleKey = "app: traefik.http.routers.${STACK_NAME}.rule: "
	)
	setRule := func(r string) edit { return edit{"compose.yml", rule, "traefik.http.routers.${STACK_NAME}.rule=" + r} }
	addLabels := func(ls ...string) edit {
		var b strings.Builder
		for _, l := range ls {
			b.WriteString("        - \"" + l + "\"\n")
		}
		return edit{"compose.yml", label, label + b.String()}
	}
	// worker is a second service, with labels in map form.
	worker := func(labels string) string {
		return "-- compose.worker.yml --\nversion: \"3.8\"\nservices:\n  worker:\n    image: redis:7.2\n    deploy:\n      labels:\n" + labels
	}
	tests := []struct {
		name     string
		rule     string
		edits    []edit
		files    string
		status   Status
		severity Severity
		detail   string
	}{
		{name: "good recipe", rule: "R110", status: Pass},
		{name: "two hosts", rule: "R110", status: Fail, severity: Critical,
			edits:  []edit{setRule("Host(`${DOMAIN}`, `www.${DOMAIN}`)")},
			detail: ruleKey + "Host(`${DOMAIN}`, `www.${DOMAIN}`) has 2 arguments; Traefik v3 takes 1 and drops this router (404): write Host(`${DOMAIN}`) || Host(`www.${DOMAIN}`)"},
		{name: "EXTRA_DOMAINS inside Host", rule: "R110", status: Fail,
			edits:  []edit{setRule("Host(`${DOMAIN}`${EXTRA_DOMAINS})")},
			detail: ruleKey + "Host(`${DOMAIN}`${EXTRA_DOMAINS}) may have more arguments: ${EXTRA_DOMAINS} adds them; Traefik v3 takes 1 and drops this router (404) once EXTRA_DOMAINS is set: write Host(`${DOMAIN}`)${EXTRA_DOMAINS} with EXTRA_DOMAINS=' || Host(`www.example.org`)'"},
		{name: "EXTRA_DOMAINS after Host", rule: "R110", status: Pass,
			edits: []edit{setRule("Host(`${DOMAIN}`)${EXTRA_DOMAINS}")}},
		{name: "comma inside a path", rule: "R110", status: Pass,
			edits: []edit{setRule("Host(`${DOMAIN}`) && Path(`/a,b`)")}},
		{name: "rule from .env.sample", rule: "R110", status: Fail, detail: "with .env.sample's values, Host(`a.example.org`, `b.example.org`) has 2 arguments",
			edits: []edit{setRule("${ROUTER_RULE}"), {".env.sample", "GREETING=hi", "GREETING=hi\nROUTER_RULE=Host(`a.example.org`, `b.example.org`)"}}},
		{name: "router on the v2 syntax", rule: "R110", status: Pass,
			edits: []edit{setRule("Host(`${DOMAIN}`, `www.${DOMAIN}`)"), addLabels("traefik.http.routers.${STACK_NAME}.ruleSyntax=v2")}},
		{name: "map-form labels of an overlay's service", rule: "R110", status: Fail,
			detail: "worker: traefik.http.routers.worker.rule: Host(`a.${DOMAIN}`, `b.${DOMAIN}`) has 2 arguments",
			files: worker("        traefik.enable: true\n        traefik.http.routers.worker.rule: Host(`a.${DOMAIN}`, `b.${DOMAIN}`)\n" +
				"        traefik.http.routers.worker.entrypoints: web-secure\n        traefik.http.services.worker.loadbalancer.server.port: 6379\n")},
		{name: "service not enabled", rule: "R110", status: Pass,
			files: worker("        traefik.enable: \"False\"\n        traefik.http.routers.worker.rule: Host(`a`, `b`)\n")},
		{name: "enabled by a variable", rule: "R110", status: Fail, detail: "worker: traefik.http.routers.worker.rule",
			files: worker("        - traefik.enable=${WORKER_TRAEFIK:-true}\n        - traefik.http.routers.worker.rule=Host(`a`, `b`)\n")},
		{name: "enabled in upper case", rule: "R110", status: Fail, detail: "worker: traefik.http.routers.worker.rule",
			files: worker("        - traefik.enable=TRUE\n        - traefik.http.routers.worker.rule=Host(`a`, `b`)\n")},
		{name: "tcp router", rule: "R110", status: Fail, detail: "app: traefik.tcp.routers.ssh.rule: HostSNI(`a`, `b`) has 2 arguments",
			edits: []edit{addLabels("traefik.tcp.routers.ssh.rule=HostSNI(`a`, `b`)", "traefik.tcp.routers.ssh.entrypoints=ssh")}},
		{name: "none enabled", rule: "R110", status: Pass, detail: "no service has traefik.enable=true",
			edits: []edit{{"compose.yml", enable, "\"traefik.enable=false\""}}},
		{name: "no compose file", rule: "R110", status: Skip, detail: "R101",
			files: "-- compose.yml --\n[\n"},

		{name: "good recipe", rule: "R111", status: Pass},
		{name: "Headers", rule: "R111", status: Fail, severity: Critical,
			edits:  []edit{setRule("Host(`${DOMAIN}`) && Headers(`X-Forwarded-Proto`, `https`)")},
			detail: ruleKey + "Headers(`X-Forwarded-Proto`, `https`) is Traefik v2 syntax: v3 has no Headers matcher and drops this router (404); write Header(`X-Forwarded-Proto`, `https`)"},
		{name: "HostRegexp placeholder", rule: "R111", status: Fail,
			edits:  []edit{setRule("HostRegexp(`{subdomain:[a-z]+}.${DOMAIN}`)")},
			detail: "write HostRegexp(`^[a-z]+\\.${DOMAIN}$$`) ($$ is how a compose file writes $; in a double-quoted YAML string, write each \\ as \\\\)"},
		{name: "v2 matcher kept on the v2 syntax", rule: "R111", status: Pass,
			edits: []edit{setRule("HostHeader(`${DOMAIN}`)"), addLabels("traefik.http.routers.${STACK_NAME}.ruleSyntax=v2")}},
		{name: "v3 regexp", rule: "R111", status: Pass,
			edits: []edit{setRule("HostRegexp(`^[a-z]+\\\\.${DOMAIN}$$`)")}},

		{name: "good recipe", rule: "R112", status: Pass},
		{name: "docker and swarm labels", rule: "R112", status: Fail, severity: Critical,
			edits:  []edit{addLabels("traefik.docker.network=proxy", "traefik.swarm.lbswarm=true")},
			detail: "app: traefik.docker.network and traefik.swarm.lbswarm: Traefik v3 refuses a service with both (\"both Docker and Swarm labels are defined\") and serves none of its routers; keep only the traefik.swarm.* labels"},
		{name: "both, on a disabled service", rule: "R112", status: Pass,
			files: worker("        traefik.docker.network: proxy\n        traefik.swarm.network: proxy\n")},

		{name: "good recipe", rule: "R113", status: Pass},
		{name: "no port", rule: "R113", status: Fail, severity: Critical,
			edits:  []edit{{"compose.yml", "        - \"" + port + "\"\n", ""}},
			detail: "app: no traefik.http.services.<name>.loadbalancer.server.port label: Swarm gives Traefik no port, so it skips app and drops all its routers (${STACK_NAME}); add traefik.http.services.${STACK_NAME}.loadbalancer.server.port=<port>"},
		{name: "api@internal and no port", rule: "R113", status: Fail,
			edits:  []edit{{"compose.yml", "        - \"" + port + "\"\n", "        - \"traefik.http.routers.${STACK_NAME}.service=api@internal\"\n"}},
			detail: "drops all its routers (${STACK_NAME}), even those whose service is a provider's (api@internal)"},
		{name: "api@internal with a port label", rule: "R113", status: Pass,
			edits: []edit{addLabels("traefik.http.routers.${STACK_NAME}.service=api@internal")}},
		{name: "port on the service the router names", rule: "R113", status: Pass,
			edits: []edit{
				{"compose.yml", port, "traefik.http.services.${STACK_NAME}-web.loadbalancer.server.port=80"},
				addLabels("traefik.http.routers.${STACK_NAME}.service=${STACK_NAME}-web"),
			}},
		{name: "port property in other case", rule: "R113", status: Pass,
			edits: []edit{{"compose.yml", "loadbalancer.server.port=80", "loadBalancer.server.Port=80"}}},
		{name: "router names a service nobody defines", rule: "R113", status: Fail,
			edits:  []edit{addLabels("traefik.http.routers.${STACK_NAME}.service=${STACK_NAME}-api")},
			detail: "app: traefik.http.routers.${STACK_NAME}.service=${STACK_NAME}-api: no service of the recipe defines traefik.http.services.${STACK_NAME}-api (with a port), so Traefik drops the router"},
		{name: "router names a service of another compose service", rule: "R113", status: Pass,
			edits: []edit{addLabels("traefik.http.routers.${STACK_NAME}.service=api")},
			files: worker("        traefik.enable: \"true\"\n        traefik.http.services.api.loadbalancer.server.port: 8080\n")},
		{name: "two services and a router naming neither", rule: "R113", status: Fail,
			edits:  []edit{addLabels("traefik.http.services.${STACK_NAME}-admin.loadbalancer.server.port=8080")},
			detail: "app: router ${STACK_NAME} names no service and app defines 2 (${STACK_NAME}, ${STACK_NAME}-admin): Traefik drops the router"},
		{name: "a service without a port", rule: "R113", status: Fail,
			edits:  []edit{addLabels("traefik.http.services.${STACK_NAME}-h2c.loadbalancer.server.scheme=h2c", "traefik.http.routers.${STACK_NAME}.service=${STACK_NAME}")},
			detail: "app: traefik.http.services.${STACK_NAME}-h2c has no loadbalancer.server.port"},
		{name: "tcp routers only", rule: "R113", status: Pass,
			files: worker("        traefik.enable: \"true\"\n        traefik.tcp.routers.w.rule: HostSNI(`*`)\n        traefik.tcp.routers.w.entrypoints: redis\n        traefik.tcp.services.w.loadbalancer.server.port: 6379\n")},

		{name: "good recipe", rule: "R114", status: Pass},
		{name: "docker network proxy", rule: "R114", status: Fail, severity: Warn,
			edits:  []edit{addLabels("traefik.docker.network=proxy")},
			detail: "app: traefik.docker.network=proxy: Traefik v3 reads traefik.swarm.* for Swarm services and warns that traefik.docker.* is deprecated there; drop it: the traefik recipe gives its provider network: proxy already"},
		{name: "docker lbswarm", rule: "R114", status: Fail,
			edits:  []edit{addLabels("traefik.docker.lbswarm=true")},
			detail: "app: traefik.docker.lbswarm=true: Traefik v3 reads traefik.swarm.* for Swarm services and warns that traefik.docker.* is deprecated there; write traefik.swarm.lbswarm once the server runs Traefik v3"},
		{name: "swarm labels", rule: "R114", status: Pass,
			edits: []edit{addLabels("traefik.swarm.network=proxy")}},
		{name: "both are R112's", rule: "R114", status: Pass,
			edits: []edit{addLabels("traefik.docker.network=proxy", "traefik.swarm.network=proxy")}},

		{name: "good recipe", rule: "R115", status: Pass},
		{name: "v2 syntax for a v2 rule", rule: "R115", status: Fail, severity: Warn,
			edits: []edit{setRule("Host(`${DOMAIN}`, `www.${DOMAIN}`)"), addLabels("traefik.http.routers.${STACK_NAME}.ruleSyntax=v2")},
			detail: "app: traefik.http.routers.${STACK_NAME}.ruleSyntax=v2: the v2 rule syntax is deprecated and Traefik's next major version removes it; in v3's syntax, " +
				"Host(`${DOMAIN}`, `www.${DOMAIN}`) has 2 arguments; Traefik v3 takes 1 and drops this router (404): write Host(`${DOMAIN}`) || Host(`www.${DOMAIN}`)"},
		{name: "v2 syntax for a v3 rule", rule: "R115", status: Fail,
			edits:  []edit{addLabels("traefik.http.routers.${STACK_NAME}.rulesyntax=v2")},
			detail: "the rule needs no v2 syntax: remove the label"},
		{name: "v3 syntax", rule: "R115", status: Pass,
			edits: []edit{addLabels("traefik.http.routers.${STACK_NAME}.ruleSyntax=v3")}},

		{name: "good recipe", rule: "R116", status: Pass},
		{name: "no entrypoints", rule: "R116", status: Fail, severity: Warn,
			edits:  []edit{{"compose.yml", "        - " + entry, ""}},
			detail: "app: traefik.http.routers.${STACK_NAME} has a rule but no entrypoints: Traefik serves it on every entrypoint (or those marked asDefault); add traefik.http.routers.${STACK_NAME}.entrypoints=web-secure"},
		{name: "entryPoints in camel case", rule: "R116", status: Pass,
			edits: []edit{{"compose.yml", "${STACK_NAME}.entrypoints", "${STACK_NAME}.entryPoints"}}},
		{name: "entrypoints in an overlay", rule: "R116", status: Pass,
			edits: []edit{{"compose.yml", "        - " + entry, ""}},
			files: "-- compose.ep.yml --\nversion: \"3.8\"\nservices:\n  app:\n    deploy:\n      labels:\n        traefik.http.routers.${STACK_NAME}.entrypoints: web-secure\n"},
		{name: "tcp router without entrypoints", rule: "R116", status: Fail,
			edits:  []edit{addLabels("traefik.tcp.routers.ssh.rule=HostSNI(`*`)")},
			detail: "app: traefik.tcp.routers.ssh has a rule but no entrypoints: Traefik serves it on every entrypoint (or those marked asDefault); add traefik.tcp.routers.ssh.entrypoints=<entrypoint>"},
		{name: "router without a rule", rule: "R116", status: Pass,
			edits: []edit{addLabels("traefik.http.routers.${STACK_NAME}-extra.middlewares=x@file")}},
	}
	for _, tt := range tests {
		t.Run(tt.rule+" "+tt.name, func(t *testing.T) {
			rep := fixture{noRepo: true, edits: tt.edits, files: tt.files}.run(t)
			f := finding(t, rep, tt.rule)
			if f.Status != tt.status {
				t.Errorf("status = %s, want %s (detail: %s)", f.Status, tt.status, f.Detail)
			}
			if tt.severity != "" && f.Severity != tt.severity {
				t.Errorf("severity = %s, want %s", f.Severity, tt.severity)
			}
			if !strings.Contains(f.Detail, tt.detail) {
				t.Errorf("detail = %q\nwant it to contain %q", f.Detail, tt.detail)
			}
		})
	}
}

// traefikRuleIDs are the Traefik v3 rules.
var traefikRuleIDs = []string{"R110", "R111", "R112", "R113", "R114", "R115", "R116"}

func TestTraefikRuleSeverities(t *testing.T) {
	want := map[string]Severity{"R110": Critical, "R111": Critical, "R112": Critical, "R113": Critical, "R114": Warn, "R115": Warn, "R116": Warn}
	for _, id := range traefikRuleIDs {
		r, ok := RuleByID(id)
		if !ok || r.Severity != want[id] {
			t.Errorf("%s: %v %s, want %s", id, ok, r.Severity, want[id])
		}
		if OfAbra(id) {
			t.Errorf("%s counts as the original abra's: a deploy would refuse it", id)
		}
	}
}

// corpusDir is the shared recipe corpus (ABRA_CORPUS, else ../shared/corpus
// beside the checkout): a test fails without it under CI, else skips.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ABRA_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("recipe corpus missing in CI: %v", err)
		}
		t.Skipf("recipe corpus not found: %v", err)
	}
	return dir
}

// traefikCorpus is what the Traefik v3 rules find in the corpus, checked by
// hand against its compose files: a part of each failure's detail. Every
// rule not named passes.
var traefikCorpus = map[string]map[string]string{
	"agora":          {"R110": "app: traefik.http.routers.${STACK_NAME}.rule: Host(`${DOMAIN}`${EXTRA_DOMAINS}) may have more arguments: ${EXTRA_DOMAINS} adds them"},
	"bonfire-deploy": {"R110": "app: traefik.http.routers.${STACK_NAME}.rule: Host(`${DOMAIN}`${EXTRA_DOMAINS}) may have more arguments"},
	"custom-php":     {"R110": "frontend: traefik.http.routers.${STACK_NAME}.rule: Host(`${DOMAIN}`${EXTRA_DOMAINS}) may have more arguments"},
	"docs-coopcloud": {"R110": "app: traefik.http.routers.coop-cloud-mkdocs.rule: Host(`docs.coopcloud.tech`, `www.docs.coopcloud.tech`, `docs.cloud.autonomic.zone`, `www.docs.cloud.autonomic.zone`) has 4 arguments; Traefik v3 takes 1 and drops this router (404): write Host(`docs.coopcloud.tech`) || Host(`www.docs.coopcloud.tech`) || Host(`docs.cloud.autonomic.zone`) || Host(`www.docs.cloud.autonomic.zone`)"},
	"gaseous": {
		"R110": "write Host(`${DOMAIN}`)${EXTRA_DOMAINS} with EXTRA_DOMAINS=' || Host(`www.example.org`)'",
		"R114": "app: traefik.docker.network=proxy: Traefik v3 reads traefik.swarm.*",
	},
	"wordpress": {
		// Its HostRegexp rule with a {subdomain:.+} placeholder is a YAML comment.
		"R110": "app: traefik.http.routers.${STACK_NAME}.rule: Host(`${DOMAIN}`${EXTRA_DOMAINS}) may have more arguments",
		"R114": "app: traefik.docker.network=proxy",
	},
	// bore: ten routers, each naming its own service with a port.
	// foodsharing-cms: Host(`${DOMAIN}`) && PathPrefix(`/fss-cms`).
	// nodex-next: rule=${ROUTER_RULE}, and no .env.sample to say what it is.
	// traefik: its dashboard router names api@internal and the service a
	// (placeholder) port, so Traefik keeps it; the keycloak overlay adds a
	// middleware to the same router.
	"bore": {}, "foodsharing-cms": {}, "nodex-next": {}, "traefik": {},
	"healthcheck": {}, // no traefik labels
}

func TestTraefikCorpus(t *testing.T) {
	dir := corpusDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rs []Rule
	for _, id := range traefikRuleIDs {
		r, _ := RuleByID(id)
		rs = append(rs, r)
	}
	seen := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			want, known := traefikCorpus[name]
			if !known {
				t.Fatalf("%s is not checked by hand yet: add it to traefikCorpus", name)
			}
			seen++
			// Load only reads the recipe: the corpus is linted in place.
			r, err := Load(context.Background(), filepath.Join(dir, name), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range Check(r, rs).Findings {
				detail, fails := want[f.ID]
				switch {
				case fails && (f.Status != Fail || !strings.Contains(f.Detail, detail)):
					t.Errorf("%s = %s %q, want a failure containing %q", f.ID, f.Status, f.Detail, detail)
				case !fails && f.Status != Pass:
					t.Errorf("%s = %s %q, want a pass", f.ID, f.Status, f.Detail)
				}
			}
		})
	}
	if seen != len(traefikCorpus) {
		t.Errorf("%d of the %d recipes checked by hand are in the corpus", seen, len(traefikCorpus))
	}
}

// traefikRuleSeeds are the crafted rules, for the fuzz target.
func traefikRuleSeeds() []string {
	seeds := []string{
		"", "(", ")", "Host(", "Host(`", "Host(\"\\", "Host(`a`,,`b`)", "Host((`a`", "!!!", "&&||",
		"${", "$", "$$", "${A:-`}", "`${A:-`x`}`", "Host(`${DOMAIN}`${EXTRA_DOMAINS", "\xff(`\xfe`)",
		"HostRegexp(`{`)", "HostRegexp(`{a:{`)", "Path(`/{a:[0-9]{`)", "Query(`=`)", "Query(\"a=\\\"b\")",
	}
	for _, c := range traefikRuleCases {
		seeds = append(seeds, c.rule)
	}
	return seeds
}

// FuzzTraefikRule tokenizes and checks a fuzzed router rule. Nothing may
// panic; the tokens cover every byte that is not white space, once and in
// order, each its own text of the rule; calls lie inside the rule; every
// issue says something, and a rule of valid UTF-8 gives valid UTF-8.
func FuzzTraefikRule(f *testing.F) {
	for _, s := range traefikRuleSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rule string) {
		toks := tokenizeRule(rule)
		end := 0
		for _, tok := range toks {
			if tok.Pos < end || tok.Text == "" || tok.Pos+len(tok.Text) > len(rule) || rule[tok.Pos:tok.Pos+len(tok.Text)] != tok.Text {
				t.Fatalf("token %+v of %q: not the rule's next text", tok, rule)
			}
			if gap := rule[end:tok.Pos]; strings.Trim(gap, " \t\n\r") != "" {
				t.Fatalf("%q of %q is in no token", gap, rule)
			}
			if tok.Kind == tokString && !tok.Open && (len(tok.Text) < 2 || tok.Text[len(tok.Text)-1] != tok.Text[0]) {
				t.Fatalf("closed string %q does not end with its quote", tok.Text)
			}
			end = tok.Pos + len(tok.Text)
		}
		if gap := rule[end:]; strings.Trim(gap, " \t\n\r") != "" {
			t.Fatalf("%q of %q is in no token", gap, rule)
		}
		for _, c := range parseRuleCalls(rule) {
			if c.Start < 0 || c.Start >= c.End || c.End > len(rule) {
				t.Fatalf("call %s at %d–%d of a rule of %d bytes", c.Name, c.Start, c.End, len(rule))
			}
		}
		for _, proto := range []string{"http", "tcp"} {
			for _, is := range traefikRuleIssues(rule, proto) {
				if is.Text == "" {
					t.Fatalf("%s %q: an issue without text", proto, rule)
				}
				if utf8.ValidString(rule) && !utf8.ValidString(is.Text) {
					t.Fatalf("%s %q: issue text is not UTF-8: %q", proto, rule, is.Text)
				}
			}
		}
		if !slices.Equal(tokenizeRule(rule), toks) {
			t.Fatalf("%q tokenizes differently twice", rule)
		}
	})
}
