package app

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/server"
)

// Resolver looks up host addresses (net.DefaultResolver in production).
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// CheckDomain verifies that the app's domain resolves to the server's address
// (the HostName ssh uses for the server name), so traefik can obtain
// certificates for it. The local server is not checked.
func CheckDomain(ctx context.Context, r Resolver, domain, serverName string) error {
	if serverName == server.Local {
		return nil
	}
	// The host ssh really connects to: an ~/.ssh/config alias maps to its
	// HostName, which is what the domain must resolve to.
	host, _ := server.SSHTarget(serverName)
	skip := "pass --no-domain-checks (-D) to deploy anyway"
	want, err := r.LookupHost(ctx, host)
	if err != nil {
		return hint.With(fmt.Errorf("domain check: server %s does not resolve: %w", host, err), skip)
	}
	got, err := r.LookupHost(ctx, domain)
	if err != nil {
		return hint.With(fmt.Errorf("domain check: %s does not resolve: %w", domain, err),
			"point its DNS record at "+strings.Join(want, ", ")+", or "+skip)
	}
	for _, ip := range got {
		if slices.Contains(want, ip) {
			return nil
		}
	}
	return hint.With(fmt.Errorf("domain check: %s resolves to %s, but server %s is %s", domain, strings.Join(got, ", "), host, strings.Join(want, ", ")),
		"fix the DNS record, or "+skip)
}
