#!/usr/bin/env bash
# Run every fuzz target of the module, one after the other, for FUZZTIME each.
# Targets are discovered, not listed here: each package of the module whose
# tests declare a func Fuzz…(f *testing.F) is asked for them with go test -list.
#
#   FUZZTIME=60s           how long each target runs (go test -fuzztime)
#   FUZZMINIMIZETIME=10s   how long a new input may be minimized; go's default
#                          (60s) would let one minimization eat a whole run
#   FUZZ=regexp            only the targets whose name matches
#
# A failure does not stop the others; the run fails at the end, naming the
# targets that failed. A failing input is written to the package's
# testdata/fuzz/<target>/: commit it with the fix, as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
t=${FUZZTIME:-60s}
minimize=${FUZZMINIMIZETIME:-10s}
only=${FUZZ:-.}

targets=()
while read -r dir pkg; do
  grep -qsE '^func Fuzz[A-Za-z0-9_]*\([a-z]+ \*testing\.F\)' "$dir"/*_test.go || continue
  list=$(go test -list '^Fuzz' "$pkg") # a package that does not build fails the run here
  for name in $(grep -E '^Fuzz' <<<"$list" || true); do
    if [[ $name =~ $only ]]; then targets+=("$dir $pkg $name"); fi
  done
done < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}} {{.ImportPath}}{{end}}' ./...)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found (FUZZ=$only)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $t each" >&2

log=$(mktemp)
trap 'rm -f "$log"' EXIT
summary=()
failed=()
inputs() { ls "$1/testdata/fuzz/$2" 2>/dev/null || true; }
for target in "${targets[@]}"; do
  read -r dir pkg name <<<"$target"
  echo "== fuzz $pkg $name" >&2
  before=$(inputs "$dir" "$name")
  if go test "$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "$t" -fuzzminimizetime "$minimize" 2>&1 | tee "$log"; then
    result=ok
  elif grep -qx '    context deadline exceeded' "$log" && [ "$(inputs "$dir" "$name")" = "$before" ]; then
    # Go's fuzz coordinator (go1.26, golang.org/issue/75804) may report its own
    # -fuzztime deadline as a failure; a real failure writes its input.
    result=ok
    echo "fuzz: $name: 'context deadline exceeded' at the end of -fuzztime with no failing input: Go's race, not a failure" >&2
  else
    result=FAIL
    failed+=("$pkg $name")
  fi
  last=$(grep -E '^fuzz: elapsed' "$log" | tail -1 | sed 's/^fuzz: //' || true)
  summary+=("$(printf '%-4s %-48s %s' "$result" "${pkg#coopcloud.tech/abra/} $name" "$last")")
done

echo "== fuzz summary" >&2
printf '%s\n' "${summary[@]}" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
