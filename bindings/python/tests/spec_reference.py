"""The formulas of docs/DESIGN.md written out independently in PyTorch (float64 autograd), for checking
the engine.

Nothing here calls daas: the layout, relaxation, losses and schedules come from the written formulas alone, so a
mismatch with the engine is a bug in one of the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import torch

# docs/DESIGN.md, Flat layouts presets: cells, inputs, nodes, keep, ops
PRESETS = {
    "darts": (["normal", "reduce"], 2, 4, 2,
              ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]),
    "darts-none": (["normal", "reduce"], 2, 4, 2,
                   ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]),
    "nb201": (["cell"], 1, 3, "all", ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]),
}


@dataclass
class Node:
    edge: int  # flat index of its first edge
    n: int  # incoming edges
    k: int  # kept inputs

    @property
    def learnable(self) -> bool:
        return self.k < self.n


@dataclass
class Layout:
    n_ops: int
    n_edges: int
    nodes: List[Node]

    @property
    def n_alpha(self) -> int:
        return self.n_edges * self.n_ops

    def learnable_edges(self) -> List[int]:
        return [nd.edge + i for nd in self.nodes if nd.learnable for i in range(nd.n)]


def layout(space: Union[str, Mapping]) -> Layout:
    if isinstance(space, str):
        names, inputs, n_nodes, keep, ops = PRESETS[space]
        cells = [{"name": nm, "inputs": inputs, "nodes": n_nodes, "keep": keep} for nm in names]
    else:
        cells, ops = space["cells"], space["ops"]
    nodes, edge = [], 0
    for c in cells:
        keep = c.get("keep", "all")
        for j in range(c["nodes"]):
            n = c["inputs"] + j
            if keep == "all":
                k = n
            elif isinstance(keep, int):
                k = min(keep, n)
            else:
                k = keep[j]
            nodes.append(Node(edge, n, k))
            edge += n
    return Layout(len(ops), edge, nodes)


# -- schedules (docs/DESIGN.md, The discretization losses and Schedules defaults; the delay of λα configurable) ------------------------------

def lambda_c(e: int, E: int, scale: float = 0.1) -> float:
    return scale * ((e - 1) / (E - 1) if E > 1 else 1.0)


def lambda_alpha(e: int, E: int, D: int = 8) -> float:
    if e < D:
        return 0.0
    if E - D <= 1:
        return 1.0
    return math.log(e - D + 1) / math.log(E - D)


LAMBDA_BETA = 4.0
W_SUM = 0.2


# -- relaxation and losses (docs/DESIGN.md) ------------------------------------------------------

def sharpen(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t >= -0.5, 2 * t, (2 * t) ** 3)


def logits(alpha: torch.Tensor, lay: Layout, method: str) -> torch.Tensor:
    z = alpha.reshape(lay.n_edges, lay.n_ops)
    return sharpen(z) if method == "daas" else z


def op_weights(alpha: torch.Tensor, lay: Layout, method: str = "daas") -> torch.Tensor:
    return torch.softmax(logits(alpha, lay, method), dim=-1).reshape(-1)


def edge_weights(beta: torch.Tensor, lay: Layout, method: str = "daas") -> torch.Tensor:
    parts = []
    for nd in lay.nodes:
        b = beta[nd.edge:nd.edge + nd.n]
        if nd.learnable and method == "daas":
            parts.append(nd.n * torch.softmax(torch.clamp(b, max=1.0), dim=0))
        else:
            parts.append(torch.ones(nd.n, dtype=beta.dtype))
    return torch.cat(parts)


def op_entropy(alpha: torch.Tensor, lay: Layout, method: str = "daas") -> torch.Tensor:
    ls = torch.log_softmax(logits(alpha, lay, method), dim=-1)
    return -(ls.exp() * ls).sum()


def edge_terms(beta: torch.Tensor, lay: Layout, w_sum: float = W_SUM) -> Tuple[torch.Tensor, torch.Tensor]:
    """(Σ H(softmax(min(β_j, 1))), Σ w_sum (Σ_i max(0, min(β_ji, 1)) - k_j)^2) over learnable nodes."""
    ent = beta.new_zeros(())
    pen = beta.new_zeros(())
    for nd in lay.nodes:
        if not nd.learnable:
            continue
        m = torch.clamp(beta[nd.edge:nd.edge + nd.n], max=1.0)
        ls = torch.log_softmax(m, dim=0)
        ent = ent - (ls.exp() * ls).sum()
        pen = pen + w_sum * (torch.relu(m).sum() - nd.k) ** 2
    return ent, pen


def objective(alpha, beta, g_op, g_edge, lay, method, lam_c, lam_a, lam_b=LAMBDA_BETA, w_sum=W_SUM):
    """Σ A·G_A + Σ W·G_W + λc (λα H_α + λβ L_E): its gradient is the (dα, dβ) of docs/DESIGN.md (Gradients)."""
    A = op_weights(alpha, lay, method)
    W = edge_weights(beta, lay, method)
    obj = (A * g_op).sum() + (W * g_edge).sum()
    if method == "daas":
        ent, pen = edge_terms(beta, lay, w_sum)
        obj = obj + lam_c * (lam_a * op_entropy(alpha, lay, method) + lam_b * (ent + pen))
    return obj


def gradients(alpha, beta, g_op, g_edge, lay, method, lam_c, lam_a, lam_b=LAMBDA_BETA, w_sum=W_SUM):
    """(dα, dβ) at float64 copies of the given values; dβ is 0 on constant entries."""
    a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(beta, dtype=torch.float64, requires_grad=True)
    obj = objective(a, b, torch.tensor(g_op, dtype=torch.float64), torch.tensor(g_edge, dtype=torch.float64),
                    lay, method, lam_c, lam_a, lam_b, w_sum)
    da, db = torch.autograd.grad(obj, (a, b), allow_unused=True)
    if db is None:
        db = torch.zeros_like(b)
    return da.detach(), db.detach()
