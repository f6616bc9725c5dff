"""TensorBoard scalars without TensorBoard: an event-file writer for ``--tensorboard DIR``.

TensorBoard reads ``events.out.tfevents.*`` files: a sequence of records, each ``uint64 length``,
``uint32 masked CRC-32C of the length``, the data, ``uint32 masked CRC-32C of the data`` (little
endian; masked = ``((crc >> 15 | crc << 17) + 0xa282ead8) mod 2^32``). Each record's data is an
``Event`` protocol buffer: ``wall_time`` (field 1, double), ``step`` (2, int64), ``file_version``
(3, string, in the first event) and ``summary`` (5) holding ``Value`` entries (1) of ``tag`` (1, string)
and ``simple_value`` (2, float). That is all a scalar needs, so this module writes those bytes itself
and the search needs no TensorBoard or protobuf package; point ``tensorboard --logdir DIR`` at the
folder to watch a run.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import Mapping, Optional

from ..state import crc32c

__all__ = ["EventWriter"]


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # int64 as protobuf encodes it
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes_field(number: int, data: bytes) -> bytes:
    return _field(number, 2) + _varint(len(data)) + data


def _event(wall_time: float, step: int, *, file_version: Optional[str] = None,
           scalars: Optional[Mapping[str, float]] = None) -> bytes:
    out = _field(1, 1) + struct.pack("<d", wall_time) + _field(2, 0) + _varint(step)
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if scalars:
        values = b"".join(_bytes_field(1, _bytes_field(1, tag.encode()) + _field(2, 5) + struct.pack("<f", float(v)))
                          for tag, v in scalars.items())
        out += _bytes_field(5, values)
    return out


class EventWriter:
    """Appends scalar events to a new event file in ``logdir`` (created if needed). Every
    :meth:`scalars` call is flushed, so a run being watched shows each epoch as it ends."""

    def __init__(self, logdir: str) -> None:
        os.makedirs(logdir, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.daas"
        self.path = os.path.join(logdir, name)
        self._file = open(self.path, "ab")
        self._write(_event(time.time(), 0, file_version="brain.Event:2"))

    def _write(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", _masked_crc(header)) + data + struct.pack("<I", _masked_crc(data)))
        self._file.flush()

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Writes ``values`` (tag -> number; None entries are skipped) at ``step``."""
        kept = {k: float(v) for k, v in values.items() if v is not None}
        if kept:
            self._write(_event(time.time(), int(step), scalars=kept))

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
