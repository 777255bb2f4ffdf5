package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"verb without --app", []string{"create", "--json"}, "create needs --app <stack name>"},
		{"unknown verb", []string{"backup", "--app", "x"}, `unknown verb "backup"`},
		{"unknown flag", []string{"ls", "--nope"}, "flag provided but not defined: -nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errb); code != 2 {
				t.Fatalf("exit %d, want 2", code)
			}
			if !strings.Contains(out.String()+errb.String(), tt.want) {
				t.Fatalf("output %q %q, want %q", out.String(), errb.String(), tt.want)
			}
		})
	}
}

func TestJSONErrorIsOneEventLine(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"verify", "--json"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d", code)
	}
	var e struct {
		Event   string `json:"event"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &e); err != nil || e.Event != "error" || e.Message != "verify needs --app <stack name>" {
		t.Fatalf("stdout %q: %+v %v", out.String(), e, err)
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errb); code != 0 || out.String() != "backupbot dev\n" {
		t.Fatalf("exit %d, %q", code, out.String())
	}
}
