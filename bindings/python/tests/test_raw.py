"""The raw ctypes layer: every function of include/daas.h, declared under its prototype, called."""

from __future__ import annotations

import ctypes
import json
import re

import numpy as np
import pytest

import daas
from daas import _library, _raw
from conftest import REPO, PKG_ROOT

HEADER = REPO / "include" / "daas.h"


def _header_prototypes():
    """Every function prototype of the public header, whitespace-normalized."""
    text = HEADER.read_text()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    protos = re.findall(r"^[a-z][\w ]*\**\s*\**daas_\w+\([^;]*\);", text, flags=re.M)
    return {re.search(r"(daas_\w+)\(", p).group(1): " ".join(p.split()) for p in protos}


def _raw_comment_prototypes():
    """The prototypes written as comments in _raw.py, whitespace-normalized."""
    src = (PKG_ROOT / "daas" / "_raw.py").read_text()
    found = {}
    lines = src.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        m = re.match(r"# ((?:const )?[\w]+ \**\s*\**(daas_\w+)\(.*)", line)
        if m and "(" in line:
            proto = m.group(1)
            while not proto.rstrip().split("/*")[0].rstrip().endswith(";"):
                i += 1
                proto += " " + lines[i].strip().lstrip("#").strip()
            proto = proto.split("/*")[0].strip()
            found[m.group(2)] = " ".join(proto.split())
        i += 1
    return found


@pytest.fixture
def lib():
    return _library.get()


def test_every_header_function_is_declared_under_its_prototype():
    header = _header_prototypes()
    raw = _raw_comment_prototypes()
    assert len(header) >= 17, header  # docs/CONFIG.md's core
    assert raw == header


def test_every_exported_symbol_is_declared(lib):
    exported = (REPO / "capi" / "exported_symbols.txt").read_text().split()
    for name in exported:
        fn = getattr(lib, name)
        assert fn.argtypes is not None, name  # undeclared functions have argtypes None
        if name in ("daas_engine_free", "daas_bytes_free"):
            assert fn.restype is None, name
        elif name in ("daas_version_string", "daas_last_error_message", "daas_status_string"):
            assert fn.restype is ctypes.c_char_p, name
        elif name == "daas_abi_version":
            assert fn.restype is ctypes.c_uint32, name
        else:  # every other function returns a daas_status, checked at once
            assert fn.restype is ctypes.c_int32 and fn.errcheck is not None, name


def test_versions(lib):
    assert lib.daas_abi_version() == _raw.ABI_VERSION == daas.abi_version()
    want = re.search(r'#define DAAS_VERSION_STRING "(.*)"', HEADER.read_text()).group(1)
    assert lib.daas_version_string().decode() == want == daas.version_string()


def test_status_strings(lib):
    for code, cls in daas.errors.STATUS_CODES.items():
        name = lib.daas_status_string(code).decode()
        assert name.startswith("DAAS_E_"), (code, name)
        assert daas.status_string(code) == name
    assert lib.daas_status_string(0).decode() == "DAAS_OK"
    assert lib.daas_status_string(-1000)  # unknown codes still give a string, never NULL


def _create(lib, config=b""):
    h = _raw.daas_engine_p()
    lib.daas_engine_create(config, ctypes.byref(h))
    assert h  # not NULL
    return h


def test_create_sizes_free(lib):
    h = _create(lib)
    na, ne = ctypes.c_size_t(), ctypes.c_size_t()
    assert lib.daas_engine_sizes(h, ctypes.byref(na), ctypes.byref(ne)) == 0
    assert (na.value, ne.value) == (2 * 14 * 7, 2 * 14)  # darts preset
    lib.daas_engine_free(h)
    lib.daas_engine_free(h)  # a freed handle is a no-op
    lib.daas_engine_free(None)  # NULL is a no-op
    with pytest.raises(daas.InvalidArgumentError):
        lib.daas_engine_sizes(h, ctypes.byref(na), ctypes.byref(ne))  # stale handle


def test_errcheck_raises_with_the_threads_message(lib):
    h = _raw.daas_engine_p()
    with pytest.raises(daas.InvalidConfigError) as exc:
        lib.daas_engine_create(b'{"epochs": 0}', ctypes.byref(h))
    assert exc.value.status == -3
    assert "epochs" in exc.value.message
    assert exc.value.message == lib.daas_last_error_message().decode()
    assert not h  # out is NULL on failure
    with pytest.raises(daas.InvalidArgumentError):
        lib.daas_engine_create(b"{}", None)  # NULL out pointer


