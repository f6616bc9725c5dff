"""Cell diagrams of a genotype, drawn with Graphviz.

:func:`to_dot` turns a genotype (the engine's JSON, a :class:`daas.Genotype` or a parsed dict) into
Graphviz DOT source; :func:`render` runs Graphviz's ``dot`` program on it and writes an SVG, PNG or
PDF file. Only ``render`` needs Graphviz (Debian: ``apt-get install graphviz``, or
``bash tools/setup-debian.sh`` in the repository); nothing here needs libdaas or PyTorch.

What a diagram shows, per cell type (one cluster per cell type, all in one graph):

- the cell inputs, states ``0..inputs-1`` (0 the oldest): ``c_{k-2}`` and ``c_{k-1}`` in a cell with
  two inputs (the outputs of the cells two back and one back, as in DARTS), ``in 0`` .. ``in n-1``
  otherwise;
- the intermediate nodes, labelled with their node number ``j``; node ``j`` is state ``inputs + j``,
  the number a genotype's ``"input"`` fields use (the cluster's title says so);
- the output, ``c_{k}`` (two-input cells) or ``out``, which concatenates the states in ``concat``;
- one arrow per kept edge, from its input state to its node, labelled with the op and, when the
  genotype carries it, the edge weight ``W`` (two decimals); and one unlabelled arrow from each
  concatenated state to the output.

Node identifiers in the DOT source are ``c<cell index>_s<state>`` and ``c<cell index>_out``, so a
program can read the edges back.

A genotype from before format 1 has no ``inputs`` per cell: it is taken to be ``concat[0]``, since
``concat`` lists the states ``inputs .. inputs + nodes - 1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, Dict, List, Mapping, Optional, Union

__all__ = ["FORMATS", "DrawError", "GraphvizMissingError", "GraphvizFailedError", "cells_of", "cell_inputs",
           "state_label", "to_dot", "output_format", "render", "find_dot"]

#: Output formats by file extension; ``dot`` and ``gv`` write the DOT source itself (no Graphviz needed).
FORMATS: Mapping[str, str] = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}

_INPUT_FILL = "#dbe9f6"
_NODE_FILL = "#fff2cc"
_OUTPUT_FILL = "#d9ead3"
# Edge colours by op, in the order the genotype lists its ops (colour-blind-safe Okabe-Ito first).
_PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#999999",
            "#8c564b", "#7f7f00")


class DrawError(ValueError):
    """A genotype that cannot be drawn, or an output file name whose format is unknown."""


class GraphvizMissingError(RuntimeError):
    """Graphviz's ``dot`` program is not installed (or not on ``PATH``)."""


class GraphvizFailedError(RuntimeError):
    """``dot`` ran and failed; the message holds the first line of what it printed."""


Genotypeish = Union[str, bytes, Mapping[str, Any]]


def _as_dict(genotype: Genotypeish) -> Dict[str, Any]:
    import json

    if hasattr(genotype, "to_dict"):
        return dict(genotype.to_dict())  # type: ignore[union-attr]
    if isinstance(genotype, (str, bytes)):
        genotype = json.loads(genotype)
    if not isinstance(genotype, Mapping) or not isinstance(genotype.get("cells"), list):
        raise DrawError("a genotype is a JSON object with a list under 'cells'")
    return dict(genotype)


def cell_inputs(cell: Mapping[str, Any]) -> int:
    """How many inputs the genotype cell ``cell`` has: its ``inputs``, or for a genotype written
    before format 1 the first state ``concat`` lists (``concat[0]``)."""
    if cell.get("inputs"):
        return int(cell["inputs"])
    concat = cell.get("concat") or []
    if concat:
        return int(min(concat))
    raise DrawError(f"cell {cell.get('name', '?')!r} has neither 'inputs' nor 'concat'")


def cells_of(genotype: Genotypeish, cell: Optional[str] = None) -> List[Dict[str, Any]]:
    """The genotype's cells, checked: each with a name, its inputs (inferred for old genotypes) and
    nodes whose kept inputs are earlier states. ``cell`` picks one cell type by name."""
    g = _as_dict(genotype)
    cells = []
    for k, c in enumerate(g["cells"]):
        if not isinstance(c, Mapping) or not isinstance(c.get("nodes"), list):
            raise DrawError(f"genotype cell {k} has no list of nodes")
        inputs = cell_inputs(c)
        nodes = []
        for j, node in enumerate(c["nodes"]):
            choices = []
            for ch in node:
                try:
                    src, op = int(ch["input"]), str(ch["op"])
                except (KeyError, TypeError, ValueError):
                    raise DrawError(f"cell {c.get('name', k)!r} node {j}: a choice needs 'input' and 'op'") from None
                if not 0 <= src < inputs + j:
                    raise DrawError(f"cell {c.get('name', k)!r} node {j}: input {src} is not an earlier state "
                                    f"(0..{inputs + j - 1})")
                weight = ch.get("weight")
                choices.append({"input": src, "op": op, "weight": None if weight is None else float(weight)})
            nodes.append(choices)
        concat = [int(s) for s in (c.get("concat") or range(inputs, inputs + len(nodes)))]
        cells.append({"name": str(c.get("name", f"cell{k}")), "inputs": inputs, "nodes": nodes, "concat": concat,
                      "keep": list(c.get("keep") or [len(n) for n in nodes])})
    if cell is not None:
        picked = [c for c in cells if c["name"] == cell]
        if not picked:
            raise DrawError(f"the genotype has no cell {cell!r} (it has {', '.join(c['name'] for c in cells)})")
        return picked
    return cells


