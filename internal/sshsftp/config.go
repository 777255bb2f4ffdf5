package sshsftp

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// keyword is one ssh_config keyword this client understands; check, when not
// nil, rejects a malformed value.
type keyword struct {
	name  string
	check func(string) error
}

var keywords = map[string]keyword{
	"hostname":              {"HostName", nil},
	"port":                  {"Port", checkPort},
	"user":                  {"User", nil},
	"identityfile":          {"IdentityFile", nil},
	"identitiesonly":        {"IdentitiesOnly", checkYesNo},
	"userknownhostsfile":    {"UserKnownHostsFile", nil},
	"globalknownhostsfile":  {"GlobalKnownHostsFile", nil},
	"stricthostkeychecking": {"StrictHostKeyChecking", checkOneOf("yes", "no", "off", "accept-new", "ask", "true", "false")},
	"batchmode":             {"BatchMode", checkYesNo},
	"connecttimeout":        {"ConnectTimeout", checkUintOrNone},
	"serveraliveinterval":   {"ServerAliveInterval", checkUint},
	"serveralivecountmax":   {"ServerAliveCountMax", checkUint},
	"hostkeyalias":          {"HostKeyAlias", nil},
	"proxyjump":             {"ProxyJump", nil},
	"proxycommand":          {"ProxyCommand", nil},
	"loglevel":              {"LogLevel", checkOneOf("quiet", "fatal", "error", "info", "verbose", "debug", "debug1", "debug2", "debug3")},
	"addressfamily":         {"AddressFamily", checkOneOf("any", "inet", "inet6")},
}

