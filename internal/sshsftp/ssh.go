// Package sshsftp is backupbot's built-in ssh client: the small subset of
// OpenSSH's ssh(1) that restic's sftp: backend needs, in pure Go
// (golang.org/x/crypto/ssh), so that the backup image cross-compiles to every
// architecture instead of copying the build host's /usr/bin/ssh and its
// libraries. backupbot runs it when it is called as "ssh" (the image links
// /usr/bin/ssh to /backupbot).
//
// restic runs "ssh HOST [-p PORT] [-l USER] [sftp.args…] -s sftp" and speaks
// SFTP over the process's stdin and stdout; this client parses that command
// line as OpenSSH does (options before and after the destination), reads
// ~/.ssh/config and /etc/ssh/ssh_config (Host patterns, first value wins),
// checks the host key against known_hosts (StrictHostKeyChecking yes, no,
// accept-new; HostKeyAlias; hashed entries), authenticates with unencrypted
// identity files and ssh-agent keys, runs the command or subsystem, and exits
// with the remote's exit status, or 255 with one "ssh: …" line.
//
// What it deliberately does not do: allocate a pty or run an interactive
// shell, forward ports, X11 or the agent, authenticate with passwords or
// keyboard-interactive (or prompt for anything at all, passphrases
// included), jump through ProxyJump or ProxyCommand, multiplex connections
// (ControlMaster), use host certificates (@cert-authority) or Match blocks.
package sshsftp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Env is what the client takes from the machine; tests build their own so
// that they never read the real ~/.ssh.
type Env struct {
	Home                  string   // ~ and %d
	User                  string   // the default remote user, and %u
	ConfigFiles           []string // read in order when -F is not given; missing ones are skipped
	GlobalKnownHostsFiles []string // the GlobalKnownHostsFile default
	AuthSock              string   // ssh-agent socket; "" for none
}

// DefaultEnv is the process's: $HOME, $USER (else the passwd name of the
// current uid, else root), ~/.ssh/config and /etc/ssh/ssh_config,
// /etc/ssh/ssh_known_hosts(2) and $SSH_AUTH_SOCK.
func DefaultEnv() Env {
	home := os.Getenv("HOME")
	name := os.Getenv("USER")
	if home == "" || name == "" {
		if u, err := user.Current(); err == nil {
			if home == "" {
				home = u.HomeDir
			}
			if name == "" {
				name = u.Username
			}
		}
	}
	if home == "" {
		home = "/"
	}
	if name == "" {
		name = "root"
	}
	return Env{
		Home:                  home,
		User:                  name,
		ConfigFiles:           []string{filepath.Join(home, ".ssh", "config"), "/etc/ssh/ssh_config"},
		GlobalKnownHostsFiles: []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"},
		AuthSock:              os.Getenv("SSH_AUTH_SOCK"),
	}
}

// Main is ssh(1) with the process's environment: args are os.Args[1:]; it
// returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return Run(DefaultEnv(), args, stdin, stdout, stderr)
}

// Run is Main with the given environment.
func Run(env Env, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "ssh: %v\n", err)
		return 255
	}
	cl, err := parseArgs(args)
	if err != nil {
		return fail(err)
	}
	if cl.version {
		fmt.Fprintln(stderr, versionLine())
		return 0
	}
	if cl.dest == "" {
		fmt.Fprintln(stderr, usageText)
		return 255
	}
	if len(cl.command) == 0 {
		if cl.subsystem {
			return fail(errors.New("-s needs a subsystem name after the destination, e.g. -s sftp"))
		}
		return fail(errors.New("an interactive shell is not supported; give a command or -s SUBSYSTEM"))
	}
	c, err := resolve(env, cl)
	if err != nil {
		return fail(err)
	}
	log := &logger{w: stderr, verbose: c.verbose, quiet: c.quiet}
	if cl.noStdin {
		stdin = strings.NewReader("")
	}
	return connect(env, c, cl, stdin, stdout, log, fail)
}

func versionLine() string {
	return "backupbot ssh: OpenSSH-compatible client for restic's sftp: backend (golang.org/x/crypto/ssh, " + runtime.Version() + ")"
}

// logger writes debug lines (-v) and warnings (silenced by -q) to stderr.
type logger struct {
	w              io.Writer
	verbose, quiet bool
}

func (l *logger) debugf(format string, a ...any) {
	if l.verbose {
		fmt.Fprintf(l.w, "debug1: "+format+"\n", a...)
	}
}

func (l *logger) warnf(format string, a ...any) {
	if !l.quiet {
		fmt.Fprintf(l.w, format+"\n", a...)
	}
}

