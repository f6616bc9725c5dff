#!/usr/bin/env bash
# ctest.sh - checks of libdaas.so from the outside (run by `make ctest`; `bash capi/ctest.sh bench`
# also builds and runs the C benchmark):
#   1. include/daas.h compiles alone as C99 and as C++17 with -Wall -Wextra -pedantic -Werror;
#   2. the exported symbols equal capi/exported_symbols.txt (only daas_*);
#   3. the SONAME is libdaas.so.1;
#   4. a C++ program links and calls the library through the header;
#   5. examples/c/search.c builds with warnings as errors and runs (save, load, identical continuation);
#   6. make install into a temporary prefix, then the example builds through pkg-config.
set -euo pipefail
cd "$(dirname "$0")/.."
LIB=build/libdaas.so
CC=${CC:-cc}
CXX=${CXX:-c++}
WARN=(-Wall -Wextra -pedantic -Werror)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() { printf '== %s\n' "$*"; }

step "header alone: C99, C11 and C++17 with ${WARN[*]}"
printf '#include "daas.h"\n' > "$tmp/h.c"
$CC -std=c99 "${WARN[@]}" -Iinclude -fsyntax-only "$tmp/h.c"
$CC -std=c11 "${WARN[@]}" -Iinclude -fsyntax-only "$tmp/h.c"
cp "$tmp/h.c" "$tmp/h.cpp"
$CXX -std=c++17 "${WARN[@]}" -Iinclude -fsyntax-only "$tmp/h.cpp"

step "daas.hpp under C++14: refused with exactly one #error"
printf '#include "daas.hpp"\n' > "$tmp/hpp14.cpp"
if $CXX -std=c++14 -Iinclude -fsyntax-only "$tmp/hpp14.cpp" 2> "$tmp/hpp14.err"; then
  echo "FAIL: daas.hpp compiled as C++14" >&2
  exit 1
fi
if [ "$(grep -c 'error:' "$tmp/hpp14.err")" != 1 ] || ! grep -q 'needs C++17' "$tmp/hpp14.err"; then
  echo "FAIL: C++14 should see one error naming C++17:" >&2
  cat "$tmp/hpp14.err" >&2
  exit 1
fi

step "exported symbols = capi/exported_symbols.txt"
nm -D --defined-only "$LIB" | awk '{print $3}' | sort > "$tmp/symbols.txt"
if ! diff -u capi/exported_symbols.txt "$tmp/symbols.txt"; then
  echo "FAIL: the exported symbols changed (update capi/exported_symbols.txt only for an intended ABI addition)" >&2
  exit 1
fi
if grep -v '^daas_' "$tmp/symbols.txt"; then
  echo "FAIL: symbols outside daas_* are exported" >&2
  exit 1
fi
# every function the header declares is exported, and the other way round
grep -oE '\bdaas_[a-z_]+\(' include/daas.h | tr -d '(' | sort -u > "$tmp/declared.txt"
if ! diff -u "$tmp/declared.txt" "$tmp/symbols.txt"; then
  echo "FAIL: the header's functions and the exported symbols differ" >&2
  exit 1
fi

step "SONAME libdaas.so.1"
soname=$(readelf -d "$LIB" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[[ "$soname" == "libdaas.so.1" ]] || { echo "FAIL: SONAME is '$soname'" >&2; exit 1; }

step "C++17 program through the header"
cat > "$tmp/use.cpp" <<'CPP'
#include <cstdio>
#include <cstring>
#include "daas.h"
int main() {
    daas_engine *e = nullptr;
    if (daas_engine_create("{}", &e) != DAAS_OK) return 1;
    size_t na = 0, ne = 0;
    if (daas_engine_sizes(e, &na, &ne) != DAAS_OK || na != 196 || ne != 28) return 2;
    if (daas_engine_set_epoch(e, 0) != DAAS_E_INVALID_ARGUMENT) return 3;
    if (std::strstr(daas_last_error_message(), "epoch") == nullptr) return 4;
    daas_engine_free(e);
    std::printf("C++: libdaas %s, ABI %u\n", daas_version_string(), daas_abi_version());
    return daas_abi_version() == DAAS_ABI_VERSION ? 0 : 5;
}
CPP
$CXX -std=c++17 "${WARN[@]}" -Iinclude "$tmp/use.cpp" -Lbuild -ldaas -Wl,-rpath,"$PWD/build" -o "$tmp/use"
"$tmp/use"

step "examples/c/search.c"
$CC -std=c99 "${WARN[@]}" -O2 -Iinclude examples/c/search.c -Lbuild -ldaas -Wl,-rpath,"$PWD/build" -o build/search
(cd "$tmp" && "$OLDPWD/build/search" "$tmp/state.bin" | cut -c1-160)
# the program exits non-zero unless the loaded engine continued identically

step "make install PREFIX=<tmp>, then build the example through pkg-config"
make -s install PREFIX="$tmp/prefix" >/dev/null
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
[[ "$(pkg-config --modversion daas)" == "$(sed -n 's/^#define DAAS_VERSION_STRING "\(.*\)"/\1/p' include/daas.h)" ]]
# shellcheck disable=SC2046
$CC -std=c99 "${WARN[@]}" examples/c/search.c $(pkg-config --cflags --libs daas) -Wl,-rpath,"$tmp/prefix/lib" -o "$tmp/search-pc"
(cd "$tmp" && ./search-pc "$tmp/state2.bin" >/dev/null)
[[ "$(readelf -d "$tmp/search-pc" | sed -n 's/.*Shared library: \[\(libdaas[^]]*\)\]/\1/p')" == "libdaas.so.1" ]] \
  || { echo "FAIL: programs do not link against the SONAME libdaas.so.1" >&2; exit 1; }

if [[ "${1:-}" == "bench" ]]; then
  step "C benchmark (capi/bench/bench.c)"
  $CC -std=c99 -O2 -Iinclude capi/bench/bench.c -Lbuild -ldaas -Wl,-rpath,"$PWD/build" -o build/bench
  build/bench
fi
echo "ctest: all checks passed"
