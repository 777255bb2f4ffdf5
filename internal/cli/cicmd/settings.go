package cicmd

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"coopcloud.tech/abra/internal/app"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/hint"
)

// The plugin convention of Drone and Woodpecker: each `settings:` key of a
// step reaches the plugin as PLUGIN_<KEY> (upper case), lists as
// comma-separated values, objects as JSON. The step's `environment:` is
// passed as it is.
const pluginPrefix = "PLUGIN_"

// actionsPrefix: GitHub and Forgejo Actions pass a step's `with:` keys to a
// docker:// step's container as INPUT_<KEY> (upper case, as written).
const actionsPrefix = "INPUT_"

// hasPluginSettings reports whether the environment holds plugin settings.
func hasPluginSettings(environ []string) bool {
	return slices.ContainsFunc(environ, func(kv string) bool {
		return strings.HasPrefix(kv, pluginPrefix) || strings.HasPrefix(kv, actionsPrefix)
	})
}

// pluginEnviron is the environment a plugin step reads: as it is when the
// step has PLUGIN_* settings, else with each Actions input INPUT_<KEY> read
// as the setting PLUGIN_<KEY> (a '-' in the key as '_': `known-hosts:` is
// known_hosts). The settings are one set either way, and errors name them as
// PLUGIN_<KEY>.
func pluginEnviron(environ []string) []string {
	if slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, pluginPrefix) }) {
		return environ
	}
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, actionsPrefix); ok {
			kv = pluginPrefix + strings.ReplaceAll(name, "-", "_") + "=" + v
		}
		out = append(out, kv)
	}
	return out
}

// The two forms of the plugin.
const (
	stackForm   = "stack"   // stack-ssh-deploy's: host, stack, compose files; the step's environment is the app env
	commandForm = "command" // drone-abra's: an abra command line run against an ABRA_DIR
)

// Settings by form; the first group is common to both.
var (
	commonSettings  = []string{"deploy_key", "known_hosts", "host_fingerprint", "json", "debug"}
	stackSettings   = []string{"host", "user", "port", "stack", "compose", "generate_secrets", "purge", "networks", "recipe", "timeout", "lock_wait", "domain_checks"}
	commandSettings = []string{"command", "abra_dir"}
)

// settings are a plugin step's settings, checked.
type settings struct {
	form         string
	deployKey    string
	knownHosts   string
	fingerprints []string
	json, debug  bool

	// stack form
	target          string // user@host:port
	stack           string
	compose         []string
	generateSecrets bool
	purge           bool
	networks        []string
	recipe          string
	timeout         time.Duration
	lockWait        time.Duration
	domainChecks    bool

	// command form
	commands [][]string
	abraDir  string
}

// parseSettings reads the PLUGIN_* settings. A missing, unknown or
// malformed setting is an error that names it.
func parseSettings(environ []string) (*settings, error) {
	raw := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, pluginPrefix); ok {
			raw[strings.ToLower(name)] = v
		}
	}
	s := &settings{}
	_, hasCommand := raw["command"]
	_, hasStack := raw["stack"]
	switch {
	case hasCommand && hasStack:
		return nil, settingError("command", "and PLUGIN_STACK exclude each other: command runs an abra command line (drone-abra's form), stack deploys compose files (stack-ssh-deploy's form)")
	case hasCommand:
		s.form = commandForm
	case hasStack:
		s.form = stackForm
	default:
		return nil, hint.With(fmt.Errorf("no PLUGIN_COMMAND or PLUGIN_STACK setting: nothing to do"),
			"set 'command: app deploy <domain>' (with an ABRA_DIR in the checkout), or 'host:' and 'stack:' to deploy the checkout's compose files")
	}
	known := slices.Concat(commonSettings, stackSettings)
	if s.form == commandForm {
		known = slices.Concat(commonSettings, commandSettings)
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range raw {
			if !yield(k) {
				return
			}
		}
	}) {
		if !slices.Contains(known, k) {
			return nil, hint.With(fmt.Errorf("unknown setting %s%s for the %s form", pluginPrefix, strings.ToUpper(k), s.form),
				"the settings of this form are: "+strings.Join(known, ", "))
		}
	}
	p := parser{raw: raw}
	s.deployKey = raw["deploy_key"]
	if strings.TrimSpace(s.deployKey) == "" {
		return nil, hint.With(settingError("deploy_key", "is required: the SSH private key that logs in to the server"),
			"add 'deploy_key: {from_secret: NAME}' to the step's settings")
	}
	s.knownHosts = raw["known_hosts"]
	s.fingerprints = p.list("host_fingerprint")
	s.json = p.bool("json", false)
	s.debug = p.bool("debug", false)
	if s.form == commandForm {
		return s, p.command(s)
	}
	return s, p.stack(s)
}

// parser reads typed settings, keeping the first error.
type parser struct {
	raw map[string]string
	err error
}

func (p *parser) fail(name, msg string) {
	if p.err == nil {
		p.err = settingError(name, msg)
	}
}

func settingError(name, msg string) error {
	return fmt.Errorf("setting %s%s %s", pluginPrefix, strings.ToUpper(name), msg)
}

func (p *parser) bool(name string, def bool) bool {
	v, ok := p.raw[name]
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "on", "1":
		return true
	case "false", "no", "off", "0":
		return false
	}
	p.fail(name, fmt.Sprintf("= %q: want true or false", v))
	return def
}

// list reads a comma-separated list (Drone and Woodpecker join YAML lists
// with commas) or a JSON array.
func (p *parser) list(name string) []string {
	v := strings.TrimSpace(p.raw[name])
	if v == "" {
		return nil
	}
	var out []string
	if strings.HasPrefix(v, "[") {
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			p.fail(name, fmt.Sprintf("= %q: not a JSON list of strings: %v", v, err))
			return nil
		}
	} else {
		out = strings.Split(v, ",")
	}
	var clean []string
	for _, item := range out {
		if item = strings.TrimSpace(item); item != "" {
			clean = append(clean, item)
		}
	}
	return clean
}

