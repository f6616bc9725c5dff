#!/usr/bin/env bash
# Builds flatc from the C++ sources inside the flatbuffers Go module (already fetched by
# `go mod download`), so generating code needs nothing outside the package registries. Its version is
# the module's, the one go.mod requires (tools/flatbuffers-version.sh prints it).
# Usage: tools/build-flatc.sh OUT_BINARY
set -euo pipefail
out=${1:?usage: build-flatc.sh OUT_BINARY}
src=$(go list -m -f '{{.Dir}}' github.com/google/flatbuffers)
[ -n "$src" ] || { go mod download github.com/google/flatbuffers; src=$(go list -m -f '{{.Dir}}' github.com/google/flatbuffers); }
# The compiler's sources as CMakeLists.txt lists them in FlatBuffers_Compiler_SRCS (headers dropped).
sources=$(sed -n '/^set(FlatBuffers_Library_SRCS/,/^)/p;/^set(FlatBuffers_Compiler_SRCS/,/^)/p' "$src/CMakeLists.txt" \
  | grep -E '^\s+[^$].*\.(cpp|cc)\s*$' | sort -u)
objdir=$(mktemp -d)
trap 'rm -rf "$objdir"' EXIT
jobs=$(nproc)
i=0
for f in $sources; do
  o="$objdir/$(echo "$f" | tr '/' '_').o"
  g++ -std=c++17 -O1 -w -I"$src/include" -I"$src/grpc" -I"$src" -c "$src/$f" -o "$o" &
  i=$((i+1)); if (( i % jobs == 0 )); then wait; fi
done
wait
mkdir -p "$(dirname "$out")"
g++ -o "$out.tmp" "$objdir"/*.o
want="flatc version $(bash "$(dirname "$0")/flatbuffers-version.sh")"
have=$("$out.tmp" --version)
[ "$have" = "$want" ] || { echo "build-flatc.sh: built '$have' from $src, want '$want'" >&2; exit 1; }
mv "$out.tmp" "$out"
echo "$have"
