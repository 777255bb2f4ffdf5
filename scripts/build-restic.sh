#!/usr/bin/env bash
# Build the pinned restic, static (CGO_ENABLED=0), from the Go module proxy, once:
# it is cached under ~/.cache/abra-build/ (ABRA_BUILD_CACHE overrides). Prints the
# binary's path on stdout; progress goes to stderr.
#
# The backup service's image ships it (build-backupbot-image.sh) and the restic
# integration tests of internal/backup run it (test.sh passes it as RESTIC_BINARY).
# Safe to run concurrently: one build at a time, the binary appears whole.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

restic_version=v0.18.1
cache=${ABRA_BUILD_CACHE:-$HOME/.cache/abra-build}
restic_bin=$cache/restic-$restic_version
mkdir -p "$cache"

if [ ! -x "$restic_bin" ]; then
  exec 9>"$cache/restic-$restic_version.lock"
  flock 9
  if [ ! -x "$restic_bin" ]; then # built by whoever held the lock before us
    echo "build-restic: building restic $restic_version from the Go module proxy (once; cached in $cache)" >&2
    src=$cache/restic-$restic_version-src
    mkdir -p "$src"
    tmp=$(mktemp "$restic_bin.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    (
      cd "$src"
      [ -f go.mod ] || go mod init x >/dev/null 2>&1
      go get "github.com/restic/restic/cmd/restic@$restic_version" >&2
      CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp" github.com/restic/restic/cmd/restic
    )
    chmod 0755 "$tmp"
    mv "$tmp" "$restic_bin"
  fi
fi
echo "$restic_bin"
