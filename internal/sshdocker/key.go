package sshdocker

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// ErrNoKey is returned by ParsePrivateKey for empty input.
var ErrNoKey = errors.New("no private key given")

// ParsePrivateKey parses a private key held in memory (OpenSSH or PEM
// format); it is never written anywhere. CI secret stores mangle keys in a
// few usual ways, all accepted: CRLF line ends, newlines written as a literal
// \n, surrounding quotes or blanks, or the whole key base64-encoded once.
// A passphrase-protected key is refused with a message that says so; the
// error never contains the key.
func ParsePrivateKey(data []byte) (ssh.Signer, error) {
	data = bytes.TrimSpace(data)
	data = bytes.Trim(data, `"'`)
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, ErrNoKey
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if !bytes.Contains(data, []byte("\n")) && bytes.Contains(data, []byte(`\n`)) {
		data = bytes.ReplaceAll(data, []byte(`\n`), []byte("\n"))
	}
	if !bytes.HasPrefix(data, []byte("-----BEGIN")) {
		if dec, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(data), nil))); err == nil && bytes.HasPrefix(bytes.TrimSpace(dec), []byte("-----BEGIN")) {
			data = bytes.TrimSpace(dec)
		}
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		data = append(data, '\n')
	}
	signer, err := ssh.ParsePrivateKey(data)
	var pm *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pm):
		return nil, errors.New("the private key is protected by a passphrase: CI cannot type it; use a deploy key without one, kept in the CI's secret store")
	case err != nil:
		// x/crypto's messages do not quote the key; keep only them.
		return nil, fmt.Errorf("not a usable private key (want an OpenSSH or PEM private key, as ssh-keygen writes it): %v", err)
	}
	return signer, nil
}
