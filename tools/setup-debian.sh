#!/usr/bin/env bash
# The one place the project installs Debian packages: cmake and GoogleTest for the C++ layer, valgrind
# for the memory checks, Graphviz (`dot`) for `daas draw` and the cell diagrams of `make search`.
# Installs only what is missing, so a
# machine that has them runs no apt-get at all. Called by the Makefile's `deps` target; run it by hand
# as root (or with sudo available) on a fresh Debian or Ubuntu machine.
set -euo pipefail
want=(cmake libgtest-dev graphviz valgrind)
missing=()
for pkg in "${want[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
((${#missing[@]})) || exit 0
echo "setup-debian.sh: installing ${missing[*]}"
sudo=()
[[ $(id -u) == 0 ]] || sudo=(sudo)
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
