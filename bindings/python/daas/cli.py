"""The ``daas`` command: run a search, and look at what one left behind.

::

    daas search [ARGS...]                       the PyTorch search (python -m daas.torch.search ARGS)
    daas inspect STATE [--json]                 configuration, position, metrics, genotype, history
    daas genotype SOURCE [--format F] [--cell NAME]
                                                F: json (default), darts, nb201 or dot
    daas draw SOURCE -o FILE [--cell NAME]      cell diagrams: FILE.svg, .png, .pdf (Graphviz), .dot/.gv
    daas plot STATE -o DIR                      PNG plots of the state's history and final α and β
    daas compare RUN RUN... [--json]            reports side by side

STATE is a state file (``state.daas``, recognized by its ``DAAS`` file identifier) or a run folder
holding one. SOURCE is a state, a genotype JSON file (``genotype.json``), a ``report.json`` (its
``"genotype"``), or a run folder (its ``state.daas``, else ``genotype.json``, else ``report.json``).
RUN is a run folder holding ``report.json``, or the path of a ``report.json``.

The current metrics and genotype of a state come from the engine (``daas.Engine.load``) when libdaas
can be loaded; without it they fall back to the last epoch recorded in the state's history, and the
command says so. Only ``search`` needs PyTorch (``compare`` uses it for its table when installed);
``plot`` needs matplotlib and ``draw`` Graphviz's ``dot`` program.

``draw`` puts every cell type in one graph, one cluster per cell type (``--cell`` picks one). In a
cluster the cell inputs are ``c_{k-2}``/``c_{k-1}`` (cells with two inputs) or ``in 0``.. (others),
intermediate node ``j`` is drawn as ``j`` (it is state ``inputs + j`` in the genotype's numbering),
and each kept edge carries its op and edge weight; see :mod:`daas.draw`.

Exit status: 0 on success; 2 for a mistake in what was asked (a missing or unreadable file, a file
that is not a state or genotype, an unknown format or output extension, a genotype without the
requested string, Graphviz or a Python package not installed, a run without ``report.json``), after
one line ``daas: <what is wrong>`` on standard error; 1 when an external program (``dot``) ran and
failed, again after one such line. ``daas search`` exits with the search's own status.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple

from .errors import DaasError, LibraryError

__all__ = ["CLIError", "main", "build_parser"]

#: The figures ``daas compare --json`` selects from each report.
COMPARE_FIGURES = ("supernet_accuracy", "discretized_accuracy", "accuracy_drop", "discretized_accuracy_unit_edges",
                   "accuracy_drop_unit_edges", "discreteness", "weakest_edge", "weakest_kept_edge", "kept_mass",
                   "op_boost", "edge_boost", "retrained_accuracy", "time_per_step_ms", "daas_ms_per_step",
                   "daas_share_percent", "steps", "wall_seconds")

#: The metric columns of the history table of ``daas inspect``.
HISTORY_COLUMNS = ("discreteness", "weakest_kept_edge", "kept_mass", "op_entropy", "disc_loss", "op_boost",
                   "edge_boost")

# What to install for an optional package a command needs (by module name).
_INSTALL = {
    "torch": "PyTorch (pip install 'daas-engine[search]')",
    "matplotlib": "matplotlib (pip install matplotlib)",
    "flatbuffers": "flatbuffers (pip install 'daas-engine[state]')",
    "sklearn": "scikit-learn (pip install 'daas-engine[search]')",
    "tqdm": "tqdm (pip install 'daas-engine[search]')",
}


class CLIError(Exception):
    """A mistake in what the command was asked to do; reported as one line, exit status 2."""

    status = 2


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one ``daas:`` line on standard error, exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"daas: {message} (see {self.prog} --help)\n")
        sys.exit(2)


# ---------------------------------------------------------------------------------------------
# Reading what a search left behind


def _strip_prefix(message: str) -> str:
    for prefix in ("daas.state: ", "daas.torch: ", "daas: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def _is_state_file(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(8)
    return len(head) == 8 and head[4:8] == b"DAAS"


def _in_folder(path: str, names: Sequence[str]) -> str:
    """``path`` itself, or for a folder the first of ``names`` inside it."""
    if not os.path.isdir(path):
        return path
    for name in names:
        cand = os.path.join(path, name)
        if os.path.isfile(cand):
            return cand
    raise CLIError(f"{path}: a folder without {' or '.join(names)}")


def read_state(path: str) -> Any:
    """The :class:`daas.state.State` in ``path`` (a file or a run folder)."""
    path = _in_folder(path, ["state.daas"])
    from . import state as state_mod
    from .errors import CorruptStateError, VersionMismatchError

    try:
        return state_mod.read(path)
    except (CorruptStateError, VersionMismatchError) as exc:
        raise CLIError(f"{path}: {_strip_prefix(exc.message)}") from None
    except IsADirectoryError:
        raise CLIError(f"{path}: a folder, not a state file") from None


def engine_view(path: str) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]], str]:
    """(metrics, genotype, where from) of the state in ``path`` by the engine; (None, None, why not)
    when libdaas cannot be loaded."""
    from . import _library
    from .engine import Engine

    try:
        _library.get()
    except LibraryError as exc:
        return None, None, _strip_prefix(str(exc))
    try:
        with Engine.load(path) as eng:
            return eng.metrics(), eng.discretize().to_dict(), f"libdaas {_library.path()}"
    except DaasError as exc:
        raise CLIError(f"{path}: {_strip_prefix(exc.message)}") from None


def _current(path: str, st: Any) -> Dict[str, Any]:
    """The state's current metrics and genotype: from the engine, or else the last history record."""
    metrics, genotype, where = engine_view(path)
    if metrics is not None:
        return {"source": "libdaas", "note": where, "metrics": metrics, "genotype": genotype}
    if st.history:
        last = st.history[-1]
        return {"source": "history", "metrics": last.metrics, "genotype": last.genotype,
                "note": f"libdaas not loaded ({where}); showing the last history record, the end of epoch "
                        f"{last.epoch}"}
    return {"source": "none", "metrics": None, "genotype": None,
            "note": f"libdaas not loaded ({where}) and the state has no history yet: no metrics or genotype"}


