package secrettest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"coopcloud.tech/abra/internal/secret"
)

// PassContract is the behaviour every secret.PassStore must show; the fake
// and the real `pass` both run it.
func PassContract(t *testing.T, p secret.PassStore) {
	ctx := context.Background()
	name := secret.PassName("default", "blog.example.org", "ssl_cert")
	values := map[string][]byte{
		"multi-line with trailing newline": []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		"no trailing newline":              []byte("s3cr3t value"),
		"surrounding white space":          []byte("  spaced\t\n\n"),
	}
	for label, v := range values {
		t.Run("round trip: "+label, func(t *testing.T) {
			if err := p.Insert(ctx, name, v); err != nil {
				t.Fatal(err)
			}
			got, err := p.Show(ctx, name)
			if err != nil || !bytes.Equal(got, v) {
				t.Fatalf("Show() = %q, %v; want %q", got, err, v)
			}
		})
	}
	t.Run("insert replaces", func(t *testing.T) {
		for _, v := range []string{"first", "second"} {
			if err := p.Insert(ctx, name, []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := p.Show(ctx, name); err != nil || string(got) != "second" {
			t.Fatalf("Show() = %q, %v", got, err)
		}
	})
	t.Run("remove, then missing", func(t *testing.T) {
		if err := p.Remove(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Show(ctx, name); !errors.Is(err, secret.ErrNoPassEntry) {
			t.Fatalf("Show() after remove: err = %v, want ErrNoPassEntry", err)
		}
		if err := p.Remove(ctx, name); !errors.Is(err, secret.ErrNoPassEntry) {
			t.Fatalf("second Remove(): err = %v, want ErrNoPassEntry", err)
		}
	})
	t.Run("errors never hold the value", func(t *testing.T) {
		const v = "do-not-leak-this"
		if err := p.Insert(ctx, name, []byte(v)); err != nil {
			t.Fatal(err)
		}
		_ = p.Remove(ctx, name)
		if err := p.Remove(ctx, name); err == nil || bytes.Contains([]byte(err.Error()), []byte(v)) {
			t.Fatalf("err = %v", err)
		}
	})
}
