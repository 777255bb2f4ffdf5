#!/usr/bin/env bash
# `abra app ls --status` over 10 servers × 20 apps at a distance (each behind
# its own latency proxy in front of one local sshd; 100 ms and 300 ms round
# trips), side by side with the same queries one server after another and
# with the floor (one ssh + dial-stdio per server and the same Docker API
# calls, without abra). Runs alternate, COUNT of each (default 5); medians and
# ratios are the benchmark's metrics. The raw `go test -bench` output goes to
# bench/results/fleet-<date>.txt. Needs a dockerd in swarm mode and sshd.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
COUNT=${COUNT:-5}
./scripts/docker-up.sh >/dev/null
mkdir -p bench/results
out=bench/results/fleet-$(date -u +%F).txt
{
  echo "# bench/fleet.sh, $(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null || echo "no git"), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  ABRA_E2E=1 go test ./e2e -run '^$' -bench BenchmarkFleetAtADistance -benchtime "${COUNT}x" -count 1 -timeout 60m
} 2>&1 | tee "$out"
echo "raw results: $out" >&2
