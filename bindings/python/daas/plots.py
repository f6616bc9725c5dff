"""PNG plots of a daas state file (matplotlib with the Agg backend; no libdaas, no PyTorch).

A state keeps, per finished epoch, the engine's metrics and the genotype at that epoch's end, and the
final α and β; it does not keep the op and edge weights of earlier epochs (the search loop's own
plots in :mod:`daas.torch.plots` draw those from its in-memory history). :func:`plot_state` therefore
draws:

``history_metrics.png``
    discreteness, weakest (kept) edge, kept mass, entropies, the λ coefficients, the discretization
    loss and the controller's boosts over the recorded epochs (plus the current position, when the
    caller passes its metrics).
``history_choices_<cell>.png``
    per cell type, which edges the genotype kept at the end of each recorded epoch and the op on each
    (one column per epoch, the last column the final α and β).
``final_op_weights_<cell>.png``
    per cell type, the final op weights (edges × ops, from α as the engine relaxes it), a box on the
    op chosen on every kept edge.
``final_edge_weights.png``
    the final edge weights of each node's inputs (from β), kept inputs filled.

Rows and bars use the genotype's numbering: states ``0..inputs-1`` are the cell inputs, state
``inputs + j`` is node ``j``, and the edge from state ``i`` into node ``j`` is labelled
``node j <- state i``.

The relaxation, as the engine computes it: op weights ``softmax(g(α_e))`` per edge with
``g(t) = 2t`` for ``t >= -1/2`` and ``(2t)^3`` below (method ``darts``: ``softmax(α_e)``); edge weights
``n_j * softmax(min(β_j, 1))`` over the ``n_j`` inputs of a node that keeps fewer than all of them, 1
elsewhere and for ``darts``. :func:`kept_choices` repeats the engine's discretization rule on these
(a node keeps the inputs of largest β, ``darts``: of largest op weight; an edge keeps its largest α
among the ops not discarded; ties to the lower index).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = ["pyplot", "save_figure", "cell_edges", "edge_index", "op_weights", "edge_weights", "kept_choices",
           "plot_history_metrics", "plot_history_choices", "plot_final_op_weights", "plot_final_edge_weights",
           "plot_state", "METRIC_PANELS"]

#: The panels of ``history_metrics.png``: (title, metric keys).
METRIC_PANELS: Sequence[Tuple[str, Sequence[str]]] = (
    ("discreteness", ("discreteness", "weakest_edge", "weakest_kept_edge", "kept_mass")),
    ("entropy", ("op_entropy", "edge_entropy")),
    ("coefficients", ("lambda_c", "lambda_alpha", "lambda_beta")),
    ("losses", ("disc_loss", "edge_count_penalty")),
    ("controller boosts", ("op_boost", "edge_boost")),
)


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str, dpi: int = 90) -> str:
    """Save ``fig`` as a PNG at ``path`` with libdaas's one file writer (:func:`daas.write_file`: written
    whole or not at all, synced). Returns ``path``."""
    import io

    from .engine import write_file

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    write_file(path, buf.getvalue())
    return path


def cell_edges(cell: Mapping[str, Any]) -> int:
    """Number of edges of a cell type (``inputs``, ``nodes``): one from every earlier state into each node."""
    n, m = int(cell["nodes"]), int(cell["inputs"])
    return n * m + n * (n - 1) // 2


def edge_index(cell: Mapping[str, Any], j: int, i: int) -> int:
    """Index, inside its cell type, of the edge from state ``i`` into node ``j``."""
    m = int(cell["inputs"])
    return j * m + j * (j - 1) // 2 + i


def _offsets(space: Mapping[str, Any]) -> List[int]:
    offs, total = [], 0
    for c in space["cells"]:
        offs.append(total)
        total += cell_edges(c)
    return offs + [total]


def _check(space: Mapping[str, Any], alpha: np.ndarray, beta: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    n_edges = _offsets(space)[-1]
    n_ops = len(space["ops"])
    a = np.asarray(alpha, dtype=np.float64).reshape(-1)
    b = np.asarray(beta, dtype=np.float64).reshape(-1)
    if a.size != n_edges * n_ops or b.size != n_edges:
        raise ValueError(f"alpha has {a.size} and beta {b.size} entries; the space needs {n_edges * n_ops} "
                         f"and {n_edges}")
    return a.reshape(n_edges, n_ops), b


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def op_weights(method: str, alpha: np.ndarray, n_ops: int) -> np.ndarray:
    """The op weights ``[edge, op]`` of flat α: softmax of ``g(α)`` per edge (``darts``: of α)."""
    a = np.asarray(alpha, dtype=np.float64).reshape(-1, n_ops)
    if method == "darts":
        return _softmax(a)
    z = np.where(a >= -0.5, 2 * a, (2 * a) ** 3)
    return _softmax(z)


def edge_weights(space: Mapping[str, Any], method: str, beta: np.ndarray) -> np.ndarray:
    """The flat edge weights of β: ``n_j * softmax(min(β, 1))`` over the inputs of each node that
    keeps fewer than all of them (method ``daas``), 1 elsewhere."""
    b = np.asarray(beta, dtype=np.float64).reshape(-1)
    w = np.ones_like(b)
    if method == "darts":
        return w
    for off, c in zip(_offsets(space), space["cells"]):
        for j in range(int(c["nodes"])):
            n = int(c["inputs"]) + j
            if int(c["keep"][j]) >= n:
                continue
            e0 = off + edge_index(c, j, 0)
            w[e0 : e0 + n] = n * _softmax(np.minimum(b[e0 : e0 + n], 1.0))
    return w


def kept_choices(space: Mapping[str, Any], method: str, alpha: np.ndarray, beta: np.ndarray) -> Dict[str, Any]:
    """A genotype dict (``method``, ``ops``, ``cells`` with ``name``, ``inputs``, ``keep``, ``concat``,
    ``nodes``) of α and β by the engine's discretization rule; no ``darts``/``nb201`` strings."""
    a, b = _check(space, alpha, beta)
    ops = list(space["ops"])
    discard = set(space.get("discard") or ())
    allowed = np.array([op not in discard for op in ops])
    opw = op_weights(method, a, len(ops))
    ew = edge_weights(space, method, b)
    masked = np.where(allowed[None, :], a, -np.inf)
    best = np.argmax(masked, axis=1)  # the first maximum: ties to the lower op index
    cells = []
    for off, c in zip(_offsets(space), space["cells"]):
        m, nodes = int(c["inputs"]), []
        for j in range(int(c["nodes"])):
            n, k = m + j, int(c["keep"][j])
            edges = [off + edge_index(c, j, i) for i in range(n)]
            if method == "darts":
                strength = [opw[e, best[e]] for e in edges]
            elif k < n:
                strength = [b[e] for e in edges]
            else:
                strength = [0.0] * n
            order = sorted(range(n), key=lambda i: -strength[i])  # stable: ties to the lower input
            nodes.append([{"input": i, "op": ops[best[edges[i]]], "weight": float(ew[edges[i]])} for i in order[:k]])
        cells.append({"name": c["name"], "inputs": m, "keep": [int(k) for k in c["keep"]],
                      "concat": list(range(m, m + int(c["nodes"]))), "nodes": nodes})
    return {"method": method, "ops": ops, "cells": cells}


