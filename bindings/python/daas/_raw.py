"""The raw layer: one ctypes declaration per function of ``include/daas.h`` (docs/CONFIG.md).

Each declaration sits under the C prototype it mirrors. Every function that returns a
``daas_status`` has an ``errcheck`` that raises the matching :mod:`daas.errors` exception at once,
with the calling thread's ``daas_last_error_message()``; so a call through this layer either
succeeded or raised.

Use :func:`daas._library.get` to obtain the declared library: it also checks the ABI version and
refuses to run in a forked child. Ownership follows the header: inputs are borrowed for the call,
``daas_engine*`` handles are freed with ``daas_engine_free`` and ``daas_bytes`` with
``daas_bytes_free``.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_int32, c_size_t, c_uint8, c_uint32, c_uint64, c_void_p
from typing import Any

from .errors import error_from_status

__all__ = ["ABI_VERSION", "daas_bytes", "daas_engine", "daas_engine_p", "declare", "take_bytes"]

#: The ABI version this package is written against (``daas_abi_version()`` must return it).
ABI_VERSION = 1

# typedef int32_t daas_status;
daas_status = c_int32


# typedef struct daas_engine daas_engine;   /* opaque */
class daas_engine(ctypes.Structure):
    """Opaque engine handle; only pointers to it cross the ABI."""


daas_engine_p = POINTER(daas_engine)


# typedef struct { uint8_t *data; size_t len; } daas_bytes;
class daas_bytes(ctypes.Structure):
    _fields_ = [("data", POINTER(c_uint8)), ("len", c_size_t)]


def declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Set argtypes, restype and errcheck of every daas function on ``lib`` and return it."""

    def last_error() -> str:
        raw = lib.daas_last_error_message()
        return raw.decode("utf-8", "replace") if raw else ""

    def check_status(result: int, func: Any, args: Any) -> int:
        if result != 0:
            raise error_from_status(result, last_error() or f"{func.__name__} failed with status {result}")
        return result

    def status_fn(name: str, *argtypes: Any) -> None:
        fn = getattr(lib, name)
        fn.argtypes = list(argtypes)
        fn.restype = daas_status
        fn.errcheck = check_status

    # uint32_t daas_abi_version(void);
    lib.daas_abi_version.argtypes = []
    lib.daas_abi_version.restype = c_uint32

    # const char *daas_version_string(void);
    lib.daas_version_string.argtypes = []
    lib.daas_version_string.restype = c_char_p

    # const char *daas_last_error_message(void);   /* this thread's last failure; never NULL */
    lib.daas_last_error_message.argtypes = []
    lib.daas_last_error_message.restype = c_char_p

    # const char *daas_status_string(daas_status status);
    lib.daas_status_string.argtypes = [daas_status]
    lib.daas_status_string.restype = c_char_p

    # daas_status daas_engine_create(const char *config_json, daas_engine **out);
    status_fn("daas_engine_create", c_char_p, POINTER(daas_engine_p))

    # daas_status daas_engine_load(const uint8_t *data, size_t len, daas_engine **out);
    status_fn("daas_engine_load", POINTER(c_uint8), c_size_t, POINTER(daas_engine_p))

    # void daas_engine_free(daas_engine *engine);   /* NULL is a no-op */
    lib.daas_engine_free.argtypes = [daas_engine_p]
    lib.daas_engine_free.restype = None

    # daas_status daas_engine_sizes(const daas_engine *engine, size_t *n_alpha_out, size_t *n_edges_out);
    status_fn("daas_engine_sizes", daas_engine_p, POINTER(c_size_t), POINTER(c_size_t))

    # The float buffers (float *, const float *) are declared c_void_p: callers pass the data address
    # as an int (ndarray.ctypes.data, Tensor.data_ptr()) or any ctypes array or pointer. An int
    # converts at a fraction of the cost of casting it to POINTER(c_float) on every call, and these
    # are the per-step calls.

    # daas_status daas_engine_get_alpha(const daas_engine *engine, float *out, size_t n_alpha);
    status_fn("daas_engine_get_alpha", daas_engine_p, c_void_p, c_size_t)

    # daas_status daas_engine_get_beta(const daas_engine *engine, float *out, size_t n_edges);
    status_fn("daas_engine_get_beta", daas_engine_p, c_void_p, c_size_t)

    # daas_status daas_engine_get_weights(const daas_engine *engine, float *op_out, size_t n_alpha,
    #                                     float *edge_out, size_t n_edges);
    status_fn("daas_engine_get_weights", daas_engine_p, c_void_p, c_size_t, c_void_p, c_size_t)

    # daas_status daas_engine_set_epoch(daas_engine *engine, int32_t epoch);
    status_fn("daas_engine_set_epoch", daas_engine_p, c_int32)

    # daas_status daas_engine_step(daas_engine *engine, const float *grad_op, size_t n_alpha,
    #                              const float *grad_edge, size_t n_edges);
    status_fn("daas_engine_step", daas_engine_p, c_void_p, c_size_t, c_void_p, c_size_t)

    # daas_status daas_engine_get_weights_device(const daas_engine *engine, uint64_t op_out, size_t n_alpha,
    #                                            uint64_t edge_out, size_t n_edges, void *stream);
    status_fn("daas_engine_get_weights_device", daas_engine_p, c_uint64, c_size_t, c_uint64, c_size_t, c_void_p)

    # daas_status daas_engine_step_device(daas_engine *engine, uint64_t grad_op, size_t n_alpha,
    #                                     uint64_t grad_edge, size_t n_edges, void *stream);
    status_fn("daas_engine_step_device", daas_engine_p, c_uint64, c_size_t, c_uint64, c_size_t, c_void_p)

    # daas_status daas_engine_sync(daas_engine *engine);
    status_fn("daas_engine_sync", daas_engine_p)

    # daas_status daas_engine_discretize(const daas_engine *engine, daas_bytes *genotype_json_out);
    status_fn("daas_engine_discretize", daas_engine_p, POINTER(daas_bytes))

    # daas_status daas_engine_metrics(const daas_engine *engine, daas_bytes *json_out);
    status_fn("daas_engine_metrics", daas_engine_p, POINTER(daas_bytes))

    # daas_status daas_engine_save(const daas_engine *engine, daas_bytes *out);
    status_fn("daas_engine_save", daas_engine_p, POINTER(daas_bytes))

    # void daas_bytes_free(daas_bytes *bytes);   /* NULL is a no-op */
    lib.daas_bytes_free.argtypes = [POINTER(daas_bytes)]
    lib.daas_bytes_free.restype = None

    # daas_status daas_engine_epoch(const daas_engine *engine, int32_t *epoch_out);
    status_fn("daas_engine_epoch", daas_engine_p, POINTER(c_int32))

    # daas_status daas_engine_config(const daas_engine *engine, daas_bytes *json_out);
    status_fn("daas_engine_config", daas_engine_p, POINTER(daas_bytes))

    # daas_status daas_engine_discretize_fb(const daas_engine *engine, daas_bytes *out);
    status_fn("daas_engine_discretize_fb", daas_engine_p, POINTER(daas_bytes))

    # daas_status daas_engine_metrics_fb(const daas_engine *engine, daas_bytes *out);
    status_fn("daas_engine_metrics_fb", daas_engine_p, POINTER(daas_bytes))

    # daas_status daas_engine_save_file(const daas_engine *engine, const char *path);
    status_fn("daas_engine_save_file", daas_engine_p, c_char_p)

    # daas_status daas_write_file(const char *path, const uint8_t *data, size_t len);
    status_fn("daas_write_file", c_char_p, POINTER(c_uint8), c_size_t)

    # daas_status daas_engine_load_file(const char *path, daas_engine **out);
    status_fn("daas_engine_load_file", c_char_p, POINTER(daas_engine_p))

    return lib


def take_bytes(lib: ctypes.CDLL, b: daas_bytes) -> bytes:
    """Copy a ``daas_bytes`` the library returned into Python bytes and free it."""
    try:
        if b.len == 0:
            return b""
        return ctypes.string_at(b.data, b.len)
    finally:
        lib.daas_bytes_free(ctypes.byref(b))
