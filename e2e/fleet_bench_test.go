package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFleetAtADistance measures `abra app ls --status` over 10 servers
// × 20 apps, each server reached over real SSH through its own latency proxy
// 50 ms each way (100 ms round trip), then 150 ms (300 ms round trip); all
// servers share the local dockerd and sshd. Side by side in one run, runs
// alternating (each run starts with the next of the three):
//   - concurrent: `abra app ls -S --json`, every server at once;
//   - one-after-another: `abra app ls -S --json -s <server>` for each server;
//   - floor: what no tool can beat over that distance with abra's transport:
//     per server at once, one `ssh <server> docker system dial-stdio` and over
//     it the Docker API calls abra makes (the version ping, services, tasks,
//     nodes), made by the benchmark itself, without starting abra.
//
// It reports the medians and their ratios, and the most SSH connections a
// server's proxy saw in one concurrent run. Run: bench/fleet.sh (or ABRA_E2E=1
// go test ./e2e -run '^$' -bench FleetAtADistance -benchtime 5x).
func BenchmarkFleetAtADistance(b *testing.B) {
	for _, oneWay := range []time.Duration{50 * time.Millisecond, 150 * time.Millisecond} {
		b.Run(fmt.Sprintf("rtt=%s", 2*oneWay), func(b *testing.B) { benchFleetAt(b, oneWay) })
	}
}

func benchFleetAt(b *testing.B, oneWay time.Duration) {
	servers := delayedServers("abra-far", 10, oneWay)
	fleet := startFarFleet(b, servers)
	e := fleet.env(b)
	addApps(b, e.abraDir, servers, 20)
	sshBin := filepath.Join(fleet.ssh.dir, "bin", "ssh")
	names := make([]string, len(servers))
	for i, s := range servers {
		names[i] = s.name
	}
	var handshakes []float64
	ways := []struct {
		name string
		run  func() error
	}{
		{"concurrent", func() error {
			before := fleet.handshakes()
			err := quietAbra(e, "app", "ls", "-S", "--json")
			after := fleet.handshakes()
			most := 0
			for s := range after {
				most = max(most, after[s]-before[s])
			}
			handshakes = append(handshakes, float64(most))
			return err
		}},
		{"one-after-another", func() error {
			for _, s := range names {
				if err := quietAbra(e, "app", "ls", "-S", "--json", "-s", s); err != nil {
					return err
				}
			}
			return nil
		}},
		{"floor", func() error { return floorQuery(sshBin, names) }},
	}
	times := map[string][]time.Duration{}
	run := 0
	for b.Loop() {
		run++
		var line []string
		// Each run starts with the next way, so that none always follows
		// another (the servers still tear down the last one's sessions).
		for k := range ways {
			w := ways[(run-1+k)%len(ways)]
			start := time.Now()
			if err := w.run(); err != nil {
				b.Fatalf("%s: %v", w.name, err)
			}
			d := time.Since(start)
			times[w.name] = append(times[w.name], d)
			line = append(line, fmt.Sprintf("%s %d ms", w.name, d.Milliseconds()))
		}
		b.Logf("run %d: %s", run, strings.Join(line, ", "))
	}
	conc, seq, floor := median(times["concurrent"]), median(times["one-after-another"]), median(times["floor"])
	b.ReportMetric(ms(conc), "concurrent-ms")
	b.ReportMetric(ms(seq), "one-after-another-ms")
	b.ReportMetric(ms(floor), "floor-ms")
	b.ReportMetric(ms(conc)/ms(seq), "concurrent/one-after-another")
	b.ReportMetric(ms(conc)/ms(floor), "concurrent/floor")
	b.ReportMetric(slices.Max(handshakes), "max-ssh-conns/server")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quietAbra runs abra without logging its output (a benchmark logs every
// line it is given); a non-zero exit is an error with abra's stderr.
func quietAbra(e *env, args ...string) error {
	cmd := exec.Command(abraBin, args...)
	cmd.Env = append(append(os.Environ(), "ABRA_DIR="+e.abraDir, "NO_COLOR=1"), e.extra...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("abra %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return nil
}

// floorQuery asks every server at once for what `app ls -S` needs with the
// least work: one ssh process per server running `docker system dial-stdio`
// (abra's transport, with docker/cli's ssh flags) and, over it, the version
// ping and the lists of services, tasks and nodes on one kept-alive HTTP
// connection.
func floorQuery(sshBin string, servers []string) error {
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errs <- floorServer(sshBin, s) }()
	}
	var failed []string
	for range servers {
		if err := <-errs; err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("floor: %s", strings.Join(failed, "; "))
	}
	return nil
}

func floorServer(sshBin, server string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshBin, "-o", "ConnectTimeout=30", "-T", "--", server, "docker", "system", "dial-stdio")
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	// Each ssh in a session of its own, as docker/cli's command connection
	// starts abra's: with the kernel's autogroup scheduling that is also a
	// CPU share of its own, which on a loaded machine made abra faster than
	// a floor whose ssh processes shared the benchmark's.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	r := bufio.NewReader(out)
	for _, q := range []struct{ method, path string }{
		{http.MethodHead, "/_ping"}, {http.MethodGet, "/v1.41/services"}, {http.MethodGet, "/v1.41/tasks"}, {http.MethodGet, "/v1.41/nodes"},
	} {
		if _, err := fmt.Fprintf(in, "%s %s HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n", q.method, q.path); err != nil {
			return fmt.Errorf("%s: %s %s: %v: %s", server, q.method, q.path, err, stderr.String())
		}
		resp, err := http.ReadResponse(r, &http.Request{Method: q.method})
		if err != nil {
			return fmt.Errorf("%s: %s %s: %v: %s", server, q.method, q.path, err, stderr.String())
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s %s: %s %v", server, q.method, q.path, resp.Status, err)
		}
	}
	// The answers are in: abra does not wait for ssh to hang up either
	// (its ssh processes die with it).
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil
}
