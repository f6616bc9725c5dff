#!/usr/bin/env bash
# configure.sh - writes the CMake package files of libdaas.
#   bash cpp/cmake/configure.sh build                  build/cmake/daas/ (absolute paths into this checkout
#                                                      and the FlatBuffers headers of the Go module cache)
#   bash cpp/cmake/configure.sh install <dest-prefix>  <dest-prefix>/lib/cmake/daas/ (paths relative to
#                                                      the config file, so the prefix can move),
#                                                      <dest-prefix>/include/daas.hpp,
#                                                      <dest-prefix>/include/daas/daas_generated.h and the
#                                                      FlatBuffers headers daas.hpp needs under
#                                                      <dest-prefix>/include/daas/third_party/flatbuffers/
# daas.hpp reads the library's results with the C++ code flatc generated from schemas/daas.fbs, which
# needs the FlatBuffers headers of that version: those of the flatbuffers Go module the engine builds with
# ($FLATBUFFERS_INCLUDE_DIR overrides; it is the folder holding flatbuffers/flatbuffers.h).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
define() { sed -n "s/^#define $1 \\(.*\\)/\\1/p" include/daas.h | tr -d '"'; }
version=$(define DAAS_VERSION_STRING)
major=$(define DAAS_VERSION_MAJOR)
minor=$(define DAAS_VERSION_MINOR)
abi=$(define DAAS_ABI_VERSION)
fb=${FLATBUFFERS_INCLUDE_DIR:-}
if [[ -z $fb ]]; then
  dir=$(go list -m -f '{{.Dir}}' github.com/google/flatbuffers 2>/dev/null || true)
  [[ -n $dir ]] || { go mod download github.com/google/flatbuffers && dir=$(go list -m -f '{{.Dir}}' github.com/google/flatbuffers); }
  fb=$dir/include
fi
[[ -f $fb/flatbuffers/flatbuffers.h ]] || { echo "configure.sh: no FlatBuffers headers at $fb (set FLATBUFFERS_INCLUDE_DIR)" >&2; exit 1; }
case "${1:-}" in
  build)
    out=build/cmake/daas
    inc="$root/include"
    fbinc="$fb"
    lib="$root/build/libdaas.so" ;;
  install)
    dest=${2:?install needs the destination prefix}
    out="$dest/lib/cmake/daas"
    inc='${_daas_prefix}/include'
    fbinc='${_daas_prefix}/include/daas/third_party'
    lib="\${_daas_prefix}/lib/libdaas.so.$abi"
    install -d "$dest/include/daas/third_party/flatbuffers"
    install -m 0644 include/daas.hpp "$dest/include/daas.hpp"
    install -m 0644 include/daas/daas_generated.h "$dest/include/daas/daas_generated.h"
    # the headers flatbuffers.h includes, as the compiler resolves them, and the FlatBuffers licence
    printf '#include "flatbuffers/flatbuffers.h"\n' | ${CXX:-c++} -std=c++17 -x c++ -I"$fb" -MM - \
      | tr ' \\' '\n\n' | grep "^$fb/flatbuffers/" \
      | xargs install -m 0644 -t "$dest/include/daas/third_party/flatbuffers"
    install -m 0644 "$fb/../LICENSE" "$dest/include/daas/third_party/flatbuffers/LICENSE" ;;
  *) echo "usage: $0 build | install <dest-prefix>" >&2; exit 2 ;;
esac
mkdir -p "$out"
subst() {
  sed -e "s|@DAAS_INCLUDE_DIR@|$inc|" -e "s|@DAAS_FLATBUFFERS_INCLUDE_DIR@|$fbinc|" -e "s|@DAAS_LIBRARY@|$lib|" \
      -e "s|@DAAS_ABI@|$abi|" -e "s|@DAAS_VERSION@|$version|" -e "s|@DAAS_VERSION_MAJOR@|$major|g" \
      -e "s|@DAAS_VERSION_MINOR@|$minor|g" "$1"
}
subst cpp/cmake/daasConfig.cmake.in > "$out/daasConfig.cmake"
subst cpp/cmake/daasConfigVersion.cmake.in > "$out/daasConfigVersion.cmake"
