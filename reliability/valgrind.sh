#!/usr/bin/env bash
# valgrind.sh - memcheck on the C example and on a create/step/save/load/free loop.
#
#   bash reliability/valgrind.sh [LOOP_ITERATIONS]      (default 500; make soak runs 100000)
#
# Gate: 0 bytes definitely or indirectly lost, and no memory error outside Go code.
# libdaas.so is rebuilt here WITHOUT -s -w (same sources and flags otherwise) so that valgrind can
# name the functions: the suppressions in reliability/go.supp then hide memcheck's reports on code of
# the Go runtime and Go-compiled code, which runs on goroutine stacks and a heap that Go maps itself
# and valgrind does not understand (every such report is on a "rw- anonymous segment" the Go runtime
# owns, and Go's memory is not malloc's, so valgrind cannot see Go leaks: the RSS soak covers those).
# Reports with a C function on top (the example, the stress program, the library's C shim, libc)
# still count. "possibly lost" blocks are the thread-local storage of the Go runtime's own threads
# (pthread_create from _cgo_try_pthread_create) and are not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
LOOP=${1:-500}
command -v valgrind >/dev/null ||
  { echo "valgrind.sh: valgrind is missing: run make deps (tools/setup-debian.sh)" >&2; exit 1; }
out=${VALGRIND_OUT:-$(mktemp -d)}
mkdir -p "$out/lib"
go build -trimpath -buildmode=c-shared \
  -ldflags "-extldflags '-Wl,-soname,libdaas.so.1 -Wl,--version-script=$PWD/capi/libdaas.map'" \
  -o "$out/lib/libdaas.so" ./capi/lib
ln -sf libdaas.so "$out/lib/libdaas.so.1"
CC=${CC:-cc}
$CC -std=c99 -g -Iinclude examples/c/search.c -L"$out/lib" -ldaas -Wl,-rpath,"$out/lib" -o "$out/search"
$CC -std=gnu11 -O1 -g -Iinclude reliability/stress.c capi/abitest/stress_threads.c -L"$out/lib" -ldaas -Wl,-rpath,"$out/lib" -lpthread -lm -o "$out/stress"
VG=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --suppressions=reliability/go.supp --error-exitcode=99)
status=0
run() {
  local name=$1; shift
  local t0=$SECONDS
  if "${VG[@]}" "$@" >"$out/$name.log" 2>&1; then r=0; else r=$?; fi
  printf 'valgrind %-28s %s | %s | %s | %s (%ds)\n' "$name" \
    "$(grep -o 'definitely lost: .*' "$out/$name.log" | head -1 || echo 'definitely lost: 0 (no leak summary: all heap blocks freed)')" \
    "$(grep -o 'indirectly lost: .*' "$out/$name.log" | head -1 || true)" \
    "$(grep -o 'possibly lost: .*' "$out/$name.log" | head -1 || true)" \
    "$(grep -o 'ERROR SUMMARY: [0-9]* errors' "$out/$name.log" | tail -1)" $((SECONDS - t0))
  if [[ $r -ne 0 ]]; then
    echo "FAIL: valgrind $name exited $r; see $out/$name.log" >&2
    grep -A14 -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|[0-9,]+ bytes in .* (definitely|indirectly))' "$out/$name.log" | head -60 >&2 || true
    status=1
  fi
}
run examples-c-search "$out/search" "$out/search.state"
run "loop-$LOOP" "$out/stress" loop "$LOOP" "$out"
# keep the logs of a failed run (or of a named VALGRIND_OUT); a passing temporary run leaves nothing
if [[ $status -eq 0 && -z "${VALGRIND_OUT:-}" ]]; then rm -rf "$out"; fi
exit $status
