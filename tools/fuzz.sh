#!/usr/bin/env bash
# Runs every Go fuzz target of engine/ for DURATION each (`make fuzz FUZZTIME=60s`).
#
# Usage: bash tools/fuzz.sh [DURATION]      (default 60s; any -fuzztime value, e.g. 30s or 5000x)
#
# A failing input is written by `go test -fuzz` to engine/testdata/fuzz/<Target>/ and the script
# exits non-zero. Commit such a file together with the fix: `go test ./engine` then replays it
# forever as a regression seed. The corpus the fuzzer grows while it explores stays in Go's cache
# ($(go env GOCACHE)/fuzz) and is reused by the next run.
#
# Each new interesting input is minimized for at most FUZZMINIMIZETIME (default 1s, not Go's 60s):
# the state seeds are kilobytes long, and minimizing them for a minute at a time left the state
# targets almost no time to fuzz.
set -euo pipefail
duration=${1:-60s}
minimize=${FUZZMINIMIZETIME:-1s}
cd "$(dirname "${BASH_SOURCE[0]}")/.."

targets=$(go test -list '^Fuzz' ./engine | grep '^Fuzz' || true)
[ -n "$targets" ] || { echo "fuzz.sh: no fuzz targets found in ./engine" >&2; exit 1; }
before=$(git status --porcelain --untracked-files=all -- engine/testdata/fuzz 2>/dev/null || true)
failed=()
for target in $targets; do
  echo "== $target ($duration)"
  if ! go test ./engine -run '^$' -fuzz "^${target}\$" -fuzztime "$duration" -fuzzminimizetime "$minimize"; then
    failed+=("$target")
  fi
done
after=$(git status --porcelain --untracked-files=all -- engine/testdata/fuzz 2>/dev/null || true)
if [ "$after" != "$before" ]; then
  echo "new corpus entries (failing inputs) in engine/testdata/fuzz; commit them with the fix:"
  diff <(echo "$before") <(echo "$after") | sed -n 's/^> /  /p'
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all targets ran $duration without failures"
