"""daas: Discretization-Aware Architecture Search as an embeddable engine.

The architecture side of a differentiable NAS search (α, β, their relaxation, the discretization
losses, the Adam step, discretization and the search state) lives in libdaas (Go, C ABI); this
package drives it from Python::

    import daas

    with daas.Engine({"epochs": 50}) as eng:
        for epoch in range(1, 51):
            eng.set_epoch(epoch)
            for batch in valid_loader:
                op_w, edge_w = eng.weights()          # float32 numpy arrays
                ...                                   # supernet forward/backward with them
                eng.step(grad_op, grad_edge)          # float32 arrays or CPU tensors, no copy
            eng.save_file("state.daas")
        print(eng.discretize().darts)

The library is loaded on first use; see :mod:`daas._library` for where it is looked up
(``DAAS_LIBRARY`` first). libdaas must not be used in a child created by ``fork()``: use the
``spawn`` start method for worker processes.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from . import _library
from .engine import Engine, Sizes, write_file
from .errors import (
    CopyWarning,
    CorruptStateError,
    DaasError,
    DaasIOError,
    DeviceError,
    ForkedProcessError,
    InternalError,
    InvalidArgumentError,
    InvalidConfigError,
    LibraryError,
    NumericError,
    VersionMismatchError,
)
from .genotype import Genotype

__all__ = [
    "Engine",
    "write_file",
    "Sizes",
    "Genotype",
    "DaasError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "CorruptStateError",
    "VersionMismatchError",
    "NumericError",
    "DeviceError",
    "DaasIOError",
    "LibraryError",
    "ForkedProcessError",
    "CopyWarning",
    "abi_version",
    "version_string",
    "status_string",
    "library_path",
]


def abi_version() -> int:
    """The loaded library's ``daas_abi_version()``."""
    return int(_library.get().daas_abi_version())


def version_string() -> str:
    """The loaded library's ``daas_version_string()``."""
    return str(_library.get().daas_version_string().decode("utf-8", "replace"))


def status_string(status: int) -> str:
    """The library's name for a ``daas_status`` value (``daas_status_string``)."""
    return str(_library.get().daas_status_string(int(status)).decode("utf-8", "replace"))


def library_path() -> str:
    """The file libdaas was loaded from (loading it if needed)."""
    return _library.path()


def _package_version() -> str:
    # The version is written once for Python, in pyproject.toml (tests hold it to include/daas.h). A
    # source checkout or an editable install reads that file beside the package; an installed wheel
    # has none there and reads the metadata pip wrote from it.
    try:
        text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        text = ""
    found = re.search(r'^name = "daas-engine"\n(?:.*\n)*?version = "([^"]+)"$', text, re.M)
    if found:
        return found.group(1)
    from importlib import metadata

    try:
        return metadata.version("daas-engine")
    except metadata.PackageNotFoundError:  # a copy of the package that is neither
        return "0+unknown"


def __getattr__(name: str) -> Any:
    # daas.state and daas.torch are imported on first access: daas.state needs only flatbuffers,
    # daas.torch needs PyTorch. __version__ is looked up on first access too.
    if name in ("state", "torch"):
        return importlib.import_module(f"{__name__}.{name}")
    if name == "__version__":
        version = globals()["__version__"] = _package_version()
        return version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
