#!/usr/bin/env bash
# The whole test suite: lint, unit tests, and the end-to-end tests against a real
# dockerd in swarm mode (installed and started here when missing). With CI set,
# a daemon that cannot be started fails the run instead of skipping tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

echo "== lint" >&2
unformatted=$(gofmt -l . || true)
if [ -n "$unformatted" ]; then echo "gofmt needed on: $unformatted" >&2; exit 1; fi
go vet ./...

# Built before any test runs, so that no test depends on another package's
# test (the end-to-end ones build the backup service's image) having built it.
echo "== restic (the restic integration tests of internal/backup run it)" >&2
RESTIC_BINARY=$(./scripts/build-restic.sh)
export RESTIC_BINARY

echo "== docker, sshd" >&2
./scripts/docker-up.sh
./scripts/registry-up.sh # images pushed by the tests of recipe upgrade and the catalogue
# End-to-end tests start their own sshd (on a loopback port), a second Docker
# server in a network namespace (scripts/testnode.sh) and build a busybox image:
# make sure the packages are there.
missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
[ -f /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion) # e2e/completion sources abra's script with and without it
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v ip >/dev/null 2>&1 || missing+=(iproute2) # the second test server's network namespace
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
command -v jq >/dev/null 2>&1 || missing+=(jq) # scripts read app ls -m with jq, as abra's docs do
command -v pass >/dev/null 2>&1 || missing+=(pass) # secret --pass tests use a throwaway password store
# a test ACME CA for the proxy's certificates, and its mock DNS (both in Debian's pebble)
{ command -v pebble && command -v pebble-challtestsrv; } >/dev/null 2>&1 || missing+=(pebble)
command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg) # the release test reads the .debs
command -v make >/dev/null 2>&1 || missing+=(make) # the release test runs make snapshot
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test: installing ${missing[*]}" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi

# The dashboard's browser tests (e2e/browser_test.go): Debian's headless Chromium
# (without recommends: no desktop) driven by the npm modules pinned in
# e2e/browser/package-lock.json. A browser or module missing is a test failure.
if [ ! -x /usr/lib/chromium/chromium-headless-shell ] || ! command -v npm >/dev/null 2>&1; then
  echo "test: installing chromium-headless-shell" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  pkgs=(chromium-headless-shell)
  command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
npm ci --prefix e2e/browser --no-audit --no-fund --loglevel=error >&2

# Traefik is not packaged: it is built from the Go module proxy once per machine
# (minutes of CPU, then cached) into the local image the proxy test runs. The
# build starts here, beside the tests, which mostly wait on Docker; the proxy
# test runs the same script, which waits for this build (a lock) and fails the
# test if the build failed.
echo "== traefik test image (in the background: $PWD/.cache/traefik-build.log)" >&2
mkdir -p .cache
./scripts/build-traefik-image.sh >.cache/traefik-build.log 2>&1 &
traefik_build=$!

# PostgreSQL from Debian's packages for the backup test on the three-node swarm
# (a debootstrap and an apt install: minutes of download, then cached); the
# test runs the same script, which waits for this build (a lock).
echo "== postgres test image (in the background: $PWD/.cache/postgres-build.log)" >&2
./scripts/build-postgres-image.sh >.cache/postgres-build.log 2>&1 &

echo "== tests (unit + end-to-end)" >&2
status=0
# End-to-end tests mostly wait (healthchecks, convergence): half of them run
# in a second test process beside the rest. The second half is the tests that
# share nothing with the others: the three-node swarm's (its own daemons), and
# tests on this machine's daemon with names and ports of their own. The tests
# of the second test server (testnode.sh), of a backup service or update agent
# on this daemon (each finds the one on its server), and of pebble's fixed
# ports stay in the first.
aside='^(TestMultiNode|TestBackupOfADatabaseOnAWorker|TestDashboardInBrowser|TestFleetAtADistance|'
aside+='TestUpgradeToUnhealthyVersionIsRolledBack|TestStartFirstBlockedByHostPortIsDetected|TestSlowHealthcheckWithinStartPeriodConverges|'
aside+='TestConcurrentDeploysAreSerialised|TestKilledAbraLeavesABreakableLock|TestFullDiskLeavesTheEnvFileWhole|'
aside+='TestCatalogueGenerateRealRegistry|TestCatalogueFromRecipesDir|TestConformance|TestConformanceDetectsDifferences|'
aside+='TestCpFollowsDockerCpRules|TestAppServicesVolumesAndCheck|TestAppLifecycle|TestMaintainerWorkflow|TestMaintainerErrors|'
aside+='TestRegistryHarness|TestReleaseToUpgrade|TestRunAndCmdInContainers|TestSecretsGenerateRotateRemove|TestSecretsFromAFileAndInPass|'
aside+='TestRemoteServerOverSSH|TestFleetUpgrade)$'
ABRA_E2E=1 go test -count=1 -timeout 55m -run "$aside" ./e2e >.cache/e2e-aside.log 2>&1 &
aside_tests=$!
ABRA_E2E=1 go test -count=1 -timeout 55m -skip "$aside" ./... || status=$?
aside_status=0
wait "$aside_tests" || aside_status=$?
echo "== the end-to-end tests run beside the others" >&2
cat .cache/e2e-aside.log
[ "$aside_status" = 0 ] || status=1
if ! wait "$traefik_build"; then
  echo "test: the traefik test image did not build; last lines of .cache/traefik-build.log:" >&2
  tail -n 20 .cache/traefik-build.log >&2
  status=1
fi
exit "$status"