def read_genotype(path: str) -> Tuple[Dict[str, Any], Optional[str]]:
    """The genotype of ``path`` (a state, a genotype JSON, a report.json or a run folder) and, when it
    is not the current one of a state by the engine, a note saying where it comes from."""
    path = _in_folder(path, ["state.daas", "genotype.json", "report.json"])
    if os.path.isdir(path):
        raise CLIError(f"{path}: a folder")
    if _is_state_file(path):
        st = read_state(path)
        cur = _current(path, st)
        if cur["genotype"] is None:
            raise CLIError(f"{path}: {cur['note']}")
        return cur["genotype"], (None if cur["source"] == "libdaas" else cur["note"])
    obj = _read_json(path, "neither a daas state nor JSON")
    if isinstance(obj, dict) and isinstance(obj.get("genotype"), dict) and "cells" not in obj:
        obj = obj["genotype"]
    if not isinstance(obj, dict) or not isinstance(obj.get("cells"), list):
        raise CLIError(f"{path}: not a genotype (a JSON object with 'cells', or a report with a 'genotype')")
    return obj, None


def _read_json(path: str, what: str) -> Any:
    """The parsed JSON in the file at ``path``; CLIError "<path>: <what>" when it is not JSON."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CLIError(f"{path}: {what}") from None


def read_report(run: str) -> Tuple[str, Dict[str, Any]]:
    """(path, report) of a run folder's report.json, or of a report.json path."""
    path = os.path.join(run, "report.json") if os.path.isdir(run) else run
    if os.path.isdir(run) and not os.path.isfile(path):
        raise CLIError(f"{run}: no report.json in this run folder")
    report = _read_json(path, "not a JSON report")
    if not isinstance(report, dict) or "method" not in report:
        raise CLIError(f"{path}: not a search report (no 'method')")
    return path, report


# ---------------------------------------------------------------------------------------------
# Formatting


def _num(v: Any, digits: int = 4) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits}f}".rstrip("0").rstrip(".") if digits > 0 else f"{v:.0f}"
    return str(v)


def _fixed(v: Any) -> str:
    """A metric for a column: four decimals (integers as they are, an absent value empty)."""
    if v is None:
        return ""
    if isinstance(v, float) and math.isfinite(v) and abs(v) < 1e6:
        return f"{v:.4f}"
    return _num(v)


def _flat(d: Any) -> str:
    """A compact one-line rendering of a config value."""
    if isinstance(d, Mapping):
        if set(d) >= {"type", "scale"}:  # a schedule
            rest = ", ".join(f"{k} {_flat(v)}" for k, v in d.items() if k not in ("type", "scale"))
            return f"{d['type']} x{_num(d['scale'])}" + (f" ({rest})" if rest else "")
        return ", ".join(f"{k} {_flat(v)}" for k, v in d.items())
    if isinstance(d, (list, tuple)):
        return "/".join(_flat(v) for v in d)
    return _num(d)


