#!/usr/bin/env bash
# cpptest.sh - checks of the C++ layer (run by `make cpptest`):
#   1. include/daas.hpp compiled alone as C++17 and C++20 with every warning of the suite as an error
#      (the suite itself sees it as a system header, through the imported target), then the
#      GoogleTest suite of include/daas.hpp (C++17, C++20 for the std::span overloads, and
#      C++17 under ASan+UBSan),
#      built by cpp/CMakeLists.txt with find_package(daas) from the build tree (build/cmake/daas);
#   2. make install PREFIX=<tmp>, then cpp/consumer builds with find_package(daas) from that prefix;
#   3. examples/cpp/state_reader (FlatBuffers C++ code) on a state written by the Python binding,
#      compared with daas.state.read (cpp/tests/state_reader_check.py).
# Usage: bash cpp/cpptest.sh PYTHON   (the project venv's python; libdaas.so must be built)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:?usage: cpptest.sh PYTHON}
JOBS=$(nproc 2>/dev/null || echo 2)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() { printf '== %s\n' "$*"; }

# cmake and GoogleTest come from tools/setup-debian.sh (`make deps`, which `make cpptest` runs first).
command -v cmake >/dev/null && dpkg -s libgtest-dev >/dev/null 2>&1 ||
  { echo "cpptest.sh: cmake or GoogleTest is missing: run make deps (tools/setup-debian.sh)" >&2; exit 1; }

FB_INCLUDE="$(go list -m -f '{{.Dir}}' github.com/google/flatbuffers)/include"
step "daas.hpp alone: C++17 and C++20 with -Wall -Wextra -pedantic -Werror -Wshadow -Wconversion -Wsign-conversion"
printf '#include "daas.hpp"\n' > "$tmp/hpp.cpp"
for std in c++17 c++20; do
  c++ -std=$std -Wall -Wextra -pedantic -Werror -Wshadow -Wconversion -Wsign-conversion -Iinclude -isystem "$FB_INCLUDE" \
    -fsyntax-only "$tmp/hpp.cpp"
done
# without the FlatBuffers headers: one #error that says what is missing
if c++ -std=c++17 -Iinclude -fsyntax-only "$tmp/hpp.cpp" 2> "$tmp/nofb.err"; then
  echo "FAIL: daas.hpp compiled without the FlatBuffers headers" >&2; exit 1
fi
if [ "$(grep -c 'error:' "$tmp/nofb.err")" != 1 ] || ! grep -q 'needs the FlatBuffers headers' "$tmp/nofb.err"; then
  echo "FAIL: without FlatBuffers daas.hpp should give one error naming them:" >&2; cat "$tmp/nofb.err" >&2; exit 1
fi

step "GoogleTest suite of daas.hpp (find_package(daas) from the build tree)"
bash cpp/cmake/configure.sh build
cmake -S cpp -B build/cpp -DCMAKE_BUILD_TYPE=Release -Ddaas_DIR="$PWD/build/cmake/daas" >/dev/null
cmake --build build/cpp -j "$JOBS" >/dev/null
build/cpp/daas_hpp_test --gtest_brief=1
build/cpp/daas_hpp_test20 --gtest_brief=1
ASAN_OPTIONS=detect_leaks=0 build/cpp/daas_hpp_test_asan --gtest_brief=1

step "make install PREFIX=<tmp>, then find_package(daas) from there"
make -s install PREFIX="$tmp/prefix" >/dev/null
cmake -S cpp/consumer -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
grep -q "daas_DIR:PATH=$tmp/prefix/lib/cmake/daas" "$tmp/consumer/CMakeCache.txt" \
  || { echo "FAIL: find_package(daas) did not use the installed package" >&2; exit 1; }
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"
[[ "$(readelf -d "$tmp/consumer/consumer" | sed -n 's/.*Shared library: \[\(libdaas[^]]*\)\]/\1/p')" == "libdaas.so.1" ]] \
  || { echo "FAIL: the consumer does not link against the SONAME libdaas.so.1" >&2; exit 1; }
# a request for an incompatible version is refused
mkdir -p "$tmp/v"; printf 'cmake_minimum_required(VERSION 3.16)\nproject(v NONE)\nfind_package(daas 0.2 REQUIRED)\n' > "$tmp/v/CMakeLists.txt"
if cmake -S "$tmp/v" -B "$tmp/v/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null 2>&1; then
  echo "FAIL: find_package(daas 0.2) accepted version 0.1" >&2; exit 1
fi

step "examples/cpp/state_reader on a state written by Python"
cmake -S examples/cpp/state_reader -B build/state_reader -DFLATBUFFERS_INCLUDE_DIR="$FB_INCLUDE" >/dev/null
cmake --build build/state_reader >/dev/null
PYTHONPATH="$PWD/bindings/python" DAAS_LIBRARY="$PWD/build/libdaas.so" \
  "$PY" cpp/tests/state_reader_check.py build/state_reader/state_reader "$tmp/states"
echo "cpptest: all checks passed"
