package sshsftp

import (
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// restic runs: ssh HOST [-p PORT] [-l USER] [sftp.args…] -s sftp, and speaks
// SFTP over stdin/stdout; the echoing "sftp" subsystem only exits once it
// has seen our EOF, so getting all of stdin back proves both directions and
// the EOF.
func TestResticCommandLine(t *testing.T) {
	f := newFixture(t)
	f.knowHost()
	payload := strings.Repeat("sftp packet bytes\x00\x01\x02", 5000)
	for _, args := range [][]string{
		{"127.0.0.1", "-p", f.port, "-l", "alice", "-s", "sftp"},
		{"127.0.0.1", "-p", f.port, "-l", "alice", "-T", "-x", "-a", "-q", "-o", "ServerAliveInterval=60", "-o", "BatchMode yes", "-s", "sftp"},
		{"-s", "-p" + f.port, "127.0.0.1", "sftp"},
	} {
		if out := f.ok(payload, args...); out != payload {
			t.Errorf("ssh %v: got %d bytes back, want the %d sent", args, len(out), len(payload))
		}
	}
}

func TestUser(t *testing.T) {
	f := newFixture(t)
	f.knowHost()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"127.0.0.1", "-p", f.port, "whoami"}, "tester"}, // Env.User
		{[]string{"alice@127.0.0.1", "-p", f.port, "whoami"}, "alice"},
		{[]string{"-l", "bob", "alice@127.0.0.1", "-p", f.port, "whoami"}, "bob"}, // first obtained wins
		{[]string{"alice@127.0.0.1", "-l", "bob", "-p", f.port, "whoami"}, "alice"},
		{[]string{"ssh://carol@127.0.0.1:" + f.port, "whoami"}, "carol"},
		{[]string{"-o", "User=dave", "[127.0.0.1]", "-p", f.port, "whoami"}, "dave"},
	} {
		if got := strings.TrimSpace(f.ok("", c.args...)); got != c.want {
			t.Errorf("ssh %v: user %q, want %q", c.args, got, c.want)
		}
	}
}

// A ~/.ssh/config Host alias with HostName, Port, User and IdentityFile (with
// %h and ~), the command line overriding it, and -F.
func TestConfigFile(t *testing.T) {
	f := newFixture(t)
	f.knowHost()
	client, priv := newEd25519(t)
	f.srv.authorize(client.PublicKey())
	writeKey(t, f.path("127.0.0.1_key"), priv, "")
	writeFile(t, f.path("id_ed25519"), "not a key; only the configured IdentityFile may be used\n")
	config := `# backups
Host !nomatch back*
  HostName 127.0.0.1
  Port ` + f.port + `
  User carol
  IdentityFile ~/.ssh/%h_key

Host *
  User nobody
  Port 1
`
	writeFile(t, f.path("config"), config)
	if got := strings.TrimSpace(f.ok("", "backups", "whoami")); got != "carol" {
		t.Errorf("user %q, want carol from the config", got)
	}
	if got := strings.TrimSpace(f.ok("", "backups", "-l", "dave", "whoami")); got != "dave" {
		t.Errorf("user %q, want dave: the command line comes first", got)
	}
	if got := strings.TrimSpace(f.ok("", "-o", "User=erin", "backups", "whoami")); got != "erin" {
		t.Errorf("user %q, want erin", got)
	}
	// The negated pattern excludes the host: the Host * block applies.
	errs := f.fails("nomatch", "-o", "HostName=127.0.0.1", "whoami")
	if !strings.Contains(errs, "connect to host 127.0.0.1 port 1:") {
		t.Errorf("stderr %q: want Host * (Port 1) for a host excluded by !nomatch", errs)
	}
	// -F reads that file instead of ~/.ssh/config.
	other := filepath.Join(t.TempDir(), "other_config")
	writeFile(t, other, strings.ReplaceAll(config, "carol", "frank"))
	if got := strings.TrimSpace(f.ok("", "-F", other, "backups", "whoami")); got != "frank" {
		t.Errorf("-F: user %q, want frank", got)
	}
}

