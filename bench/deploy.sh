#!/usr/bin/env bash
# Time-to-converged of a 3-service recipe: `abra app deploy` (which waits for
# convergence itself) against `docker stack deploy` followed by polling until
# every task runs and is healthy. Runs alternate, RUNS times each (default 5);
# prints each time and the ratio of the medians. Needs a dockerd in swarm mode.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
RUNS=${RUNS:-5}
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }

./scripts/build-demo-image.sh --version 0.1.0 >/dev/null
make -s build
abra=$PWD/bin/abra
work=$(mktemp -d)
export ABRA_DIR=$work/abra
trap 'rm -rf "$work"' EXIT

recipe=$work/bench3
mkdir -p "$recipe"
{
  echo 'version: "3.8"'
  echo 'services:'
  for i in 1 2 3; do
    name=app; [ "$i" = 1 ] || name=web$i
    cat <<YAML
  $name:
    image: abra-demo/web:0.1.0
    ports:
      - {target: 8080, published: 1810$i, protocol: tcp, mode: host}
    healthcheck: {test: ["CMD", "/demo-web", "-healthcheck"], interval: 1s, timeout: 2s, retries: 5, start_period: 5s}
    deploy:
      labels: ["coop-cloud.\${STACK_NAME}.version=0.1.0+0.1.0"]
YAML
  done
} > "$recipe/compose.yml"
printf 'TYPE=bench3\nDOMAIN=bench.localhost\n' > "$recipe/.env.sample"
git -C "$recipe" init -q -b main && git -C "$recipe" add -A
git -C "$recipe" -c user.name=b -c user.email=b@b commit -qm bench
git -C "$recipe" -c user.name=b -c user.email=b@b tag -a 0.1.0+0.1.0 -m 0.1.0+0.1.0
"$abra" server add --local 2>/dev/null
"$abra" recipe fetch bench3 --url "$recipe" 2>/dev/null
"$abra" app new bench3 --server default --domain bench.localhost -n 2>/dev/null

now() { date +%s%N; }
gone() {
  while [ -n "$(docker ps -aq --filter label=com.docker.stack.namespace="$1")$(docker network ls -q --filter label=com.docker.stack.namespace="$1")" ]; do sleep 0.2; done
}
converged() { # every service 1/1 with its task running (swarm reports running only once healthy)
  local s=$1
  while true; do
    local want have
    want=$(docker service ls -q --filter label=com.docker.stack.namespace="$s" | wc -l)
    have=$(docker stack ps "$s" --filter desired-state=running --format '{{.CurrentState}}' 2>/dev/null | grep -c '^Running' || true)
    [ "$want" = 3 ] && [ "$have" = 3 ] && return 0
    sleep 0.2
  done
}

abra_times=() docker_times=()
for i in $(seq 1 "$RUNS"); do
  t0=$(now); "$abra" app deploy bench.localhost --force -n -o 2>/dev/null; t1=$(now)
  abra_times+=($(( (t1 - t0) / 1000000 )))
  "$abra" app undeploy bench.localhost >/dev/null 2>&1; gone bench_localhost

  t0=$(now)
  (cd "$recipe" && STACK_NAME=bench_docker docker stack deploy --resolve-image never -c compose.yml bench_docker >/dev/null 2>&1)
  converged bench_docker; t1=$(now)
  docker_times+=($(( (t1 - t0) / 1000000 )))
  docker stack rm bench_docker >/dev/null; gone bench_docker
  echo "run $i: abra ${abra_times[-1]} ms, docker stack deploy + poll ${docker_times[-1]} ms" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ma=$(median "${abra_times[@]}"); md=$(median "${docker_times[@]}")
echo "median abra app deploy: ${ma} ms; median docker stack deploy + poll: ${md} ms; ratio $(awk -v a="$ma" -v d="$md" 'BEGIN{printf "%.3f", a/d}')"
