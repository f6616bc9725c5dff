#!/usr/bin/env bash
# wheeltest.sh - builds the wheel and uses it the way a user would, with nothing from the checkout.
#   bash tools/wheeltest.sh [BUILD_PYTHON [BASE_PYTHON]]
# BUILD_PYTHON builds the wheel (tools/wheel.sh); BASE_PYTHON (python3) makes a fresh virtual
# environment in a temporary folder, where the wheel is installed from its file, numpy and
# flatbuffers from the package index (pip's cache makes a repeat quick). Every command there runs
# from a temporary folder with PYTHONPATH and DAAS_LIBRARY unset. Checked: the wheel's tag and
# contents; daas.state without flatbuffers names the extra; daas and libdaas load from the
# environment's site-packages; an engine steps and saves a state that daas.state reads; an installed
# package without its library says so without naming a build tree; `daas inspect` and
# `daas genotype --format json` read the state. Ends with "wheeltest: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_py=${1:-python3}
base_py=${2:-python3}

passed=0 failed=0
result() {
  echo "wheeltest: $passed passed, $failed failed"
  ((failed == 0))
}
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
fatal() { bad "$@"; result; exit 1; }

bash tools/wheel.sh "$build_py" || fatal "make the wheel (tools/wheel.sh)"
wheels=(build/dist/daas_engine-*.whl)
[[ ${#wheels[@]} == 1 && -f ${wheels[0]} ]] || fatal "one wheel in build/dist" "${wheels[*]}"
wheel=$root/${wheels[0]}
name=$(basename "$wheel")

if [[ $name == *-py3-none-*.whl && $name != *-none-any.whl ]]; then ok "tag of $name"; else bad "tag" "$name"; fi
listing=$(unzip -l "$wheel") || fatal "unzip -l $name"
want=(daas/libdaas.so daas/__init__.py daas/state.py daas/cli.py)
[[ -f build/libdaas-cuda.so ]] && want+=(daas/libdaas-cuda.so)
missing=()
for f in "${want[@]}"; do grep -qE " $f\$" <<<"$listing" || missing+=("$f"); done
if ((${#missing[@]} == 0)); then ok "the wheel holds ${want[*]}"; else bad "the wheel lacks" "${missing[*]}"; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/work"
venv=$tmp/venv
site() {  # runs a command in the fresh environment, away from the checkout
  (cd "$tmp/work" && env -u PYTHONPATH -u DAAS_LIBRARY -u PYTHONHOME -u PYTHONSTARTUP \
    PYTHONNOUSERSITE=1 PATH="$venv/bin:$PATH" "$@")
}
"$base_py" -m venv "$venv" || fatal "$base_py -m venv"
pip=(python -m pip install --disable-pip-version-check -q)

site "${pip[@]}" "$wheel" || fatal "pip install $name"
msg=$(site python -c 'import daas.state' 2>&1)
if [[ $msg == *"ImportError: daas.state needs the flatbuffers package"*"daas-engine[state]"* ]]; then
  ok "daas.state without flatbuffers names the [state] extra"
else
  bad "daas.state without flatbuffers" "$(tail -n 1 <<<"$msg")"
fi
site "${pip[@]}" "$wheel[state]" || fatal "pip install $name[state]"

state=$tmp/work/search.daas
if out=$(site python - "$root" "$state" 2>&1 <<'EOF'
import sys, sysconfig
from pathlib import Path

import numpy as np

import daas
import daas.state

repo, state = Path(sys.argv[1]).resolve(), sys.argv[2]
site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
for what, file in (("daas", daas.__file__), ("libdaas", daas.library_path())):
    file = Path(file).resolve()
    assert any(s in file.parents for s in site), f"{what} comes from {file}, not {site}"
    assert repo not in file.parents, f"{what} comes from the checkout: {file}"
assert [c.resolve() for c in daas._library.candidates()] == [Path(daas.library_path()).resolve()], daas._library.candidates()
with daas.Engine({"epochs": 2, "seed": 3}) as eng:
    op_w, edge_w = eng.weights()
    eng.step(np.full_like(op_w, 0.01), np.full_like(edge_w, -0.01))
    assert eng.metrics()["step"] == 1, eng.metrics()
    eng.save_file(state)
read = daas.state.read(state)
assert read.steps == 1, read.steps
assert daas.__version__ == daas.version_string(), (daas.__version__, daas.version_string())
print(f"libdaas {daas.version_string()} from {daas.library_path()}")
EOF
); then
  ok "engine step, save_file and daas.state.read from site-packages ($(tail -n 1 <<<"$out"))"
else
  bad "engine from the installed wheel" "$(tail -n 3 <<<"$out")"
fi

# An installation without its library: the message names only the place it looked.
lib=$(site python -c 'import daas._library as L; print(L.candidates()[0])')
if [[ -f $lib ]] && mv "$lib" "$lib.away"; then
  msg=$(site python -c 'import daas; daas.library_path()' 2>&1 | tail -n 1)
  mv "$lib.away" "$lib"
  if [[ $msg == *"libdaas.so not found (tried $lib)"* && $msg != *"/build/"* ]]; then
    ok "without its library the package names only $lib"
  else
    bad "the not-found message" "$msg"
  fi
else
  bad "the installed library" "$lib is not a file"
fi

if [[ ! -f $state ]]; then
  bad "daas inspect and daas genotype" "no state file to read"
else
  if out=$(site daas inspect "$state" 2>&1) && [[ -n $out ]]; then
    ok "daas inspect STATE"
  else
    bad "daas inspect STATE" "$(tail -n 3 <<<"$out")"
  fi
  if out=$(site daas genotype "$state" --format json 2>&1) &&
    site python -c 'import json, sys; g = json.loads(sys.argv[1]); assert isinstance(g, dict) and g.get("cells"), g' "$out"; then
    ok "daas genotype STATE --format json"
  else
    bad "daas genotype STATE --format json" "$(tail -n 3 <<<"$out")"
  fi
fi
result
