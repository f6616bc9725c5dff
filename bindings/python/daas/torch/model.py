"""The search space as PyTorch modules: a mixed op, a search cell for any space the engine accepts,
and a supernet (stem, cells, classifier) driven by the engine's flat weight tensors.

Layout (docs/DESIGN.md, Flat layouts): a cell type with ``inputs`` inputs and ``nodes`` intermediate nodes has one edge
from every earlier state into node ``j``; edges are ordered node ``j`` ascending, then input ``i``
ascending, so ``e(j, i) = sum_{j'<j} (inputs + j') + i``. The engine's op weights are
``[cell type][edge][op]`` and its edge weights ``[cell type][edge]``, cell types in config order.
Node ``j`` computes ``sum_i W_e(j,i) * sum_o A_e(j,i),o * op_o(h_i)``; the cell's output is the
concatenation of all its intermediate nodes (the genotype's ``concat``).

Network layout: a cell type named ``reduce`` is a reduction cell (its edges from the cell inputs have
stride 2 and it doubles the channel count). When the space has one, reduction cells sit at layers
``layers // 3`` and ``2 * layers // 3`` (DARTS's rule) and the other layers cycle through the other cell
types in config order; a space with a single cell type uses it for every layer. Pass ``cell_types`` to
choose the layout yourself. A cell with ``m`` inputs takes the outputs of the previous ``m`` cells (the
stem's output standing in for cells before the first), each brought to ``C`` channels and to the
spatial size of the newest one by a 1x1 ReLU-conv-BN or factorized reductions.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .ops import FactorizedReduce, ReLUConvBN, build_op, check_ops

__all__ = ["CellSpec", "SpaceSpec", "MixedOp", "SearchCell", "Network", "default_layout", "PRESETS"]

# The names of the engine's preset spaces (the values of the config's "space" key; a test compares
# them with the list the engine gives). What each one holds is never written here: PRESETS reads it
# from the engine.
_PRESET_NAMES = ("darts", "darts-none", "nb201")


class _EnginePresets(Mapping[str, Mapping[str, Any]]):
    """The engine's preset spaces by name, each spelled out the way a custom space would be (``ops``,
    ``discard``, ``cells`` with a ``keep`` list per cell type).

    The spaces are the engine's own (``daas.Engine({"space": name}).config["space"]``), read from
    libdaas on the first lookup, so importing daas.torch does not load the library; names and
    membership need no library at all. Each lookup returns a fresh copy, free to modify.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self._names = tuple(names)
        self._spaces: Optional[Mapping[str, Mapping[str, Any]]] = None
        self._lock = threading.Lock()

    def _load(self) -> Mapping[str, Mapping[str, Any]]:
        with self._lock:
            if self._spaces is None:
                from ..engine import Engine

                spaces = {}
                for name in self._names:
                    with Engine({"space": name}) as eng:
                        spaces[name] = eng.config["space"]
                self._spaces = spaces
            return self._spaces

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        if name not in self._names:
            raise KeyError(name)
        return copy.deepcopy(self._load()[name])

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<daas.torch presets {', '.join(self._names)}: read from libdaas>"


#: The engine's presets (see :class:`_EnginePresets`): ``PRESETS["darts"]["ops"]`` is the DARTS op list.
PRESETS: Mapping[str, Mapping[str, Any]] = _EnginePresets(_PRESET_NAMES)


@dataclass(frozen=True)
class CellSpec:
    """One cell type: ``inputs`` cell inputs, ``nodes`` intermediate nodes, ``keep[j]`` inputs kept at
    node ``j`` after discretization."""

    name: str
    inputs: int
    nodes: int
    keep: Tuple[int, ...]

    @property
    def edges(self) -> int:
        return self.nodes * self.inputs + self.nodes * (self.nodes - 1) // 2

    def edge_index(self, j: int, i: int) -> int:
        """Index of the edge from state ``i`` into node ``j`` within the cell (docs/DESIGN.md, Flat layouts)."""
        if not (0 <= j < self.nodes and 0 <= i < self.inputs + j):
            raise IndexError(f"daas.torch: cell {self.name!r} has no edge from state {i} into node {j}")
        return j * self.inputs + j * (j - 1) // 2 + i