func TestKnownHosts(t *testing.T) {
	f := newFixture(t)
	hostPort := "127.0.0.1:" + f.port
	key := f.hostKey.PublicKey()
	entries := map[string]string{
		"[host]:port":  knownhosts.Line([]string{hostPort}, key),
		"hashed":       knownhosts.HashHostname(knownhosts.Normalize(hostPort)) + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))),
		"second match": "# comment\nother.example.org " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + "\n" + knownhosts.Line([]string{"otherhost", hostPort}, key),
	}
	for name, line := range entries {
		writeFile(t, f.path("known_hosts"), line+"\n")
		if code, _, errs := f.run("", "127.0.0.1", "-p", f.port, "whoami"); code != 0 {
			t.Errorf("%s: exit %d: %s", name, code, errs)
		}
	}
	// A global file and a UserKnownHostsFile with tokens.
	global := filepath.Join(t.TempDir(), "ssh_known_hosts")
	writeFile(t, global, knownhosts.Line([]string{hostPort}, key)+"\n")
	writeFile(t, f.path("known_hosts"), "")
	f.env.GlobalKnownHostsFiles = []string{global}
	f.ok("", "127.0.0.1", "-p", f.port, "whoami")
	f.env.GlobalKnownHostsFiles = nil
	writeFile(t, f.path("hosts_"+f.port), knownhosts.Line([]string{hostPort}, key)+"\n")
	f.ok("", "-o", "UserKnownHostsFile=~/.ssh/hosts_%p", "127.0.0.1", "-p", f.port, "whoami")
}

func TestUnknownHostRefused(t *testing.T) {
	f := newFixture(t)
	errs := f.fails("127.0.0.1", "-p", f.port, "-s", "sftp")
	for _, want := range []string{
		"ssh: host key for [127.0.0.1]:" + f.port + " is not in " + f.path("known_hosts"),
		"add it with: ssh-keyscan -p " + f.port + " 127.0.0.1 >> ~/.ssh/known_hosts (and check the fingerprint",
		ssh.FingerprintSHA256(f.hostKey.PublicKey()),
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr %q\nwants %q", errs, want)
		}
	}
	if strings.Count(errs, "\n") != 1 {
		t.Errorf("stderr %q: want one line", errs)
	}
	// ask is yes, since we never ask.
	f.fails("127.0.0.1", "-p", f.port, "-o", "StrictHostKeyChecking=ask", "whoami")
}

func TestChangedHostKeyRefused(t *testing.T) {
	f := newFixture(t)
	other, _ := newEd25519(t)
	writeFile(t, f.path("known_hosts"), "# first line\n"+knownhosts.Line([]string{"127.0.0.1:" + f.port}, other.PublicKey())+"\n")
	for _, strict := range []string{"yes", "no", "accept-new"} {
		errs := f.fails("127.0.0.1", "-p", f.port, "-o", "StrictHostKeyChecking="+strict, "whoami")
		want := "ssh: WARNING: host key for [127.0.0.1]:" + f.port + " has changed (" + f.path("known_hosts") + ":2); refusing to connect"
		if !strings.Contains(errs, want) {
			t.Errorf("StrictHostKeyChecking=%s: stderr %q\nwants %q", strict, errs, want)
		}
	}
}

func TestAcceptNew(t *testing.T) {
	f := newFixture(t)
	code, _, errs := f.run("", "127.0.0.1", "-p", f.port, "-o", "StrictHostKeyChecking=accept-new", "whoami")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "Permanently added '[127.0.0.1]:"+f.port+"'") {
		t.Errorf("stderr %q: want the Permanently added warning", errs)
	}
	want := knownhosts.Line([]string{"127.0.0.1:" + f.port}, f.hostKey.PublicKey()) + "\n"
	if got := readFile(t, f.path("known_hosts")); got != want {
		t.Errorf("known_hosts %q, want %q", got, want)
	}
	f.ok("", "127.0.0.1", "-p", f.port, "whoami") // now known with the default (yes)

	// no: connects to an unknown host with a warning (and, as OpenSSH, adds it).
	g := newFixture(t)
	code, _, errs = g.run("", "127.0.0.1", "-p", g.port, "-o", "StrictHostKeyChecking=no", "whoami")
	if code != 0 || !strings.Contains(errs, "is not known") {
		t.Errorf("StrictHostKeyChecking=no: exit %d, stderr %q", code, errs)
	}
}

// The server offers ed25519 and rsa; whichever one we know is the one used.
func TestHostKeyAlgorithmsFollowKnownHosts(t *testing.T) {
	ed, _ := newEd25519(t)
	rsaKey := newRSA(t)
	srv := startServer(t, ed, rsaKey)
	f := newFixture(t)
	client, priv := newEd25519(t)
	srv.authorize(client.PublicKey())
	writeKey(t, f.path("id_ed25519"), priv, "")
	port := strconv.Itoa(srv.port)
	for _, known := range []ssh.PublicKey{rsaKey.PublicKey(), ed.PublicKey()} {
		writeFile(t, f.path("known_hosts"), knownhosts.Line([]string{"127.0.0.1:" + port}, known)+"\n")
		if code, _, errs := f.run("", "127.0.0.1", "-p", port, "whoami"); code != 0 {
			t.Errorf("known %s: exit %d: %s", known.Type(), code, errs)
		}
	}
}

