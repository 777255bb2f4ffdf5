#!/usr/bin/env bash
# The dashboard's budgets, measured (README, "The dashboard"), written to
# bench/results/dashboard-<date>.txt:
#   - BenchmarkFleetPage: the fleet page of 3 servers × 50 apps on warm data
#     (server time, fakes for the servers), beside the same app.Fleet call
#     rendered as 'abra app ls -S --json' does (budget: 100 ms);
#   - TestPageWeightBudget: every page type with its CSS and script,
#     gzip-compressed (budget: 100 KB);
#   - the log page following 10,000 lines in a real browser (list length,
#     JS heap and DOM nodes after 1,000 and 10,000 lines), from
#     TestDashboardInBrowser (needs dockerd in swarm mode, Chromium and
#     npm ci in e2e/browser, as scripts/test.sh sets up). BROWSER=0 leaves it out.
# COUNT runs of the benchmark (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
COUNT=${COUNT:-5}
mkdir -p bench/results
out=bench/results/dashboard-$(date -u +%Y-%m-%d).txt
{
  echo "# bench/dashboard.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- internal/dashboard || echo ' (internal/dashboard changed)')"
  echo "# $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(go version | cut -d' ' -f3-)"
  echo
  echo "## BenchmarkFleetPage (3 servers × 50 apps, warm; budget 100 ms server time)"
  go test ./internal/dashboard/ -run '^$' -bench BenchmarkFleetPage -benchtime 10x -count "$COUNT" -timeout 30m
  echo
  echo "## TestPageWeightBudget (gzip-compressed, page + CSS + script; budget 100 KB)"
  go test ./internal/dashboard/ -count 1 -run TestPageWeightBudget -v | grep -v '^=== RUN'
  if [ "${BROWSER:-1}" != 0 ]; then
    echo
    echo "## Log page, 10,000 lines followed live (TestDashboardInBrowser)"
    ABRA_E2E=1 go test ./e2e/ -count 1 -run 'TestDashboardInBrowser' -v -timeout 30m >"$out.browser.log" 2>&1 || echo "(TestDashboardInBrowser failed: see the lines below)"
    grep -E 'Chromium|log page:|--- (PASS|FAIL)' "$out.browser.log" | sed 's/^ *//'
    rm -f "$out.browser.log"
  fi
  echo
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$out"
echo "bench/dashboard.sh: wrote $out" >&2
