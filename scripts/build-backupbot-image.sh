#!/usr/bin/env bash
# Build the backup service's image without a registry or a Dockerfile: the static
# backupbot binary, a static restic (pinned), CA certificates and the build
# host's ssh (for sftp: repositories) in a scratch image, made with `docker import`.
#
#   build-backupbot-image.sh [--tag IMAGE:TAG] [--version V]
#
#   --tag IMAGE:TAG   image reference (default abra-backupbot:dev)
#   --version V       version baked into the binary and the image label (default dev)
#
# restic is built once from the Go module proxy by build-restic.sh (which pins
# its version) and cached under ~/.cache/abra-build/, so reruns are fast.
# Prints the image reference on stdout; progress goes to stderr. Idempotent: an
# image with the same tag, binaries and config is kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

usage() { sed -n '/^#   build-backupbot-image.sh/,/^# Prints/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "build-backupbot-image: $*" >&2; exit 2; }

version=dev
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
tag=${tag:-abra-backupbot:$version}
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }
label_key=tech.coopcloud.abra.backupbot.build

restic_bin=$(./scripts/build-restic.sh)
restic_version=${restic_bin##*/restic-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/usr/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/root/.cache" "$root/backups"
chmod 1777 "$root/tmp"
echo "build-backupbot-image: go build ./cmd/backupbot (version $version)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$root/backupbot" ./cmd/backupbot
cp "$restic_bin" "$root/usr/bin/restic"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
fi
# restic's sftp: backend runs ssh. The build host's ssh comes along with the
# shared libraries it needs (BACKUPBOT_NO_SSH=1 leaves it out); ssh wants a
# passwd entry for its user. Keys and known_hosts are mounted at /root/.ssh.
printf 'root:x:0:0:root:/root:/nonexistent\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
if [ -z "${BACKUPBOT_NO_SSH:-}" ] && [ -x /usr/bin/ssh ]; then
  cp /usr/bin/ssh "$root/usr/bin/ssh"
  ldd /usr/bin/ssh | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  mkdir -p "$root/root/.ssh" && chmod 700 "$root/root/.ssh"
else
  echo "build-backupbot-image: no ssh in the image: sftp: repositories will not work" >&2
fi

changes=(
  'ENTRYPOINT ["/backupbot"]'
  'CMD ["daemon"]'
  'ENV PATH=/usr/bin'
  'ENV HOME=/root'
  'ENV TMPDIR=/tmp'
  'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
  "LABEL org.opencontainers.image.version=$version"
  "LABEL tech.coopcloud.abra.backupbot.restic=$restic_version"
)
# The build key covers the binaries and the image config, so a change to either rebuilds.
build=$({ (cd "$root" && find . -type f | sort | xargs sha256sum); printf '%s\n' "${changes[@]}"; } | sha256sum | cut -c1-64)
changes+=("LABEL $label_key=$build")

old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
if [ -n "$old_id" ] &&
  [ "$(docker image inspect --format "{{index .Config.Labels \"$label_key\"}}" "$tag")" = "$build" ]; then
  echo "build-backupbot-image: $tag is up to date" >&2
  echo "$tag"
  exit 0
fi

echo "build-backupbot-image: docker import $tag" >&2
args=()
for c in "${changes[@]}"; do args+=(--change "$c"); done
tar -C "$root" --owner=0 --group=0 -c . | docker import "${args[@]}" - "$tag" >/dev/null

# The previous image of this tag is now untagged; drop it unless something uses it.
new_id=$(docker image inspect --format '{{.Id}}' "$tag")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  docker image rm "$old_id" >/dev/null 2>&1 || true
fi
echo "$tag"
