#!/usr/bin/env bash
# flatbuffers-version.sh - prints the FlatBuffers version of this checkout, for example 25.12.19: the
# version of github.com/google/flatbuffers that go.mod requires. go.mod is its one source: flatc is
# built from that module's sources (tools/build-flatc.sh) and the Go runtime library is that module;
# the files that must spell the version out (the Python requirements) are checked against it by
# engine/schema_test.go.
# Usage: bash tools/flatbuffers-version.sh [GO_MOD]   (default: the repository's go.mod)
set -euo pipefail
gomod=${1:-$(dirname "${BASH_SOURCE[0]}")/../go.mod}
version=$(awk '$1 == "require" && $2 == "github.com/google/flatbuffers" { print $3; exit }
               $1 == "github.com/google/flatbuffers" { print $2; exit }' "$gomod")
version=${version#v}
version=${version%+incompatible}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || {
  echo "flatbuffers-version.sh: no github.com/google/flatbuffers vX.Y.Z requirement in $gomod" >&2
  exit 1
}
echo "$version"
