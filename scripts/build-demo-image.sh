#!/usr/bin/env bash
# Build the demo app's image without a registry or a Dockerfile: a static Go
# binary in a scratch image, made with `docker import`.
#   build-demo-image.sh [--version V] [--tag IMAGE:TAG] [--broken-healthcheck]
# Prints the image reference on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

version=0.1.0
tag=""
healthcheck='HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=3 CMD ["/demo-web","-healthcheck"]'
unhealthy=false
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --broken-healthcheck) unhealthy=true; shift ;; # /healthz answers 503: never healthy
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "build-demo-image: unknown argument $1" >&2; exit 2 ;;
  esac
done
tag=${tag:-abra-demo/web:$version}
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version -X main.unhealthy=$unhealthy" -o "$work/root/demo-web" ./cmd/demo-web
echo "build-demo-image: importing $tag" >&2
tar -C "$work/root" -c . | docker import \
  --change 'ENTRYPOINT ["/demo-web"]' \
  --change 'EXPOSE 8080' \
  --change "$healthcheck" \
  --change "LABEL org.opencontainers.image.version=$version" \
  - "$tag" >/dev/null
echo "$tag"