# ---------------------------------------------------------------------------------------------
# Plots


def _record(rec: Any) -> Tuple[int, Mapping[str, Any], Mapping[str, Any]]:
    """(epoch, metrics, genotype) of a history record: a daas.state.EpochRecord or a dict."""
    if isinstance(rec, Mapping):
        return int(rec["epoch"]), rec.get("metrics") or {}, rec.get("genotype") or {}
    return int(rec.epoch), rec.metrics or {}, rec.genotype or {}


def _edges(cell: Mapping[str, Any]) -> List[Tuple[int, int]]:
    """The cell's edges as (node, input state), in the engine's order."""
    m = int(cell["inputs"])
    return [(j, i) for j in range(int(cell["nodes"])) for i in range(m + j)]


def _edge_labels(cell: Mapping[str, Any]) -> List[str]:
    return [f"node {j} <- state {i}" for j, i in _edges(cell)]


def _file_name(stem: str, cell: Mapping[str, Any]) -> str:
    """``<stem>_<cell name>.png`` with anything but letters, digits, '-', '_' and '.' replaced by '_'."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(cell["name"])) or "cell"
    return f"{stem}_{safe}.png"


def _kept_map(genotype: Mapping[str, Any], cell: Mapping[str, Any]) -> Dict[Tuple[int, int], str]:
    """{(node, input state): op} of the genotype's cell named like ``cell``."""
    for gc in genotype.get("cells") or []:
        if gc.get("name") == cell["name"]:
            return {(j, int(ch["input"])): str(ch["op"]) for j, node in enumerate(gc.get("nodes") or [])
                    for ch in node}
    return {}


