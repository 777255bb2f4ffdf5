#!/usr/bin/env bash
# `abra catalogue generate` over 100 recipes × 5 tags: one recipe and one
# registry request at a time without a cache, against the concurrent generator
# with a cold cache and regenerating a catalogue (warm). Registries: go's
# in-memory registry on the loopback (as is, and 5 ms away) and Debian's
# docker-registry on 127.0.0.1:5000 (started by scripts/registry-up.sh).
# COUNT runs of each (default 3); prints ns/op and registry requests per run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
COUNT=${COUNT:-3}
./scripts/registry-up.sh >/dev/null
ABRA_BENCH_REGISTRY=127.0.0.1:5000 go test ./internal/catalogue/ -run '^$' \
  -bench BenchmarkCatalogueGenerate -benchtime "${COUNT}x" -count 1 -timeout 30m