func keywordNames() string {
	var names []string
	for key, k := range keywords {
		if key != "proxyjump" && key != "proxycommand" { // only "none" is accepted
			names = append(names, k.name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func checkPort(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return errors.New("not a port number (1-65535)")
	}
	return nil
}

func checkUint(v string) error {
	if _, err := strconv.ParseUint(v, 10, 31); err != nil {
		return errors.New("not a whole number")
	}
	return nil
}

func checkUintOrNone(v string) error {
	if strings.EqualFold(v, "none") {
		return nil
	}
	return checkUint(v)
}

func checkYesNo(v string) error { return checkOneOf("yes", "no", "true", "false")(v) }

func checkOneOf(values ...string) func(string) error {
	return func(v string) error {
		for _, ok := range values {
			if strings.EqualFold(v, ok) {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(values, ", "))
	}
}

func isYes(v string) bool { return strings.EqualFold(v, "yes") || strings.EqualFold(v, "true") }

// conf is everything a connection needs, resolved from the command line, the
// config files and the defaults.
type conf struct {
	alias            string // the destination's host, as Host patterns see it
	hostname         string // what we connect to
	port             int
	user             string
	identityFiles    []string        // expanded; configured ones, else the defaults
	cmdIdentities    map[string]bool // given with -i or -o IdentityFile
	identitiesOnly   bool
	userKnownHosts   []string // expanded
	userKnownHosts0  string   // the first UserKnownHostsFile as written, for hints
	globalKnownHosts []string
	strict           string // yes, no or accept-new
	hostKeyAlias     string
	connectTimeout   time.Duration // 0: none
	aliveInterval    time.Duration // 0: no keepalives
	aliveCountMax    int
	network          string // tcp, tcp4 or tcp6
	verbose, quiet   bool
}

// settings answers "what is the value of this keyword" the OpenSSH way: the
// command line first, then each config file in order, the first value
// obtained winning.
type settings struct {
	alias string
	cmd   map[string][]string
	files []cfgFile
}

type cfgFile struct {
	name string
	cfg  *ssh_config.Config
}

func (s *settings) get(key string) (string, error) {
	if v := s.cmd[key]; len(v) > 0 {
		return v[0], nil
	}
	for _, f := range s.files {
		v, err := f.cfg.Get(s.alias, key)
		if err != nil {
			return "", fmt.Errorf("%s: %v", f.name, err)
		}
		v = unquote(strings.TrimSpace(v))
		if v == "" {
			continue
		}
		if k := keywords[key]; k.check != nil {
			if err := k.check(v); err != nil {
				return "", fmt.Errorf("%s: %s %s: %v", f.name, k.name, v, err)
			}
		}
		return v, nil
	}
	return "", nil
}

// getAll is for IdentityFile, whose values add up across every source.
func (s *settings) getAll(key string) ([]string, error) {
	all := append([]string(nil), s.cmd[key]...)
	for _, f := range s.files {
		vs, err := f.cfg.GetAll(s.alias, key)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.name, err)
		}
		for _, v := range vs {
			if v = unquote(strings.TrimSpace(v)); v != "" {
				all = append(all, v)
			}
		}
	}
	return all, nil
}

// parseDest splits a destination: [user@]host, with host possibly an IPv6
// literal in brackets, or ssh://[user@]host[:port].
func parseDest(d string) (user, host, port string, err error) {
	rest := d
	uri := strings.HasPrefix(d, "ssh://")
	if uri {
		rest = strings.TrimSuffix(strings.TrimPrefix(d, "ssh://"), "/")
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		user, rest = rest[:i], rest[i+1:]
		if user == "" {
			return "", "", "", fmt.Errorf("bad destination %q: empty user name", d)
		}
	}
	host = rest
	if uri {
		if strings.HasPrefix(rest, "[") {
			if j := strings.Index(rest, "]"); j > 0 {
				host = rest[:j+1]
				if after := rest[j+1:]; strings.HasPrefix(after, ":") {
					port = after[1:]
				}
			}
		} else if k := strings.LastIndex(rest, ":"); k >= 0 {
			host, port = rest[:k], rest[k+1:]
		}
		if port != "" {
			if err := checkPort(port); err != nil {
				return "", "", "", fmt.Errorf("bad destination %q: port %v", d, err)
			}
		}
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return "", "", "", fmt.Errorf("bad destination %q: no host", d)
	}
	return user, strings.ToLower(host), port, nil
}

// loadConfigFiles reads -F FILE (which must exist; "none" reads nothing),
// else env.ConfigFiles, skipping those that do not exist.
func loadConfigFiles(env Env, cl *cmdline) ([]cfgFile, error) {
	names, must := env.ConfigFiles, false
	if cl.configSet {
		names, must = []string{cl.configFile}, true
		if cl.configFile == "none" {
			names = nil
		}
	}
	var files []cfgFile
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			if !must && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("can't read config file: %v", err)
		}
		cfg, err := ssh_config.DecodeBytes(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		files = append(files, cfgFile{name: name, cfg: cfg})
	}
	return files, nil
}

// resolve turns the command line, the config files and the defaults into a
// conf.
func resolve(env Env, cl *cmdline) (*conf, error) {
	duser, host, dport, err := parseDest(cl.dest)
	if err != nil {
		return nil, err
	}
	s := &settings{alias: host, cmd: map[string][]string{}}
	add := func(o option) error {
		k, ok := keywords[o.key]
		if !ok {
			return fmt.Errorf("unsupported option %s (backupbot's built-in ssh client understands -o %s)", o.flag, keywordNames())
		}
		if k.check != nil {
			if err := k.check(o.value); err != nil {
				return fmt.Errorf("%s %s: %v", o.flag, o.value, err)
			}
		}
		s.cmd[o.key] = append(s.cmd[o.key], o.value)
		return nil
	}
	// As in OpenSSH the destination's user and port count where the
	// destination stands: "-l bob alice@h" is bob, "alice@h -l bob" is alice.
	var dopts []option
	if duser != "" {
		dopts = append(dopts, option{key: "user", value: duser, flag: "destination"})
	}
	if dport != "" {
		dopts = append(dopts, option{key: "port", value: dport, flag: "destination"})
	}
	opts := append(append(append([]option(nil), cl.opts[:cl.destAt]...), dopts...), cl.opts[cl.destAt:]...)
	for _, o := range opts {
		if err := add(o); err != nil {
			return nil, err
		}
	}
	if s.files, err = loadConfigFiles(env, cl); err != nil {
		return nil, err
	}
	for _, key := range []string{"proxyjump", "proxycommand"} {
		v, err := s.get(key)
		if err != nil {
			return nil, err
		}
		if v != "" && !strings.EqualFold(v, "none") {
			return nil, fmt.Errorf("%s %s: not supported: backupbot's built-in ssh client connects to the host directly", keywords[key].name, v)
		}
	}

	c := &conf{alias: host, cmdIdentities: map[string]bool{}}
	get := func(key string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = s.get(key)
		return v
	}
	hostname := get("hostname")
	port := get("port")
	c.user = get("user")
	c.identitiesOnly = isYes(get("identitiesonly"))
	ukh := get("userknownhostsfile")
	gkh := get("globalknownhostsfile")
	c.strict = strings.ToLower(get("stricthostkeychecking"))
	c.hostKeyAlias = get("hostkeyalias")
	ct := get("connecttimeout")
	ai := get("serveraliveinterval")
	am := get("serveralivecountmax")
	af := get("addressfamily")
	ll := strings.ToLower(get("loglevel"))
	if err != nil {
		return nil, err
	}
	if hostname == "" {
		hostname = host
	}
	if hostname, err = expand(hostname, map[byte]string{'h': host}); err != nil {
		return nil, fmt.Errorf("HostName: %v", err)
	}
	if strings.HasPrefix(hostname, "[") && strings.HasSuffix(hostname, "]") {
		hostname = hostname[1 : len(hostname)-1]
	}
	c.hostname = hostname
	c.port = 22
	if port != "" {
		c.port, _ = strconv.Atoi(port)
	}
	if c.user == "" {
		c.user = env.User
	}

	tok := map[byte]string{'h': c.hostname, 'p': strconv.Itoa(c.port), 'r': c.user, 'd': env.Home, 'u': env.User, 'n': host}
	ids, err := s.getAll("identityfile")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if strings.EqualFold(id, "none") {
			continue
		}
		p, err := expand(id, tok)
		if err != nil {
			return nil, fmt.Errorf("IdentityFile %s: %v", id, err)
		}
		if i < len(s.cmd["identityfile"]) {
			c.cmdIdentities[p] = true
		}
		if !seen[p] {
			seen[p] = true
			c.identityFiles = append(c.identityFiles, p)
		}
	}
	if len(ids) == 0 {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			p := filepath.Join(env.Home, ".ssh", name)
			if _, err := os.Stat(p); err == nil {
				c.identityFiles = append(c.identityFiles, p)
			}
		}
	}

	if ukh == "" {
		ukh = "~/.ssh/known_hosts ~/.ssh/known_hosts2"
	}
	if !strings.EqualFold(ukh, "none") {
		for _, f := range strings.Fields(ukh) {
			if c.userKnownHosts0 == "" {
				c.userKnownHosts0 = f
			}
			p, err := expand(f, tok)
			if err != nil {
				return nil, fmt.Errorf("UserKnownHostsFile %s: %v", f, err)
			}
			c.userKnownHosts = append(c.userKnownHosts, p)
		}
	}
	if gkh == "" {
		c.globalKnownHosts = env.GlobalKnownHostsFiles
	} else if !strings.EqualFold(gkh, "none") {
		for _, f := range strings.Fields(gkh) {
			p, err := expand(f, tok)
			if err != nil {
				return nil, fmt.Errorf("GlobalKnownHostsFile %s: %v", f, err)
			}
			c.globalKnownHosts = append(c.globalKnownHosts, p)
		}
	}

	switch c.strict {
	case "", "yes", "true", "ask": // we never ask: ask is yes
		c.strict = "yes"
	case "no", "off", "false":
		c.strict = "no"
	}
	c.connectTimeout = 30 * time.Second
	if ct != "" {
		if strings.EqualFold(ct, "none") {
			c.connectTimeout = 0
		} else {
			n, _ := strconv.Atoi(ct)
			c.connectTimeout = time.Duration(n) * time.Second
		}
	}
	if ai != "" {
		n, _ := strconv.Atoi(ai)
		c.aliveInterval = time.Duration(n) * time.Second
	}
	c.aliveCountMax = 3
	if am != "" {
		c.aliveCountMax, _ = strconv.Atoi(am)
	}
	switch af {
	case "inet":
		c.network = "tcp4"
	case "inet6":
		c.network = "tcp6"
	default:
		c.network = "tcp"
	}
	c.verbose, c.quiet = cl.verbose, cl.quiet
	if !c.verbose && !c.quiet {
		switch {
		case ll == "quiet" || ll == "fatal" || ll == "error":
			c.quiet = true
		case strings.HasPrefix(ll, "debug"):
			c.verbose = true
		}
	}
	return c, nil
}

// expand does ssh_config's ~ and %-token expansion: a leading ~ is the home
// directory; %% is %, and %X is tok[X] (%h host, %p port, %r remote user,
// %d home, %u local user, %n the host as given).
func expand(s string, tok map[byte]string) (string, error) {
	if home, ok := tok['d']; ok && (s == "~" || strings.HasPrefix(s, "~/")) {
		s = home + s[1:]
	}
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", errors.New("ends in a lone %")
		}
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, ok := tok[s[i]]
		if !ok {
			return "", fmt.Errorf("unknown token %%%c", s[i])
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
