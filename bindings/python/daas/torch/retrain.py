"""Retraining a discovered architecture from scratch: the genotype as a stand-alone network, random
genotypes as baselines, and a standard training recipe.

:class:`DiscreteNetwork` has the supernet's layout (:class:`~daas.torch.model.Network`): the same stem,
the same cell type at every layer, the same inputs per cell, the same preprocessing and the same
classifier. Only the edges the genotype keeps are built, each with its one op, and BatchNorm layers
are affine by default, as usual when training a final architecture. Node ``j`` of a cell sums its
kept edges' outputs; the cell concatenates the genotype's ``concat`` states (its intermediate nodes).
A cell input that no kept edge reads gets no preprocessing: it would never influence the output.

The genotype is a dict in the engine's JSON form (``{"cells": [{"name", "concat", "nodes"}]}``, the
``nodes`` holding ``{"input", "op"}`` choices), its JSON text, or a :class:`daas.Genotype`. Each
choice's optional ``weight`` (the trained edge weight) is ignored unless ``use_weights=True``, which
scales each edge's output by it as a fixed constant.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .data import Batches, Dataset, Split
from .model import CellSpec, SpaceSpec, default_layout, preprocess
from .ops import Identity, Zero, build_op, check_ops

__all__ = ["DiscreteCell", "DiscreteNetwork", "check_genotype", "random_genotype", "train_from_scratch",
           "retrain"]


# -- genotypes -------------------------------------------------------------------------------------


def _as_dict(genotype: Any) -> Dict[str, Any]:
    """A plain deep copy of the genotype's JSON data."""
    if hasattr(genotype, "to_json"):
        genotype = genotype.to_json()
    if isinstance(genotype, (bytes, bytearray)):
        genotype = bytes(genotype).decode("utf-8")
    if isinstance(genotype, str):
        try:
            genotype = json.loads(genotype)
        except json.JSONDecodeError as exc:
            raise ValueError(f"daas.torch: the genotype is not valid JSON: {exc}") from None
    if not isinstance(genotype, Mapping):
        raise TypeError(f"daas.torch: cannot read a genotype from {type(genotype).__name__}")
    try:
        return dict(json.loads(json.dumps(dict(genotype))))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"daas.torch: the genotype is not plain JSON data: {exc}") from None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_genotype(space: Any, genotype: Any, *, need_weights: bool = False) -> Dict[str, Any]:
    """Checks ``genotype`` against ``space`` and returns it as a plain dict, one cell entry per cell
    type in the space's order, each with its ``concat`` filled in when it was missing.

    Raises ValueError naming the cell, node and choice at fault: a cell type the space lacks (or one
    missing or repeated), a node count, a node keeping a number of inputs other than the space's
    ``keep``, an input outside ``0..inputs+j-1``, an input repeated within a node, an op outside the
    space or among its discarded ops, or a ``concat`` other than the cell's intermediate nodes. With
    ``need_weights`` every choice must carry a finite ``weight``.
    """
    space = SpaceSpec.parse(space)
    g = _as_dict(genotype)
    cells = g.get("cells")
    if not isinstance(cells, list):
        raise ValueError("daas.torch: a genotype is an object whose 'cells' is a list of cell types")
    by_name: Dict[str, Mapping[str, Any]] = {}
    known = [c.name for c in space.cells]
    for k, cell in enumerate(cells):
        if not isinstance(cell, Mapping) or not isinstance(cell.get("name"), str):
            raise ValueError(f"daas.torch: genotype cells[{k}] must be an object with a string 'name'")
        name = cell["name"]
        if name not in known:
            raise ValueError(f"daas.torch: the genotype's cell type {name!r} is not in the space (has {known})")
        if name in by_name:
            raise ValueError(f"daas.torch: the genotype lists cell type {name!r} twice")
        by_name[name] = cell
    missing = [n for n in known if n not in by_name]
    if missing:
        raise ValueError(f"daas.torch: the genotype has no cell type {', '.join(map(repr, missing))} of the space")
    allowed = [o for o in space.ops if o not in space.discard]
    out_cells = []
    for spec in space.cells:
        cell = by_name[spec.name]
        where = f"cell {spec.name!r}"
        nodes = cell.get("nodes")
        if not isinstance(nodes, list):
            raise ValueError(f"daas.torch: genotype {where}: 'nodes' must be a list of nodes")
        if len(nodes) != spec.nodes:
            raise ValueError(f"daas.torch: genotype {where} has {len(nodes)} nodes, the space has {spec.nodes}")
        for j, node in enumerate(nodes):
            at = f"{where} node {j}"
            if not isinstance(node, list):
                raise ValueError(f"daas.torch: genotype {at}: want a list of choices, got {type(node).__name__}")
            if spec.keep[j] < 1:
                raise ValueError(f"daas.torch: the space's cell {spec.name!r} node {j} keeps {spec.keep[j]} inputs; "
                                 "a discrete node needs at least one")
            if len(node) != spec.keep[j]:
                raise ValueError(f"daas.torch: genotype {at} keeps {len(node)} inputs, the space keeps {spec.keep[j]}")
            seen: Dict[int, int] = {}
            for r, choice in enumerate(node):
                ch = f"{at} choice {r}"
                if not isinstance(choice, Mapping):
                    raise ValueError(f"daas.torch: genotype {ch}: want an object with 'input' and 'op'")
                i, op = choice.get("input"), choice.get("op")
                if not _is_int(i):
                    raise ValueError(f"daas.torch: genotype {ch}: 'input' must be an integer, got {i!r}")
                if not 0 <= i < spec.inputs + j:
                    raise ValueError(f"daas.torch: genotype {ch}: input {i} is out of range; node {j} reads "
                                     f"states 0..{spec.inputs + j - 1}")
                if i in seen:
                    raise ValueError(f"daas.torch: genotype {ch}: input {i} is already kept by choice {seen[i]} "
                                     "of the same node")
                seen[i] = r
                if op not in space.ops:
                    raise ValueError(f"daas.torch: genotype {ch}: op {op!r} is not in the space "
                                     f"(has {list(space.ops)})")
                if op not in allowed:
                    raise ValueError(f"daas.torch: genotype {ch}: op {op!r} is discarded by the space "
                                     "and cannot be kept")
                if need_weights and not _is_real(choice.get("weight")):
                    raise ValueError(f"daas.torch: genotype {ch}: use_weights needs a finite 'weight', "
                                     f"got {choice.get('weight')!r}")
        want = list(range(spec.inputs, spec.inputs + spec.nodes))
        concat = cell.get("concat", want)
        if (not isinstance(concat, list) or not all(_is_int(s) for s in concat)
                or sorted(concat) != want):
            raise ValueError(f"daas.torch: genotype {where}: concat {concat!r} must list the intermediate "
                             f"nodes {want}, each once")
        out_cells.append({"name": spec.name, "concat": list(concat), "nodes": nodes})
    g["cells"] = out_cells
    return g


