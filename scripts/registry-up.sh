#!/usr/bin/env bash
# A local image registry for the tests on 127.0.0.1:5000: Debian's docker-registry
# (installed when missing), started in the background with its own config and
# storage when nothing answers there yet. Idempotent. Docker treats registries on
# 127.0.0.0/8 as insecure, so plain http works for `docker push` without config.
#
#   scripts/registry-up.sh         start (or check) the registry
#   scripts/registry-up.sh stop    stop the registry this script started (offline tests)
#
# Storage: $ABRA_REGISTRY_DIR (default /var/lib/abra-test-registry); log in it.
set -euo pipefail

addr=${ABRA_REGISTRY_ADDR:-127.0.0.1:5000}
dir=${ABRA_REGISTRY_DIR:-/var/lib/abra-test-registry}
pidfile="$dir/registry.pid"

answering() { curl -s -o /dev/null -m 2 "http://$addr/v2/"; }

stop() {
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
  fi
  if answering; then
    echo "registry-up: something not started by this script still answers on $addr" >&2
    exit 1
  fi
  echo "registry-up: registry on $addr stopped" >&2
}

case "${1:-start}" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac

if answering; then
  echo "registry-up: registry answers on http://$addr/v2/" >&2
  exit 0
fi

need=()
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "registry-up: missing ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "registry-up: installing ${need[*]}" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
fi

# Our own config: Debian's /etc/docker/registry/config.yml listens on every
# interface and wants an htpasswd file; the tests want loopback, no auth.
mkdir -p "$dir/data"
cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $addr
EOF

echo "registry-up: starting docker-registry on $addr (log: $dir/registry.log)" >&2
setsid /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 1 100); do answering && break; sleep 0.1; done
if ! answering; then
  echo "registry-up: the registry did not answer on $addr; last log lines:" >&2
  tail -n 20 "$dir/registry.log" >&2 || true
  exit 1
fi
echo "registry-up: registry answers on http://$addr/v2/" >&2
