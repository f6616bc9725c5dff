"""The Pythonic layer: :class:`Engine`, one architecture search."""

from __future__ import annotations

import ctypes
import json
import operator
import os
import threading
import warnings
import weakref
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

from . import _library, _raw
from .errors import CopyWarning, InvalidArgumentError, E_INVALID_ARGUMENT
from .genotype import Genotype

__all__ = ["Engine", "Sizes"]

Config = Union[None, str, bytes, Mapping[str, Any]]
StateSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]
FloatArray = npt.NDArray[np.float32]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class Sizes(NamedTuple):
    """Buffer lengths of an engine: α, op weights and their gradients have ``n_alpha`` entries;
    β, edge weights and their gradients ``n_edges`` (docs/DESIGN.md, Flat layouts)."""

    n_alpha: int
    n_edges: int


_F32 = np.dtype(np.float32)  # numpy's float32 dtype is a singleton: checked with `is`
_addressof, _char_view = ctypes.addressof, ctypes.c_char.from_buffer
_Tensor: Any = None  # torch.Tensor, recorded the first time a tensor is seen (torch is optional)
_torch_f32: Any = None


def _is_torch_tensor(x: Any) -> bool:
    global _Tensor, _torch_f32
    if type(x).__module__.split(".")[0] == "torch" and hasattr(x, "data_ptr"):
        if _Tensor is None:
            import torch  # already imported by whoever made x

            _Tensor, _torch_f32 = torch.Tensor, torch.float32
        return True
    return False


def _fast_address(x: Any) -> Optional[Tuple[int, int]]:
    """(data address, length) of x when it is, by the cheapest checks, a writable, C-contiguous, aligned
    float32 numpy array or a contiguous float32 CPU torch tensor (exact types); None otherwise, and
    the full checks below then decide. This is the per-step path, so each check is the cheapest
    that numpy and torch offer: c_char.from_buffer refuses read-only and non-contiguous buffers."""
    t = type(x)
    if t is np.ndarray:
        if x.dtype is _F32:
            try:
                addr: int = _addressof(_char_view(x))
            except (TypeError, ValueError):  # read-only, not C-contiguous, or empty
                return None
            return (addr, x.size) if addr & 3 == 0 else None
    elif t is _Tensor and x.is_cpu and x.dtype is _torch_f32 and x.is_contiguous():
        return int(x.data_ptr()), x.numel()
    return None


def _input_buffer(x: Any, name: str) -> Tuple[Any, int, int]:
    """Return (keep-alive object, data address, length) for a read-only float32 buffer.

    A float32 C-contiguous numpy array or CPU torch tensor is passed as it is (no copy); anything
    else is converted once to a contiguous float32 array, with a CopyWarning. Tensors on another
    device are refused: daas reads host memory and will not copy from a GPU behind your back.
    """
    fast = _fast_address(x)
    if fast is not None:
        return x, fast[0], fast[1]
    if isinstance(x, np.ndarray):
        if x.dtype == np.float32 and x.flags.c_contiguous and x.flags.aligned:
            return x, x.ctypes.data, x.size
        conv = np.require(x, np.float32, ["C", "A"])
    elif _is_torch_tensor(x):
        if x.device.type != "cpu":
            raise ValueError(
                f"daas: {name} is a tensor on {x.device}; daas reads host memory. Pass "
                f"{name}.cpu() (an explicit device-to-host copy)"
            )
        if str(x.dtype) == "torch.float32" and x.is_contiguous():
            return x, x.data_ptr(), x.numel()
        import torch  # only reached with a torch tensor in hand

        conv_t = x.detach().to(dtype=torch.float32).contiguous()
        warnings.warn(
            f"daas: {name} ({x.dtype}, contiguous={x.is_contiguous()}) was copied to a contiguous "
            "float32 tensor; pass one to avoid the copy",
            CopyWarning,
            stacklevel=3,
        )
        return conv_t, conv_t.data_ptr(), conv_t.numel()
    else:
        try:
            conv = np.ascontiguousarray(x, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"daas: {name} must be a float32 array or tensor, got {type(x).__name__}") from exc
    warnings.warn(
        f"daas: {name} ({type(x).__name__}) was copied to a contiguous float32 array; pass one to "
        "avoid the copy",
        CopyWarning,
        stacklevel=3,
    )
    return conv, conv.ctypes.data, conv.size