func TestHostKeyAlias(t *testing.T) {
	f := newFixture(t)
	writeFile(t, f.path("known_hosts"), knownhosts.Line([]string{"backup-box"}, f.hostKey.PublicKey())+"\n")
	f.ok("", "127.0.0.1", "-p", f.port, "-o", "HostKeyAlias=backup-box", "whoami")
	errs := f.fails("127.0.0.1", "-p", f.port, "whoami")
	if !strings.Contains(errs, "is not in") {
		t.Errorf("without the alias: %q", errs)
	}
}

func TestWrongKeyRefused(t *testing.T) {
	f := newFixture(t)
	f.knowHost()
	_, priv := newEd25519(t)
	writeKey(t, f.path("id_ed25519"), priv, "")
	errs := f.fails("127.0.0.1", "-p", f.port, "-s", "sftp")
	if !strings.Contains(errs, "ssh: tester@127.0.0.1: permission denied (publickey); offered "+f.path("id_ed25519")) {
		t.Errorf("stderr %q", errs)
	}
	// -i names a file that does not exist: a warning, then the failure.
	errs = f.fails("127.0.0.1", "-p", f.port, "-i", f.path("missing"), "whoami")
	if !strings.Contains(errs, "identity file "+f.path("missing")+" not accessible") || !strings.Contains(errs, "no key to offer") {
		t.Errorf("stderr %q", errs)
	}
}

func TestPassphraseProtectedKey(t *testing.T) {
	f := newFixture(t)
	f.knowHost()
	_, priv := newEd25519(t)
	writeKey(t, f.path("id_ed25519"), priv, "secret")
	errs := f.fails("127.0.0.1", "-p", f.port, "-s", "sftp")
	want := "ssh: " + f.path("id_ed25519") + " is passphrase-protected; backupbot's ssh cannot prompt: use an unencrypted key mounted read-only, or ssh-agent\n"
	if errs != want {
		t.Errorf("stderr %q\nwant   %q", errs, want)
	}
}

func TestAgent(t *testing.T) {
	f := newFixture(t)
	f.knowHost()
	writeFile(t, f.path("id_ed25519"), "") // no usable file key
	_, priv := newEd25519(t)
	client, _ := ssh.NewSignerFromKey(priv)
	f.srv.authorize(client.PublicKey())
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	f.env.AuthSock = sock
	f.ok("", "127.0.0.1", "-p", f.port, "whoami")
	errs := f.fails("127.0.0.1", "-p", f.port, "-o", "IdentitiesOnly=yes", "whoami")
	if !strings.Contains(errs, "permission denied") {
		t.Errorf("IdentitiesOnly=yes must skip the agent: %q", errs)
	}
}

func TestExitStatus(t *testing.T) {
	f := newFixture(t)
	f.knowHost()
	code, out, errs := f.run("", "127.0.0.1", "-p", f.port, "exit", "3", "remote", "trouble")
	if code != 3 || out != "" || errs != "remote trouble\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 3, nothing, the remote's stderr", code, out, errs)
	}
	if code, _, _ := f.run("", "127.0.0.1", "-p", f.port, "signal", "KILL"); code != 255 {
		t.Errorf("killed by a signal: exit %d, want 255", code)
	}
}

