"""Finding and loading libdaas, the ABI check, and the fork guard.

The library is loaded on first use (``import daas`` alone never loads it, so :mod:`daas.state`
works without it). It is looked up, in order:

1. ``libdaas-cuda.so``, the library with the device engine (``make lib-cuda``), but only when PyTorch
   sees a GPU (``torch.cuda.is_available()``) and ``DAAS_NO_CUDA`` is not set: loading it initializes
   the CUDA driver, and without a GPU that ends the process. It is the path in ``DAAS_CUDA_LIBRARY``,
   or the first ``libdaas-cuda.so`` among the places in 3 and 4 - where ``DAAS_LIBRARY`` is set, only
   ``DAAS_CUDA_LIBRARY`` is looked at;
2. the path in the environment variable ``DAAS_LIBRARY`` (an error if that file does not load);
3. ``libdaas.so`` inside the installed package (``daas/libdaas.so``, as shipped in a wheel);
4. the build tree of a source checkout, ``<repo>/build/libdaas.so`` (``make lib`` writes it), when
   the package sits in one: ``<repo>/bindings/python/daas`` with ``<repo>/go.mod`` beside it.

libdaas-cuda.so does all libdaas.so does; one process loads one of them. :func:`has_device` says
whether the loaded one has the device engine.

At load ``daas_abi_version()`` must equal :data:`daas._raw.ABI_VERSION`.

libdaas embeds the Go runtime, which does not survive ``fork()``: a forked child that calls into it
can hang forever. Once the library is loaded, every use from a process other than the one that
loaded it raises :class:`~daas.errors.ForkedProcessError` instead (workers must be started with the
``spawn`` start method).
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import List, Optional

from . import _raw
from .errors import ForkedProcessError, LibraryError

__all__ = ["get", "path", "candidates", "has_device", "ENV_VAR", "CUDA_ENV_VAR"]

ENV_VAR = "DAAS_LIBRARY"
CUDA_ENV_VAR = "DAAS_CUDA_LIBRARY"
NO_CUDA_ENV_VAR = "DAAS_NO_CUDA"
_NAME = "libdaas.so"
_CUDA_NAME = "libdaas-cuda.so"

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_path: Optional[str] = None
_device = False
_pid: Optional[int] = None
_forked = False
_fork_hook_registered = False


def candidates(name: str = _NAME) -> List[Path]:
    """The places searched for ``name`` when ``DAAS_LIBRARY`` is not set, in order.

    The build tree is a candidate only when the package is inside a source checkout (its
    ``go.mod`` three folders up), so an installed package never looks outside itself.
    """
    pkg = Path(__file__).resolve().parent
    found = [pkg / name]
    repo = pkg.parent.parent.parent
    if (repo / "go.mod").is_file():
        found.append(repo / "build" / name)
    return found


def _gpu_visible() -> bool:
    """Whether PyTorch is installed and sees a CUDA device (False without torch)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _cuda_library() -> Optional[str]:
    """The libdaas-cuda.so to load: only where a GPU is visible (see the module documentation)."""
    if os.environ.get(NO_CUDA_ENV_VAR):
        return None
    env = os.environ.get(CUDA_ENV_VAR)
    found = [Path(env)] if env else candidates(_CUDA_NAME)
    present = [f for f in found if f.is_file()]
    if env and not present:
        raise LibraryError(f"daas: {CUDA_ENV_VAR}={env!r} does not name a file")
    if not present or not _gpu_visible():
        return None
    return str(present[0])


def has_device() -> bool:
    """Whether the loaded library (loading it if needed) is libdaas-cuda.so, with the device engine."""
    get()
    return _device


def _mark_forked() -> None:
    global _forked
    _forked = True


def in_forked_child() -> bool:
    """Whether this process is a fork of the one that loaded libdaas."""
    return _lib is not None and (_forked or os.getpid() != _pid)


def _fork_error() -> ForkedProcessError:
    return ForkedProcessError(
        f"daas: libdaas was loaded in process {_pid} and this process ({os.getpid()}) is a child "
        "created by fork(); the Go runtime inside libdaas does not survive fork() and would hang. "
        "Start worker processes with the 'spawn' (or 'forkserver') start method "
        "(multiprocessing.get_context('spawn'), or multiprocessing_context='spawn' for a torch "
        "DataLoader), or use daas only in the parent."
    )


def _load(file: str) -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(file)
    except OSError as exc:
        raise LibraryError(f"daas: cannot load {file}: {exc}") from exc
    try:
        version = lib.daas_abi_version
    except AttributeError as exc:
        raise LibraryError(f"daas: {file} does not export daas_abi_version; it is not libdaas") from exc
    version.argtypes, version.restype = [], ctypes.c_uint32
    abi = int(version())
    if abi != _raw.ABI_VERSION:
        raise LibraryError(
            f"daas: {file} has ABI version {abi}, but this Python package needs ABI version "
            f"{_raw.ABI_VERSION}; install matching versions of libdaas and the daas package"
        )
    try:
        return _raw.declare(lib)
    except AttributeError as exc:
        raise LibraryError(f"daas: {file} lacks a function of ABI {_raw.ABI_VERSION}: {exc}") from exc


def _locate() -> str:
    env = os.environ.get(ENV_VAR)
    # DAAS_LIBRARY names the file outright; only an explicit DAAS_CUDA_LIBRARY (with a GPU) overrides it
    if not env or os.environ.get(CUDA_ENV_VAR):
        cuda = _cuda_library()
        if cuda is not None:
            return cuda
    if env:
        if not os.path.isfile(env):
            raise LibraryError(f"daas: {ENV_VAR}={env!r} does not name a file")
        return env
    tried = candidates()
    for cand in tried:
        if cand.is_file():
            return str(cand)
    if len(tried) > 1:  # a source checkout
        how = "build it with `make lib` in the repository"
    else:
        how = "this installation lacks it: reinstall the package from a wheel (`make wheel` in the repository)"
    raise LibraryError(
        f"daas: libdaas.so not found (tried {', '.join(map(str, tried))}); {how}, "
        f"or set {ENV_VAR} to its path"
    )


def get() -> ctypes.CDLL:
    """Return the loaded, declared library, loading it on first use.

    Raises LibraryError when it cannot be found or has the wrong ABI version, and
    ForkedProcessError in a forked child of the process that loaded it.
    """
    global _lib, _path, _pid, _device, _fork_hook_registered
    lib = _lib
    if lib is not None:
        if _forked or os.getpid() != _pid:
            raise _fork_error()
        return lib
    with _lock:
        if _lib is None:
            file = _locate()
            loaded = _load(file)
            _device = os.path.basename(file).startswith("libdaas-cuda")
            _path, _pid, _lib = os.path.abspath(file), os.getpid(), loaded
            if not _fork_hook_registered and hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_mark_forked)
                _fork_hook_registered = True
    return get()


def path() -> str:
    """The file libdaas was loaded from (loading it if needed)."""
    get()
    assert _path is not None
    return _path
