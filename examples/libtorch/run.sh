#!/usr/bin/env bash
# run.sh - build and run the LibTorch example, then read its state back in Python
# (`make libtorch-example`; EPOCHS, STEPS and BATCH override the short defaults).
# Usage: bash examples/libtorch/run.sh PYTHON   (the project venv's python; libdaas.so must be built)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${1:?usage: run.sh PYTHON}
EPOCHS=${EPOCHS:-2} STEPS=${STEPS:-8} BATCH=${BATCH:-32}
out=build/libtorch
export PYTHONPATH="$PWD/bindings/python" DAAS_LIBRARY="$PWD/build/libdaas.so"
command -v cmake >/dev/null || { echo "run.sh: cmake is missing: run make deps (tools/setup-debian.sh)" >&2; exit 1; }

bash cpp/cmake/configure.sh build
[[ -s $out/digits.bin ]] || { mkdir -p "$out" && "$PY" examples/libtorch/write_digits.py "$out/digits.bin"; }
start=$(date +%s)
cmake -S examples/libtorch -B "$out" -DCMAKE_BUILD_TYPE=Release -Ddaas_DIR="$PWD/build/cmake/daas" \
  -DTORCH_CMAKE_PREFIX_PATH="$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')" >/dev/null
# the log keeps the compiler's output (GCC 12 prints a -Wrestrict false positive from libstdc++ there)
if ! cmake --build "$out" -j "$(nproc 2>/dev/null || echo 2)" > "$out/build.log" 2>&1; then
  cat "$out/build.log" >&2; echo "FAIL: the LibTorch example did not build" >&2; exit 1
fi
echo "libtorch-example: build $(( $(date +%s) - start )) s"
rm -f "$out/search.daas"
"$out/daas_libtorch_search" --data "$out/digits.bin" --state "$out/search.daas" --epochs "$EPOCHS" --steps "$STEPS" --batch "$BATCH"
"$PY" examples/libtorch/check_state.py "$out/search.daas" "$EPOCHS" "$STEPS"