func connect(env Env, c *conf, cl *cmdline, stdin io.Reader, stdout io.Writer, log *logger, fail func(error) int) int {
	hk, err := newHostKeys(c, log)
	if err != nil {
		return fail(err)
	}
	ids := loadIdentities(env, c, log)
	defer ids.close()
	cfg := &ssh.ClientConfig{
		User:              c.user,
		Auth:              ids.authMethods(),
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: hk.algorithms(),
	}
	addr := net.JoinHostPort(c.hostname, strconv.Itoa(c.port))
	log.debugf("connecting to %s port %d (%s) as %s", c.hostname, c.port, c.network, c.user)
	d := net.Dialer{Timeout: c.connectTimeout}
	conn, err := d.Dial(c.network, addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
		}
		return fail(fmt.Errorf("connect to host %s port %d: %v", c.hostname, c.port, err))
	}
	if c.connectTimeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(c.connectTimeout))
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		var ne net.Error
		switch {
		case hk.err != nil:
			return fail(hk.err)
		case strings.Contains(err.Error(), "unable to authenticate"):
			log.debugf("%v", err)
			return fail(ids.failure(c))
		case errors.As(err, &ne) && ne.Timeout():
			return fail(fmt.Errorf("connection to %s port %d timed out during the ssh handshake (ConnectTimeout %s)", c.hostname, c.port, c.connectTimeout))
		default:
			return fail(fmt.Errorf("connection to %s port %d: %v", c.hostname, c.port, strings.TrimPrefix(err.Error(), "ssh: ")))
		}
	}
	_ = conn.SetDeadline(time.Time{})
	client := ssh.NewClient(sc, chans, reqs)
	defer client.Close()
	log.debugf("authenticated to %s as %s", addr, c.user)

	command := strings.Join(cl.command, " ")
	var dead atomic.Bool
	stop := keepalive(client, c, log, &dead)
	defer stop()
	ex, err := runSession(client, c.hostname, cl.subsystem, command, stdin, stdout, log)
	if err != nil {
		return fail(err)
	}
	switch {
	case dead.Load():
		return fail(fmt.Errorf("timeout, server %s not responding (ServerAliveInterval %s, ServerAliveCountMax %d)", c.hostname, c.aliveInterval, c.aliveCountMax))
	case ex.signal != "":
		log.warnf("ssh: remote command killed by signal %s", ex.signal)
		return 255
	case !ex.got:
		log.warnf("ssh: connection to %s closed without an exit status", c.hostname)
		return 255
	}
	return ex.status
}

type exitInfo struct {
	got    bool // an exit-status or exit-signal came
	status int
	signal string
}

// runSession runs the command or subsystem in a session channel: stdin to
// the remote (closing its write side at our EOF, which is how sftp-server
// learns that restic is done), the remote's stdout and stderr to ours, until
// the remote closes the channel. No pty, no environment, no forwarding.
func runSession(client *ssh.Client, host string, subsystem bool, command string, stdin io.Reader, stdout io.Writer, log *logger) (exitInfo, error) {
	ch, reqs, err := client.OpenChannel("session", nil)
	if err != nil {
		return exitInfo{}, fmt.Errorf("opening a session on %s: %v", host, err)
	}
	defer ch.Close()
	exited := make(chan exitInfo, 1)
	go func() {
		var ex exitInfo
		for r := range reqs {
			switch r.Type {
			case "exit-status":
				var m struct{ Status uint32 }
				if ssh.Unmarshal(r.Payload, &m) == nil {
					ex.got, ex.status = true, int(m.Status)
				}
			case "exit-signal":
				var m struct {
					Signal     string
					CoreDumped bool
					Error      string
					Lang       string
				}
				if ssh.Unmarshal(r.Payload, &m) == nil {
					ex.got, ex.signal = true, m.Signal
				}
			}
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		}
		exited <- ex
	}()
	var ok bool
	if subsystem {
		log.debugf("requesting subsystem %q", command)
		ok, err = ch.SendRequest("subsystem", true, ssh.Marshal(struct{ Name string }{command}))
		switch {
		case err != nil:
			err = fmt.Errorf("subsystem request for %s on %s: %v", command, host, err)
		case !ok:
			err = fmt.Errorf("subsystem request for %s failed on %s (is there a Subsystem %s line in its sshd_config?)", command, host, command)
		}
	} else {
		log.debugf("sending command %q", command)
		ok, err = ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{command}))
		switch {
		case err != nil:
			err = fmt.Errorf("exec request for %q on %s: %v", command, host, err)
		case !ok:
			err = fmt.Errorf("exec request for %q failed on %s", command, host)
		}
	}
	if err != nil {
		return exitInfo{}, err
	}
	go func() {
		if _, err := io.Copy(ch, stdin); err != nil {
			log.debugf("stdin: %v", err)
		}
		_ = ch.CloseWrite()
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if _, err := io.Copy(stdout, ch); err != nil {
			log.debugf("stdout: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if _, err := io.Copy(log.w, ch.Stderr()); err != nil {
			log.debugf("stderr: %v", err)
		}
	}()
	ex := <-exited
	wg.Wait()
	return ex, nil
}

// keepalive sends keepalive@openssh.com every ServerAliveInterval and closes
// the connection when ServerAliveCountMax of them went unanswered.
func keepalive(client *ssh.Client, c *conf, log *logger, dead *atomic.Bool) (stop func()) {
	if c.aliveInterval <= 0 {
		return func() {}
	}
	max := c.aliveCountMax
	if max < 1 {
		max = 1
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(c.aliveInterval)
		defer t.Stop()
		replies := make(chan error, 1)
		pending, missed := false, 0
		for {
			select {
			case <-done:
				return
			case <-replies:
				pending, missed = false, 0
			case <-t.C:
				if pending {
					missed++
					log.debugf("keepalive: %d unanswered", missed)
					if missed >= max {
						dead.Store(true)
						client.Close()
						return
					}
					continue
				}
				pending = true
				go func() {
					_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
					replies <- err
				}()
			}
		}
	}()
	return func() { close(done) }
}
