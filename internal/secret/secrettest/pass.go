// Package secrettest holds an in-memory PassStore and the contract every
// PassStore must meet.
package secrettest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"

	"coopcloud.tech/abra/internal/secret"
)

// Pass is an in-memory secret.PassStore. FailInsert, when set, makes Insert
// of names containing it fail (to test all-or-nothing paths).
type Pass struct {
	mu         sync.Mutex
	entries    map[string][]byte
	FailInsert string
}

// NewPass returns an empty store.
func NewPass() *Pass { return &Pass{entries: map[string][]byte{}} }

// Insert implements secret.PassStore.
func (p *Pass) Insert(_ context.Context, name string, value []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.FailInsert != "" && strings.Contains(name, p.FailInsert) {
		return fmt.Errorf("pass insert %s: gpg: encryption failed", name)
	}
	p.entries[name] = bytes.Clone(value)
	return nil
}

// Show implements secret.PassStore.
func (p *Pass) Show(_ context.Context, name string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.entries[name]
	if !ok {
		return nil, fmt.Errorf("pass show %s: %w", name, secret.ErrNoPassEntry)
	}
	return bytes.Clone(v), nil
}

// Remove implements secret.PassStore.
func (p *Pass) Remove(_ context.Context, name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.entries[name]; !ok {
		return fmt.Errorf("pass rm %s: %w", name, secret.ErrNoPassEntry)
	}
	delete(p.entries, name)
	return nil
}

// Names lists the entries, for assertions.
func (p *Pass) Names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for n := range p.entries {
		out = append(out, n)
	}
	return out
}
