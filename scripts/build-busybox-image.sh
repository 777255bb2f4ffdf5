#!/usr/bin/env bash
# Build abra-test/busybox:1 for tests that need a shell in a container: Debian's
# static busybox in a scratch image, made with `docker import` (no registry).
# Prints the image reference on stdout.
set -euo pipefail
tag=${1:-abra-test/busybox:1}
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  echo "build-busybox-image: installing busybox-static" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq busybox-static >/dev/null
fi
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/tmp"
cp /bin/busybox "$work/bin/busybox"
for applet in sh echo cat ls sleep env; do ln -s busybox "$work/bin/$applet"; done
tar -C "$work" -c . | docker import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' - "$tag" >/dev/null
echo "build-busybox-image: imported $tag" >&2
echo "$tag"