// duration reads "5m", "90s" or a number of seconds.
func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(p.raw[name])
	if v == "" {
		return def
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(name, fmt.Sprintf("= %q: want a duration like 10m or a number of seconds", v))
		return def
	}
	return d
}

func (p *parser) stack(s *settings) error {
	host := strings.TrimSpace(p.raw["host"])
	if host == "" {
		p.fail("host", "is required: the server's host name or address")
	}
	user := strings.TrimSpace(p.raw["user"])
	if user == "" {
		user = "root"
	}
	port := 22
	if v := strings.TrimSpace(p.raw["port"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			p.fail("port", fmt.Sprintf("= %q: want a port number", v))
		}
		port = n
	}
	s.target = user + "@" + host + ":" + strconv.Itoa(port)
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		s.target = user + "@[" + host + "]:" + strconv.Itoa(port)
	}
	s.stack = strings.TrimSpace(p.raw["stack"])
	if s.stack == "" {
		p.fail("stack", "is required: the stack's name")
	}
	s.compose = p.list("compose") // none: COMPOSE_FILE of the environment, else compose.yml
	for _, c := range s.compose {
		if err := guard.ComposeFile(c); err != nil {
			p.fail("compose", fmt.Sprintf("%q: %v", c, err))
		}
	}
	s.generateSecrets = p.bool("generate_secrets", false)
	s.purge = p.bool("purge", false)
	s.networks = p.list("networks")
	s.recipe = strings.TrimSpace(p.raw["recipe"])
	s.timeout = p.duration("timeout", 0)
	s.lockWait = p.duration("lock_wait", 10*time.Minute)
	s.domainChecks = p.bool("domain_checks", false)
	return p.err
}

func (p *parser) command(s *settings) error {
	for line := range strings.Lines(p.raw["command"]) {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		words, err := splitWords(line)
		if err != nil {
			p.fail("command", fmt.Sprintf("%q: %v", strings.TrimSpace(line), err))
			continue
		}
		if len(words) > 0 && words[0] == "abra" {
			words = words[1:]
		}
		if len(words) > 0 {
			s.commands = append(s.commands, words)
		}
	}
	if p.err == nil && len(s.commands) == 0 {
		p.fail("command", "is empty: want an abra command line such as 'app deploy example.org'")
	}
	s.abraDir = strings.TrimSpace(p.raw["abra_dir"])
	return p.err
}

// splitWords splits a command line as a POSIX shell splits words (blanks,
// single quotes, double quotes with \ escapes, \ outside quotes), without a
// shell: no variables, globs, pipes or command substitution.
func splitWords(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune
	)
	runes := []rune(line)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(runes) && strings.ContainsRune("\"\\$`\n", runes[i+1]):
				i++
				cur.WriteRune(runes[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\':
			if i+1 == len(runes) {
				return nil, fmt.Errorf("ends with a lone \\")
			}
			i++
			cur.WriteRune(runes[i])
			in = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case strings.ContainsRune("|&;<>$`", r):
			return nil, fmt.Errorf("%q is shell syntax, but the command runs without a shell (no pipes, redirections or variables): quote it to mean the character", string(r))
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// Variables of CI runners and of the process, never part of an app env.
var (
	runnerPrefixes = []string{"PLUGIN_", "CI_", "DRONE_", "WOODPECKER_", "GITHUB_", "GITEA_", "FORGEJO_", "RUNNER_",
		"ACTIONS_", "INPUT_", "GITLAB_", "BUILDKITE_", "JENKINS_", "ABRA_", "DOCKER_", "SSH_", "LC_", "XDG_"}
	runnerKeys = []string{"CI", "HOME", "PATH", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "TERM", "USER", "LOGNAME",
		"SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "MAIL", "SSL_CERT_FILE", "SSL_CERT_DIR", "NO_COLOR",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "JOB_CONTAINER_NAME", "DEBIAN_FRONTEND", "_"}
)

// appEnv is the app env a step's environment gives: every variable except
// the CI runner's and the process's (runnerPrefixes, runnerKeys, proxies in
// any case), the key's own variable, values that are private keys, and names
// an env file cannot hold.
func appEnv(environ []string, keyVar string) map[string]string {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == keyVar || !validKey(k) || slices.Contains(runnerKeys, strings.ToUpper(k)) {
			continue
		}
		if slices.ContainsFunc(runnerPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		if strings.Contains(v, "PRIVATE KEY-----") {
			continue // a key in the step's environment is never an app setting (it would land in the server's env record)
		}
		env[k] = v
	}
	return env
}

func validKey(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// stackDomain is the app's domain for a stack name: abra derives stack
// names from domains (dots → underscores), so a stack "example_com" is the
// app example.com and a stack "blog" the app blog. DOMAIN in the app env,
// when its stack name is the stack, wins.
func stackDomain(stack, envDomain string) (string, error) {
	if envDomain != "" && app.StackName(envDomain) == stack && guard.Domain(envDomain) == nil {
		return envDomain, nil
	}
	d := strings.ReplaceAll(stack, "_", ".")
	if guard.Domain(d) != nil || app.StackName(d) != stack {
		return "", hint.With(fmt.Errorf("setting %sSTACK = %q cannot be an abra stack name: abra names stacks after domains (lower case, dots as underscores, at most %d characters)", pluginPrefix, stack, app.MaxStackNameLength),
			"use the app's domain with dots as underscores (example_com for example.com), or a plain name like myapp")
	}
	return d, nil
}