def random_genotype(space: Any, seed: int, *, method: str = "random") -> Dict[str, Any]:
    """A genotype drawn at random from ``space`` (anything :meth:`SpaceSpec.parse` accepts).

    For every cell type and node ``j`` it keeps ``keep[j]`` distinct inputs drawn uniformly from the
    node's ``inputs + j`` candidates (listed in ascending order) and gives each an op drawn uniformly
    from the space's ops that are not discarded. The draw comes from ``random.Random(seed)`` alone, so
    a seed always gives the same genotype. The dict has the engine's shape (``method``, ``cells`` with
    ``name``, ``concat`` and ``nodes``), without weights and without the DARTS / NB-201 strings.
    """
    spec = SpaceSpec.parse(space)
    allowed = [o for o in spec.ops if o not in spec.discard]
    if not allowed:
        raise ValueError("daas.torch: the space discards every op; there is nothing to draw")
    rng = random.Random(seed)
    cells = []
    for c in spec.cells:
        nodes = []
        for j in range(c.nodes):
            n = c.inputs + j
            if not 1 <= c.keep[j] <= n:
                raise ValueError(f"daas.torch: cell {c.name!r} node {j} keeps {c.keep[j]} of {n} inputs")
            inputs = sorted(rng.sample(range(n), c.keep[j]))
            nodes.append([{"input": i, "op": rng.choice(allowed)} for i in inputs])
        cells.append({"name": c.name, "concat": list(range(c.inputs, c.inputs + c.nodes)), "nodes": nodes})
    return {"method": method, "cells": cells}


# -- modules ---------------------------------------------------------------------------------------


