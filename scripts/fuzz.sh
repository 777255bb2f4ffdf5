#!/usr/bin/env bash
# Run every fuzz target for FUZZTIME (default 60s) each.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
t=${FUZZTIME:-60s}
go test ./internal/envfile -run '^$' -fuzz '^FuzzParse$' -fuzztime "$t"
go test ./internal/recipe -run '^$' -fuzz '^FuzzParseVersion$' -fuzztime "$t"
