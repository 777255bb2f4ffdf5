package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkFleetStatus measures `abra app ls --status` over 3 servers × 50 apps,
// each server reached over real SSH (three ~/.ssh/config aliases of one sshd),
// against the same queries made one server after another (`-s <server>` each).
// Run: ABRA_E2E=1 go test ./e2e -run '^$' -bench FleetStatus -benchtime 5x
func BenchmarkFleetStatus(b *testing.B) {
	s := startSSH(b)
	config := readFile(b, filepath.Join(s.dir, "ssh_config"))
	var servers []string
	for i := 1; i <= 3; i++ {
		alias := fmt.Sprintf("abra-bench-%d", i)
		servers = append(servers, alias)
		config += fmt.Sprintf("Host %s\n  HostName 127.0.0.1\n  Port %s\n  User root\n  IdentityFile %s/id\n  IdentitiesOnly yes\n  UserKnownHostsFile %s/known_hosts\n  StrictHostKeyChecking yes\n  BatchMode yes\n", alias, s.port, s.dir, s.dir)
	}
	writeFile(b, filepath.Join(s.dir, "ssh_config"), config)
	s.trust(b, s.hostPub)
	dir := b.TempDir()
	for _, srv := range servers {
		for i := range 50 {
			domain := fmt.Sprintf("app%d.%s.bench.localhost", i, srv)
			writeFile(b, filepath.Join(dir, "servers", srv, domain+".env"), "TYPE=demo:0.1.0+0.1.0\nDOMAIN="+domain+"\n")
		}
	}
	e := &env{t: b, abraDir: dir, extra: []string{s.path}}
	b.Run("concurrent", func(b *testing.B) {
		for b.Loop() {
			if r := e.abra("app", "ls", "--status", "--json"); r.code != 0 {
				b.Fatalf("app ls --status: %s", r)
			}
		}
	})
	b.Run("one-after-another", func(b *testing.B) {
		for b.Loop() {
			for _, srv := range servers {
				if r := e.abra("app", "ls", "--status", "--json", "-s", srv); r.code != 0 {
					b.Fatalf("app ls --status -s %s: %s", srv, r)
				}
			}
		}
	})
}
