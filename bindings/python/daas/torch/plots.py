"""PNG plots of a search's history (matplotlib, Agg backend: no display needed).

``history`` is what :func:`daas.torch.search.search` collects: one record per epoch (epoch 0 is the
initialization) with the flat op and edge weights and the engine's metrics. Plots of a state file,
which keeps no per-epoch weights, are :mod:`daas.plots` (``daas plot``); both share its backend setup
and atomic file writing.
"""

from __future__ import annotations

import math
import os
from typing import List, Mapping, Sequence

import numpy as np

from ..plots import pyplot, save_figure
from .model import SpaceSpec

__all__ = ["plot_op_weights", "plot_edge_weights", "plot_metrics", "plot_all"]


def _pyplot():
    return pyplot()


def _edge_labels(spec) -> List[str]:
    return [f"node {j} <- {i}" for j in range(spec.nodes) for i in range(spec.inputs + j)]


def _save(fig, path: str) -> str:
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return save_figure(fig, path)


def plot_op_weights(space: SpaceSpec, history: Sequence[Mapping], out_dir: str, title: str = "") -> List[str]:
    """One PNG per cell type, ``op_weights_<cell>.png``: one subplot per edge, the weight of every op
    over the epochs."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    op = np.stack([np.asarray(h["op_weights"], dtype=np.float64) for h in history])  # [T, n_alpha]
    n_ops = len(space.ops)
    op = op.reshape(len(history), space.n_edges, n_ops)
    paths = []
    for ci, spec in enumerate(space.cells):
        base = space.edge_offset(ci)
        cols = min(spec.edges, 4 if spec.edges > 6 else spec.edges)
        rows = math.ceil(spec.edges / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows + 0.8), squeeze=False, sharex=True,
                                 sharey=True)
        lines = []
        for e, label in enumerate(_edge_labels(spec)):
            ax = axes[e // cols][e % cols]
            lines = [ax.plot(epochs, op[:, base + e, o], lw=1.2)[0] for o in range(n_ops)]
            ax.set_title(label, fontsize=8)
            ax.set_ylim(-0.02, 1.02)
            ax.tick_params(labelsize=7)
        for e in range(spec.edges, rows * cols):
            axes[e // cols][e % cols].axis("off")
        fig.legend(lines, list(space.ops), loc="lower center", ncol=min(n_ops, 4), fontsize=7, frameon=False)
        fig.suptitle(f"{title} op weights, cell {spec.name!r} (x: epoch)".strip(), fontsize=10)
        fig.tight_layout(rect=(0, 0.08 if n_ops > 4 else 0.05, 1, 0.96))
        paths.append(_save(fig, os.path.join(out_dir, f"op_weights_{spec.name}.png")))
        plt.close(fig)
    return paths


def plot_edge_weights(space: SpaceSpec, history: Sequence[Mapping], out_dir: str, title: str = "") -> List[str]:
    """``edge_weights.png``: per cell type, one subplot per node with the edge weight of each of its
    inputs over the epochs."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    ew = np.stack([np.asarray(h["edge_weights"], dtype=np.float64) for h in history])  # [T, n_edges]
    rows = len(space.cells)
    cols = max(c.nodes for c in space.cells)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows + 0.4), squeeze=False, sharex=True)
    for ci, spec in enumerate(space.cells):
        base = space.edge_offset(ci)
        for j in range(cols):
            ax = axes[ci][j]
            if j >= spec.nodes:
                ax.axis("off")
                continue
            for i in range(spec.inputs + j):
                ax.plot(epochs, ew[:, base + spec.edge_index(j, i)], lw=1.2, label=f"input {i}")
            ax.set_title(f"{spec.name}: node {j} (keep {spec.keep[j]})", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6, frameon=False)
    fig.suptitle(f"{title} edge weights (x: epoch)".strip(), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    path = _save(fig, os.path.join(out_dir, "edge_weights.png"))
    plt.close(fig)
    return [path]


def plot_metrics(history: Sequence[Mapping], out_dir: str, title: str = "") -> List[str]:
    """``metrics.png``: discreteness, entropies, loss coefficients and accuracies over the epochs."""
    plt = _pyplot()
    recs = [h for h in history if h.get("metrics")]
    if not recs:
        return []
    epochs = [h["epoch"] for h in recs]
    panels = [
        ("discreteness", ["discreteness", "weakest_edge"]),
        ("entropy", ["op_entropy", "edge_entropy"]),
        ("coefficients", ["lambda_c", "lambda_alpha"]),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for ax, (name, keys) in zip(axes, panels):
        for k in keys:
            ax.plot(epochs, [h["metrics"].get(k, float("nan")) for h in recs], label=k)
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    ax = axes[3]
    for k in ("train_accuracy", "val_accuracy"):
        vals = [h.get(k, float("nan")) for h in recs]
        ax.plot(epochs, vals, label=k)
    ax.set_title("supernet accuracy (%)", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.suptitle(f"{title} (x: epoch)".strip(), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    path = _save(fig, os.path.join(out_dir, "metrics.png"))
    plt.close(fig)
    return [path]


def plot_all(space: SpaceSpec, history: Sequence[Mapping], out_dir: str, title: str = "") -> List[str]:
    """Every plot above; returns the written paths."""
    os.makedirs(out_dir, exist_ok=True)
    return (plot_op_weights(space, history, out_dir, title) + plot_edge_weights(space, history, out_dir, title)
            + plot_metrics(history, out_dir, title))
