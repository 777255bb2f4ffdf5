#!/usr/bin/env bash
# A three-node Docker swarm on this machine, for end-to-end tests: a manager
# (abra-mgr, 10.211.0.11) and two workers (abra-w1 .12, abra-w2 .13) on bridge
# abrabr1, each its own network namespace (abrasw1..3), dockerd (data-root,
# exec-root, socket DIR/nodeN/docker.sock, engine ID, hostname), joined into
# one swarm. sshd runs on port 22 of the manager's address, where
# /run/docker.sock is the manager's socket. It coexists with testnode.sh
# (abrabr0, 10.210.0.0/24, abrans1).
#   testswarm.sh up DIR AUTHORIZED_KEYS HOST_KEY  start it (what an earlier up left is removed first)
#   testswarm.sh down DIR                         stop it and remove what up made
#   testswarm.sh load DIR IMAGE…                  copy images from the host's daemon to every node
#   testswarm.sh kill-node DIR N                  power node N (1..3) off: SIGKILL every process
#                                                 in its network namespace (dockerd, containerd,
#                                                 containers, sshd on the manager)
#   testswarm.sh start-node DIR N                 start node N's dockerd again (and the
#                                                 manager's sshd); it rejoins the swarm by itself
set -euo pipefail
cmd=${1:?usage: testswarm.sh up|down|load|kill-node|start-node DIR ...}
dir=${2:?usage: testswarm.sh up|down|load|kill-node|start-node DIR ...}
br=abrabr1 net=10.211.0
hostnames=(abra-mgr abra-w1 abra-w2)
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }
# shellcheck source=lib/testnet.sh
. "$(dirname "$0")/lib/testnet.sh"
node_docker() { local n=$1; shift; docker -H "unix://$dir/node$n/docker.sock" "$@"; }
ip_of() { echo "$net.1$1"; }

