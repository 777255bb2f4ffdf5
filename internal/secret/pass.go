package secret

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"strings"
)

// ErrNoPassEntry is returned (wrapped) when a pass entry does not exist.
var ErrNoPassEntry = errors.New("not in the password store")

// PassStore is the operator's own password store (`pass`, passwordstore.org),
// where `--pass` keeps a copy of the values abra makes, so that they are not
// only on the server. Implementations are safe for use by one command at a
// time; values travel only through Insert's argument and Show's result, never
// through argv, logs or errors.
type PassStore interface {
	// Insert stores value byte for byte under name, replacing an existing entry.
	Insert(ctx context.Context, name string, value []byte) error
	// Show returns the value stored under name, byte for byte; a missing
	// entry is an error wrapping ErrNoPassEntry.
	Show(ctx context.Context, name string) ([]byte, error)
	// Remove deletes the entry; a missing entry is an error wrapping ErrNoPassEntry.
	Remove(ctx context.Context, name string) error
}

// PassName is the pass entry of an app's secret, as abra names it:
// hosts/<server>/<domain>/<secret>. The version is not part of it: after a
// rotation the entry holds the value of the newest version.
func PassName(server, domain, name string) string {
	return path.Join("hosts", server, domain, name)
}

// Pass is the PassStore of the `pass` command. It inherits the process
// environment (PASSWORD_STORE_DIR, GNUPGHOME, the gpg agent), plus Env.
type Pass struct {
	Bin string   // "pass" when empty
	Env []string // extra environment, NAME=value
}

func (p Pass) run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	bin := p.Bin
	if bin == "" {
		bin = "pass"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	if p.Env != nil {
		cmd.Env = append(cmd.Environ(), p.Env...)
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		// pass's stderr names the entry and the reason; it never holds the value.
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		if strings.Contains(msg, "is not in the password store") {
			return nil, fmt.Errorf("pass %s %s: %w", args[0], args[len(args)-1], ErrNoPassEntry)
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("pass %s %s: %w (install pass and run 'pass init <gpg-id>')", args[0], args[len(args)-1], err)
		}
		return nil, fmt.Errorf("pass %s %s: %s", args[0], args[len(args)-1], msg)
	}
	return out.Bytes(), nil
}

// Insert implements PassStore with `pass insert --multiline --force`, the value on stdin.
func (p Pass) Insert(ctx context.Context, name string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := p.run(ctx, value, "insert", "--multiline", "--force", name)
	return err
}

// Show implements PassStore with `pass show`.
func (p Pass) Show(ctx context.Context, name string) ([]byte, error) {
	return p.run(ctx, nil, "show", name)
}

// Remove implements PassStore with `pass rm --force`.
func (p Pass) Remove(ctx context.Context, name string) error {
	_, err := p.run(ctx, nil, "rm", "--force", name)
	return err
}
