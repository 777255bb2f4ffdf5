#!/usr/bin/env bash
# The main job, on a fresh Debian machine: install and start Docker in swarm
# mode, build the demo image and abra, and deploy the demo recipe to the local
# swarm with abra itself. Idempotent: a second run redeploys and checks again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

DOMAIN=${DEMO_DOMAIN:-demo.localhost}
PORT=${DEMO_PORT:-8080}
STATE=${XDG_CACHE_HOME:-$HOME/.cache}/abra-demo

./scripts/docker-up.sh
command -v curl >/dev/null || { apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq curl >/dev/null; }
image=$(./scripts/build-demo-image.sh --version 0.1.0)
echo "demo: image $image" >&2
make -s build
abra=$PWD/bin/abra

# Publish the repo's recipes/demo as a git repository with its release tag, the
# way recipes are published in a catalogue.
version=$(sed -n 's/.*coop-cloud\.${STACK_NAME}\.version=\([^"]*\).*/\1/p' recipes/demo/compose.yml | head -n1)
rm -rf "$STATE/demo.git" && mkdir -p "$STATE/demo.git"
cp -a recipes/demo/. "$STATE/demo.git/"
git -C "$STATE/demo.git" init -q -b main
git -C "$STATE/demo.git" add -A
git -C "$STATE/demo.git" -c user.name=abra -c user.email=abra@localhost commit -qm "demo $version"
git -C "$STATE/demo.git" -c user.name=abra -c user.email=abra@localhost tag -a "$version" -m "$version"

"$abra" server add --local
"$abra" recipe fetch demo --url "$STATE/demo.git"
if ! "$abra" app ls --server default --recipe demo --json | grep -q "\"domain\": \"$DOMAIN\""; then
  "$abra" app new demo --server default --domain "$DOMAIN" -n
  env_file=${ABRA_DIR:-$HOME/.abra}/servers/default/$DOMAIN.env
  sed -i "s/^DEMO_PORT=.*/DEMO_PORT=$PORT/" "$env_file"
fi
"$abra" app deploy "$DOMAIN" --force -n

url="http://127.0.0.1:$PORT/"
for _ in $(seq 1 50); do
  if curl -fsS -o /dev/null "$url" 2>/dev/null; then
    echo "demo: $DOMAIN is up: $url"
    exit 0
  fi
  sleep 0.2
done
echo "demo: $url does not answer; see '$abra app ps $DOMAIN' and '$abra app logs $DOMAIN'" >&2
exit 1
