#!/usr/bin/env bash
# Build the restic that tools/restic/go.mod pins, static (CGO_ENABLED=0), once: it is
# cached under ~/.cache/abra-build/ (ABRA_BUILD_CACHE overrides). Prints the
# binary's path on stdout; progress goes to stderr.
#
# The restic integration tests of internal/backup run it (test.sh passes it as
# RESTIC_BINARY); the backup service's image builds the same pin (internal/dist).
# Safe to run concurrently: one build at a time, the binary appears whole.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

restic_version=$(awk '$1 == "github.com/restic/restic" { print $2 }' tools/restic/go.mod)
[ -n "$restic_version" ] || { echo "build-restic: tools/restic/go.mod pins no restic" >&2; exit 1; }
cache=${ABRA_BUILD_CACHE:-$HOME/.cache/abra-build}
restic_bin=$cache/restic-$restic_version
mkdir -p "$cache"

if [ ! -x "$restic_bin" ]; then
  exec 9>"$cache/restic-$restic_version.lock"
  flock 9
  if [ ! -x "$restic_bin" ]; then # built by whoever held the lock before us
    echo "build-restic: building restic $restic_version (once; cached in $cache)" >&2
    tmp=$(mktemp "$restic_bin.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    (cd tools/restic && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp" github.com/restic/restic/cmd/restic)
    chmod 0755 "$tmp"
    mv "$tmp" "$restic_bin"
  fi
fi
echo "$restic_bin"
