#!/usr/bin/env bash
# Make sure a Docker Engine in swarm mode answers on this machine: install Debian's
# docker.io and git when missing, start dockerd (there is no systemd here), and
# initialise a single-node swarm. Idempotent. With CI set, any failure is fatal.
set -euo pipefail

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v git >/dev/null 2>&1 || need_pkgs+=(git)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "docker-up: missing ${need_pkgs[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "docker-up: installing ${need_pkgs[*]}" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# Prefer Debian's client when two are installed; both speak to the same daemon.
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }

if ! docker info >/dev/null 2>&1; then
  echo "docker-up: starting dockerd (log: /var/log/dockerd-abra.log)" >&2
  setsid dockerd >/var/log/dockerd-abra.log 2>&1 </dev/null &
  for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  if ! docker info >/dev/null 2>&1; then
    echo "docker-up: dockerd did not come up; last log lines:" >&2
    tail -n 20 /var/log/dockerd-abra.log >&2 || true
    exit 1
  fi
fi

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  echo "docker-up: initialising a single-node swarm" >&2
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi
echo "docker-up: dockerd $(docker version --format '{{.Server.Version}}') ready, swarm active" >&2