@dataclass(frozen=True)
class SpaceSpec:
    """A search space: cell types sharing one op list (docs/DESIGN.md, Flat layouts)."""

    ops: Tuple[str, ...]
    discard: Tuple[str, ...]
    cells: Tuple[CellSpec, ...]

    @property
    def n_edges(self) -> int:
        return sum(c.edges for c in self.cells)

    @property
    def n_alpha(self) -> int:
        return self.n_edges * len(self.ops)

    @property
    def sizes(self) -> Tuple[int, int]:
        """``(n_alpha, n_edges)``, as the engine's ``sizes``."""
        return self.n_alpha, self.n_edges

    def edge_offset(self, cell: int) -> int:
        """Global index of cell type ``cell``'s first edge."""
        return sum(c.edges for c in self.cells[:cell])

    def cell_index(self, name: str) -> int:
        for ci, c in enumerate(self.cells):
            if c.name == name:
                return ci
        raise KeyError(f"daas.torch: the space has no cell type {name!r} (has {[c.name for c in self.cells]})")

    @classmethod
    def parse(cls, source: Union["SpaceSpec", str, bytes, Mapping[str, Any], None]) -> "SpaceSpec":
        """Builds a space from an engine config (a dict, or its JSON text) or from the config's
        ``space`` value itself (a preset name or a space object). ``None`` is the default ``darts``."""
        if isinstance(source, SpaceSpec):
            return source
        if isinstance(source, bytes):
            source = source.decode()
        if isinstance(source, str):
            stripped = source.strip()
            if stripped.startswith("{"):
                source = json.loads(stripped)
            else:
                return cls._preset(stripped)
        if source is None:
            return cls._preset("darts")
        if not isinstance(source, Mapping):
            raise TypeError(f"daas.torch: cannot read a search space from {type(source).__name__}")
        if "cells" in source or "ops" in source:
            return cls._from_object(source)
        space = source.get("space")  # a whole engine config
        if space is None:
            return cls._preset("darts")
        if isinstance(space, str):
            return cls._preset(space)
        return cls._from_object(space)

    @classmethod
    def _preset(cls, name: str) -> "SpaceSpec":
        if name not in PRESETS:
            raise ValueError(f"daas.torch: unknown preset space {name!r} (known: {', '.join(PRESETS)})")
        return cls._from_object(PRESETS[name])

    @classmethod
    def _from_object(cls, obj: Mapping[str, Any]) -> "SpaceSpec":
        ops = tuple(obj.get("ops") or ())
        if not ops:
            raise ValueError("daas.torch: space.ops must list at least one op")
        discard = tuple(obj.get("discard") or ())
        cells = []
        for ci, c in enumerate(obj.get("cells") or ()):
            inputs, nodes = int(c["inputs"]), int(c["nodes"])
            if inputs < 1 or nodes < 1:
                raise ValueError(f"daas.torch: space.cells[{ci}]: inputs and nodes must be >= 1")
            cells.append(CellSpec(str(c["name"]), inputs, nodes, _parse_keep(c.get("keep"), inputs, nodes, ci)))
        if not cells:
            raise ValueError("daas.torch: space.cells must list at least one cell type")
        return cls(ops, discard, tuple(cells))

    def to_json_object(self) -> dict:
        """The space as the engine's custom-space object."""
        return {"ops": list(self.ops), "discard": list(self.discard),
                "cells": [{"name": c.name, "inputs": c.inputs, "nodes": c.nodes, "keep": list(c.keep)}
                          for c in self.cells]}


def _parse_keep(keep: Any, inputs: int, nodes: int, ci: int) -> Tuple[int, ...]:
    if keep is None or keep == "all":
        return tuple(inputs + j for j in range(nodes))
    if isinstance(keep, (list, tuple)):
        if len(keep) != nodes:
            raise ValueError(f"daas.torch: space.cells[{ci}].keep has {len(keep)} entries, want {nodes}")
        return tuple(int(k) for k in keep)
    if isinstance(keep, int) and not isinstance(keep, bool) and keep >= 1:
        return tuple(min(keep, inputs + j) for j in range(nodes))
    raise ValueError(f"daas.torch: space.cells[{ci}].keep: want \"all\", a number >= 1 or a list, got {keep!r}")