def _output_buffer(x: Any, name: str) -> Tuple[int, int]:
    """Return (data address, length) for a buffer the library writes into, checked in full."""
    fast = _fast_address(x)
    if fast is not None:
        return fast
    if isinstance(x, np.ndarray):
        if x.dtype != np.float32:
            raise InvalidArgumentError(E_INVALID_ARGUMENT, f"daas: {name}: dtype {x.dtype}, want float32")
        if not (x.flags.c_contiguous and x.flags.aligned):
            raise InvalidArgumentError(E_INVALID_ARGUMENT, f"daas: {name}: must be C-contiguous and aligned")
        if not x.flags.writeable:
            raise InvalidArgumentError(E_INVALID_ARGUMENT, f"daas: {name}: array is read-only")
        return x.ctypes.data, x.size
    if _is_torch_tensor(x):
        if x.device.type != "cpu":
            raise ValueError(
                f"daas: {name} is a tensor on {x.device}; daas writes host memory: fill a CPU "
                "tensor and copy it to the device yourself"
            )
        if str(x.dtype) != "torch.float32":
            raise InvalidArgumentError(E_INVALID_ARGUMENT, f"daas: {name}: dtype {x.dtype}, want torch.float32")
        if not x.is_contiguous():
            raise InvalidArgumentError(E_INVALID_ARGUMENT, f"daas: {name}: tensor must be contiguous")
        return x.data_ptr(), x.numel()
    raise TypeError(f"daas: {name} must be a float32 numpy array or CPU torch tensor, got {type(x).__name__}")


def _config_bytes(config: Config) -> bytes:
    if config is None:
        return b""
    if isinstance(config, bytes):
        text = config
    elif isinstance(config, str):
        text = config.encode("utf-8")
    elif isinstance(config, Mapping):
        text = json.dumps(dict(config), allow_nan=False).encode("utf-8")
    else:
        raise TypeError(f"daas: config must be None, a JSON string or a dict, got {type(config).__name__}")
    if b"\0" in text:
        raise InvalidArgumentError(E_INVALID_ARGUMENT, "daas: config holds a NUL character")
    return text


def _missing_gradient(name: str) -> str:
    weights = "op" if name == "grad_op" else "edge"
    return (f"daas: {name} is None: the gradient of the {weights} weights was never computed. Make the "
            f"{weights} weights a leaf tensor with requires_grad=True, use them in the forward pass and call "
            f"backward() (or torch.autograd.grad) before reading .grad")


def write_file(path: Union[str, "os.PathLike[str]"], data: Union[bytes, bytearray, memoryview]) -> None:
    """Write ``data`` to ``path`` atomically with libdaas's one file writer (``daas_write_file``): a
    temporary file next to ``path``, written and synced, renamed over it, the folder synced, so a crash
    leaves the earlier file or the new one, never a torn one. Raises DaasIOError naming the path and
    the system's reason; on failure an earlier file at ``path`` is left as it was."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"daas: write_file needs bytes, got {type(data).__name__}")
    raw = bytes(data)
    lib = _library.get()
    ptr = ctypes.cast(ctypes.c_char_p(raw), ctypes.POINTER(ctypes.c_uint8))
    lib.daas_write_file(_encode_path(path), ptr, len(raw))


def _load_handle(data: bytes) -> Any:
    """A new engine handle loaded from state bytes."""
    lib = _library.get()
    out = _raw.daas_engine_p()
    ptr = ctypes.cast(ctypes.c_char_p(data), ctypes.POINTER(ctypes.c_uint8))
    lib.daas_engine_load(ptr, len(data), ctypes.byref(out))
    return out


def _describe(lib: ctypes.CDLL, handle: Any) -> Tuple[Sizes, Optional[int]]:
    """An engine's sizes and, for a device engine, its GPU ordinal (None for a host engine)."""
    n_alpha, n_edges = ctypes.c_size_t(), ctypes.c_size_t()
    lib.daas_engine_sizes(handle, ctypes.byref(n_alpha), ctypes.byref(n_edges))
    b = _raw.daas_bytes()
    lib.daas_engine_config(handle, ctypes.byref(b))
    device = str(json.loads(_raw.take_bytes(lib, b))["device"])
    return Sizes(int(n_alpha.value), int(n_edges.value)), None if device == "cpu" else int(device.partition(":")[2] or 0)


