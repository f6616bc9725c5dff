"""Finding and loading libdaas, the ABI check, and the fork guard.

The library is loaded on first use (``import daas`` alone never loads it, so :mod:`daas.state`
works without it). It is looked up, in order:

1. the path in the environment variable ``DAAS_LIBRARY`` (an error if that file does not load);
2. ``libdaas.so`` inside the installed package (``daas/libdaas.so``, as shipped in a wheel);
3. the build tree of a source checkout, ``<repo>/build/libdaas.so`` (``make lib`` writes it), when
   the package sits in one: ``<repo>/bindings/python/daas`` with ``<repo>/go.mod`` beside it.

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

__all__ = ["get", "path", "candidates", "ENV_VAR"]

ENV_VAR = "DAAS_LIBRARY"
_NAME = "libdaas.so"

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_path: Optional[str] = None
_pid: Optional[int] = None
_forked = False
_fork_hook_registered = False


def candidates() -> List[Path]:
    """The places searched when ``DAAS_LIBRARY`` is not set, in order.

    The build tree is a candidate only when the package is inside a source checkout (its
    ``go.mod`` three folders up), so an installed package never looks outside itself.
    """
    pkg = Path(__file__).resolve().parent
    found = [pkg / _NAME]
    repo = pkg.parent.parent.parent
    if (repo / "go.mod").is_file():
        found.append(repo / "build" / _NAME)
    return found


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
    global _lib, _path, _pid, _fork_hook_registered
    lib = _lib
    if lib is not None:
        if _forked or os.getpid() != _pid:
            raise _fork_error()
        return lib
    with _lock:
        if _lib is None:
            file = _locate()
            loaded = _load(file)
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
