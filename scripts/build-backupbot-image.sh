#!/usr/bin/env bash
# The offline path to the backup service's image: build it on this machine and
# load it into the local Docker daemon ($DOCKER_HOST), for a server that cannot
# reach a registry (and for the tests). Releases publish the same image to a
# registry instead (make release / make snapshot REGISTRY=…; see the README).
#
#   build-backupbot-image.sh [--tag IMAGE:TAG] [--version V]
#
#   --tag IMAGE:TAG   image reference (default abra-backupbot:<version>)
#   --version V       version baked into the binary and the image (default 0.0.0-dev)
#
# The image is what internal/dist builds for a release, for this machine's
# architecture: backupbot, the pinned restic (tools/restic), CA certificates
# and backupbot's built-in ssh client for sftp: repositories, in a scratch
# image. It is reproducible, so rebuilding an unchanged checkout loads the same
# image ID. Prints the image reference on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

usage() { sed -n '/^#   build-backupbot-image.sh/,/^# The image is/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "build-backupbot-image: $*" >&2; exit 2; }

version=0.0.0-dev
tag=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) [ $# -ge 2 ] && [ -n "$2" ] || die "--tag needs a value"; tag=$2; shift 2 ;;
    --tag=*) tag=${1#*=}; shift ;;
    --version) [ $# -ge 2 ] && [ -n "$2" ] || die "--version needs a value"; version=$2; shift 2 ;;
    --version=*) version=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[ "$version" = dev ] && version=0.0.0-dev
exec go run ./cmd/dist image abra-backupbot --version "$version" --tag "${tag:-abra-backupbot:$version}" --load
