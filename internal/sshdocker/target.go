// Package sshdocker reaches a server's Docker Engine API over an SSH
// connection made in process (x/crypto/ssh), for deploys from CI where there
// is no ssh binary, no ~/.ssh and no agent: the private key is held in memory
// only, the server's host key must be known in advance (known_hosts lines,
// bare public keys or SHA256 fingerprints; there is no accept-any mode), and
// the Docker socket is reached through OpenSSH's direct-streamlocal channel,
// or `docker system dial-stdio` when the server forbids stream forwarding.
package sshdocker

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"coopcloud.tech/abra/internal/guard"
)

// Target is the SSH endpoint of a server.
type Target struct {
	User string
	Host string
	Port int
}

// DefaultUser is the user of a target that names none: Docker's socket
// usually needs root (or the docker group).
const DefaultUser = "root"

// ParseTarget reads a server as "host", "user@host", "host:port",
// "user@host:port", "[v6]:port" or "ssh://user@host:port". The user
// defaults to root and the port to 22.
func ParseTarget(s string) (Target, error) {
	t := Target{User: DefaultUser, Port: 22}
	raw := s
	if strings.HasPrefix(s, "ssh://") {
		u, err := url.Parse(s)
		if err != nil {
			return t, fmt.Errorf("server %q: %w", raw, err)
		}
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
			return t, fmt.Errorf("server %q: want ssh://[user@]host[:port] without a path", raw)
		}
		if _, ok := u.User.Password(); ok {
			return t, fmt.Errorf("server %q: passwords are not supported, use a key", raw)
		}
		s = u.Host
		if u.User != nil && u.User.Username() != "" {
			s = u.User.Username() + "@" + s
		}
	}
	if user, rest, ok := strings.Cut(s, "@"); ok {
		t.User, s = user, rest
	}
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return t, fmt.Errorf("server %q: port %q is not a number from 1 to 65535", raw, p)
		}
		host, t.Port = h, port
	} else if strings.Count(s, ":") == 1 {
		return t, fmt.Errorf("server %q: %w", raw, err)
	}
	t.Host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if t.Host == "" {
		return t, fmt.Errorf("server %q: no host", raw)
	}
	if err := checkWord("user", t.User, raw); err != nil {
		return t, err
	}
	if net.ParseIP(t.Host) == nil {
		if err := guard.ServerName(t.Host); err != nil {
			return t, fmt.Errorf("server %q: %w", raw, err)
		}
	}
	return t, nil
}

func checkWord(kind, v, raw string) error {
	if v == "" || strings.HasPrefix(v, "-") {
		return fmt.Errorf("server %q: empty or bad %s", raw, kind)
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._", r)) {
			return fmt.Errorf("server %q: character %q is not allowed in the %s", raw, r, kind)
		}
	}
	return nil
}

// Addr is host:port, as dialled and as looked up in known_hosts.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// Name is the server's name in abra ($ABRA_DIR/servers/<name>): the host, with
// user@ and :port only when they are not root and 22.
func (t Target) Name() string {
	n := t.Host
	if t.Port != 22 {
		n = t.Addr()
	}
	if t.User != DefaultUser {
		n = t.User + "@" + n
	}
	return n
}

// String is user@host:port.
func (t Target) String() string { return t.User + "@" + t.Addr() }
