#!/usr/bin/env bash
# Runs every Go fuzz target of engine/ for DURATION each (`make fuzz FUZZTIME=60s`), then drives
# daas_engine_load in build/libdaas.so from C with FUZZLOADS (default 200000) random and mutated byte
# strings (reliability/stress.c fuzz; seed FUZZSEED, default the time).
#
# Usage: bash tools/fuzz.sh [DURATION]      (default 60s; any -fuzztime value, e.g. 30s or 5000x)
#
# A failing input is written by `go test -fuzz` to engine/testdata/fuzz/<Target>/ and the script
# exits non-zero. Commit such a file together with the fix: `go test ./engine` then replays it
# forever as a regression seed. The corpus the fuzzer grows while it explores (in Go's cache,
# $(go env GOCACHE)/fuzz, reused by the next run) is copied into engine/testdata/fuzz/<Target>/ as
# well (file names are content hashes, so nothing is overwritten): commit it, and `make test`
# replays every input found.
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
cache="$(go env GOCACHE)/fuzz/$(go list -m)/engine"
for target in $targets; do
  [ -d "$cache/$target" ] || continue
  mkdir -p "engine/testdata/fuzz/$target"
  added=0
  for f in "$cache/$target"/*; do
    [ -e "engine/testdata/fuzz/$target/$(basename "$f")" ] && continue
    cp "$f" "engine/testdata/fuzz/$target/"
    added=$((added + 1))
  done
  echo "corpus $target: $added new inputs copied to engine/testdata/fuzz/$target (commit them)"
done
if [ -f build/libdaas.so ]; then
  loads=${FUZZLOADS:-200000}
  seed=${FUZZSEED:-$(date +%s)}
  echo "== daas_engine_load from C: $loads inputs, seed $seed"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  ${CC:-cc} -std=gnu11 -O2 -Iinclude reliability/stress.c capi/abitest/stress_threads.c -Lbuild -ldaas -Wl,-rpath,"$PWD/build" -lpthread -lm -o "$tmp/stress"
  if ! "$tmp/stress" fuzz "$loads" "$seed"; then
    failed+=("C load fuzz (seed $seed)")
  fi
else
  echo "fuzz.sh: build/libdaas.so missing (make lib): the C load fuzz did not run" >&2
  failed+=("C load fuzz (no library)")
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: all targets ran $duration, and the C load fuzz $loads inputs, without failures"
