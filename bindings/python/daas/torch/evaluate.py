"""Evaluation of the discretization gap: the supernet's accuracy against the accuracy of the same
network cut down to its genotype.

The discretized network is the supernet itself with op weights one-hot on the genotype's op of each
kept edge, every other edge at 0, and each kept edge at the edge weight it had in the supernet when
it was cut (the genotype's ``"weight"``): a node's edge weights are ``n_j * softmax(min(beta, 1))``,
so as the dropped edges fade the kept ones approach ``n_j / k_j``, not 1, and the trained weights
expect that scale. The older convention, kept edges at 1, is reported next to it
(``*_unit_edges``). Convolution weights are inherited unchanged (no fine-tuning); only the BatchNorm
running statistics are re-estimated on training data, because those collected during the search
describe the mixture, not the chosen ops. The supernet is measured the same way (statistics
re-estimated at its final weights), so the drop reflects the cut alone; the accuracies with the
search's own running statistics are reported next to them.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Iterable, Mapping, Tuple

import numpy as np
import torch
from torch import nn

from .model import Network, SpaceSpec

__all__ = ["genotype_dict", "discrete_weights", "accuracy", "reestimate_batchnorm", "discretized_network_accuracy",
           "discretization_gap"]


def genotype_dict(genotype: Any) -> dict:
    """The genotype's parsed JSON (a plain dict), from a daas Genotype, its JSON text or an already parsed dict."""
    if hasattr(genotype, "to_json"):
        genotype = genotype.to_json()
    if isinstance(genotype, (bytes, str)):
        return json.loads(genotype)
    if isinstance(genotype, Mapping):
        return json.loads(json.dumps(dict(genotype)))
    raise TypeError(f"daas.torch: cannot read a genotype from {type(genotype).__name__}")


