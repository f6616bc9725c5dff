#!/usr/bin/env bash
# configure.sh - writes the CMake package files of libdaas.
#   bash cpp/cmake/configure.sh build                  build/cmake/daas/ (absolute paths into this checkout)
#   bash cpp/cmake/configure.sh install <dest-prefix>  <dest-prefix>/lib/cmake/daas/ (paths relative to
#                                                      the config file, so the prefix can move) and
#                                                      <dest-prefix>/include/daas.hpp
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
define() { sed -n "s/^#define $1 \\(.*\\)/\\1/p" include/daas.h | tr -d '"'; }
version=$(define DAAS_VERSION_STRING)
major=$(define DAAS_VERSION_MAJOR)
minor=$(define DAAS_VERSION_MINOR)
abi=$(define DAAS_ABI_VERSION)
case "${1:-}" in
  build)
    out=build/cmake/daas
    inc="$root/include"
    lib="$root/build/libdaas.so" ;;
  install)
    dest=${2:?install needs the destination prefix}
    out="$dest/lib/cmake/daas"
    inc='${_daas_prefix}/include'
    lib="\${_daas_prefix}/lib/libdaas.so.$abi"
    install -d "$dest/include"
    install -m 0644 include/daas.hpp "$dest/include/daas.hpp" ;;
  *) echo "usage: $0 build | install <dest-prefix>" >&2; exit 2 ;;
esac
mkdir -p "$out"
subst() {
  sed -e "s|@DAAS_INCLUDE_DIR@|$inc|" -e "s|@DAAS_LIBRARY@|$lib|" -e "s|@DAAS_ABI@|$abi|" \
      -e "s|@DAAS_VERSION@|$version|" -e "s|@DAAS_VERSION_MAJOR@|$major|g" -e "s|@DAAS_VERSION_MINOR@|$minor|g" "$1"
}
subst cpp/cmake/daasConfig.cmake.in > "$out/daasConfig.cmake"
subst cpp/cmake/daasConfigVersion.cmake.in > "$out/daasConfigVersion.cmake"
