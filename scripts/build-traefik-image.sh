#!/usr/bin/env bash
# Build a local Traefik test image tagged exactly like the upstream one, so that
# a recipe naming the official image runs this one when the pull fails (no
# internet here; swarm then uses the local image of that name).
#
#   build-traefik-image.sh [--load-into unix:///path/docker.sock]...
#
#   --load-into HOST   also load the image into the daemon at HOST (docker -H HOST),
#                      e.g. the second test server; repeatable
#
# Traefik is built from the Go module proxy as a main module (its replace lines
# only apply there): the module's source is copied out of the module cache and
# built static, once per machine (~6 min on 2 idle cores, ~20 min while tests
# run): the binary is cached under ~/.cache/abra-build/ (ABRA_BUILD_CACHE
# overrides). One build at a time, the binary appears whole. The image is made with `docker import` (no registry, no
# Dockerfile): the binary in /usr/local/bin, Debian's static busybox (applets laid
# out as in Alpine, which the official image is based on), the host's CA bundle,
# /etc/passwd and an /entrypoint.sh that behaves like the official one:
#   no arguments or only flags   -> traefik [flags]      (CMD is ["traefik"])
#   a traefik subcommand         -> traefik SUBCOMMAND … (e.g. `version`, `healthcheck`)
#   anything else                -> exec'd as is         (e.g. `traefik …`, `sh -c …`)
# Its web UI assets are not in the module: /dashboard/ serves a placeholder page.
#
# Prints the image reference on stdout; progress goes to stderr. Idempotent: an
# image with the same build key (binary, busybox, entrypoint, config) is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

# The newest v3.6 patch the Go module proxy serves (go list -m -versions github.com/traefik/traefik/v3).
traefik_version=v3.6.12

usage() { sed -n '/^#   build-traefik-image.sh/,/^# Prints/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "build-traefik-image: $*" >&2; exit 2; }

load_into=()
while [ $# -gt 0 ]; do
  case "$1" in
    --load-into) [ $# -ge 2 ] && [ -n "$2" ] || die "--load-into needs a daemon address"; load_into+=("$2"); shift 2 ;;
    --load-into=*) load_into+=("${1#*=}"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

tag=traefik:$traefik_version
label_key=tech.coopcloud.abra.test-image.build
# The 20.10 client matches the daemon.
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }

if ! dpkg -s busybox-static >/dev/null 2>&1; then
  echo "build-traefik-image: installing busybox-static" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq busybox-static >/dev/null
fi
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca_bundle" ] || die "no CA bundle at $ca_bundle (apt-get install ca-certificates)"

# --- the binary, built once per machine ---
cache=${ABRA_BUILD_CACHE:-$HOME/.cache/abra-build}
traefik_bin=$cache/traefik-$traefik_version
mkdir -p "$cache"
if [ ! -x "$traefik_bin" ]; then
  exec 9>"$cache/traefik-$traefik_version.lock"
  flock 9
  if [ ! -x "$traefik_bin" ]; then # built by whoever held the lock before us
    echo "build-traefik-image: building traefik $traefik_version (once, ~6 min on 2 idle cores, ~20 on busy ones; cached in $cache)" >&2
    src=$cache/traefik-$traefik_version-src
    tmp=$(mktemp "$traefik_bin.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    mod_dir=$(cd "$cache" && go mod download -json "github.com/traefik/traefik/v3@$traefik_version" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
    [ -n "$mod_dir" ] && [ -d "$mod_dir" ] || die "go mod download gave no source directory for traefik $traefik_version"
    # A main module: its replace directives apply only when it is built in place.
    # The module cache is read-only, so build a writable copy.
    rm -rf "$src"
    cp -R "$mod_dir" "$src"
    chmod -R u+w "$src"
    # The web UI is built with npm, not shipped in the module: without an index
    # page traefik logs an error at each start and serves no /dashboard/. A
    # placeholder (a template, as the real one is) keeps the routes.
    if [ ! -e "$src/webui/static/index.html" ]; then
      cat >"$src/webui/static/index.html" <<'HTML'
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Traefik Proxy</title></head>
<body><p>Traefik dashboard placeholder: a test image built from source without the web UI (API at {{.APIUrl}}).</p></body>
</html>
HTML
    fi
    start=$(date +%s)
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$traefik_version" \
      -o "$tmp" ./cmd/traefik)
    chmod 0755 "$tmp"
    mv "$tmp" "$traefik_bin"
    trap - EXIT
    rm -rf "$src"
    echo "build-traefik-image: built $traefik_bin in $(($(date +%s) - start)) s ($(du -h "$traefik_bin" | cut -f1))" >&2
  fi
  exec 9>&-
fi

# --- the image ---
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/root" "$root/etc/traefik"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$traefik_bin" "$root/usr/local/bin/traefik"
cp /bin/busybox "$root/bin.busybox"
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
mv "$root/bin.busybox" "$root/bin/busybox"
# Every applet where Alpine has it (bin/sh, usr/bin/env, usr/bin/wget, …).
busybox --list-full | while read -r applet; do
  case $applet in bin/busybox | linuxrc) continue ;; esac
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
# Mirrors the official image's entrypoint.sh.
cat >"$root/entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Only flags (e.g. --api.insecure): run them through traefik.
if [ "${1#-}" != "$1" ]; then
  set -- traefik "$@"
fi

# A traefik subcommand (docker run traefik version, … healthcheck): run it through traefik.
if traefik "$1" --help >/dev/null 2>&1; then
  set -- traefik "$@"
else
  echo "= '$1' is not a Traefik command: assuming shell execution." 1>&2
fi

exec "$@"
EOF
chmod 0755 "$root/entrypoint.sh"

# Dockerfile instructions for `docker import --change`.
changes=(
  'ENTRYPOINT ["/entrypoint.sh"]'
  'CMD ["traefik"]'
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  'EXPOSE 80'
  "LABEL tech.coopcloud.abra.test-image=traefik"
  "LABEL org.opencontainers.image.version=$traefik_version"
)
# The build key covers every file and the image config, so a change to any rebuilds.
build=$({
  (cd "$root" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
  (cd "$root" && find . -type l -printf '%p -> %l\n' | sort)
  printf '%s\n' "${changes[@]}"
} | sha256sum | cut -c1-64)
changes+=("LABEL $label_key=$build")

image_current() { # [docker -H args…]: is the tag there with this build key?
  [ "$(docker "$@" image inspect --format "{{index .Config.Labels \"$label_key\"}}" "$tag" 2>/dev/null || true)" = "$build" ]
}

# One import at a time: a second caller waits and then finds the image current.
exec 8>"$cache/traefik-$traefik_version.image.lock"
flock 8
if image_current; then
  echo "build-traefik-image: $tag is up to date" >&2
else
  old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  echo "build-traefik-image: docker import $tag" >&2
  args=()
  for c in "${changes[@]}"; do args+=(--change "$c"); done
  tar -C "$root" --numeric-owner --owner=0 --group=0 -c . | docker import "${args[@]}" - "$tag" >/dev/null
  # The previous image of this tag is now untagged; drop it unless something uses it.
  new_id=$(docker image inspect --format '{{.Id}}' "$tag")
  if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
fi

for host in "${load_into[@]}"; do
  if image_current -H "$host"; then
    echo "build-traefik-image: $tag is up to date on $host" >&2
    continue
  fi
  echo "build-traefik-image: loading $tag into $host" >&2
  docker save "$tag" | docker -H "$host" load >/dev/null
done
echo "$tag"
