# daas — see README.md. `make search` and `make test` are the two commands a newcomer needs; both
# install what they need themselves.
SHELL := /bin/bash
.DEFAULT_GOAL := test

GO        ?= go
PYTHON    ?= python3
BUILD     := build
LIB       := $(BUILD)/libdaas.so
ABI       := 1
PREFIX    ?= /usr/local
EPOCHS    ?= 30
SEEDS     ?= 0
SPACE     ?= darts
FUZZTIME  ?= 60s

# The Python environment lives outside the checkout, keyed by the pinned requirements' hash, so
# repeated runs (and other checkouts) reuse its few GB of PyTorch wheels.
REQS      := bindings/python/requirements.txt
VENV      := $(HOME)/.cache/daas/venv-$(shell sha256sum $(REQS) | cut -c1-12)
PY        := $(VENV)/bin/python
PYENV     := PYTHONPATH=$(CURDIR)/bindings/python DAAS_LIBRARY=$(CURDIR)/$(LIB)

FLATC_VERSION := 25.12.19
FLATC     := $(HOME)/.cache/daas/flatc-$(FLATC_VERSION)

GO_SOURCES := $(shell find engine capi -name '*.go' -o -name '*.c' -o -name '*.h' -o -name '*.map' 2>/dev/null) go.mod go.sum include/daas.h

.PHONY: test search lib install schemas venv gotest ctest pytest fuzz bench clean

## test: go vet, all Go tests (ABI tests under -race), fuzz corpora, C/C++ header and example checks, pytest.
test: gotest ctest pytest cpptest libtorch-example reliability

# gotest needs the venv and flatc for the schema tests (Python and regenerated code); DAAS_STRICT makes
# a missing tool a failure instead of a skip.
gotest: venv $(FLATC)
	$(GO) mod download
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./engine/...
	DAAS_STRICT=1 $(GO) test -race ./engine/...
	$(GO) test -race ./capi/...

## lib: build/libdaas.so (SONAME libdaas.so.1, only daas_* exported) and build/daas.pc.
lib: $(LIB)
$(LIB): $(GO_SOURCES)
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -buildmode=c-shared \
	  -ldflags "-s -w -extldflags '-Wl,-soname,libdaas.so.$(ABI) -Wl,--version-script=$(CURDIR)/capi/libdaas.map'" \
	  -o $(LIB).tmp ./capi/lib
	mv $(LIB).tmp $(LIB); rm -f $(LIB).tmp.h
	ln -sf libdaas.so $(BUILD)/libdaas.so.$(ABI)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/^#define DAAS_VERSION_STRING "\(.*\)"/\1/p' include/daas.h)|' capi/daas.pc.in > $(BUILD)/daas.pc

ctest: $(LIB)
	bash capi/ctest.sh

install: $(LIB)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libdaas.so.$(ABI)
	ln -sf libdaas.so.$(ABI) $(DESTDIR)$(PREFIX)/lib/libdaas.so
	install -m 0644 include/daas.h $(DESTDIR)$(PREFIX)/include/daas.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/^#define DAAS_VERSION_STRING "\(.*\)"/\1/p' include/daas.h)|' capi/daas.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/daas.pc
	bash cpp/cmake/configure.sh install "$(DESTDIR)$(PREFIX)"

## cpptest: the C++ layer: GoogleTest suite of include/daas.hpp, find_package(daas) from the build tree and
## an install prefix, examples/cpp/state_reader on a state written by Python (installs cmake/libgtest-dev if missing).
.PHONY: cpptest
cpptest: venv $(LIB)
	bash cpp/cpptest.sh $(PY)

## libtorch-example: build examples/libtorch against the venv's LibTorch, search 2 epochs on digits, read the
## state back with daas.state (EPOCHS, STEPS, BATCH override; about 1-2 minutes on 2 cores, build included).
.PHONY: libtorch-example
libtorch-example: venv $(LIB)
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

pytest: venv $(LIB)
	cd bindings/python && $(PYENV) $(PY) -m pytest -q tests

## search: a real DAAS search on scikit-learn's digits, then the DARTS baseline, then both genotypes and 3
## random ones retrained from scratch; writes runs/ (SEEDS="0 1 2": one comparison per seed and
## runs/summary.{json,md}; SPACE=nb201 or a space file, e.g. examples/spaces/imbalanced.json).
search: venv $(LIB)
	$(PYENV) $(PY) -m daas.torch.search --epochs $(EPOCHS) --seeds "$(SEEDS)" --space $(SPACE) --out runs $(SEARCH_ARGS)

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
reliability: venv $(LIB)
	$(PYENV) PY=$(PY) bash reliability/run.sh
soak: venv $(LIB)
	$(PYENV) PY=$(PY) GO=$(GO) bash reliability/soak.sh

## fuzz: run every Go fuzz target for FUZZTIME each, then daas_engine_load from C on FUZZLOADS inputs.
fuzz: $(LIB)
	bash tools/fuzz.sh $(FUZZTIME)

## bench: Go, C ABI, Python, PyTorch-reference and end-to-end benchmarks -> docs/BENCHMARKS.md (~5 min).
bench: venv $(LIB)
	PY=$(PY) GO=$(GO) $(PYENV) bash bench/run.sh

clean:
	rm -rf $(BUILD)
