#!/usr/bin/env bash
# soak.sh - the long reliability runs (make soak; about an hour on 2 cores, most of it valgrind):
#   1. engine robustness over 10^6 steps of heavy-tailed random gradients (engine/robust_test.go);
#   2. resident memory across 10^6 steps through the C ABI (flat: < 8 MiB growth after the first tenth);
#   3. 8 threads x 10^5 calls through the C ABI, natively, then 8 x 10^5 under go test -race;
#   4. daas_engine_load on SOAK_FUZZ (default 10^6) random and mutated byte strings;
#   5. valgrind memcheck over SOAK_VALGRIND (default 10^5) create/step/save/load/free iterations.
# Counts can be lowered for a quicker run: SOAK_STEPS, SOAK_CALLS, SOAK_FUZZ, SOAK_VALGRIND.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
STEPS=${SOAK_STEPS:-1000000}
CALLS=${SOAK_CALLS:-100000}
FUZZ=${SOAK_FUZZ:-1000000}
VG=${SOAK_VALGRIND:-100000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t() { local t0=$SECONDS; "$@"; echo "   ($((SECONDS - t0)) s)"; }
echo "== 1. engine: $STEPS random steps per method, nothing NaN/Inf"
t env DAAS_ROBUST_STEPS="$STEPS" "$GO" test -count=1 -run 'TestRobustLongRandomRun' -v ./engine/ | grep -E 'steps|^(ok|FAIL|---)'
${CC:-cc} -std=gnu11 -O2 -g -Iinclude reliability/stress.c capi/abitest/stress_threads.c -Lbuild -ldaas -Wl,-rpath,"$PWD/build" -lpthread -lm -o "$tmp/stress"
echo "== 2. resident memory across $STEPS steps"
t "$tmp/stress" soak "$STEPS" | tail -4
echo "== 3. 8 threads x $CALLS calls (native, then go test -race)"
t "$tmp/stress" threads 8 "$CALLS" "$tmp"
t env DAAS_STRESS_CALLS="$CALLS" "$GO" test -race -count=1 -run 'TestStressThreads' ./capi/abitest/
echo "== 4. daas_engine_load on $FUZZ byte strings"
t "$tmp/stress" fuzz "$FUZZ" "${SOAK_SEED:-$(date +%s)}"
echo "== 5. valgrind over $VG iterations"
t bash reliability/valgrind.sh "$VG"
