"""Exceptions raised by daas.

Every failing call of the C library returns a negative ``daas_status``; the wrapper raises the
subclass of :class:`DaasError` registered for that status, carrying the status and the library's
per-thread error message. Each subclass also inherits the built-in exception a Python caller would
expect, so ``except ValueError`` catches bad input without knowing about daas:

======================  ======  ==================  ==========================================
class                   status  also inherits       meaning
======================  ======  ==================  ==========================================
InternalError             -1    RuntimeError        a bug in daas (includes recovered Go panics)
InvalidArgumentError      -2    ValueError          wrong length, epoch out of range, ...
InvalidConfigError        -3    ValueError          the configuration cannot be used
CorruptStateError         -4    ValueError          the bytes are not a daas state
VersionMismatchError      -5    RuntimeError        a state of a schema version this build
                                                    does not know (the bytes may be fine; the
                                                    library is too old or too new for them)
NumericError              -6    RuntimeError        NaN or Inf in an input; nothing changed
                                                    (a failure of the numbers, not of the
                                                    argument's type or shape)
DeviceError               -7    RuntimeError        GPU path unavailable or failed
DaasIOError               -8    RuntimeError        input/output failed inside the library
======================  ======  ==================  ==========================================

:class:`DaasError` itself derives from ``Exception`` only, so that ``except RuntimeError`` does not
catch bad input. A status this module does not know (appended by a newer library) raises plain
:class:`DaasError`.

Two errors come from the Python side only: :class:`LibraryError` (libdaas cannot be found or has
the wrong ABI version) and :class:`ForkedProcessError` (the library is used in a child created by
``fork()``). Both are ``RuntimeError``.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple, Type

__all__ = [
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
    "STATUS_CODES",
    "error_class",
    "error_from_status",
]

# The status values, as include/daas.h defines them (they never change). tests/test_errors.py holds
# these constants, STATUS_CODES, the class docstrings and the table above to the header.
OK = 0
E_INTERNAL = -1
E_INVALID_ARGUMENT = -2
E_INVALID_CONFIG = -3
E_CORRUPT_STATE = -4
E_VERSION_MISMATCH = -5
E_NUMERIC = -6
E_DEVICE = -7
E_IO = -8


class DaasError(Exception):
    """A failure reported by libdaas: ``status`` is the ``daas_status`` and ``message`` its text.

    Catch it to catch every library failure; each subclass also derives from ``ValueError`` (bad
    input) or ``RuntimeError`` (everything else).
    """

    status: int = E_INTERNAL

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message or f"daas: status {self.status}"

    def __reduce__(self) -> Tuple[Any, Tuple[int, str]]:  # picklable across processes despite the two-argument constructor
        return (type(self), (self.status, self.message))


class InternalError(DaasError, RuntimeError):
    """DAAS_E_INTERNAL (-1): a bug in daas, including a recovered Go panic."""


class InvalidArgumentError(DaasError, ValueError):
    """DAAS_E_INVALID_ARGUMENT (-2): NULL pointer, wrong length, epoch out of range."""


class InvalidConfigError(DaasError, ValueError):
    """DAAS_E_INVALID_CONFIG (-3): the configuration cannot be used; the message names the key."""


class CorruptStateError(DaasError, ValueError):
    """DAAS_E_CORRUPT_STATE (-4): the bytes are not a valid daas state."""


class VersionMismatchError(DaasError, RuntimeError):
    """DAAS_E_VERSION_MISMATCH (-5): a state of a schema version this library does not know."""


class NumericError(DaasError, RuntimeError):
    """DAAS_E_NUMERIC (-6): NaN or Inf in an input; the engine was left unchanged."""


class DeviceError(DaasError, RuntimeError):
    """DAAS_E_DEVICE (-7): the GPU path is unavailable or failed."""


class DaasIOError(DaasError, RuntimeError):
    """DAAS_E_IO (-8): an input/output failure inside the library."""


class LibraryError(RuntimeError):
    """libdaas could not be found or loaded, or its ABI version is not the one this package needs."""


class ForkedProcessError(RuntimeError):
    """libdaas was loaded before ``fork()`` and is being used in the child (the Go runtime hangs)."""


class CopyWarning(UserWarning):
    """An input buffer had to be converted (copied) to contiguous float32 before crossing the ABI."""


STATUS_CODES: Dict[int, Type[DaasError]] = {
    E_INTERNAL: InternalError,
    E_INVALID_ARGUMENT: InvalidArgumentError,
    E_INVALID_CONFIG: InvalidConfigError,
    E_CORRUPT_STATE: CorruptStateError,
    E_VERSION_MISMATCH: VersionMismatchError,
    E_NUMERIC: NumericError,
    E_DEVICE: DeviceError,
    E_IO: DaasIOError,
}


def error_class(status: int) -> Type[DaasError]:
    """Return the exception class for a negative status (DaasError for one this module does not know)."""
    return STATUS_CODES.get(int(status), DaasError)


def error_from_status(status: int, message: str) -> DaasError:
    """Build the exception for a failing status and the library's message."""
    if status == OK:
        raise ValueError("daas: status 0 (DAAS_OK) is not an error")
    return error_class(status)(int(status), message)
