# daas — see README.md. `make search` and `make test` are the two commands a newcomer needs; both
# install what they need themselves. `make` alone lists the targets (the `## name: ...` lines below).
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
PYTHON    ?= python3
BUILD     := build
LIB       := $(BUILD)/libdaas.so
ABI       := $(shell sed -n 's/^\#define DAAS_ABI_VERSION \([0-9]*\).*/\1/p' include/daas.h)
VERSION   := $(shell sed -n 's/^\#define DAAS_VERSION_STRING "\(.*\)"/\1/p' include/daas.h)
PREFIX    ?= /usr/local
EPOCHS    ?= 30
SEEDS     ?= 0
SPACE     ?= darts
NPROC     ?= 1
FUZZTIME  ?= 60s

# The Python environment lives outside the checkout, keyed by the pinned requirements' hash, so
# repeated runs (and other checkouts) reuse its few GB of PyTorch wheels.
REQS      := bindings/python/requirements.txt
VENV      := $(HOME)/.cache/daas/venv-$(shell sha256sum $(REQS) | cut -c1-12)
PY        := $(VENV)/bin/python
PYENV     := PYTHONPATH=$(CURDIR)/bindings/python DAAS_LIBRARY=$(CURDIR)/$(LIB)
# make search uses libdaas-cuda.so where it is built (make lib-cuda) and PyTorch sees a GPU (docs/GPU.md)
CUDAENV    = $(if $(wildcard $(CUDALIB)),DAAS_CUDA_LIBRARY=$(CURDIR)/$(CUDALIB))

# flatc is built from the sources of the flatbuffers Go module that go.mod requires (its one version).
FLATC_VERSION := $(shell bash tools/flatbuffers-version.sh)
FLATC     := $(HOME)/.cache/daas/flatc-$(FLATC_VERSION)

GO_SOURCES := $(shell find engine capi device -name '*.go' -o -name '*.c' -o -name '*.h' -o -name '*.map' 2>/dev/null) go.mod go.sum include/daas.h
CUDALIB   := $(BUILD)/libdaas-cuda.so

# pytest's slow parts, left out of `make check` (each runs a real search or builds and installs a package).
SLOW_PYTESTS := tests/test_torch_search.py tests/test_user_mistakes.py tests/test_cli.py tests/test_torch_retrain.py \
                tests/test_distributed.py

.PHONY: help test check search lib lib-cuda install schemas deps venv gotest gocheck crosstest ctest pytest pytest-fast fuzz bench clean

## help: this list of targets.
help:
	@echo "daas: make TARGET, where TARGET is one of"
	@awk '/^## [a-z-]+: / { sub(/^## /, ""); n = index($$0, ": "); printf "  %-18s%s\n", substr($$0, 1, n - 1), substr($$0, n + 2); more = 1; next } \
	      /^## / && more { sub(/^## /, ""); printf "  %-18s%s\n", "", $$0; next } { more = 0 }' $(MAKEFILE_LIST)
	@echo "The two a newcomer needs: make search (the main job) and make test (what CI runs). README.md says more."

## test: the full suite CI runs: Go (vet, unit, gradient checks, fuzz corpora, ABI under -race, the device
## engine on the host emulation), the cross-language schema checks, C and C++, libdaas-cuda.so's build
## checks, pytest, the LibTorch example, the wheel, reliability.
test: gotest crosstest ctest cudatest pytest cpptest libtorch-example wheeltest reliability

## check: the fast loop while developing: go vet, the Go tests (no -race), the C ABI checks and pytest
## without the slow parts (a minute or two).
check: gocheck ctest pytest-fast

## deps: the Debian packages the project needs (cmake, GoogleTest, Graphviz, valgrind), installed only if
## missing, by tools/setup-debian.sh: the one place the project installs system packages.
deps:
	bash tools/setup-debian.sh

gotest:
	$(GO) mod download
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./engine/...
	$(GO) test -race ./engine/...
	$(GO) test -race ./device/... ./capi/...
	$(GO) test ./bench/...

gocheck:
	$(GO) vet ./...
	$(GO) test ./engine/... ./device/... ./capi/... ./bench/...

## crosstest: the state schema across languages: the committed generated code is what flatc makes, and the
## C++ and Python readers accept what the Go engine writes (tests/crosslang; needs the venv and flatc).
crosstest: venv $(FLATC) deps
	DAAS_FLATC=$(FLATC) DAAS_PYTHON=$(PY) $(GO) test ./tests/crosslang/...

## lib: build/libdaas.so (SONAME libdaas.so.1, only daas_* exported) and build/daas.pc.
lib: $(LIB)
$(LIB): $(GO_SOURCES)
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -buildmode=c-shared \
	  -ldflags "-s -w -extldflags '-Wl,-soname,libdaas.so.$(ABI) -Wl,--version-script=$(CURDIR)/capi/libdaas.map'" \
	  -o $(LIB).tmp ./capi/lib
	mv $(LIB).tmp $(LIB); rm -f $(LIB).tmp.h
	ln -sf libdaas.so $(BUILD)/libdaas.so.$(ABI)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' capi/daas.pc.in > $(BUILD)/daas.pc

## lib-cuda: build/libdaas-cuda.so (SONAME libdaas-cuda.so.1): libdaas.so plus the device engine on the GPU
## (gorgonia.org/cu, kernels compiled to PTX by the venv's NVRTC). Builds without a GPU or CUDA toolkit;
## loading it needs the NVIDIA driver (docs/GPU.md).
lib-cuda: $(CUDALIB)
$(CUDALIB): $(GO_SOURCES) device/cuda-requirements.txt tools/cuda-build.sh tools/nvrtc.py | venv
	@mkdir -p $(BUILD)
	GO=$(GO) bash tools/cuda-build.sh $(PY) $(CUDALIB)