def _drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zeroes whole examples with probability ``p``, scaling the rest by ``1 / (1 - p)``."""
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class DiscreteCell(nn.Module):
    """One cell of a retrained network: the kept edges of a genotype's cell type, one op each.

    ``cell`` is the (checked) genotype entry of the cell type; ``in_shapes`` lists each cell input's
    channel count and number of spatial halvings since the stem, as for
    :class:`~daas.torch.model.SearchCell`. In a reduction cell edges from the cell inputs have stride 2.
    """

    def __init__(self, spec: CellSpec, cell: Mapping[str, Any], in_shapes: Sequence[Tuple[int, int]], C: int,
                 reduction: bool, affine: bool = True, use_weights: bool = False) -> None:
        super().__init__()
        if len(in_shapes) != spec.inputs:
            raise ValueError(f"daas.torch: cell {spec.name!r} takes {spec.inputs} inputs, got {len(in_shapes)}")
        self.spec = spec
        self.reduction = reduction
        self.concat = [int(s) for s in cell["concat"]]
        # (node, input, op name) for every kept edge, node by node in the genotype's order.
        self.choices: List[Tuple[int, int, str]] = [
            (j, int(ch["input"]), str(ch["op"])) for j, node in enumerate(cell["nodes"]) for ch in node]
        self._node_sizes = [len(node) for node in cell["nodes"]]
        if any(n < 1 for n in self._node_sizes):
            raise ValueError(f"daas.torch: cell {spec.name!r}: every node must keep at least one input")
        used = {i for _, i, _ in self.choices if i < spec.inputs}
        target = max(level for _, level in in_shapes)
        # An input no kept edge reads is never used: it gets no preprocessing (and no parameters).
        self.preprocess = nn.ModuleList(preprocess(channels, level, target, C, affine) if i in used else nn.Identity()
                                        for i, (channels, level) in enumerate(in_shapes))
        self._used = sorted(used)
        self.edges = nn.ModuleList()
        for _, i, op in self.choices:
            stride = 2 if reduction and i < spec.inputs else 1
            self.edges.append(build_op(op, C, stride, affine))
        # Drop path leaves identities and zeros alone, as in DARTS.
        self._droppable = [not isinstance(m, (Identity, Zero)) for m in self.edges]
        self.use_weights = use_weights
        weights = [float(ch.get("weight", 1.0)) if use_weights else 1.0 for node in cell["nodes"] for ch in node]
        self.register_buffer("edge_weights", torch.tensor(weights, dtype=torch.float32), persistent=False)
        self.out_channels = C * len(self.concat)
        self.out_level = target + (1 if reduction else 0)

    def op_counts(self) -> Counter:
        """How many edges of the cell carry each op."""
        return Counter(op for _, _, op in self.choices)

    def forward(self, inputs: Sequence[torch.Tensor], drop_prob: float = 0.0) -> torch.Tensor:
        """The cell's output for its ``inputs``; ``drop_prob`` is the drop-path probability (training only)."""
        states: List[Optional[torch.Tensor]] = [None] * self.spec.inputs
        for i in self._used:
            states[i] = self.preprocess[i](inputs[i])
        drop = self.training and drop_prob > 0.0
        e = 0
        for count in self._node_sizes:
            node: Optional[torch.Tensor] = None
            for _ in range(count):
                y = self.edges[e](states[self.choices[e][1]])
                if drop and self._droppable[e]:
                    y = _drop_path(y, drop_prob)
                if self.use_weights:
                    y = y * self.edge_weights[e].to(y.dtype)
                node = y if node is None else node + y
                e += 1
            states.append(node)
        return torch.cat([states[s] for s in self.concat], dim=1)  # type: ignore[misc]


