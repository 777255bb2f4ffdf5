#!/usr/bin/env bash
# Build the demo app's image without a registry or a Dockerfile: the static
# binary of cmd/demo-web in a scratch image, made with `docker import`.
#
#   build-demo-image.sh [--version V] [--tag IMAGE:TAG] [--broken-healthcheck] [--ready-after D]
#
#   --version V            version baked into the binary and the image label (default 0.1.0)
#   --tag IMAGE:TAG        image reference (default abra-demo/web:V)
#   --broken-healthcheck   /healthz answers 503, so the image never becomes healthy,
#                          whichever healthcheck (image or compose) runs it
#   --ready-after D        /healthz answers 503 for duration D after start (a slow starter)
#
# Prints the image reference on stdout; progress goes to stderr. Idempotent: an
# image with the same tag, binary and config is kept as it is. Falls back to
# `docker build` of a generated Dockerfile if the daemon's `docker import`
# ignores HEALTHCHECK (DEMO_IMAGE_BUILDER=dockerfile forces that path).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

usage() { sed -n '/^#   build-demo-image.sh/,/^# Prints/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "build-demo-image: $*" >&2; exit 2; }

version=0.1.0
tag=""
unhealthy=false
ready_after=0s
while [ $# -gt 0 ]; do
  case "$1" in
    --version) [ $# -ge 2 ] && [ -n "$2" ] || die "--version needs a value"; version=$2; shift 2 ;;
    --version=*) version=${1#*=}; shift ;;
    --tag) [ $# -ge 2 ] && [ -n "$2" ] || die "--tag needs a value"; tag=$2; shift 2 ;;
    --tag=*) tag=${1#*=}; shift ;;
    --broken-healthcheck) unhealthy=true; shift ;;
    --ready-after) [ $# -ge 2 ] && [ -n "$2" ] || die "--ready-after needs a duration"; ready_after=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
tag=${tag:-abra-demo/web:$version}
# The 20.10 client matches the daemon; the newer one first in PATH may lack
# the legacy builder used by the fallback.
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }
label_key=tech.coopcloud.abra.demo-web.build

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root"
echo "build-demo-image: go build ./cmd/demo-web (version $version, unhealthy=$unhealthy, ready after $ready_after)" >&2
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X main.version=$version -X main.unhealthy=$unhealthy -X main.readyAfter=$ready_after" \
  -o "$work/root/demo-web" ./cmd/demo-web

# Dockerfile instructions, given to `docker import --change` or written to a Dockerfile.
changes=(
  'ENTRYPOINT ["/demo-web"]'
  'EXPOSE 8080'
  'HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=3 CMD ["/demo-web","-healthcheck"]'
  "LABEL org.opencontainers.image.version=$version"
)
# The build key covers the binary and the image config, so a change to either rebuilds.
build=$({ sha256sum <"$work/root/demo-web"; printf '%s\n' "${changes[@]}"; } | sha256sum | cut -c1-64)
changes+=("LABEL $label_key=$build")

old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
if [ -n "$old_id" ] &&
  [ "$(docker image inspect --format "{{index .Config.Labels \"$label_key\"}}" "$tag")" = "$build" ]; then
  echo "build-demo-image: $tag is up to date" >&2
  echo "$tag"
  exit 0
fi

import_image() {
  local args=()
  for c in "${changes[@]}"; do args+=(--change "$c"); done
  tar -C "$work/root" -c . | docker import "${args[@]}" - "$tag" >/dev/null
}

dockerfile_image() {
  { echo 'FROM scratch'; echo 'COPY demo-web /demo-web'; printf '%s\n' "${changes[@]}"; } >"$work/root/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" -f "$work/root/Dockerfile" "$work/root" >/dev/null
}

if [ "${DEMO_IMAGE_BUILDER:-import}" = dockerfile ]; then
  echo "build-demo-image: docker build $tag" >&2
  dockerfile_image
else
  echo "build-demo-image: docker import $tag" >&2
  import_image
  if [ "$(docker image inspect --format '{{if .Config.Healthcheck}}yes{{end}}' "$tag")" != yes ]; then
    echo "build-demo-image: this daemon's docker import dropped HEALTHCHECK; using docker build" >&2
    dockerfile_image
  fi
fi

# The previous image of this tag is now untagged; drop it unless something uses it.
new_id=$(docker image inspect --format '{{.Id}}' "$tag")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  docker image rm "$old_id" >/dev/null 2>&1 || true
fi
echo "$tag"
