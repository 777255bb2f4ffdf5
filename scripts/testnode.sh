#!/usr/bin/env bash
# A second, independent Docker server on this machine, for end-to-end tests:
# its own network namespace (10.210.0.11 on bridge abrabr0), its own dockerd
# (data-root, exec-root, socket, engine ID, hostname) in swarm mode, and its own
# sshd on port 22 of that address, where /run/docker.sock is this daemon's.
#   testnode.sh up DIR AUTHORIZED_KEYS HOST_KEY   start it (idempotent)
#   testnode.sh down DIR                          stop it and remove what up made
#   testnode.sh restart-dockerd DIR               stop its dockerd and start it again
#                                                 (a fault test's server restart)
set -euo pipefail
cmd=${1:?usage: testnode.sh up|down DIR ...}
dir=${2:?usage: testnode.sh up|down DIR ...}
ns=abrans1 br=abrabr0 veth=abrav1 ip=10.210.0.11
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }
# shellcheck source=lib/testnet.sh
. "$(dirname "$0")/lib/testnet.sh"

down() {
  for pidfile in "$dir/sshd.pid" "$dir/docker.pid"; do
    if [ -s "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  for _ in $(seq 1 100); do
    [ -s "$dir/docker.pid" ] && kill -0 "$(cat "$dir/docker.pid")" 2>/dev/null || break
    sleep 0.1
  done
  netns_down "$ns" "$veth"
  bridge_down "$br" 10.210.0
}

up() {
  keys=${3:?authorized_keys file}
  hostkey=${4:?host key file}
  down
  mkdir -p "$dir/data" "$dir/exec" "$dir/etc-docker"
  bridge_up "$br" 10.210.0
  netns_up "$ns" "$veth" "$br" "$ip" 10.210.0.1
  sshd_config "$dir/sshd_config" "$ip" "$hostkey" "$keys" "$dir/sshd.pid"
  # nsenter --net, not `ip netns exec` (which remounts /sys and kills dockerd).
  setsid nsenter --net=/run/netns/$ns unshare --uts --mount --propagation slave sh -c "
    hostname abra-node1
    mount --bind '$dir/etc-docker' /etc/docker
    dockerd --data-root '$dir/data' --exec-root '$dir/exec' -H 'unix://$dir/docker.sock' --pidfile '$dir/docker.pid' >'$dir/dockerd.log' 2>&1 &
    for i in \$(seq 1 200); do [ -S '$dir/docker.sock' ] && break; sleep 0.1; done
    mount --bind '$dir/docker.sock' /run/docker.sock
    exec /usr/sbin/sshd -D -f '$dir/sshd_config' -E '$dir/sshd.log'
  " </dev/null >"$dir/node.log" 2>&1 &
  for _ in $(seq 1 200); do docker -H "unix://$dir/docker.sock" info >/dev/null 2>&1 && break; sleep 0.1; done
  docker -H "unix://$dir/docker.sock" info >/dev/null || { echo "testnode: dockerd did not start:" >&2; tail "$dir/dockerd.log" >&2; exit 1; }
  if [ "$(docker -H "unix://$dir/docker.sock" info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    docker -H "unix://$dir/docker.sock" swarm init --advertise-addr "$ip" >/dev/null
  fi
  echo "testnode: dockerd and sshd up at $ip" >&2
}

# restart_dockerd stops the node's dockerd (SIGTERM, as systemd does) and
# starts it again in the node's namespaces; the socket is a new file, so the
# bind mount sshd's sessions use is made again.
restart_dockerd() {
  pid=$(cat "$dir/docker.pid")
  kill "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then echo "testnode: dockerd $pid did not stop" >&2; exit 1; fi
  sshd=$(cat "$dir/sshd.pid")
  setsid nsenter --target "$sshd" --net --mount --uts sh -c "
    dockerd --data-root '$dir/data' --exec-root '$dir/exec' -H 'unix://$dir/docker.sock' --pidfile '$dir/docker.pid' >>'$dir/dockerd.log' 2>&1 &
    for i in \$(seq 1 200); do [ -S '$dir/docker.sock' ] && docker -H 'unix://$dir/docker.sock' info >/dev/null 2>&1 && break; sleep 0.1; done
    umount /run/docker.sock 2>/dev/null || true
    mount --bind '$dir/docker.sock' /run/docker.sock
  " </dev/null >>"$dir/node.log" 2>&1
  docker -H "unix://$dir/docker.sock" info >/dev/null || { echo "testnode: dockerd did not come back:" >&2; tail "$dir/dockerd.log" >&2; exit 1; }
  echo "testnode: dockerd restarted" >&2
}

case "$cmd" in
  up) up "$@" ;;
  down) down ;;
  restart-dockerd) restart_dockerd ;;
  *) echo "usage: testnode.sh up|down|restart-dockerd DIR ..." >&2; exit 2 ;;
esac