def discrete_weights(space: Any, genotype: Any, *, inherit: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """The flat ``(op_weights, edge_weights)`` (float32, the engine's layout) of the genotype: on each
    kept edge a one-hot row on its op and edge weight 1 (with ``inherit``, the choice's ``"weight"``,
    which the engine's genotypes carry); every other edge all zeros."""
    space = SpaceSpec.parse(space)
    g = genotype_dict(genotype)
    n_ops = len(space.ops)
    op_w = np.zeros((space.n_edges, n_ops), dtype=np.float32)
    edge_w = np.zeros(space.n_edges, dtype=np.float32)
    cells = {c["name"]: c for c in g["cells"]}
    for ci, spec in enumerate(space.cells):
        if spec.name not in cells:
            raise ValueError(f"daas.torch: the genotype has no cell {spec.name!r}")
        nodes = cells[spec.name]["nodes"]
        if len(nodes) != spec.nodes:
            raise ValueError(f"daas.torch: the genotype's cell {spec.name!r} has {len(nodes)} nodes, want {spec.nodes}")
        base = space.edge_offset(ci)
        for j, kept in enumerate(nodes):
            for choice in kept:
                op = choice["op"]
                if op not in space.ops:
                    raise ValueError(f"daas.torch: the genotype's op {op!r} is not in the space")
                e = base + spec.edge_index(j, int(choice["input"]))
                op_w[e, :] = 0.0
                op_w[e, space.ops.index(op)] = 1.0
                edge_w[e] = 1.0
                if inherit:
                    if "weight" not in choice:
                        raise ValueError("daas.torch: the genotype carries no edge weights (\"weight\"); "
                                         "discretize with this version of daas or use inherit=False")
                    edge_w[e] = float(choice["weight"])
    return op_w.reshape(-1), edge_w


@torch.no_grad()
def accuracy(model: Network, batches: Iterable[Tuple[torch.Tensor, torch.Tensor]], op_weights: torch.Tensor,
             edge_weights: torch.Tensor, *, skip_zero: bool = False) -> float:
    """Top-1 accuracy in percent, in eval mode (BatchNorm running statistics)."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, y in batches:
        pred = model(x, op_weights, edge_weights, skip_zero=skip_zero).argmax(1)
        correct += int((pred == y).sum())
        total += int(y.numel())
    model.train(was_training)
    return 100.0 * correct / max(total, 1)


@torch.no_grad()
def reestimate_batchnorm(model: Network, batches: Iterable[Tuple[torch.Tensor, torch.Tensor]],
                         op_weights: torch.Tensor, edge_weights: torch.Tensor, *, max_batches: int = 0,
                         skip_zero: bool = True) -> None:
    """Resets every BatchNorm's running statistics and re-estimates them as a cumulative average
    (momentum None) over training batches in train mode; no parameter changes."""
    saved = {}
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            saved[m] = m.momentum
            m.reset_running_stats()
            m.momentum = None
    was_training = model.training
    model.train()
    for b, (x, _) in enumerate(batches):
        if max_batches and b >= max_batches:
            break
        model(x, op_weights, edge_weights, skip_zero=skip_zero)
    for m, momentum in saved.items():
        m.momentum = momentum
    model.train(was_training)


def _accuracy_pair(model: Network, op_w: torch.Tensor, edge_w: torch.Tensor, train_batches: Iterable,
                   test_batches: Iterable, bn_batches: int, skip_zero: bool) -> Tuple[float, float]:
    net = copy.deepcopy(model)
    before = accuracy(net, test_batches, op_w, edge_w, skip_zero=skip_zero)
    reestimate_batchnorm(net, train_batches, op_w, edge_w, max_batches=bn_batches, skip_zero=skip_zero)
    return accuracy(net, test_batches, op_w, edge_w, skip_zero=skip_zero), before


def discretized_network_accuracy(model: Network, genotype: Any, train_batches: Iterable, test_batches: Iterable,
                                 *, bn_batches: int = 0, device: Any = None) -> Mapping[str, float]:
    """Accuracy (percent) of the genotype's sub-network with inherited weights, on a copy of ``model``
    (the supernet is left untouched): ``discretized_accuracy`` with the kept edges at their trained
    edge weights and ``discretized_accuracy_unit_edges`` with them at 1, both after BatchNorm
    re-estimation on ``train_batches`` (all of them, or ``bn_batches``), and the ``*_search_bn``
    figures with the statistics the search left behind. A genotype without edge weights gets the
    unit-edge figures under both names."""
    device = device if device is not None else next(model.parameters()).device
    g = genotype_dict(genotype)
    has_weights = all("weight" in ch for cell in g["cells"] for node in cell["nodes"] for ch in node)
    out = {}
    for suffix, inherit in (("", has_weights), ("_unit_edges", False)):
        op_np, edge_np = discrete_weights(model.space, g, inherit=inherit)
        op_w = torch.from_numpy(op_np).to(device)
        edge_w = torch.from_numpy(edge_np).to(device)
        after, before = _accuracy_pair(model, op_w, edge_w, train_batches, test_batches, bn_batches, True)
        out[f"discretized_accuracy{suffix}"] = after
        out[f"discretized_accuracy{suffix}_search_bn"] = before
    return out


def discretization_gap(model: Network, genotype: Any, op_weights: Any, edge_weights: Any, train_batches: Iterable,
                       test_batches: Iterable, *, bn_batches: int = 0) -> Mapping[str, float]:
    """The supernet (at the engine's current ``op_weights``/``edge_weights``) against its discretized
    network, both measured the same way: BatchNorm statistics re-estimated on ``train_batches``, then
    test accuracy in percent. ``accuracy_drop`` = supernet - discretized (kept edges at their trained
    weights), ``accuracy_drop_unit_edges`` the same with kept edges at 1, in points. The ``*_search_bn``
    entries use the running statistics the search left behind instead."""
    device = next(model.parameters()).device
    op_w = torch.as_tensor(op_weights, device=device)
    edge_w = torch.as_tensor(edge_weights, device=device)
    sup, sup_search = _accuracy_pair(model, op_w, edge_w, train_batches, test_batches, bn_batches, False)
    out = {"supernet_accuracy": sup, "supernet_accuracy_search_bn": sup_search}
    out.update(discretized_network_accuracy(model, genotype, train_batches, test_batches, bn_batches=bn_batches))
    out["accuracy_drop"] = out["supernet_accuracy"] - out["discretized_accuracy"]
    out["accuracy_drop_unit_edges"] = out["supernet_accuracy"] - out["discretized_accuracy_unit_edges"]
    return out