def _jsonable(x: Any) -> Any:
    """x with non-finite floats replaced by None (JSON has no NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Rows under a header, the first ``left`` columns left-aligned and the others right-aligned."""
    rows = [tuple(header), *[tuple(r) for r in rows]]
    widths = [max(len(str(row[c])) for row in rows) for c in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(str(v).ljust(widths[c]) if c < left else str(v).rjust(widths[c])
                               for c, v in enumerate(row)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _genotype_lines(genotype: Mapping[str, Any]) -> List[str]:
    from .draw import cells_of, state_label

    lines = []
    for key in ("darts", "nb201"):
        if genotype.get(key):
            lines.append(f"  {key}: {genotype[key]}")
    for c in cells_of(genotype):
        m = c["inputs"]
        names = ", ".join(f"{i} = {state_label(m, i)}" for i in range(m))
        lines.append(f"  cell {c['name']} (states {names}; node j = state {m}+j; concat {c['concat']}):")
        for j, node in enumerate(c["nodes"]):
            kept = ", ".join(f"{ch['op']}({ch['input']})" + ("" if ch["weight"] is None else f" {ch['weight']:.2f}")
                             for ch in node)
            lines.append(f"    node {j} <- {kept}")
    return lines


def _inspect_text(path: str, st: Any, cur: Mapping[str, Any]) -> str:
    cfg = st.config
    space = st.space
    out = [f"{path}: daas state, schema version {st.schema_version}"]
    discard = ", ".join(space["discard"]) or "none"
    out.append(f"space      {len(space['ops'])} ops: {', '.join(space['ops'])} (discarded: {discard})")
    for c in space["cells"]:
        out.append(f"           cell {c['name']}: {c['inputs']} inputs, {c['nodes']} nodes, keep "
                   f"{' '.join(map(str, c['keep']))}")
    extras = ", ".join(f"{k} {cfg[k]}" for k in ("gradient", "device") if k in cfg)
    out.append(f"method     {st.method}, {st.epochs} epochs, seed {st.seed}" + (f", {extras}" if extras else ""))
    opt = dict(cfg.get("optimizer") or {})
    if opt:
        parts = [f"{k}: {_flat(opt.pop(k))}" for k in ("alpha", "beta") if isinstance(opt.get(k), Mapping)]
        parts += [f"{k} {_flat(v)}" for k, v in opt.items()]
        out.append(f"optimizer  {'; '.join(parts)}")
    loss = cfg.get("loss") or {}
    if loss:
        out.append(f"loss       {'; '.join(f'{k} {_flat(v)}' for k, v in loss.items())}")
    if cfg.get("control"):
        boosts = "" if st.control is None else (f"; boosts now op {_num(st.control['op'])}, "
                                                f"edge {_num(st.control['edge'])}")
        out.append(f"control    {_flat(cfg['control'])}{boosts}")
    else:
        out.append("control    off")
    out.append(f"position   epoch {st.epoch} of {st.epochs}, {st.steps} steps in all ({st.epoch_steps} in this epoch)")
    out.append("")
    if cur["source"] == "libdaas":
        out.append(f"metrics now ({cur['note']}):")
    else:
        out.append(f"note: {cur['note']}")
        if cur["metrics"] is not None:
            out.append("metrics:")
    metrics = cur["metrics"] or {}
    keys = [k for k in metrics if k not in ("method", "epoch", "step")]
    width = max((len(k) for k in keys), default=0)
    for k in keys:
        out.append(f"  {k.ljust(width)}  {_fixed(metrics[k])}")
    if cur["genotype"] is not None:
        out.append("")
        out.append("genotype now:" if cur["source"] == "libdaas" else "genotype:")
        out += _genotype_lines(cur["genotype"])
    out.append("")
    if st.history:
        out.append(f"history ({len(st.history)} finished epoch{'s' if len(st.history) != 1 else ''}):")
        rows = [(str(r.epoch), str(r.steps), *[_fixed(r.metrics.get(k)) for k in HISTORY_COLUMNS])
                for r in st.history]
        out.append(_table(("epoch", "steps", *HISTORY_COLUMNS), rows, left=0))
    else:
        out.append("history: none yet (no epoch finished)")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# The subcommands


def _cmd_inspect(args: argparse.Namespace) -> int:
    path = _in_folder(args.state, ["state.daas"])
    st = read_state(path)
    cur = _current(path, st)
    if args.json:
        obj = {
            "file": path, "schema_version": st.schema_version, "config": st.config, "space": st.space,
            "method": st.method, "epochs": st.epochs, "seed": st.seed, "epoch": st.epoch, "steps": st.steps,
            "epoch_steps": st.epoch_steps, "control": st.control, "source": cur["source"], "note": cur["note"],
            "metrics": cur["metrics"], "genotype": cur["genotype"],
            "history": [{"epoch": r.epoch, "steps": r.steps, "metrics": r.metrics, "genotype": r.genotype}
                        for r in st.history],
        }
        print(json.dumps(_jsonable(obj), indent=2))
    else:
        print(_inspect_text(path, st, cur))
    return 0


def _note(note: Optional[str]) -> None:
    if note:
        sys.stderr.write(f"daas: note: {note}\n")


def _cmd_genotype(args: argparse.Namespace) -> int:
    genotype, note = read_genotype(args.source)
    if args.format == "json":
        text = json.dumps(genotype, indent=2)
    elif args.format == "dot":
        from .draw import to_dot

        text = to_dot(genotype, args.cell).rstrip("\n")
    else:
        text = genotype.get(args.format) or ""
        if not text:
            why = {"darts": "the space is not two cells named normal and reduce with 2 inputs keeping 2 per node",
                   "nb201": "the space is not one cell with 1 input and 3 nodes keeping every input"}[args.format]
            raise CLIError(f"{args.source}: this genotype has no {args.format} string ({why})")
    _note(note)
    print(text)
    return 0


def _cmd_draw(args: argparse.Namespace) -> int:
    from . import draw

    fmt = draw.output_format(args.output)  # an unknown extension fails before anything is read
    genotype, note = read_genotype(args.source)
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise CLIError(f"{args.output}: the folder {folder} does not exist")
    _note(note)
    draw.render(genotype, args.output, args.cell)
    print(f"{args.output} ({fmt})")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    path = _in_folder(args.state, ["state.daas"])
    st = read_state(path)
    from . import plots

    now, _, where = engine_view(path)
    if now is None:
        _note(f"libdaas not loaded ({where}); plotting the recorded epochs only")
    # a run folder's state is titled by the folder (digits-daas), any other state by its file name
    stem = os.path.splitext(os.path.basename(path))[0]
    title = os.path.basename(os.path.dirname(os.path.abspath(path))) if stem == "state" else stem
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise CLIError(f"{args.output}: not a folder")
    written = plots.plot_state(st, args.output, title=title, now=now)
    for p in written:
        print(p)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    loaded = [read_report(r) for r in args.runs]
    if args.json:
        runs = [{"run": p, "name": r.get("name"), "method": r.get("method"), "epochs": r.get("epochs"),
                 "seed": r.get("seed"), **{k: r.get(k) for k in COMPARE_FIGURES}} for p, r in loaded]
        print(json.dumps(_jsonable({"runs": runs}), indent=2))
        return 0
    methods = [r["method"] for _, r in loaded]
    labels = methods if len(set(methods)) == len(methods) else [f"{m} ({k + 1})" for k, m in enumerate(methods)]
    reports = [dict(r, method=label) for (_, r), label in zip(loaded, labels)]
    for label, (p, r) in zip(labels, loaded):
        about = f" ({r['name']}, {r.get('epochs')} epochs, seed {r.get('seed')})" if r.get("name") else ""
        print(f"column {label}: {p}{about}")
    print()
    try:
        from .torch.search import summary_table
    except ImportError as exc:
        if exc.name != "torch":
            raise
        print(_plain_summary(reports))
        return 0
    try:
        print(summary_table(reports))
    except (KeyError, TypeError, ValueError) as exc:
        raise CLIError(f"a report lacks a figure the table needs or holds a wrong value ({exc!r})") from None
    return 0


def _plain_summary(reports: Sequence[Mapping[str, Any]]) -> str:
    """The comparison table without PyTorch installed: the report figures, unformatted by unit."""
    keys = [k for k in COMPARE_FIGURES if any(r.get(k) is not None for r in reports)]
    return _table(("", *[str(r["method"]) for r in reports]),
                  [(k, *["" if r.get(k) is None else (f"{r[k]:.3f}" if isinstance(r[k], float) else _num(r[k]))
                         for r in reports]) for k in keys])


def _run_search(argv: Sequence[str]) -> int:
    from .torch import search

    return int(search.main(list(argv)) or 0)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``daas`` (``search`` is forwarded before it runs)."""
    p = _Parser(prog="daas", description="Discretization-Aware Architecture Search: run a search and look at "
                                         "its states, genotypes and reports.",
                epilog="Exit status 2 for a mistake in the request, 1 when an external program (dot) failed. "
                       "See `daas COMMAND --help`.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("search", help="run the PyTorch search (the arguments of python -m daas.torch.search; "
                                  "see daas search --help)", add_help=False)

    q = sub.add_parser("inspect", help="a state's configuration, position, metrics, genotype and history",
                       description="Print a state's configuration, position, current metrics and genotype (by "
                                   "libdaas, else the last history record) and its per-epoch history.")
    q.add_argument("state", metavar="STATE", help="a state file or a run folder holding state.daas")
    q.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    q.set_defaults(func=_cmd_inspect)

    q = sub.add_parser("genotype", help="print the genotype of a state, genotype.json or report.json",
                       description="Print a genotype: its JSON, its DARTS or NAS-Bench-201 string, or Graphviz DOT.")
    q.add_argument("source", metavar="SOURCE", help="a state, a genotype JSON, a report.json, or a run folder")
    q.add_argument("--format", choices=("json", "darts", "nb201", "dot"), default="json",
                   help="what to print (default: %(default)s)")
    q.add_argument("--cell", default=None, help="with --format dot: only this cell type")
    q.set_defaults(func=_cmd_genotype)

    q = sub.add_parser("draw", help="draw the cells of a genotype with Graphviz (SVG, PNG, PDF)",
                       description="Draw every cell type of a genotype, one cluster per cell type in one graph: "
                                   "inputs c_{k-2}, c_{k-1} (2-input cells) or in 0.., intermediate node j labelled "
                                   "j (state inputs+j), the output, each kept edge with its op and edge weight. "
                                   "Needs Graphviz's dot for .svg, .png and .pdf; .dot and .gv write the source.")
    q.add_argument("source", metavar="SOURCE", help="a state, a genotype JSON, a report.json, or a run folder")
    q.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="output file; its extension (.svg, .png, .pdf, .dot, .gv) sets the format")
    q.add_argument("--cell", default=None, help="only this cell type")
    q.set_defaults(func=_cmd_draw)

    q = sub.add_parser("plot", help="PNG plots of a state's history and its final op and edge weights",
                       description="Write history_metrics.png, history_choices_<cell>.png, "
                                   "final_op_weights_<cell>.png and final_edge_weights.png into DIR.")
    q.add_argument("state", metavar="STATE", help="a state file or a run folder holding state.daas")
    q.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created when missing)")
    q.set_defaults(func=_cmd_plot)

    q = sub.add_parser("compare", help="search reports side by side",
                       description="Print the reports of several runs side by side.")
    q.add_argument("runs", metavar="RUN", nargs="+", help="a run folder holding report.json, or a report.json")
    q.add_argument("--json", action="store_true", help="print the selected figures as JSON")
    q.set_defaults(func=_cmd_compare)
    return p


def _message(exc: BaseException) -> Tuple[str, int]:
    """The one-line message and exit status for an error the command reports."""
    if isinstance(exc, CLIError):
        return str(exc), exc.status
    if isinstance(exc, ImportError):
        what = _INSTALL.get(exc.name or "", repr(exc.name))
        return f"this command needs {what}", 2
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}", 2
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}" if exc.args else "missing key", 2
    from .draw import GraphvizFailedError

    if isinstance(exc, GraphvizFailedError):
        return str(exc), 1
    if isinstance(exc, DaasError):
        return _strip_prefix(exc.message), 2
    return _strip_prefix(str(exc)), 2


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``daas`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from .draw import GraphvizFailedError, GraphvizMissingError

    if argv and argv[0] == "search":  # the search reports its own errors; only a missing PyTorch is ours
        try:
            return _run_search(argv[1:])
        except ImportError as exc:
            if exc.name not in _INSTALL:
                raise
            sys.stderr.write(f"daas: {_message(exc)[0]}\n")
            return 2
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "func", None) is None:
            sys.stderr.write("daas: missing command: one of search, inspect, genotype, draw, plot, compare "
                             "(see daas --help)\n")
            return 2
        return int(args.func(args))
    except ImportError as exc:
        if exc.name not in _INSTALL:
            raise
        msg, status = _message(exc)
    except (CLIError, DaasError, LibraryError, GraphvizMissingError, GraphvizFailedError, OSError, ValueError,
            KeyError) as exc:
        if isinstance(exc, BrokenPipeError):  # the reader went away (daas inspect ... | head)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
            return 1
        msg, status = _message(exc)
    line = " ".join(str(msg).split()) or "failed"
    sys.stderr.write(f"daas: {line}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
