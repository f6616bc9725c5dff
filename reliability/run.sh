#!/usr/bin/env bash
# run.sh - the reliability checks of `make test` (make reliability): the kill test (50 SIGKILLs of a
# Python search that checkpoints every step) and valgrind memcheck on the C example and a 300-iteration
# create/step/save/load/free loop. The Go and Python reliability tests (engine/robust_test.go,
# capi/abitest/stress_test.go, bindings/python/tests/test_reliability.py) run in gotest and pytest.
# Needs PY (the venv's python), PYTHONPATH and DAAS_LIBRARY as the Makefile sets them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
echo "== kill test"
"$PY" reliability/kill_test.py --kills "${KILLS:-50}"
echo "== valgrind memcheck"
bash reliability/valgrind.sh "${VALGRIND_LOOP:-300}"
