#!/usr/bin/env bash
# device/cudatest.sh PY - what `make cudatest` (part of make test) checks of libdaas-cuda.so on a machine
# without a GPU. The device engine's logic and its kernels' arithmetic are tested on the host
# emulation by go test (./device, ./capi/abitest); this checks the GPU build itself:
#   1. it exports exactly the daas_* functions of libdaas.so, SONAME libdaas-cuda.so.1, needs libcuda.so.1;
#   2. the embedded PTX has both kernels and no fused multiply-add;
#   3. the cu backend compiles and vets (go vet -tags daascuda);
#   4. the rule that keeps such a machine working: loading libdaas-cuda.so where the driver finds no
#      GPU ends the process (cu's package init), and the Python package, told where libdaas-cuda.so
#      is, does not load it without a GPU: it loads libdaas.so and works.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:?usage: device/cudatest.sh PY}
LIB=build/libdaas-cuda.so
STUB=build/cuda-stub
fail() { echo "FAIL: cudatest: $*" >&2; exit 1; }

nm -D --defined-only "$LIB" | awk '{print $3}' | sort > build/cuda-exports.txt
diff -u capi/exported_symbols.txt build/cuda-exports.txt || fail "$LIB exports differ from capi/exported_symbols.txt"
readelf -d "$LIB" | grep -q 'Library soname: \[libdaas-cuda.so.1\]' || fail "SONAME is not libdaas-cuda.so.1"
readelf -d "$LIB" | grep -q 'Shared library: \[libcuda.so.1\]' || fail "$LIB does not link the driver, libcuda.so.1"
echo "cudatest: $LIB exports the $(wc -l < build/cuda-exports.txt) daas_* functions, SONAME libdaas-cuda.so.1"

for k in daas_step daas_weights; do
  grep -q "^.visible .entry $k(" device/kernels.ptx || fail "device/kernels.ptx lacks the kernel $k"
done
if grep -q 'fma\.' device/kernels.ptx; then fail "device/kernels.ptx contains fused multiply-adds"; fi
grep -qaF '.visible .entry daas_step(' "$LIB" || fail "$LIB does not embed the kernels' PTX"
echo "cudatest: the PTX ($(wc -c < device/kernels.ptx) bytes, $(sed -n 's/^\.target //p' device/kernels.ptx)) has both kernels and no FMA"

INC=$(ls -d "$HOME"/.cache/daas/cuda-headers-*/include | head -1)
CGO_CFLAGS="-I$INC" CGO_LDFLAGS="-L$PWD/$STUB" ${GO:-go} vet -tags daascuda ./device/ ./capi/ || fail "go vet -tags daascuda"
echo "cudatest: go vet -tags daascuda ./device ./capi: clean"

set +e
# (the Go runtime starts in a thread of its own while dlopen returns, so the end comes a moment later)
out=$(LD_LIBRARY_PATH="$PWD/$STUB" "$PY" -c "import ctypes, time; ctypes.CDLL('$PWD/$LIB'); time.sleep(5); print('survived')" 2>&1)
rc=$?
set -e
[[ $rc -eq 1 && $out == *"Error in initialization"* && $out != *survived* ]] ||
  fail "loading $LIB without a GPU: status $rc, output: $out (expected cu's init to end the process)"
echo "cudatest: loading $LIB where the driver finds no GPU ends the process (status 1): the rule daas.h states"

got=$(env -u DAAS_LIBRARY DAAS_CUDA_LIBRARY="$PWD/$LIB" LD_LIBRARY_PATH="$PWD/$STUB" PYTHONPATH="$PWD/bindings/python" "$PY" -c "
import daas
from daas import _library
with daas.Engine({'space': 'nb201'}) as e:
    e.set_epoch(2)
    print(_library.path(), _library.has_device(), e.device)
" 2>&1) || fail "the Python package with DAAS_CUDA_LIBRARY set and no GPU: $got"
[[ $got == "$PWD/build/libdaas.so False cpu" ]] || fail "the Python package without a GPU loaded: $got"
echo "cudatest: without a GPU the Python package loads build/libdaas.so even with DAAS_CUDA_LIBRARY set"
