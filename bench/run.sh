#!/usr/bin/env bash
# bench/run.sh - everything `make bench` measures, then bench/report.py writes docs/BENCHMARKS.md,
# docs/benchmarks.json and docs/benchmarks.png. Raw outputs go to build/bench/. Every measurement is
# repeated (BENCH_COUNT times, default 5) and reported as the median.
# Needs: PY (the venv's python), libdaas.so built, PYTHONPATH/DAAS_LIBRARY set (make bench does this).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:?set PY to the venv python (make bench does)}
GO=${GO:-go}
CC=${CC:-cc}
COUNT=${BENCH_COUNT:-5}
OUT=build/bench
rm -rf "$OUT"
mkdir -p "$OUT"
: > "$OUT/commands.tsv"
start=$(date +%s)
cut -d' ' -f1-3 /proc/loadavg > "$OUT/load_before.txt"

# run KEY OUTFILE COMMAND...: records the command under KEY, runs it, tees stdout into OUTFILE.
# runs KEY OUTFILE SHELL-TEXT: the same for a shell loop, recorded as written.
run() {
  local key=$1 file=$2
  shift 2
  printf '%s\t%s\n' "$key" "$*" >> "$OUT/commands.tsv"
  printf '== %s: %s\n' "$key" "$*"
  "$@" | tee "$OUT/$file"
}
runs() {
  printf '%s\t%s\n' "$1" "$3" >> "$OUT/commands.tsv"
  printf '== %s: %s\n' "$1" "$3"
  bash -c "$3" | tee "$OUT/$2"
}

# Go: the whole set COUNT times over (not -count=COUNT, which repeats each benchmark back to back), so a
# burst of load from elsewhere on the machine hits one run of many benchmarks, not every run of one.
GOBENCH='^Benchmark(Step|Weights|StepGraph|SizedSave|SizedLoad|SizedDiscretize)$'
runs go_engine go_engine.txt "for i in \$(seq $COUNT); do $GO test -run '^\$' -bench '$GOBENCH' -benchmem -benchtime=0.2s -count=1 ./engine/; done"
run go_graph_x1000 go_graph_x1000.txt "$GO" test -run '^$' -bench '^BenchmarkSizedStepGraph$' \
  -benchmem -benchtime=3x -count="$COUNT" ./engine/
runs go_abi go_abi.txt "for i in \$(seq $COUNT); do $GO test -run '^\$' -bench '^BenchmarkStepOverhead\$' -count=1 ./capi/abitest/; done"
# the limit: the same darts step as plain C (bench/cstep), alternating with the ABI and Go steps
runs c_limit c_limit.txt "for i in \$(seq $COUNT); do $GO test -run '^\$' -bench '^BenchmarkLimit\$' -count=1 ./bench/cstep/; done"
# where a darts step's time goes
runs go_profile go_profile.txt "$GO test -run '^\$' -bench '^BenchmarkStep\$/^darts-x1\$' -benchtime=2s \
  -cpuprofile $OUT/step.prof -o $OUT/engine.test ./engine/ >/dev/null && $GO tool pprof -top -nodecount=15 $OUT/engine.test $OUT/step.prof 2>/dev/null"

"$CC" -std=c99 -O2 -Iinclude capi/bench/bench.c -Lbuild -ldaas -Wl,-rpath,"$PWD/build" -o "$OUT/bench_c"
runs c_abi c_abi.txt "for i in \$(seq $COUNT); do $OUT/bench_c 100000; done"

run python python.txt "$PY" bench/python_bench.py --out "$OUT/python.json" --repeats "$COUNT"
run reference reference.txt "$PY" bench/torch_reference.py --out "$OUT/reference.json" --repeats "$COUNT"
run e2e e2e.txt "$PY" bench/e2e.py --out "$OUT/e2e.json" --steps 5 --rounds 6
run latency latency.txt "$PY" bench/latency.py --out "$OUT/latency.json" --trials 30
run supernet supernet.txt "$PY" bench/supernet.py --quick --out "$OUT/supernet.json"

cut -d' ' -f1-3 /proc/loadavg > "$OUT/load_after.txt"
echo "== measured in $(( $(date +%s) - start )) s; writing docs/"
"$PY" bench/report.py --dir "$OUT" --seconds "$(( $(date +%s) - start ))"