def plot_history_metrics(history: Sequence[Any], out_dir: str, title: str = "",
                         now: Optional[Mapping[str, Any]] = None) -> List[str]:
    """``history_metrics.png``: the metrics of each recorded epoch (:data:`METRIC_PANELS`); ``now``,
    the engine's metrics at the state's position, is added as a hollow last point. Returns [] when
    there is nothing to draw."""
    recs = [_record(r) for r in history]
    if not recs and not now:
        return []
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(METRIC_PANELS), figsize=(3.6 * len(METRIC_PANELS), 3.4))
    epochs = [e for e, _, _ in recs]
    for ax, (name, keys) in zip(axes, METRIC_PANELS):
        for k in keys:
            line, = ax.plot(epochs, [float(m.get(k, np.nan)) for _, m, _ in recs], "o-", ms=3, lw=1.2, label=k)
            if now and k in now:
                ax.plot([int(now.get("epoch", (epochs or [0])[-1]))], [float(now[k])], "o", ms=6, mfc="none",
                        color=line.get_color())
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=6, frameon=False)
    note = "x: epoch (end of each recorded epoch" + ("; hollow: now)" if now else ")")
    fig.suptitle(f"{title} metrics, {note}".strip(), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    path = save_figure(fig, os.path.join(out_dir, "history_metrics.png"))
    plt.close(fig)
    return [path]


def plot_history_choices(space: Mapping[str, Any], history: Sequence[Any], final: Mapping[str, Any], out_dir: str,
                         title: str = "") -> List[str]:
    """``history_choices_<cell>.png`` per cell type: a grid of edges (rows) by recorded epochs
    (columns, then ``final``, the genotype of the final α and β), coloured by the op the genotype kept
    on the edge, white where it dropped the edge."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ops = list(space["ops"])
    colours = plt.get_cmap("tab10" if len(ops) <= 10 else "tab20").colors
    cmap = ListedColormap(["#ffffff"] + [colours[k % len(colours)] for k in range(len(ops))])
    recs = [_record(r) for r in history]
    columns = [(str(e), g) for e, _, g in recs] + [("final", final)]
    paths = []
    for c in space["cells"]:
        labels = _edge_labels(c)
        grid = np.zeros((len(labels), len(columns)))
        for t, (_, g) in enumerate(columns):
            kept = _kept_map(g, c)
            for (j, i), op in kept.items():
                if op in ops and 0 <= i < int(c["inputs"]) + j:
                    grid[edge_index(c, j, i), t] = 1 + ops.index(op)
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 + 0.35 * len(columns)) + 2.2, 0.8 + 0.24 * len(labels)))
        ax.imshow(grid, cmap=cmap, vmin=0, vmax=len(ops), aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels([name for name, _ in columns], fontsize=7, rotation=90 if len(columns) > 20 else 0)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_xticks(np.arange(-0.5, len(columns)), minor=True)
        ax.set_yticks(np.arange(-0.5, len(labels)), minor=True)
        ax.grid(which="minor", color="#dddddd", lw=0.5)
        ax.tick_params(which="minor", length=0)
        used = sorted({int(v) - 1 for v in grid.ravel() if v > 0})
        ax.legend(handles=[Patch(color=cmap(1 + k), label=ops[k]) for k in used], fontsize=7, frameon=False,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title(f"{title} kept edges and their ops, cell {c['name']!r}".strip(), fontsize=9)
        fig.tight_layout()
        paths.append(save_figure(fig, os.path.join(out_dir, _file_name("history_choices", c))))
        plt.close(fig)
    return paths


def plot_final_op_weights(space: Mapping[str, Any], method: str, alpha: np.ndarray, genotype: Mapping[str, Any],
                          out_dir: str, title: str = "") -> List[str]:
    """``final_op_weights_<cell>.png`` per cell type: the op weights of α as a heatmap (edges × ops),
    a box on the op ``genotype`` keeps on each of its edges; discarded ops greyed."""
    plt = pyplot()
    from matplotlib.patches import Rectangle

    ops = list(space["ops"])
    discard = set(space.get("discard") or ())
    w = op_weights(method, alpha, len(ops))
    paths = []
    for off, c in zip(_offsets(space), space["cells"]):
        labels = _edge_labels(c)
        mat = w[off : off + len(labels)]
        kept = _kept_map(genotype, c)
        fig, ax = plt.subplots(figsize=(2.4 + 0.75 * len(ops), 1.2 + 0.3 * len(labels)))
        im = ax.imshow(mat, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
        if mat.size <= 400:
            for e in range(mat.shape[0]):
                for o in range(mat.shape[1]):
                    ax.text(o, e, f"{mat[e, o]:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if mat[e, o] > 0.6 else "black")
        for (j, i), op in kept.items():
            if op in ops and 0 <= i < int(c["inputs"]) + j:
                ax.add_patch(Rectangle((ops.index(op) - 0.5, edge_index(c, j, i) - 0.5), 1, 1, fill=False,
                                       edgecolor="#d62728", lw=2))
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels([lab + ("  *" if edge in kept else "") for lab, edge in zip(labels, _edges(c))],
                           fontsize=7)
        ax.set_xticks(range(len(ops)))
        ax.set_xticklabels(ops, rotation=35, ha="right", fontsize=7)
        for tick, op in zip(ax.get_xticklabels(), ops):
            if op in discard:
                tick.set_color("#999999")
        fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
        ax.set_title(f"{title} final op weights, cell {c['name']!r} ({method}); box: kept op, *: kept edge".strip(),
                     fontsize=9)
        fig.tight_layout()
        paths.append(save_figure(fig, os.path.join(out_dir, _file_name("final_op_weights", c))))
        plt.close(fig)
    return paths


def plot_final_edge_weights(space: Mapping[str, Any], method: str, beta: np.ndarray, genotype: Mapping[str, Any],
                            out_dir: str, title: str = "") -> List[str]:
    """``final_edge_weights.png``: per cell type (rows) and node (columns) the edge weight of each
    input state, kept inputs filled, dropped ones hollow."""
    plt = pyplot()
    ew = edge_weights(space, method, beta)
    cells = list(space["cells"])
    cols = max(int(c["nodes"]) for c in cells)
    fig, axes = plt.subplots(len(cells), cols, figsize=(2.6 * cols, 2.3 * len(cells) + 0.5), squeeze=False)
    for r, (off, c) in enumerate(zip(_offsets(space), cells)):
        kept = _kept_map(genotype, c)
        m = int(c["inputs"])
        for j in range(cols):
            ax = axes[r][j]
            if j >= int(c["nodes"]):
                ax.axis("off")
                continue
            n = m + j
            vals = [ew[off + edge_index(c, j, i)] for i in range(n)]
            is_kept = [(j, i) in kept for i in range(n)]
            ax.bar(range(n), vals, color=["#1f77b4" if k else "white" for k in is_kept], edgecolor="#1f77b4", lw=1.2)
            ax.set_xticks(range(n))
            ax.set_xticklabels([str(i) for i in range(n)], fontsize=7)
            ax.set_ylim(0, max(1.0, max(vals)) * 1.1)
            ax.tick_params(labelsize=7)
            ax.set_title(f"{c['name']}: node {j} (keep {c['keep'][j]} of {n})", fontsize=8)
            if j == 0:
                ax.set_ylabel("edge weight W", fontsize=7)
            ax.set_xlabel("input state", fontsize=7)
    fig.suptitle(f"{title} final edge weights ({method}); filled: kept input".strip(), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    path = save_figure(fig, os.path.join(out_dir, "final_edge_weights.png"))
    plt.close(fig)
    return [path]


def plot_state(state: Any, out_dir: str, title: str = "", now: Optional[Mapping[str, Any]] = None) -> List[str]:
    """Every plot above for a :class:`daas.state.State` (``daas.state.read(path)``) into ``out_dir``
    (created when missing); ``now`` is the engine's current metrics, when the caller has them.
    Returns the written paths."""
    os.makedirs(out_dir, exist_ok=True)
    final = kept_choices(state.space, state.method, state.alpha, state.beta)
    return (plot_history_metrics(state.history, out_dir, title, now=now)
            + plot_history_choices(state.space, state.history, final, out_dir, title)
            + plot_final_op_weights(state.space, state.method, state.alpha, final, out_dir, title)
            + plot_final_edge_weights(state.space, state.method, state.beta, final, out_dir, title))
