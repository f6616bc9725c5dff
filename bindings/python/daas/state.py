"""Read a daas state file without loading libdaas.

``daas.state.read(path_or_bytes)`` checks the file identifier, the CRC-32C and the schema version,
then reads α, β, the Adam moments, the configuration, the schedule position and the per-epoch history
with the code flatc generated from ``schemas/daas.fbs`` (in :mod:`daas._statefb`). It is a reader for
inspection and plotting: to *continue* a search, load the state with :meth:`daas.Engine.load`, which
also validates every field.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import numpy as np

try:
    import flatbuffers  # noqa: F401  (the readers flatc generated in daas._statefb use it)
except ImportError as exc:
    raise ImportError(
        "daas.state needs the flatbuffers package: pip install 'daas-engine[state]' "
        "(or pip install flatbuffers==25.12.19)",
        name=exc.name,
    ) from exc

from . import _statefb as fb
from .errors import E_CORRUPT_STATE, E_VERSION_MISMATCH, CorruptStateError, VersionMismatchError

__all__ = ["AdamGroup", "EpochRecord", "State", "read", "crc32c"]


def _crc32c_table() -> List[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli), the checksum daas states carry."""
    crc ^= 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@dataclass
class AdamGroup:
    """One parameter group's Adam state: step count and the two moments."""

    step: int
    m: np.ndarray
    v: np.ndarray


@dataclass
class EpochRecord:
    """The history entry of one finished epoch: its metrics and the genotype at its end."""

    epoch: int
    steps: int
    metrics: Dict[str, Any]
    genotype: Dict[str, Any]


@dataclass
class State:
    """A daas state as stored: float64 α and β in the flat layouts of docs/DESIGN.md, Flat layouts."""

    schema_version: int
    config: Dict[str, Any]
    space: Dict[str, Any]
    method: str
    epochs: int
    seed: int
    epoch: int
    steps: int
    epoch_steps: int
    alpha: np.ndarray
    beta: np.ndarray
    adam_alpha: AdamGroup
    adam_beta: AdamGroup
    history: List[EpochRecord] = field(default_factory=list)
    #: The discreteness controller's boosts ``{"op": b_op, "edge": b_edge}``; None when the config
    #: has no ``control``.
    control: Optional[Dict[str, float]] = None


def read(source: Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]) -> State:
    """Read a state from bytes or a file path.

    Raises :class:`daas.CorruptStateError` (a ``ValueError``) for anything that is not an intact daas
    state and :class:`daas.VersionMismatchError` for a state of another schema version.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        with open(os.fspath(source), "rb") as f:
            data = f.read()
    body, version = _open_envelope(data)
    try:
        return _read_body(body, version)
    except (CorruptStateError, VersionMismatchError):
        raise
    except Exception as exc:  # the generated readers raise struct/index errors on malformed input
        raise CorruptStateError(E_CORRUPT_STATE, f"daas.state: malformed state body: {exc}") from None


def _corrupt(msg: str) -> CorruptStateError:
    return CorruptStateError(E_CORRUPT_STATE, "daas.state: " + msg)


def _open_envelope(data: bytes) -> "tuple[bytes, int]":
    if len(data) < 8 or data[4:8] != fb.FILE_IDENTIFIER:
        raise _corrupt("not a daas state (no DAAS file identifier)")
    try:
        env = fb.Envelope.GetRootAs(data, 0)
        version = int(env.SchemaVersion())
        stored = int(env.Crc32c())
        n = env.BodyLength()
        if n <= 0:
            raise _corrupt("the state has no body")
        start = env._tab.Vector(env._tab.Offset(8))
        if start + n > len(data):
            raise _corrupt("the body runs past the end of the data")
        body = data[start : start + n]
    except CorruptStateError:
        raise
    except Exception as exc:
        raise _corrupt(f"malformed envelope: {exc}") from None
    if crc32c(struct.pack("<I", version) + body) != stored:
        raise _corrupt("checksum mismatch: the state was changed or truncated")
    if version != fb.SCHEMA_VERSION:
        raise VersionMismatchError(
            E_VERSION_MISMATCH,
            f"daas.state: the state has schema version {version}; this reader knows version {fb.SCHEMA_VERSION}",
        )
    return body, version


def _doubles(tab: Any, name: str) -> np.ndarray:
    arr = getattr(tab, name + "AsNumpy")()
    if isinstance(arr, int):  # flatbuffers returns 0 for an absent vector
        return np.zeros(0, dtype=np.float64)
    return np.array(arr, dtype=np.float64)


def _adam(a: Any) -> AdamGroup:
    return AdamGroup(step=int(a.Step()), m=_doubles(a, "M"), v=_doubles(a, "V"))


def _metrics(m: Any) -> Dict[str, Any]:
    return {
        "method": m.Method().decode(),
        "epoch": int(m.Epoch()),
        "step": int(m.Step()),
        "lambda_c": m.LambdaC(),
        "lambda_alpha": m.LambdaAlpha(),
        "lambda_beta": m.LambdaBeta(),
        "op_entropy": m.OpEntropy(),
        "edge_entropy": m.EdgeEntropy(),
        "edge_count_penalty": m.EdgeCountPenalty(),
        "disc_loss": m.DiscLoss(),
        "discreteness": m.Discreteness(),
        "weakest_edge": m.WeakestEdge(),
        # 0 in records written before these metrics existed
        "weakest_kept_edge": m.WeakestKeptEdge(),
        "kept_mass": m.KeptMass(),
        "op_boost": m.OpBoost(),
        "edge_boost": m.EdgeBoost(),
    }


def _space(s: Any) -> Dict[str, Any]:
    cells = []
    for i in range(s.CellsLength()):
        c = s.Cells(i)
        cells.append(
            {
                "name": c.Name().decode(),
                "inputs": int(c.Inputs()),
                "nodes": int(c.Nodes()),
                "keep": [int(c.Keep(j)) for j in range(c.KeepLength())],
            }
        )
    return {
        "ops": [s.Ops(i).decode() for i in range(s.OpsLength())],
        "discard": [s.Discard(i).decode() for i in range(s.DiscardLength())],
        "cells": cells,
    }


def _read_body(body: bytes, version: int) -> State:
    st = fb.State.GetRootAs(body, 0)
    history = []
    for i in range(st.HistoryLength()):
        r = st.History(i)
        history.append(
            EpochRecord(
                epoch=int(r.Epoch()),
                steps=int(r.Steps()),
                metrics=_metrics(r.Metrics()),
                genotype=json.loads(r.GenotypeJson().decode()),
            )
        )
    config = json.loads(st.ConfigJson().decode())
    return State(
        schema_version=version,
        config=config,
        space=_space(st.Space()),
        method=st.Method().decode(),
        epochs=int(st.Epochs()),
        seed=int(st.Seed()),
        epoch=int(st.Epoch()),
        steps=int(st.Steps()),
        epoch_steps=int(st.EpochSteps()),
        alpha=_doubles(st, "Alpha"),
        beta=_doubles(st, "Beta"),
        adam_alpha=_adam(st.AdamAlpha()),
        adam_beta=_adam(st.AdamBeta()),
        history=history,
        control={"op": st.ControlOpBoost(), "edge": st.ControlEdgeBoost()} if config.get("control") else None,
    )