def _free_handle(handle: Any) -> None:
    """Finalizer body: free an engine handle, never from a forked child (the Go runtime is gone)."""
    if _library.in_forked_child():
        return
    lib = _library._lib
    if lib is not None:
        lib.daas_engine_free(handle)


class Engine:
    """One architecture search (α, β, Adam state, schedule position, history) in libdaas.

    ``Engine(config)`` takes a dict, a JSON string or None (all defaults); see docs/CONFIG.md for the keys.
    Use it as a context manager, or call :meth:`close`; a forgotten engine is freed when it is
    garbage-collected. Every call holds the engine's lock, so one engine may be shared by threads.
    Methods of a closed engine raise ValueError.

    Buffers: :meth:`step` passes float32 C-contiguous numpy arrays and CPU torch tensors to the
    library without copying; other inputs are converted once (with a :class:`~daas.errors.CopyWarning`);
    tensors on a GPU are refused with ValueError (call ``.cpu()`` yourself, so the copy is visible) -
    except by a device engine (``{"device": "cuda"}``, libdaas-cuda.so), whose :meth:`step` and
    :meth:`weights` take CUDA tensors and enqueue kernels on the current stream, never copying to
    the host (:attr:`device`, :meth:`sync`).
    """

    __slots__ = ("_handle", "_lock", "_finalizer", "_sizes", "_device", "__weakref__")

    def __init__(self, config: Config = None) -> None:
        text = _config_bytes(config)
        lib = _library.get()
        out = _raw.daas_engine_p()
        lib.daas_engine_create(text, ctypes.byref(out))
        self._adopt(lib, out)

    def _adopt(self, lib: ctypes.CDLL, handle: Any) -> None:
        self._lock = threading.Lock()
        self._handle = handle
        self._finalizer = weakref.finalize(self, _free_handle, handle)
        self._sizes, self._device = _describe(lib, handle)

    @classmethod
    def load_bytes(cls, data: Union[bytes, bytearray, memoryview]) -> "Engine":
        """Restore an engine from state bytes (``save()``).

        Raises CorruptStateError for bytes that are not a valid state (any changed byte included),
        VersionMismatchError for a state of an unknown schema version and DeviceError for a state
        saved on a device this build lacks.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"daas: load_bytes needs bytes, got {type(data).__name__}")
        eng = cls.__new__(cls)
        lib, out = _library.get(), _load_handle(bytes(data))
        eng._adopt(lib, out)
        return eng

    @classmethod
    def load_file(cls, path: Union[str, "os.PathLike[str]"]) -> "Engine":
        """Restore an engine from a state file (``save_file()``); the errors of :meth:`load_bytes`, and
        DaasIOError for a file that cannot be read."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"daas: load_file needs a path, got {type(path).__name__}")
        lib = _library.get()
        out = _raw.daas_engine_p()
        lib.daas_engine_load_file(_encode_path(path), ctypes.byref(out))
        eng = cls.__new__(cls)
        eng._adopt(lib, out)
        return eng

    @classmethod
    def load(cls, source: StateSource) -> "Engine":
        """Restore an engine from state bytes or a file path: :meth:`load_bytes` for bytes, bytearray
        or memoryview, :meth:`load_file` for a str or path-like. Prefer those two, which say which."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            return cls.load_bytes(source)
        if isinstance(source, (str, os.PathLike)):
            return cls.load_file(source)
        raise TypeError(f"daas: load needs bytes or a path, got {type(source).__name__}")

    def state_dict(self) -> Dict[str, Any]:
        """``{"state": bytes}``: the whole state (``save()``), for ``torch.save`` checkpoints."""
        return {"state": self.save()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Puts this engine (the same object) into the state of ``state_dict()``: the saved state
        replaces the current one, which is freed. A state that does not load leaves the engine as it
        was and raises the errors of :meth:`load_bytes`."""
        data = state_dict["state"]
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"daas: state_dict['state'] must be bytes, got {type(data).__name__}")
        lib, out = _library.get(), _load_handle(bytes(data))
        with self._lock:
            self._open()  # refuses a closed engine
            old = self._finalizer
            self._handle = out
            self._finalizer = weakref.finalize(self, _free_handle, out)
            self._sizes, self._device = _describe(lib, out)
        old()

    # -- life cycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Free the engine now. Safe to call more than once; the engine is unusable afterwards."""
        lock = getattr(self, "_lock", None)
        if lock is None:  # __init__ failed before a handle existed
            return
        with lock:
            self._handle = None
            self._finalizer()  # frees once; later calls do nothing

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return getattr(self, "_handle", None) is None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _open(self) -> Tuple[ctypes.CDLL, Any]:
        """The library and the handle; call with the lock held."""
        if self._handle is None:
            raise ValueError("daas: the engine is closed")
        return _library.get(), self._handle

    # -- reading -----------------------------------------------------------------------------

    @property
    def sizes(self) -> Sizes:
        """(n_alpha, n_edges): the lengths of α and op weights, and of β and edge weights."""
        with self._lock:
            self._open()
            return self._sizes

    @property
    def device(self) -> str:
        """Where α, β and the Adam state live and step: ``"cpu"``, or ``"cuda:N"`` for a device engine
        (created with ``{"device": "cuda"}`` in a process that loaded libdaas-cuda.so)."""
        return "cpu" if self._device is None else f"cuda:{self._device}"

    def sync(self) -> None:
        """Wait for the device engine's enqueued work; raises NumericError naming the first step the
        device refused since the last synchronizing call (see include/daas.h, THE DEVICE ENGINE).
        Every reading method synchronizes too. A host engine has nothing to wait for."""
        if self._device is None:
            return
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_sync(h)

    def _device_buffer(self, x: Any, name: str, n: int) -> Optional[int]:
        """The device address of ``x`` when this is a device engine and ``x`` a CUDA tensor (checked:
        float32, contiguous, on the engine's GPU, n elements); None to take the host path."""
        if self._device is None or not _is_torch_tensor(x) or x.device.type != "cuda":
            return None
        if x.device.index != self._device:
            raise ValueError(f"daas: {name} is on {x.device}, the engine on cuda:{self._device}")
        if x.dtype is not _torch_f32 or not x.is_contiguous():
            raise InvalidArgumentError(E_INVALID_ARGUMENT, f"daas: {name}: a contiguous torch.float32 CUDA tensor is needed "
                                       f"(got {x.dtype}, contiguous={x.is_contiguous()})")
        if x.numel() != n:
            raise InvalidArgumentError(E_INVALID_ARGUMENT, f"daas: {name} has {x.numel()} values, want {n}")
        return int(x.data_ptr())

    def _enqueue(self, fn: str, op: Any, edge: Any, names: Tuple[str, str]) -> bool:
        """Call the device function ``fn`` on the current stream when this is a device engine and
        ``op``/``edge`` are CUDA tensors (checked); False, calling nothing, to take the host path."""
        op_dev = self._device_buffer(op, names[0], self._sizes.n_alpha)
        edge_dev = self._device_buffer(edge, names[1], self._sizes.n_edges)
        if op_dev is None or edge_dev is None:
            return False
        import torch  # a CUDA tensor is in hand

        stream = int(torch.cuda.current_stream(op.device).cuda_stream)
        with self._lock:
            lib, h = self._open()
            getattr(lib, fn)(h, op_dev, self._sizes.n_alpha, edge_dev, self._sizes.n_edges, stream)
        return True

    @property
    def alpha(self) -> FloatArray:
        """A float32 copy of α, laid out ``[cell][edge][op]``."""
        out = np.empty(self._sizes.n_alpha, dtype=np.float32)
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_get_alpha(h, out.ctypes.data, out.size)
        return out

    @property
    def beta(self) -> FloatArray:
        """A float32 copy of β, laid out ``[cell][edge]`` (1.0 on nodes that keep every input)."""
        out = np.empty(self._sizes.n_edges, dtype=np.float32)
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_get_beta(h, out.ctypes.data, out.size)
        return out

    def weights(self, out: Optional[Tuple[Any, Any]] = None) -> Tuple[Any, Any]:
        """The mixing weights the supernet uses: (op_weights, edge_weights), docs/DESIGN.md, Relaxation.

        Without ``out`` two new float32 arrays are returned (a device engine returns CUDA tensors on
        its GPU). With ``out=(op, edge)`` they are filled in place and returned: each must be a
        writable, C-contiguous float32 numpy array or CPU torch tensor of n_alpha and n_edges
        elements (any shape) - or, for a device engine, contiguous float32 CUDA tensors on its GPU,
        which are written by a kernel on the current stream, without waiting.
        """
        if out is None:
            if self._device is not None:
                import torch  # a device engine lives in a process with torch and a GPU

                dev = torch.device("cuda", self._device)
                out = (torch.empty(self._sizes.n_alpha, dtype=torch.float32, device=dev),
                       torch.empty(self._sizes.n_edges, dtype=torch.float32, device=dev))
            else:
                out = (np.empty(self._sizes.n_alpha, dtype=np.float32), np.empty(self._sizes.n_edges, dtype=np.float32))
        op, edge = out
        if self._enqueue("daas_engine_get_weights_device", op, edge, ("op weights", "edge weights")):
            return op, edge
        op_ptr, n_op = _output_buffer(op, "op weights")
        edge_ptr, n_edge = _output_buffer(edge, "edge weights")
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_get_weights(h, op_ptr, n_op, edge_ptr, n_edge)
        return op, edge

    def metrics(self) -> Dict[str, Any]:
        """The metrics at the current α, β and epoch (docs/CONFIG.md: epoch, step, lambda_c, ...)."""
        b = _raw.daas_bytes()
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_metrics(h, ctypes.byref(b))
            text = _raw.take_bytes(lib, b)
        return dict(json.loads(text))

    @property
    def epoch(self) -> int:
        """The current epoch (1-based)."""
        out = ctypes.c_int32()
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_epoch(h, ctypes.byref(out))
        return int(out.value)

    @property
    def config(self) -> Dict[str, Any]:
        """The engine's configuration, canonical: every key present, the space as an object."""
        b = _raw.daas_bytes()
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_config(h, ctypes.byref(b))
            text = _raw.take_bytes(lib, b)
        return dict(json.loads(text))

    def discretize(self) -> Genotype:
        """The genotype of the current α and β (docs/DESIGN.md, Discretization)."""
        b = _raw.daas_bytes()
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_discretize(h, ctypes.byref(b))
            text = _raw.take_bytes(lib, b)
        return Genotype(text.decode("utf-8"))

    def save(self) -> bytes:
        """The whole state as FlatBuffers bytes; :meth:`load` continues from it bit-identically."""
        b = _raw.daas_bytes()
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_save(h, ctypes.byref(b))
            return _raw.take_bytes(lib, b)

    def save_file(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the state to ``path`` atomically (``daas_engine_save_file``).

        The library writes a temporary file in the same folder, fsyncs it, renames it over ``path``
        and fsyncs the folder: after a crash ``path`` holds either the old state or the new one,
        never a torn file. An I/O failure raises :class:`daas.DaasIOError` naming the path and the
        system's reason, and leaves an earlier file at ``path`` intact.
        """
        encoded = _encode_path(path)
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_save_file(h, encoded)

    # -- changing ----------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Move the schedules to ``epoch`` (1..epochs); leaving an epoch records it in the history."""
        e = operator.index(epoch)
        if not _INT32_MIN <= e <= _INT32_MAX:
            raise InvalidArgumentError(E_INVALID_ARGUMENT, f"daas: epoch: {e} does not fit in int32")
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_set_epoch(h, e)

    def step(self, grad_op: Any, grad_edge: Any) -> None:
        """One architecture step from the task loss's gradients w.r.t. the op and edge weights.

        On a device engine, contiguous float32 CUDA tensors on its GPU are read by a kernel enqueued
        on the current stream: the call returns at once, and a refused step (NaN, Inf, out of
        bounds) raises NumericError from the next synchronizing call (:meth:`sync`, or any reading
        method) instead. Host buffers work on a device engine too, synchronizing.

        On the host, gradients holding NaN or Inf, or an update that would leave the bounds every state keeps
        (|α|, |β| ≤ 1e12; no search comes near), raise NumericError and leave the engine exactly as
        it was; wrong lengths raise InvalidArgumentError.
        """
        if grad_op is None or grad_edge is None:
            raise TypeError(_missing_gradient("grad_op" if grad_op is None else "grad_edge"))
        if self._enqueue("daas_engine_step_device", grad_op, grad_edge, ("grad_op", "grad_edge")):
            return
        keep_op, op_ptr, n_op = _input_buffer(grad_op, "grad_op")
        keep_edge, edge_ptr, n_edge = _input_buffer(grad_edge, "grad_edge")
        sizes = self._sizes
        if n_op != sizes.n_alpha or n_edge != sizes.n_edges:
            raise InvalidArgumentError(E_INVALID_ARGUMENT, self._length_message(n_op, n_edge))
        with self._lock:
            lib, h = self._open()
            lib.daas_engine_step(h, op_ptr, n_op, edge_ptr, n_edge)
        del keep_op, keep_edge

    def _length_message(self, n_op: int, n_edge: int) -> str:
        """Names the gradient whose length is wrong and the layout it must have."""
        cells = self.config["space"]["cells"]
        n_ops = len(self.config["space"]["ops"])
        edges = [c["nodes"] * c["inputs"] + c["nodes"] * (c["nodes"] - 1) // 2 for c in cells]
        per_cell = (f"{len(cells)}x{edges[0]}" if len(set(edges)) == 1 else "+".join(map(str, edges)))
        if n_op != self._sizes.n_alpha:
            return (f"daas: grad_op has {n_op} values, want n_alpha = {self._sizes.n_alpha}: layout [cell][edge][op] = "
                    f"{per_cell}x{n_ops} for this space")
        return f"daas: grad_edge has {n_edge} values, want n_edges = {self._sizes.n_edges}: layout [cell][edge] = {per_cell}"

    # -- Python protocol ---------------------------------------------------------------------

    def __reduce__(self) -> Tuple[Any, Tuple[bytes]]:
        # Pickling (and multiprocessing with 'spawn') goes through the saved state.
        return (Engine.load, (self.save(),))

    def __repr__(self) -> str:
        if self.closed:
            return "<daas.Engine closed>"
        return f"<daas.Engine n_alpha={self._sizes.n_alpha} n_edges={self._sizes.n_edges}>"


def _encode_path(path: Union[str, "os.PathLike[str]"]) -> bytes:
    """A path as the C ABI takes it: file-system encoded, without NUL (C would cut it there)."""
    encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise InvalidArgumentError(E_INVALID_ARGUMENT, f"daas: path {path!r} contains a NUL byte")
    return encoded