def state_label(inputs: int, state: int) -> str:
    """The diagram's name for state ``state`` of a cell with ``inputs`` inputs: ``c_{k-2}``/``c_{k-1}``
    for the inputs of a two-input cell, ``in i`` for other inputs, the node number ``j`` for state
    ``inputs + j``."""
    if state >= inputs:
        return str(state - inputs)
    if inputs == 2:
        return "c_{k-2}" if state == 0 else "c_{k-1}"
    return f"in {state}"


def _q(text: str) -> str:
    """A DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(genotype: Genotypeish, cell: Optional[str] = None) -> str:
    """Graphviz DOT source of the genotype's cells (or of cell type ``cell`` only), one cluster per
    cell type; see the module's documentation for what is drawn."""
    g = _as_dict(genotype)
    cells = cells_of(g, cell)
    all_cells = [c["name"] for c in cells_of(g)]
    ops: List[str] = list(g.get("ops") or [])
    for c in cells:
        for node in c["nodes"]:
            for ch in node:
                if ch["op"] not in ops:
                    ops.append(ch["op"])
    colour = {op: _PALETTE[k % len(_PALETTE)] for k, op in enumerate(ops)}
    method = g.get("method")
    lines = [
        "digraph genotype {",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica", fontsize=14, labelloc=t, nodesep=0.3, ranksep=0.9];',
        '  node [fontname="Helvetica", fontsize=12, style="filled,rounded", shape=box, penwidth=1.2];',
        '  edge [fontname="Helvetica", fontsize=10, arrowsize=0.7];',
    ]
    if method:
        lines.append(f"  label={_q(f'{method} genotype')};")
    # dot stacks the clusters of a left-to-right graph bottom-up in the order they are defined: defining
    # them last to first shows the first cell type on top.
    for c in reversed(cells):
        ci = all_cells.index(c["name"])
        inputs, nodes = c["inputs"], c["nodes"]
        out = f"c{ci}_out"

        def sid(state: int, ci: int = ci) -> str:
            return f"c{ci}_s{state}"

        title = (f"{c['name']}: {inputs} input{'s' if inputs != 1 else ''}, {len(nodes)} nodes "
                 f"(node j = state {inputs}+j); edges: op, edge weight")
        # the margin keeps edge labels off the cluster's title, which a left-to-right layout does not reserve room for
        lines += [f"  subgraph cluster_{ci} {{", f"    label={_q(title)};",
                  '    color="#888888"; style=rounded; margin=24;']
        lines.append("    { rank=same; " + " ".join(
            f"{sid(i)} [label={_q(state_label(inputs, i))}, fillcolor={_q(_INPUT_FILL)}];" for i in range(inputs))
            + " }")
        for j in range(len(nodes)):
            lines.append(f"    {sid(inputs + j)} [label={_q(str(j))}, shape=circle, fillcolor={_q(_NODE_FILL)}, "
                         f"width=0.45, fixedsize=true];")
        out_label = "c_{k}" if inputs == 2 else "out"
        lines.append(f"    {out} [label={_q(out_label)}, fillcolor={_q(_OUTPUT_FILL)}];")
        for j, node in enumerate(nodes):
            for ch in node:
                label = ch["op"] if ch["weight"] is None else f"{ch['op']}\n{ch['weight']:.2f}"
                col = colour[ch["op"]]
                lines.append(f"    {sid(ch['input'])} -> {sid(inputs + j)} [label={_q(label)}, color={_q(col)}, "
                             f"fontcolor={_q(col)}];")
        for s in c["concat"]:
            lines.append(f'    {sid(s)} -> {out} [color="#666666", style=dashed];')
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def find_dot() -> str:
    """The path of Graphviz's ``dot``; raises :class:`GraphvizMissingError` when there is none."""
    path = shutil.which("dot")
    if path is None:
        raise GraphvizMissingError("Graphviz's 'dot' program is not installed; install Graphviz "
                                   "(Debian package graphviz: apt-get install graphviz, or bash tools/setup-debian.sh)")
    return path


def output_format(path: Union[str, "os.PathLike[str]"]) -> str:
    """The format for an output file name, from its extension (see :data:`FORMATS`)."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise DrawError(f"{os.fspath(path)}: unknown output format {ext or '(no extension)'!r}; use one of "
                        f"{', '.join(FORMATS)}")
    return FORMATS[ext]


def render(genotype: Genotypeish, path: Union[str, "os.PathLike[str]"], cell: Optional[str] = None,
           timeout: float = 60.0) -> str:
    """Draw the genotype's cells into ``path``, its format taken from the extension (``.svg``,
    ``.png``, ``.pdf``; ``.dot``/``.gv`` for the DOT source). ``dot`` renders to memory and the file is
    written by libdaas's one writer (:func:`daas.write_file`), so a reader never sees half a file.
    Returns ``path``."""
    from .engine import write_file

    path = os.fspath(path)
    fmt = output_format(path)
    source = to_dot(genotype, cell)
    if fmt == "dot":
        write_file(path, source.encode("utf-8"))
        return path
    dot = find_dot()
    try:
        proc = subprocess.run([dot, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GraphvizFailedError(f"dot took longer than {timeout:.0f} s") from None
    if proc.returncode != 0 or not proc.stdout:
        said = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphvizFailedError(f"dot -T{fmt} failed (exit status {proc.returncode})"
                                  + (f": {said[0]}" if said else ""))
    write_file(path, proc.stdout)
    return path
