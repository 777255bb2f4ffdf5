package sshsftp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// identities are the keys we offer: the identity files' (unencrypted) keys
// first, then the agent's.
type identities struct {
	signers   []ssh.Signer
	offered   []string // what was offered, for the failure message
	encrypted []string // passphrase-protected files we had to skip
	agentConn net.Conn
}

func loadIdentities(env Env, c *conf, log *logger) *identities {
	ids := &identities{}
	for _, f := range c.identityFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			if c.cmdIdentities[f] {
				log.warnf("Warning: identity file %s not accessible: %v", f, err)
			} else {
				log.debugf("identity file %s: %v", f, err)
			}
			continue
		}
		signer, err := ssh.ParsePrivateKey(b)
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			log.debugf("identity file %s is passphrase-protected: skipped (we cannot prompt)", f)
			ids.encrypted = append(ids.encrypted, f)
			continue
		}
		if err != nil {
			log.warnf("Warning: identity file %s: not a usable private key: %v", f, err)
			continue
		}
		log.debugf("identity file %s: %s %s", f, signer.PublicKey().Type(), ssh.FingerprintSHA256(signer.PublicKey()))
		ids.signers = append(ids.signers, signer)
		ids.offered = append(ids.offered, f)
	}
	switch {
	case env.AuthSock == "":
	case c.identitiesOnly:
		log.debugf("IdentitiesOnly=yes: not using the agent at %s", env.AuthSock)
	default:
		conn, err := net.Dial("unix", env.AuthSock)
		if err != nil {
			log.debugf("agent %s: %v", env.AuthSock, err)
			break
		}
		signers, err := agent.NewClient(conn).Signers()
		if err != nil {
			log.debugf("agent %s: %v", env.AuthSock, err)
			conn.Close()
			break
		}
		ids.agentConn = conn
		for _, s := range signers {
			log.debugf("agent key: %s %s", s.PublicKey().Type(), ssh.FingerprintSHA256(s.PublicKey()))
			ids.signers = append(ids.signers, s)
			ids.offered = append(ids.offered, "agent key "+ssh.FingerprintSHA256(s.PublicKey()))
		}
	}
	return ids
}

func (ids *identities) close() {
	if ids.agentConn != nil {
		ids.agentConn.Close()
	}
}

func (ids *identities) authMethods() []ssh.AuthMethod {
	if len(ids.signers) == 0 {
		return nil
	}
	return []ssh.AuthMethod{ssh.PublicKeys(ids.signers...)}
}

// failure says why nothing authenticated.
func (ids *identities) failure(c *conf) error {
	if len(ids.encrypted) > 0 {
		return fmt.Errorf("%s is passphrase-protected; backupbot's ssh cannot prompt: use an unencrypted key mounted read-only, or ssh-agent", ids.encrypted[0])
	}
	who := c.user + "@" + c.hostname
	if len(ids.offered) == 0 {
		return fmt.Errorf("%s: permission denied (publickey): no key to offer: give -i FILE, an IdentityFile in the ssh config, ~/.ssh/id_ed25519, id_ecdsa or id_rsa, or an agent at SSH_AUTH_SOCK", who)
	}
	return fmt.Errorf("%s: permission denied (publickey); offered %s", who, strings.Join(ids.offered, ", "))
}