class DiscreteNetwork(nn.Module):
    """The network of a genotype: a 3x3 convolution stem, ``layers`` discrete cells laid out as in
    the supernet, global average pooling and a linear classifier. ``forward(x)`` returns logits.

    ``space`` is anything :meth:`SpaceSpec.parse` accepts and ``genotype`` anything
    :func:`check_genotype` accepts; a genotype that does not fit the space raises ValueError.
    ``drop_path`` is the drop-path probability in training (``drop_path_prob``, which
    :func:`train_from_scratch` raises linearly from 0 to ``drop_path`` over the epochs).
    """

    def __init__(self, space: Any, genotype: Any, C: int = 16, layers: int = 8, num_classes: int = 10,
                 in_channels: int = 3, *, cell_types: Optional[Sequence[str]] = None, stem_multiplier: int = 3,
                 affine: bool = True, drop_path: float = 0.0, use_weights: bool = False) -> None:
        super().__init__()
        self.space = SpaceSpec.parse(space)
        if layers < 1 or C < 1 or num_classes < 1 or in_channels < 1 or stem_multiplier < 1:
            raise ValueError("daas.torch: C, layers, num_classes, in_channels and stem_multiplier must be >= 1")
        if not 0.0 <= drop_path < 1.0:
            raise ValueError(f"daas.torch: drop_path must be in [0, 1), got {drop_path}")
        self.genotype = check_genotype(self.space, genotype, need_weights=use_weights)
        check_ops({ch["op"] for c in self.genotype["cells"] for node in c["nodes"] for ch in node})
        names = [c.name for c in self.space.cells]
        self.cell_types = list(cell_types) if cell_types is not None else default_layout(self.space, layers)
        if len(self.cell_types) != layers:
            raise ValueError(f"daas.torch: cell_types has {len(self.cell_types)} entries, want {layers}")
        for name in self.cell_types:
            if name not in names:
                raise ValueError(f"daas.torch: cell_types names {name!r}, which the space lacks (has {names})")
        self.C = C
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.drop_path = float(drop_path)
        self.drop_path_prob = float(drop_path)
        C_stem = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
        shapes: List[Tuple[int, int]] = [(C_stem, 0)]  # every state so far: (channels, halvings)
        C_curr = C
        self.cells = nn.ModuleList()
        for name in self.cell_types:
            ci = self.space.cell_index(name)
            spec = self.space.cells[ci]
            reduction = name == "reduce"
            if reduction:
                C_curr *= 2
            m = spec.inputs
            ins = ([shapes[0]] * max(0, m - len(shapes)) + shapes)[-m:]
            cell = DiscreteCell(spec, self.genotype["cells"][ci], ins, C_curr, reduction, affine, use_weights)
            self.cells.append(cell)
            shapes.append((cell.out_channels, cell.out_level))
        self.classifier = nn.Linear(shapes[-1][0], num_classes)

    def edge_count(self) -> int:
        """The number of kept edges built over the whole network (every layer's cell)."""
        return sum(len(cell.choices) for cell in self.cells)

    def op_counts(self) -> Counter:
        """How many edges of the whole network carry each op."""
        total: Counter = Counter()
        for cell in self.cells:
            total.update(cell.op_counts())
        return total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [self.stem(x)]
        for cell in self.cells:
            m = cell.spec.inputs
            ins = ([states[0]] * max(0, m - len(states)) + states)[-m:]
            states.append(cell(ins, self.drop_path_prob))
        out = F.adaptive_avg_pool2d(states[-1], 1).flatten(1)
        return self.classifier(out)


# -- training --------------------------------------------------------------------------------------


@torch.no_grad()
def _evaluate(net: nn.Module, split: Split, batch_size: int, device: torch.device) -> Optional[float]:
    """Top-1 accuracy in percent on every example of ``split`` (eval mode), or None when it is empty."""
    n = len(split)
    if n == 0:
        return None
    net.eval()
    correct = 0
    for start in range(0, n, batch_size):
        x = split.x[start:start + batch_size].to(device)
        y = split.y[start:start + batch_size].to(device)
        correct += int((net(x).argmax(1) == y).sum())
    return 100.0 * correct / n


def _check_data(net: nn.Module, data: Dataset) -> None:
    if isinstance(net, DiscreteNetwork):
        if data.in_channels != net.in_channels:
            raise ValueError(f"daas.torch: the data has {data.in_channels} input channels, the network "
                             f"takes {net.in_channels}")
        if data.num_classes > net.num_classes:
            raise ValueError(f"daas.torch: the data has {data.num_classes} classes, the network "
                             f"predicts {net.num_classes}")


