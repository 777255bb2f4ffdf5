#!/usr/bin/env bash
# docker/cli has no go.mod: its dependency versions live in vendor.mod. Pin ours to
# the versions it was built and tested with, so compose loading/conversion behave
# exactly as `docker stack deploy` does. Run after bumping github.com/docker/cli.
set -euo pipefail
cd "$(dirname "$0")/.."
ver=$(go list -m -f '{{.Version}}' github.com/docker/cli)
dir=$(go mod download -json "github.com/docker/cli@${ver}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
awk '/^require \(/{inreq=1; next} inreq && /^\)/{inreq=0} inreq && NF>=2 && $1 !~ /^\/\// {print $1"@"$2}' "$dir/vendor.mod" |
  while read -r req; do case "$req" in github.com/moby/swarmkit/v2@v2.1.3) req=github.com/moby/swarmkit/v2@v2.1.2 ;; esac; go mod edit -require="$req"; done
go mod tidy
echo "pinned to the dependencies of github.com/docker/cli ${ver}"