func TestRefusedOptions(t *testing.T) {
	f := newFixture(t)
	f.knowHost()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-J", "jump", "host", "-s", "sftp"}, "ssh: unsupported option -J (this is backupbot's built-in ssh client for restic's sftp: backend; it supports -p -l -i -F -o -s -T -q -v -4 -6)\n"},
		{[]string{"host", "-Tt", "-s", "sftp"}, "ssh: unsupported option -t (this is backupbot's built-in ssh client for restic's sftp: backend; it supports -p -l -i -F -o -s -T -q -v -4 -6)\n"},
		{[]string{"host", "-o", "ForwardAgent=yes", "-s", "sftp"}, "ssh: unsupported option -o ForwardAgent (backupbot's built-in ssh client understands -o "},
		{[]string{"host", "-o", "ProxyJump=jump", "-s", "sftp"}, "ssh: ProxyJump jump: not supported"},
		{[]string{"host", "-o", "ProxyCommand ssh -W %h:%p jump", "-s", "sftp"}, "ssh: ProxyCommand ssh -W %h:%p jump: not supported"},
		{[]string{"host", "-p", "http", "-s", "sftp"}, "ssh: -p http: not a port number"},
		{[]string{"host", "-o", "StrictHostKeyChecking=maybe", "-s", "sftp"}, "ssh: -o StrictHostKeyChecking maybe: must be one of"},
		{[]string{"host", "-p"}, "ssh: option requires an argument -- p"},
		{[]string{"127.0.0.1", "-p", f.port}, "ssh: an interactive shell is not supported; give a command or -s SUBSYSTEM\n"},
		{[]string{"127.0.0.1", "-p", f.port, "-s"}, "ssh: -s needs a subsystem name"},
		{[]string{"127.0.0.1", "-p", f.port, "-s", "nosuch"}, "ssh: subsystem request for nosuch failed on 127.0.0.1"},
	} {
		if errs := f.fails(c.args...); !strings.HasPrefix(errs, c.want) {
			t.Errorf("ssh %v:\nstderr %q\nwant   %q…", c.args, errs, c.want)
		}
	}
	// From the config file: ProxyJump is refused too, not silently skipped,
	// and a bad value names the file.
	writeFile(t, f.path("config"), "Host behind\n  ProxyJump bastion\nHost bad\n  Port http\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"behind", "-s", "sftp"}, "ssh: ProxyJump bastion: not supported"},
		{[]string{"bad", "-s", "sftp"}, "ssh: " + f.path("config") + ": Port http: not a port number"},
		{[]string{"-F", f.path("missing"), "host", "-s", "sftp"}, "ssh: can't read config file: "},
	} {
		if errs := f.fails(c.args...); !strings.HasPrefix(errs, c.want) {
			t.Errorf("ssh %v:\nstderr %q\nwant   %q…", c.args, errs, c.want)
		}
	}
}

func TestVersion(t *testing.T) {
	f := newFixture(t)
	code, out, errs := f.run("", "-V")
	if code != 0 || out != "" || !strings.HasPrefix(errs, "backupbot ssh: ") {
		t.Errorf("-V: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestParseArgs(t *testing.T) {
	for _, c := range []struct {
		args    []string
		dest    string
		command []string
		opts    []option
	}{
		{[]string{"h", "-p", "2222", "-l", "u", "-s", "sftp"}, "h", []string{"sftp"},
			[]option{{"port", "2222", "-p"}, {"user", "u", "-l"}}},
		{[]string{"-Tqp2222", "-oPort=1", "h", "ls", "-l", "/"}, "h", []string{"ls", "-l", "/"},
			[]option{{"port", "2222", "-p"}, {"port", "1", "-o Port"}}},
		{[]string{"-o", "IdentityFile = \"/k\"", "--", "h", "-v"}, "h", []string{"-v"},
			[]option{{"identityfile", "/k", "-o IdentityFile"}}},
		{[]string{"-4", "h", "-6", "-i", "k", "x"}, "h", []string{"x"},
			[]option{{"addressfamily", "inet", "-4"}, {"addressfamily", "inet6", "-6"}, {"identityfile", "k", "-i"}}},
	} {
		cl, err := parseArgs(c.args)
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if cl.dest != c.dest || !reflect.DeepEqual(cl.command, c.command) || !reflect.DeepEqual(cl.opts, c.opts) {
			t.Errorf("%v: dest %q command %q opts %v; want %q %q %v", c.args, cl.dest, cl.command, cl.opts, c.dest, c.command, c.opts)
		}
	}
}

func TestParseDest(t *testing.T) {
	for _, c := range []struct{ in, user, host, port string }{
		{"Host", "", "host", ""},
		{"u@h", "u", "h", ""},
		{"u@x@h", "u@x", "h", ""},
		{"::1", "", "::1", ""},
		{"[::1]", "", "::1", ""},
		{"u@[fe80::1]", "u", "fe80::1", ""},
		{"ssh://u@[::1]:2222", "u", "::1", "2222"},
		{"ssh://h:22/", "", "h", "22"},
	} {
		u, h, p, err := parseDest(c.in)
		if err != nil || u != c.user || h != c.host || p != c.port {
			t.Errorf("%q: %q %q %q %v; want %q %q %q", c.in, u, h, p, err, c.user, c.host, c.port)
		}
	}
}