def train_from_scratch(net: nn.Module, data: Dataset, *, epochs: int = 20, batch_size: int = 64, lr: float = 0.05,
                       momentum: float = 0.9, weight_decay: float = 3e-4, grad_clip: Optional[float] = 5.0,
                       seed: int = 0, device: Optional[torch.device] = None, use_val: bool = True,
                       progress: bool = False) -> Dict[str, Any]:
    """Trains ``net`` (its current weights) on ``data`` and measures it on ``data.test``.

    The recipe: SGD with momentum and weight decay, a cosine learning rate from ``lr`` to 0 over
    ``epochs``, gradient-norm clipping at ``grad_clip`` (None or 0: none), cross-entropy. With
    ``use_val`` (the default) the network trains on ``data.train`` and ``data.val`` together, since the
    search is done with the validation split. A :class:`DiscreteNetwork`'s drop-path probability rises
    linearly to its ``drop_path`` over the epochs. ``torch`` is seeded with ``seed`` first and batches
    are shuffled by a generator seeded with it, so a CPU run repeats exactly. ``net`` moves to
    ``device`` (by default the device of its parameters) and is left in eval mode.

    Returns ``test_accuracy`` (percent, None without test examples), ``train_accuracy`` (percent over
    the last epoch's training batches, in train mode), ``train_loss`` (its mean), ``epochs``,
    ``train_examples``, ``params`` (trainable parameter count) and ``seconds`` (training and test).
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError("daas.torch: epochs and batch_size must be >= 1")
    if not lr > 0:
        raise ValueError(f"daas.torch: lr must be > 0, got {lr}")
    _check_data(net, data)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    if device is None:
        first = next(net.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    device = torch.device(device)
    net.to(device)
    train = data.train
    if use_val and len(data.val):
        train = Split(torch.cat([data.train.x, data.val.x]), torch.cat([data.train.y, data.val.y]))
    if len(train) < 2:
        raise ValueError("daas.torch: training needs at least 2 examples (BatchNorm)")
    batches = Batches(train, batch_size, shuffle=True, seed=seed, device=device)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=0.0)
    max_drop = float(getattr(net, "drop_path", 0.0)) if isinstance(net, DiscreteNetwork) else 0.0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="retrain", unit="epoch", dynamic_ncols=True, file=sys.stderr)
    loss_sum = correct = seen = 0.0
    for epoch in range(epochs):
        if isinstance(net, DiscreteNetwork):
            net.drop_path_prob = max_drop * epoch / epochs
        net.train()
        loss_sum = correct = seen = 0.0
        for x, y in batches:
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            loss_sum += float(loss.detach()) * y.numel()
            correct += float((logits.detach().argmax(1) == y).sum())
            seen += y.numel()
        scheduler.step()
        if bar is not None:
            bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.3f}", acc=f"{100.0 * correct / max(seen, 1):.1f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    if isinstance(net, DiscreteNetwork):
        net.drop_path_prob = max_drop
    test_accuracy = _evaluate(net, data.test, max(batch_size, 256), device)
    return {
        "test_accuracy": test_accuracy,
        "train_accuracy": 100.0 * correct / max(seen, 1),
        "train_loss": loss_sum / max(seen, 1),
        "epochs": epochs,
        "train_examples": len(train),
        "params": sum(p.numel() for p in params),
        "seconds": time.perf_counter() - t0,
    }


def retrain(space: Any, genotype: Any, data: Dataset, *, C: int = 16, layers: int = 8, epochs: int = 20,
            seed: int = 0, device: Optional[torch.device] = None, cell_types: Optional[Sequence[str]] = None,
            drop_path: float = 0.0, **train_options: Any) -> Dict[str, Any]:
    """Builds the :class:`DiscreteNetwork` of ``genotype`` for ``data``'s channels and classes (torch
    seeded with ``seed`` first) and trains it with :func:`train_from_scratch`; ``train_options`` pass
    on (``batch_size``, ``lr``, ``use_val``, ...). Returns train_from_scratch's dict plus ``edges``
    (kept edges built) and ``ops`` (edges per op name)."""
    torch.manual_seed(seed)
    net = DiscreteNetwork(space, genotype, C=C, layers=layers, num_classes=data.num_classes,
                          in_channels=data.in_channels, cell_types=cell_types, drop_path=drop_path)
    result = train_from_scratch(net, data, epochs=epochs, seed=seed, device=device, **train_options)
    result["edges"] = net.edge_count()
    result["ops"] = dict(sorted(net.op_counts().items()))
    return result
