package app

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"coopcloud.tech/abra/internal/hint"
)

type fakeResolver map[string][]string

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if ips, ok := f[host]; ok {
		return ips, nil
	}
	return nil, errors.New("no such host")
}

func TestCheckDomain(t *testing.T) {
	r := fakeResolver{"srv.example.org": {"192.0.2.1"}, "app.example.org": {"192.0.2.1"}, "elsewhere.example.org": {"198.51.100.7"}}
	tests := []struct {
		name, domain, server, wantErr string
	}{
		{"local server is not checked", "nowhere.invalid", "default", ""},
		{"domain points at the server", "app.example.org", "srv.example.org", ""},
		{"user and port are ignored", "app.example.org", "root@srv.example.org:2222", ""},
		{"domain points elsewhere", "elsewhere.example.org", "srv.example.org", "resolves to 198.51.100.7"},
		{"domain does not resolve", "nowhere.invalid", "srv.example.org", "nowhere.invalid does not resolve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDomain(context.Background(), r, tt.domain, tt.server)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("CheckDomain() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStackName(t *testing.T) {
	tests := []struct{ name, domain, want string }{
		{"dots become underscores", "blog.example.org", "blog_example_org"},
		{"long domains are cut to 45", "a-very-long-subdomain-name.of-a-long-domain.example.org", "a-very-long-subdomain-name_of-a-long-domain_e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := StackName(tt.domain)
			if got != tt.want || len(got) > MaxStackNameLength {
				t.Fatalf("StackName(%q) = %q, want %q", tt.domain, got, tt.want)
			}
		})
	}
}

func TestExplainConnectError(t *testing.T) {
	tests := []struct{ name, msg, server, want string }{
		{"unknown host key", "stderr=Host key verification failed.", "root@srv.example.org:2222", "ssh-keyscan -p 2222 srv.example.org >> ~/.ssh/known_hosts"},
		{"changed host key", "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!", "srv.example.org", "ssh-keygen -R srv.example.org"},
		{"refused", "ssh: connect to host x port 22: Connection refused", "x", "ssh x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := explainConnectError(errors.New(tt.msg), tt.server)
			if h := hint.Of(err); !strings.Contains(h, tt.want) {
				t.Fatalf("hint = %q, want it to contain %q", h, tt.want)
			}
		})
	}
}

func TestCheckDomainFollowsSSHConfig(t *testing.T) {
	ssh, err := exec.LookPath("ssh")
	if err != nil {
		t.Fatalf("ssh client not installed: %v", err)
	}
	// OpenSSH reads the passwd entry's ~/.ssh, not $HOME: a wrapper first in
	// PATH points the real client at a config of this test's own.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(cfg, []byte("Host myalias\n  HostName srv.example.org\n  Port 2222\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "ssh")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+ssh+" -F "+cfg+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	r := fakeResolver{"srv.example.org": {"192.0.2.1"}, "app.example.org": {"192.0.2.1"}}
	if err := CheckDomain(context.Background(), r, "app.example.org", "myalias"); err != nil {
		t.Fatalf("an alias whose HostName the domain resolves to: %v", err)
	}
	r["app.example.org"] = []string{"198.51.100.7"}
	if err := CheckDomain(context.Background(), r, "app.example.org", "myalias"); err == nil || !strings.Contains(err.Error(), "server srv.example.org is 192.0.2.1") {
		t.Fatalf("a domain elsewhere: %v, want the alias's host named", err)
	}
}
