#!/usr/bin/env bash
# Build abra-test/postgres:15 for tests that claim something about a real
# database (pg_dump in backup hooks, restores): Debian bookworm's PostgreSQL in
# an image made without a registry — a minbase debootstrap imported with
# `docker import`, then `docker build` installs postgresql from the Debian
# mirror. Cached: an existing image is reused. One build at a time (a lock).
# Prints the image reference on stdout.
set -euo pipefail
tag=${1:-abra-test/postgres:15}
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }
mkdir -p /var/lib/abra-test
exec 9>/var/lib/abra-test/postgres-image.lock
flock 9
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "build-postgres-image: installing debootstrap" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap >/dev/null
fi
base=abra-test/debian:bookworm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! docker image inspect "$base" >/dev/null 2>&1; then
  echo "build-postgres-image: debootstrap bookworm (minbase)" >&2
  debootstrap --variant=minbase bookworm "$work/root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$work/root"
fi
cat >"$work/Dockerfile" <<DOCKERFILE
FROM $base
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin PGDATA=/var/lib/postgresql/data
COPY entrypoint.sh /entrypoint.sh
USER root
ENTRYPOINT ["/entrypoint.sh"]
HEALTHCHECK --interval=2s --timeout=5s --retries=30 CMD su postgres -c 'pg_isready -q -h /var/run/postgresql'
DOCKERFILE
# The entry point initialises an empty data directory (the volume) with a
# trust-authenticated cluster listening on the container's interfaces, then
# runs the server as postgres in the foreground.
cat >"$work/entrypoint.sh" <<'SH'
#!/bin/sh
set -e
mkdir -p "$PGDATA"
chown postgres:postgres "$PGDATA"
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  su postgres -c "initdb -D '$PGDATA' --auth=trust -U postgres >/dev/null"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all 0.0.0.0/0 trust" >>"$PGDATA/pg_hba.conf"
fi
exec su postgres -c "exec postgres -D '$PGDATA'"
SH
chmod +x "$work/entrypoint.sh"
echo "build-postgres-image: docker build $tag" >&2
docker build -q -t "$tag" "$work" >/dev/null
echo "build-postgres-image: built $tag" >&2
echo "$tag"