## cudatest: libdaas-cuda.so without a GPU: its exports and SONAME, the PTX (both kernels, no FMA), the cu
## backend vetted, and that nothing loads it where no GPU is (device/cudatest.sh; the kernels' arithmetic
## and the device ABI are tested on the host emulation by gotest).
.PHONY: cudatest
cudatest: $(CUDALIB) venv
	GO=$(GO) bash device/cudatest.sh $(PY)

## gpu-check: the device engine on a GPU (tools/gpu_check.py; docs/GPU.md): ABI refusals, host vs device
## state after 1,000 steps, CUDA-graph replay, search-step timings, the LibTorch example. Needs a GPU.
.PHONY: gpu-check
gpu-check: $(CUDALIB) venv
	$(PYENV) $(PY) tools/gpu_check.py

## ctest: the C ABI from C: the header alone as C99/C11/C++17, the exported symbols, the C example.
ctest: $(LIB)
	bash capi/ctest.sh

## install: the library, daas.h, daas.hpp, the pkg-config file and the CMake package under PREFIX.
install: $(LIB)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libdaas.so.$(ABI)
	ln -sf libdaas.so.$(ABI) $(DESTDIR)$(PREFIX)/lib/libdaas.so
	install -m 0644 include/daas.h $(DESTDIR)$(PREFIX)/include/daas.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' capi/daas.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/daas.pc
	bash cpp/cmake/configure.sh install "$(DESTDIR)$(PREFIX)"

## cpptest: the C++ layer: GoogleTest suite of include/daas.hpp, find_package(daas) from the build tree and
## an install prefix, examples/cpp/state_reader on a state written by Python.
.PHONY: cpptest
cpptest: venv $(LIB) deps
	bash cpp/cpptest.sh $(PY)

## libtorch-example: build examples/libtorch against the venv's LibTorch, search 2 epochs on digits, read the
## state back with daas.state (EPOCHS, STEPS, BATCH override; about 1-2 minutes on 2 cores, build included).
.PHONY: libtorch-example
libtorch-example: venv $(LIB) deps
	bash examples/libtorch/run.sh $(PY)

## wheel: build/dist/daas_engine-<version>-py3-none-<platform>.whl, the Python package with libdaas.so inside
## (platform tag from the glibc the library needs; see tools/wheel.sh).
.PHONY: wheel wheeltest
wheel: venv $(LIB)
	bash tools/wheel.sh $(PY)

## wheeltest: builds the wheel, installs it with [state] into a fresh virtual environment (numpy and
## flatbuffers from the package index) and drives an engine, daas.state and the `daas` command from there.
wheeltest: venv $(LIB)
	bash tools/wheeltest.sh $(PY) $(PYTHON)

## venv: the pinned Python environment (outside the checkout).
venv: $(VENV)/.complete
# The path carries the requirements hash, so an existing environment is always current.
$(VENV)/.complete:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r $(REQS)
	touch $@

## pytest: the Python package's tests (formulas against autograd, Adam against torch.optim.Adam, every
## status's exception, buffers, the daas command, searches and retraining on digits).
pytest: venv $(LIB) deps
	cd bindings/python && $(PYENV) $(PY) -m pytest -q tests

pytest-fast: venv $(LIB)
	cd bindings/python && $(PYENV) $(PY) -m pytest -q tests $(addprefix --ignore=,$(SLOW_PYTESTS))

## search: a real DAAS search on scikit-learn's digits, then the DARTS baseline, then both genotypes and 3
## random ones retrained from scratch; writes runs/ (SEEDS="0 1 2": one comparison per seed and
## runs/summary.{json,md}; SPACE=nb201 or a space file, e.g. examples/spaces/imbalanced.json; NPROC=2:
## each search data-parallel on 2 processes under torchrun, one architecture, docs/SEARCH.md).
search: venv $(LIB) deps
	$(PYENV) $(CUDAENV) $(if $(filter-out 0 1,$(NPROC)),$(PY) -m torch.distributed.run --standalone --nproc-per-node $(NPROC) -m daas.torch.search,$(PY) -m daas.cli search) \
	  --epochs $(EPOCHS) --seeds "$(SEEDS)" --space $(SPACE) --out runs $(SEARCH_ARGS)

## schemas: regenerate the committed FlatBuffers code (Go, Python, C++) with flatc $(FLATC_VERSION).
schemas: $(FLATC)
	bash schemas/generate.sh $(FLATC)
$(FLATC):
	$(GO) mod download github.com/google/flatbuffers
	bash tools/build-flatc.sh $(FLATC)

## reliability: kill test (50 SIGKILLs of a search checkpointing every step) and valgrind memcheck.
## soak: 10^6-step robustness and RSS runs, 8 threads x 10^5 ABI calls, ABI load fuzzing, valgrind
## over 10^5 iterations (about an hour; counts in reliability/soak.sh). Figures: docs/RELIABILITY.md.
.PHONY: reliability soak
reliability: venv $(LIB) deps
	$(PYENV) PY=$(PY) bash reliability/run.sh
soak: venv $(LIB) deps
	$(PYENV) PY=$(PY) GO=$(GO) bash reliability/soak.sh

## fuzz: run every Go fuzz target for FUZZTIME each, then daas_engine_load from C on FUZZLOADS inputs.
fuzz: $(LIB)
	bash tools/fuzz.sh $(FUZZTIME)

## bench: Go, C ABI, Python, PyTorch-reference, end-to-end and supernet benchmarks -> docs/BENCHMARKS.md (~8 min).
bench: venv $(LIB)
	PY=$(PY) GO=$(GO) $(PYENV) bash bench/run.sh

## clean: remove build/.
clean:
	rm -rf $(BUILD)
