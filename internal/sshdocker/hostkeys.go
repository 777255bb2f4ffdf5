package sshdocker

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrNoHostKey is returned by NewHostKeys when it is given nothing to trust:
// connecting to whatever answers would hand the deploy key's session (and the
// app's secrets) to anyone on the path.
var ErrNoHostKey = errors.New("no known host key given")

// ErrHostKey is matched (errors.Is) by a *HostKeyError.
var ErrHostKey = errors.New("host key refused")

// HostKeyError is a server whose host key is not one we were told to trust.
// Nothing was sent to it: the check happens before authentication.
type HostKeyError struct {
	Host    string // host:port as looked up
	Offered string // the server's key: type and SHA256 fingerprint
	Changed bool   // known_hosts has other keys for this host
	Revoked bool   // the key is marked @revoked
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key of %s is revoked (%s); refusing to connect", e.Host, e.Offered)
	case e.Changed:
		return fmt.Sprintf("host key of %s does not match the known one: the server offers %s; refusing to connect", e.Host, e.Offered)
	}
	return fmt.Sprintf("host key of %s is not among the known host keys given: the server offers %s; refusing to connect", e.Host, e.Offered)
}

// Is makes errors.Is(err, ErrHostKey) true.
func (e *HostKeyError) Is(target error) bool { return target == ErrHostKey }

// HostKeys are the host keys a Dialer accepts: known_hosts lines (host
// patterns, [host]:port, hashed names, @revoked, as OpenSSH reads them), bare
// public keys ("ssh-ed25519 AAAA…", accepted for any host, as in a CI secret
// that holds one server's key) and SHA256 fingerprints ("SHA256:…", as
// ssh-keygen -lf prints them).
type HostKeys struct {
	db           ssh.HostKeyCallback // nil without known_hosts lines
	keys         []ssh.PublicKey
	fingerprints []string
}

// NewHostKeys reads known_hosts text (lines as ssh-keyscan prints them, bare
// public keys, comments) and fingerprints. With neither it fails with
// ErrNoHostKey; a line that does not parse is an error naming it.
func NewHostKeys(knownHosts string, fingerprints ...string) (*HostKeys, error) {
	h := &HostKeys{}
	var lines bytes.Buffer
	sc := bufio.NewScanner(strings.NewReader(knownHosts))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, ok := bareKey(line); ok {
			h.keys = append(h.keys, k)
			continue
		}
		if _, _, _, _, _, err := ssh.ParseKnownHosts([]byte(line)); err != nil {
			return nil, fmt.Errorf("known hosts line %d: %w (want \"host ssh-ed25519 AAAA…\" as ssh-keyscan prints it, or a bare public key)", n, err)
		}
		lines.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	if lines.Len() > 0 {
		db, err := knownHostsDB(lines.Bytes())
		if err != nil {
			return nil, err
		}
		h.db = db
	}
	for _, fp := range fingerprints {
		fp = strings.TrimSpace(fp)
		if fp == "" {
			continue
		}
		norm, err := normalizeFingerprint(fp)
		if err != nil {
			return nil, err
		}
		h.fingerprints = append(h.fingerprints, norm)
	}
	if h.db == nil && len(h.keys) == 0 && len(h.fingerprints) == 0 {
		return nil, ErrNoHostKey
	}
	return h, nil
}

// knownHostsDB parses known_hosts lines with x/crypto's knownhosts, which
// reads files only: the lines (public data) go through a temporary file that
// is removed as soon as they are read.
func knownHostsDB(data []byte) (ssh.HostKeyCallback, error) {
	f, err := os.CreateTemp("", "abra-known-hosts-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	db, err := knownhosts.New(f.Name())
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	return db, nil
}

// bareKey parses "type base64 [comment]" with no host in front.
func bareKey(line string) (ssh.PublicKey, bool) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return nil, false
	}
	raw, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return nil, false
	}
	k, err := ssh.ParsePublicKey(raw)
	if err != nil || k.Type() != f[0] {
		return nil, false
	}
	return k, true
}

// normalizeFingerprint accepts "SHA256:…", with or without the key type and
// comment ssh-keygen -l prints around it ("256 SHA256:… host (ED25519)").
func normalizeFingerprint(s string) (string, error) {
	for w := range strings.FieldsSeq(s) {
		if rest, ok := strings.CutPrefix(w, "SHA256:"); ok {
			rest = strings.TrimRight(rest, "=")
			if b, err := base64.RawStdEncoding.DecodeString(rest); err != nil || len(b) != 32 {
				return "", fmt.Errorf("host fingerprint %q: not a SHA256 fingerprint (want SHA256: and 43 base64 characters, as ssh-keygen -lf prints)", s)
			}
			return "SHA256:" + rest, nil
		}
	}
	if strings.HasPrefix(strings.ToUpper(s), "MD5:") || strings.Count(s, ":") == 15 {
		return "", fmt.Errorf("host fingerprint %q: MD5 fingerprints are not accepted; give the SHA256 one (ssh-keygen -lf -E sha256)", s)
	}
	return "", fmt.Errorf("host fingerprint %q: want SHA256:… as ssh-keygen -lf prints it", s)
}

// callback checks the key a server offers for target.
func (h *HostKeys) callback(t Target) ssh.HostKeyCallback {
	return func(_ string, remote net.Addr, key ssh.PublicKey) error {
		fp := ssh.FingerprintSHA256(key)
		if slices.Contains(h.fingerprints, fp) {
			return nil
		}
		for _, k := range h.keys {
			if bytes.Equal(k.Marshal(), key.Marshal()) {
				return nil
			}
		}
		e := &HostKeyError{Host: t.Addr(), Offered: key.Type() + " " + fp}
		if h.db != nil {
			err := h.db(t.Addr(), remote, key)
			if err == nil {
				return nil
			}
			var ke *knownhosts.KeyError
			var re *knownhosts.RevokedError
			switch {
			case errors.As(err, &re):
				e.Revoked = true
			case errors.As(err, &ke):
				e.Changed = len(ke.Want) > 0
			default:
				return fmt.Errorf("host key of %s: %w", t.Addr(), err)
			}
		}
		if len(h.keys) > 0 || len(h.fingerprints) > 0 {
			e.Changed = true
		}
		return e
	}
}

// algorithms are the host key algorithms to ask for, those of the keys we
// know first, so that a server with several host keys shows the one we know.
func (h *HostKeys) algorithms(t Target) []string {
	known := slices.Clone(h.keys)
	if h.db != nil {
		// Asking the database about a key it cannot hold lists, in the
		// KeyError, every key it knows for the host.
		var ke *knownhosts.KeyError
		if err := h.db(t.Addr(), &net.TCPAddr{IP: net.IPv4zero, Port: t.Port}, probeKey{}); errors.As(err, &ke) {
			for _, k := range ke.Want {
				known = append(known, k.Key)
			}
		}
	}
	if len(known) == 0 || len(h.fingerprints) > 0 {
		return nil // x/crypto's defaults
	}
	supported := ssh.SupportedAlgorithms().HostKeys
	var out []string
	add := func(a string) {
		if slices.Contains(supported, a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, k := range known {
		if k.Type() == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512)
			add(ssh.KeyAlgoRSASHA256)
		} else {
			add(k.Type())
		}
	}
	return out
}

// probeKey is a public key no known_hosts line can hold.
type probeKey struct{}

func (probeKey) Type() string                        { return "abra-probe" }
func (probeKey) Marshal() []byte                     { return []byte("\x00\x00\x00\x0aabra-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }
