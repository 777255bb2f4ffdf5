#!/usr/bin/env bash
# The backup service against plain restic on the same data: 1 GiB of generated
# files (SIZE_MIB, default 1024) in an app's volume, backed up by
# `backupbot create` (labels, manifest with sha256 of every file, restic backup)
# and by `restic backup` of the same path, each to its own fresh repository,
# both run with the same static restic in the same container. Then 1 % of the
# files are rewritten and both back up again. Prints the times and the ratios
# (medians of RUNS runs, default 3) and their ratios (backupbot / restic), and
# the daemon's idle memory (VmRSS of its process).
# Needs a dockerd in swarm mode; leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }

./scripts/build-busybox-image.sh >/dev/null
image=$(./scripts/build-backupbot-image.sh --tag abra-backupbot:bench | tail -1)

stack=bbbench$$
bot=bbbenchbot$$
work=$(mktemp -d)
cleanup() {
  docker service rm "$bot" >/dev/null 2>&1 || true
  docker stack rm "$stack" >/dev/null 2>&1 || true
  while [ -n "$(docker ps -aq --filter label=com.docker.stack.namespace="$stack")" ]; do sleep 0.5; done
  docker volume rm "${stack}_data" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/compose.yml" <<'YAML'
version: "3.8"
services:
  app:
    image: abra-test/busybox:1
    command: ["sleep", "86400"]
    stop_grace_period: 1s
    volumes: [data:/data]
    deploy:
      labels: ["backupbot.backup=true"]
volumes:
  data:
YAML
docker stack deploy -c "$work/compose.yml" "$stack" >/dev/null
running() { docker ps -q --filter label=com.docker.swarm.service.name="$1" --filter status=running | head -1; }
until [ -n "$(running "${stack}_app")" ]; do sleep 0.5; done

mkdir -p "$work/repos"
docker service create -d -q --name "$bot" \
  --mount type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock \
  --mount type=bind,source=/var/lib/docker/volumes,target=/var/lib/docker/volumes \
  --mount type=bind,source="$work/repos",target=/backups \
  --env RESTIC_REPOSITORY=/backups/bot --env RESTIC_PASSWORD=bench \
  --env CRON_SCHEDULE="0 0 1 1 *" "$image" >/dev/null
until [ -n "$(running "$bot")" ]; do sleep 0.5; done
ctr=$(running "$bot")
until [ -f "$work/repos/bot/config" ]; do sleep 0.5; done

data=/var/lib/docker/volumes/${stack}_data/_data
echo "bench: generating $SIZE_MIB MiB in $data ($SIZE_MIB files of 1 MiB, random)" >&2
for i in $(seq 1 "$SIZE_MIB"); do
  head -c 1048576 /dev/urandom >"$data/file$i.bin"
done
sync

now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
# Each run backs up into fresh repositories (and, for backupbot, a fresh state
# directory, so no checksum is reused from an earlier run). Each timed backup
# ends with sync: the repository is on disk, and the next backup does not pay
# for this one's writeback.
time_bot() { # run
  local t0; t0=$(now)
  docker exec -e RESTIC_REPOSITORY="/backups/bot$1" -e STATE_DIR="/tmp/state$1" "$ctr" \
    /backupbot create --app "$stack" --json >>"$work/bot.json" || { cat "$work/bot.json" >&2; exit 1; }
  sync
  ms "$t0" "$(now)"
}
time_restic() { # run
  local t0; t0=$(now)
  docker exec -e RESTIC_REPOSITORY="/backups/plain$1" -e RESTIC_PASSWORD=bench "$ctr" \
    restic backup --json --host "$stack" "$data" >"$work/restic.json"
  sync
  ms "$t0" "$(now)"
}
changed=$((SIZE_MIB / 100)); [ "$changed" -ge 1 ] || changed=1
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
r1s=() b1s=() r2s=() b2s=()
for run in $(seq 1 "$RUNS"); do
  for repo in "bot$run" "plain$run"; do
    docker exec -e RESTIC_REPOSITORY="/backups/$repo" -e RESTIC_PASSWORD=bench "$ctr" restic init -q >/dev/null
  done
  # Alternate which goes first, so neither always meets a warmer cache.
  if [ $((run % 2)) = 1 ]; then
    r=$(time_restic "$run"); b=$(time_bot "$run")
  else
    b=$(time_bot "$run"); r=$(time_restic "$run")
  fi
  r1s+=("$r") b1s+=("$b")
  for i in $(seq 1 "$changed"); do # 1 % of the files, different ones each run
    head -c 1048576 /dev/urandom >"$data/file$(((i * 97 + run * 13) % SIZE_MIB + 1)).bin"
  done
  sync
  if [ $((run % 2)) = 1 ]; then
    r=$(time_restic "$run"); b=$(time_bot "$run")
  else
    b=$(time_bot "$run"); r=$(time_restic "$run")
  fi
  r2s+=("$r") b2s+=("$b")
  echo "bench: run $run: first restic ${r1s[-1]} ms, backupbot ${b1s[-1]} ms; after 1 % change restic $r ms, backupbot $b ms" >&2
done
r1=$(median "${r1s[@]}") b1=$(median "${b1s[@]}") r2=$(median "${r2s[@]}") b2=$(median "${b2s[@]}")

pid=$(docker inspect -f '{{.State.Pid}}' "$ctr")
rss=$(awk '/^VmRSS/ {print $2, $3}' "/proc/$pid/status")
stats=$(docker stats --no-stream --format '{{.MemUsage}}' "$ctr")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-22s %12s %12s %8s\n' "median of $RUNS ($SIZE_MIB MiB)" "restic ms" "backupbot ms" "ratio"
printf '%-22s %12s %12s %8s\n' "first backup" "$r1" "$b1" "$(ratio "$b1" "$r1")"
printf '%-22s %12s %12s %8s\n' "after a 1 % change" "$r2" "$b2" "$(ratio "$b2" "$r2")"
echo "daemon idle memory: VmRSS $rss (container: $stats)"
if [ -n "${BENCH_STEPS:-}" ]; then grep -o '"message":"[^"]*done in [^"]*"' "$work/bot.json" >&2; fi