# tree prints the pids given and all their descendants (from /proc: comm may
# hold spaces, so the fields are read after the last ')').
tree() {
  local -A parent=()
  local stat line rest pid want=" $* " changed=1
  for stat in /proc/[0-9]*/stat; do
    read -r line <"$stat" 2>/dev/null || continue
    rest=${line##*) }
    pid=${stat#/proc/}
    pid=${pid%/stat}
    # shellcheck disable=SC2086
    set -- $rest
    parent[$pid]=$2
  done
  while [ "$changed" = 1 ]; do
    changed=0
    for pid in "${!parent[@]}"; do
      if [[ $want != *" $pid "* && $want == *" ${parent[$pid]} "* ]]; then
        want+="$pid "
        changed=1
      fi
    done
  done
  echo $want
}

# kill_ns SIGKILLs every process in node n's network namespace and their
# descendants (containers run in namespaces of their own under the shims), as
# if the machine lost power.
kill_ns() {
  local n=$1 pids
  for _ in $(seq 1 100); do
    pids=$(ip netns pids "abrasw$n" 2>/dev/null || true)
    [ -z "$pids" ] && return
    # shellcheck disable=SC2046,SC2086
    kill -KILL $(tree $pids) 2>/dev/null || true
    sleep 0.1
  done
  echo "testswarm: processes of abrasw$n did not die: $(ip netns pids "abrasw$n")" >&2
  return 1
}

down() {
  # SIGTERM first, so the daemons stop their containers and unmount.
  for n in 1 2 3; do
    for pidfile in "$dir/node$n/sshd.pid" "$dir/node$n/docker.pid"; do
      if [ -s "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
  done
  for n in 1 2 3; do
    for _ in $(seq 1 150); do
      [ -s "$dir/node$n/docker.pid" ] && kill -0 "$(cat "$dir/node$n/docker.pid")" 2>/dev/null || break
      sleep 0.1
    done
    kill_ns "$n" || true
    netns_down "abrasw$n" "abrasv$n"
  done
  bridge_down "$br" "$net"
}

# start_node runs node n's dockerd (and sshd on the manager) in its network
# namespace and a new private mount and UTS namespace: its own /etc/docker
# (engine ID) and hostname.
start_node() {
  local n=$1 d="$dir/node$1" tail
  # Every node's /run/docker.sock is its own daemon's, as on a real node:
  # containers that bind it (the backup service's jobs) talk to their node.
  tail="for i in \$(seq 1 200); do [ -S '$d/docker.sock' ] && break; sleep 0.1; done
    mount --bind '$d/docker.sock' /run/docker.sock"
  if [ "$n" = 1 ]; then
    tail="$tail
    exec /usr/sbin/sshd -D -f '$dir/sshd_config' -E '$dir/sshd.log'"
  else
    tail="$tail
    wait"
  fi
  rm -f "$d/docker.sock"
  # A killed dockerd whose parent died with it may linger as a zombie nobody
  # reaps (a container's init may not): its pid still "exists", and dockerd
  # refuses to start over its pidfile (so does a pid reused by another
  # program). Not a live dockerd: the file goes.
  if [ -s "$d/docker.pid" ]; then
    local status
    status=$(cat "/proc/$(cat "$d/docker.pid")/status" 2>/dev/null || true)
    if ! grep -q '^Name:[[:space:]]*dockerd$' <<<"$status" || grep -q '^State:[[:space:]]*Z' <<<"$status"; then
      rm -f "$d/docker.pid"
    fi
  fi
  # nsenter --net, not `ip netns exec` (which remounts /sys and kills dockerd).
  setsid nsenter --net="/run/netns/abrasw$n" unshare --uts --mount --propagation slave sh -c "
    hostname ${hostnames[$((n - 1))]}
    mount --bind '$d/etc-docker' /etc/docker
    dockerd --data-root '$d/data' --exec-root '$d/exec' -H 'unix://$d/docker.sock' --pidfile '$d/docker.pid' >>'$d/dockerd.log' 2>&1 &
    $tail
  " </dev/null >>"$d/node.log" 2>&1 &
  for _ in $(seq 1 300); do node_docker "$n" info >/dev/null 2>&1 && break; sleep 0.1; done
  node_docker "$n" info >/dev/null || { echo "testswarm: dockerd of node $n did not start:" >&2; tail "$d/dockerd.log" >&2; exit 1; }
}

# wait_ready waits until the manager sees want nodes Ready.
wait_ready() {
  local want=$1 ready=0
  for _ in $(seq 1 600); do
    ready=$(node_docker 1 node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$' || true)
    [ "$ready" -ge "$want" ] && return
    sleep 0.2
  done
  echo "testswarm: $ready of $want nodes ready:" >&2
  node_docker 1 node ls >&2 || true
  exit 1
}

up() {
  keys=${3:?authorized_keys file}
  hostkey=${4:?host key file}
  down
  bridge_up "$br" "$net"
  for n in 1 2 3; do
    mkdir -p "$dir/node$n/data" "$dir/node$n/exec" "$dir/node$n/etc-docker"
    netns_up "abrasw$n" "abrasv$n" "$br" "$(ip_of "$n")" "$net.1"
  done
  sshd_config "$dir/sshd_config" "$(ip_of 1)" "$hostkey" "$keys" "$dir/node1/sshd.pid"
  for n in 1 2 3; do start_node "$n"; done
  # --advertise-addr is mandatory: a node has several addresses (docker_gwbridge).
  node_docker 1 swarm init --advertise-addr "$(ip_of 1)" >/dev/null
  token=$(node_docker 1 swarm join-token -q worker)
  for n in 2 3; do
    node_docker "$n" swarm join --token "$token" --advertise-addr "$(ip_of "$n")" "$(ip_of 1):2377" >/dev/null
  done
  wait_ready 3
  echo "testswarm: abra-mgr ($(ip_of 1), sshd), abra-w1 ($(ip_of 2)), abra-w2 ($(ip_of 3)) ready" >&2
}

# load saves the images once from the host's daemon and loads them on every node.
load() {
  [ $# -gt 0 ] || { echo "usage: testswarm.sh load DIR IMAGE..." >&2; exit 2; }
  local tar="$dir/images.tar" pids=() failed=0
  docker save -o "$tar" "$@"
  for n in 1 2 3; do
    node_docker "$n" load -q -i "$tar" >/dev/null &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  rm -f "$tar"
  [ "$failed" = 0 ] || { echo "testswarm: loading $* failed on a node" >&2; exit 1; }
}

node_arg() {
  case "${1:-}" in
    1 | 2 | 3) ;;
    *) echo "testswarm: node must be 1, 2 or 3, not '${1:-}'" >&2; exit 2 ;;
  esac
}

case "$cmd" in
  up) up "$@" ;;
  down) down ;;
  load) shift 2; load "$@" ;;
  kill-node)
    node_arg "${3:-}"
    kill_ns "$3"
    echo "testswarm: node $3 (${hostnames[$(($3 - 1))]}) killed" >&2
    ;;
  start-node)
    node_arg "${3:-}"
    start_node "$3"
    echo "testswarm: node $3 (${hostnames[$(($3 - 1))]}) started" >&2
    ;;
  *) echo "usage: testswarm.sh up|down|load|kill-node|start-node DIR ..." >&2; exit 2 ;;
esac