def default_layout(space: SpaceSpec, layers: int) -> List[str]:
    """The cell type of each layer: ``reduce`` at ``layers//3`` and ``2*layers//3`` when the space has
    a cell type of that name, the other types cycling over the remaining layers."""
    names = [c.name for c in space.cells]
    if "reduce" not in names:
        return [names[i % len(names)] for i in range(layers)]
    others = [n for n in names if n != "reduce"] or ["reduce"]
    reductions = {layers // 3, 2 * layers // 3}
    out, k = [], 0
    for layer in range(layers):
        if layer in reductions:
            out.append("reduce")
        else:
            out.append(others[k % len(others)])
            k += 1
    return out


def preprocess(channels: int, level: int, target: int, C: int, affine: bool) -> nn.Module:
    """What brings a cell input of ``channels`` channels at ``level`` spatial halvings to ``C`` channels
    at the cell's ``target`` level: factorized reductions while it is larger, else a 1x1 ReLU-conv-BN.
    The supernet's cells and the retrained network's share it, so both lay out the same network."""
    if level < target:
        steps: List[nn.Module] = [FactorizedReduce(channels, C, affine)]
        steps += [FactorizedReduce(C, C, affine) for _ in range(target - level - 1)]
        return nn.Sequential(*steps)
    return ReLUConvBN(channels, C, 1, 1, 0, affine)


class MixedOp(nn.Module):
    """All ops of the space on one edge: ``sum_o w_o * op_o(x)``."""

    def __init__(self, ops: Sequence[str], C: int, stride: int, affine: bool = False) -> None:
        super().__init__()
        self.names = list(ops)
        self.ops = nn.ModuleList(build_op(name, C, stride, affine) for name in ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, active: Optional[Sequence[bool]] = None) -> torch.Tensor:
        """``weights`` holds one weight per op; ops whose ``active`` entry is False are skipped
        (used where their weight is exactly 0 and no gradient is needed)."""
        out: Optional[torch.Tensor] = None
        first = None
        for o, op in enumerate(self.ops):
            if active is not None and not active[o]:
                continue
            y = weights[o] * op(x)
            out = y if out is None else out + y
        if out is None:  # every op skipped: the edge contributes zeros of the right shape
            first = self.ops[0](x)
            out = first.mul(0.0)
        return out


class SearchCell(nn.Module):
    """One cell of the supernet for a cell type of any space.

    ``in_shapes`` lists, for each cell input, its channel count and its number of spatial halvings
    since the stem; inputs at a larger spatial size than the newest one are factor-reduced.
    """

    def __init__(self, spec: CellSpec, ops: Sequence[str], in_shapes: Sequence[Tuple[int, int]], C: int,
                 reduction: bool, affine: bool = False) -> None:
        super().__init__()
        if len(in_shapes) != spec.inputs:
            raise ValueError(f"daas.torch: cell {spec.name!r} takes {spec.inputs} inputs, got {len(in_shapes)}")
        self.spec = spec
        self.reduction = reduction
        target = max(level for _, level in in_shapes)
        self.preprocess = nn.ModuleList(preprocess(channels, level, target, C, affine) for channels, level in in_shapes)
        self.edges = nn.ModuleList()
        for j in range(spec.nodes):
            for i in range(spec.inputs + j):
                stride = 2 if reduction and i < spec.inputs else 1
                self.edges.append(MixedOp(ops, C, stride, affine))
        self.out_channels = C * spec.nodes
        self.out_level = target + (1 if reduction else 0)

    def forward(self, inputs: Sequence[torch.Tensor], weights: torch.Tensor,
                active: Optional[List[List[bool]]] = None) -> torch.Tensor:
        """``weights`` is ``[edges, ops]``: op weight times edge weight, ``W_e * A_e,o``."""
        spec = self.spec
        states = [pre(x) for pre, x in zip(self.preprocess, inputs)]
        e = 0
        for j in range(spec.nodes):
            node: Optional[torch.Tensor] = None
            for i in range(spec.inputs + j):
                edge_active = None if active is None else active[e]
                if edge_active is None or any(edge_active):
                    y = self.edges[e](states[i], weights[e], edge_active)
                    node = y if node is None else node + y
                e += 1
            if node is None:  # every incoming edge at weight 0
                first = spec.edge_index(j, 0)
                node = self.edges[first](states[0], weights[first], None).mul(0.0)
            states.append(node)
        return torch.cat(states[spec.inputs:], dim=1)


class Network(nn.Module):
    """The supernet: a 3x3 convolution stem, ``layers`` search cells, global average pooling and a
    linear classifier. ``forward(x, op_weights, edge_weights)`` takes the engine's flat weights
    (``[cell type][edge][op]`` and ``[cell type][edge]``, any shape with those many elements) on the
    model's device; cells of one type share that type's weights.

    ``space`` is anything :meth:`SpaceSpec.parse` accepts (an engine config dict, a preset name, a
    space object). BatchNorm layers are affine-free by default, as in a DARTS search.
    """

    def __init__(self, space: Any = None, C: int = 16, layers: int = 8, num_classes: int = 10,
                 in_channels: int = 3, *, cell_types: Optional[Sequence[str]] = None, stem_multiplier: int = 3,
                 affine: bool = False) -> None:
        super().__init__()
        self.space = SpaceSpec.parse(space)
        check_ops(self.space.ops)
        if layers < 1 or C < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError("daas.torch: C, layers, num_classes and in_channels must be >= 1")
        self.cell_types = list(cell_types) if cell_types is not None else default_layout(self.space, layers)
        if len(self.cell_types) != layers:
            raise ValueError(f"daas.torch: cell_types has {len(self.cell_types)} entries, want {layers}")
        self._cell_index = [self.space.cell_index(name) for name in self.cell_types]
        self.C = C
        self.num_classes = num_classes
        C_stem = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
        shapes: List[Tuple[int, int]] = [(C_stem, 0)]  # every state so far: (channels, halvings)
        C_curr = C
        self.cells = nn.ModuleList()
        for name, ci in zip(self.cell_types, self._cell_index):
            spec = self.space.cells[ci]
            reduction = name == "reduce"
            if reduction:
                C_curr *= 2
            m = spec.inputs
            ins = ([shapes[0]] * max(0, m - len(shapes)) + shapes)[-m:]
            cell = SearchCell(spec, self.space.ops, ins, C_curr, reduction, affine)
            self.cells.append(cell)
            shapes.append((cell.out_channels, cell.out_level))
        self.classifier = nn.Linear(shapes[-1][0], num_classes)

    @property
    def sizes(self) -> Tuple[int, int]:
        """``(n_alpha, n_edges)`` the engine must report for this network's space."""
        return self.space.sizes

    def check_engine(self, engine: Any) -> None:
        """Raises ValueError unless ``engine.sizes`` matches this network's space."""
        got = tuple(engine.sizes)
        if got != self.sizes:
            raise ValueError(f"daas.torch: the engine's sizes {got} do not match the network's space {self.sizes}; "
                             "build both from the same config")

    def _split(self, op_weights: torch.Tensor, edge_weights: torch.Tensor) -> List[torch.Tensor]:
        n_alpha, n_edges = self.sizes
        if op_weights.numel() != n_alpha or edge_weights.numel() != n_edges:
            raise ValueError(f"daas.torch: want {n_alpha} op weights and {n_edges} edge weights, got "
                             f"{op_weights.numel()} and {edge_weights.numel()}")
        n_ops = len(self.space.ops)
        op_w = op_weights.reshape(n_edges, n_ops)
        combined = op_w * edge_weights.reshape(n_edges, 1).to(op_w.dtype)
        out, start = [], 0
        for spec in self.space.cells:
            out.append(combined[start:start + spec.edges])
            start += spec.edges
        return out

    def forward(self, x: torch.Tensor, op_weights: torch.Tensor, edge_weights: torch.Tensor, *,
                skip_zero: bool = False) -> torch.Tensor:
        """Logits for ``x``. With ``skip_zero`` ops whose combined weight is exactly 0 are not run
        (one host synchronisation per call; no gradient reaches those weights)."""
        per_type = self._split(op_weights, edge_weights)
        active: List[Optional[List[List[bool]]]] = [None] * len(per_type)
        if skip_zero:
            active = [(w != 0).cpu().tolist() for w in per_type]
        s = self.stem(x)
        states = [s]
        for cell, ci in zip(self.cells, self._cell_index):
            m = cell.spec.inputs
            ins = ([states[0]] * max(0, m - len(states)) + states)[-m:]
            states.append(cell(ins, per_type[ci], active[ci]))
        out = F.adaptive_avg_pool2d(states[-1], 1).flatten(1)
        return self.classifier(out)