def test_buffers_epoch_step(lib):
    h = _create(lib, json.dumps({"epochs": 3, "optimizer": {"alpha_start_epoch": 1}}).encode())
    try:
        na, ne = ctypes.c_size_t(), ctypes.c_size_t()
        lib.daas_engine_sizes(h, ctypes.byref(na), ctypes.byref(ne))
        n_alpha, n_edges = na.value, ne.value
        fp = ctypes.POINTER(ctypes.c_float)
        alpha = np.zeros(n_alpha, np.float32)
        beta = np.zeros(n_edges, np.float32)
        op = np.zeros(n_alpha, np.float32)
        edge = np.zeros(n_edges, np.float32)
        lib.daas_engine_get_alpha(h, alpha.ctypes.data_as(fp), n_alpha)
        lib.daas_engine_get_beta(h, beta.ctypes.data_as(fp), n_edges)
        lib.daas_engine_get_weights(h, op.ctypes.data_as(fp), n_alpha, edge.ctypes.data_as(fp), n_edges)
        assert np.all(alpha != 0) and np.all(np.abs(alpha) < 1e-3)
        assert np.allclose(op.reshape(-1, 7).sum(1), 1, atol=1e-6)
        with pytest.raises(daas.InvalidArgumentError):
            lib.daas_engine_get_alpha(h, alpha.ctypes.data_as(fp), n_alpha - 1)
        with pytest.raises(daas.InvalidArgumentError):
            lib.daas_engine_get_beta(h, None, n_edges)

        ep = ctypes.c_int32()
        lib.daas_engine_epoch(h, ctypes.byref(ep))
        assert ep.value == 1
        lib.daas_engine_set_epoch(h, 2)
        lib.daas_engine_epoch(h, ctypes.byref(ep))
        assert ep.value == 2
        with pytest.raises(daas.InvalidArgumentError):
            lib.daas_engine_set_epoch(h, 4)

        g_op = np.ones(n_alpha, np.float32)
        g_edge = np.ones(n_edges, np.float32)
        lib.daas_engine_step(h, g_op.ctypes.data_as(fp), n_alpha, g_edge.ctypes.data_as(fp), n_edges)
        after = np.zeros(n_alpha, np.float32)
        lib.daas_engine_get_alpha(h, after.ctypes.data_as(fp), n_alpha)
        assert not np.array_equal(after, alpha)
        g_op[3] = np.nan
        with pytest.raises(daas.NumericError):
            lib.daas_engine_step(h, g_op.ctypes.data_as(fp), n_alpha, g_edge.ctypes.data_as(fp), n_edges)
    finally:
        lib.daas_engine_free(h)


@pytest.mark.parametrize("fn", ["daas_engine_discretize", "daas_engine_metrics", "daas_engine_config", "daas_engine_save"])
def test_bytes_returning_functions_and_bytes_free(lib, fn):
    h = _create(lib, b'{"epochs": 3}')
    try:
        b = _raw.daas_bytes()
        getattr(lib, fn)(h, ctypes.byref(b))
        assert b.len > 0 and b.data
        data = ctypes.string_at(b.data, b.len)
        lib.daas_bytes_free(ctypes.byref(b))
        assert not b.data and b.len == 0  # freed bytes are reset to {NULL, 0}
        lib.daas_bytes_free(ctypes.byref(b))  # so freeing twice is harmless
        lib.daas_bytes_free(None)
        if fn == "daas_engine_save":
            assert data[4:8] == b"DAAS"  # FlatBuffers file identifier
        else:
            assert isinstance(json.loads(data), dict)
        with pytest.raises(daas.InvalidArgumentError):
            getattr(lib, fn)(h, None)
    finally:
        lib.daas_engine_free(h)


def test_load(lib):
    h = _create(lib, b'{"epochs": 3}')
    b = _raw.daas_bytes()
    lib.daas_engine_save(h, ctypes.byref(b))
    state = _raw.take_bytes(lib, b)
    lib.daas_engine_free(h)
    u8 = ctypes.POINTER(ctypes.c_uint8)
    h2 = _raw.daas_engine_p()
    lib.daas_engine_load(ctypes.cast(ctypes.c_char_p(state), u8), len(state), ctypes.byref(h2))
    try:
        b2 = _raw.daas_bytes()
        lib.daas_engine_save(h2, ctypes.byref(b2))
        assert _raw.take_bytes(lib, b2) == state
    finally:
        lib.daas_engine_free(h2)
    bad = b"not a state at all"
    h3 = _raw.daas_engine_p()
    with pytest.raises(daas.CorruptStateError):
        lib.daas_engine_load(ctypes.cast(ctypes.c_char_p(bad), u8), len(bad), ctypes.byref(h3))
    assert not h3
