#!/usr/bin/env bash
# wheel.sh - builds the Python wheel with libdaas inside: build/dist/daas_engine-<version>-py3-none-<platform>.whl
#   bash tools/wheel.sh [PYTHON]     PYTHON needs setuptools >= 77 (the Makefile passes the venv's)
#
# The library is a ctypes-loaded shared object, so the wheel fits any Python 3 (py3-none) but only
# one platform. The platform tag is read off the library itself: the newest GLIBC_x.y symbol version
# it needs (objdump -T) gives manylinux_x_y_<arch> when it links nothing but glibc's own libraries,
# and the plain linux_<arch> tag otherwise (a GPU build that needs the CUDA runtime, for instance).
# build/libdaas-cuda.so, when it exists, goes into the wheel beside libdaas.so.
#
# The build runs in a temporary copy of bindings/python, so the checkout gets no build/, egg-info or
# copy of the library.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=${1:-python3}
lib=build/libdaas.so
dist=build/dist

fail() { echo "wheel.sh: $*" >&2; exit 1; }
[[ -f $lib ]] || fail "$lib is missing: run \`make lib\` first"
command -v objdump >/dev/null || fail "objdump (binutils) is needed to read the glibc versions $lib needs"
"$py" - <<'EOF' || fail "$py needs setuptools >= 77 (its bdist_wheel and SPDX license support)"
import setuptools, setuptools.command.bdist_wheel
assert int(setuptools.__version__.split(".")[0]) >= 77
EOF

# One version: the header's. pyproject.toml states it for pip (daas.__version__ reads it from there
# or from the installed metadata).
header=$(sed -n 's/^#define DAAS_VERSION_STRING "\(.*\)"/\1/p' include/daas.h)
project=$(sed -n 's/^version = "\(.*\)"/\1/p' bindings/python/pyproject.toml)
[[ $header == "$project" ]] || fail "versions differ: include/daas.h $header, pyproject.toml $project"

libs=("$lib")
[[ -f build/libdaas-cuda.so ]] && libs+=(build/libdaas-cuda.so)
arch=$(uname -m)
glibc=$(objdump -T "${libs[@]}" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -n 1)
others=$(objdump -p "${libs[@]}" | awk '$1 == "NEEDED" {print $2}' | sort -u |
  grep -vxE 'libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|ld-linux[-a-z0-9_.]*\.so\.[0-9]' || true)
if [[ -n $glibc && -z $others ]]; then
  platform=manylinux_${glibc%%.*}_${glibc#*.}_$arch
  why="needs glibc >= $glibc (its newest GLIBC_ symbol version) and links only glibc"
else
  platform=linux_$arch
  why="links $(echo $others) besides glibc, which no manylinux tag allows"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
tar -C bindings/python --exclude=./tests --exclude=__pycache__ --exclude='*.egg-info' --exclude=./build \
  --exclude=./dist --exclude='./daas/libdaas*.so' -cf - . | tar -C "$tmp/src" -xf -
DAAS_LIBRARY_BUILD=$root/$lib DAAS_WHEEL_PLATFORM=$platform \
  "$py" -m pip wheel --no-deps --no-build-isolation --disable-pip-version-check -q -w "$tmp/dist" "$tmp/src"

wheels=("$tmp"/dist/*.whl)
((${#wheels[@]} == 1)) && [[ -f ${wheels[0]} ]] || fail "pip wheel made ${#wheels[@]} wheels: ${wheels[*]}"
name=$(basename "${wheels[0]}")
[[ $name == *-py3-none-$platform.whl ]] || fail "the wheel is tagged wrongly: $name (wanted py3-none-$platform)"
mkdir -p "$dist"
rm -f "$dist/${name%%-*}"-*.whl
mv "${wheels[0]}" "$dist/$name"
echo "wheel.sh: $dist/$name ($platform: ${libs[*]} $why)"
