"""The ``daas`` command (daas.cli), run as a separate process so a traceback would show.

States come from short real engine runs (a DARTS space with the controller, NAS-Bench-201, an
imbalanced custom space) and from one two-epoch PyTorch search of both methods; every subcommand
reads them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import pytest

import daas
import daas.state
from daas import plots

from conftest import PKG_ROOT, library_file

IMBALANCED = {"ops": ["none", "skip_connect", "sep_conv_3x3", "avg_pool_3x3"], "discard": ["none"],
              "cells": [{"name": "normal", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}]}
PNG = b"\x89PNG\r\n\x1a\n"


def _env(**changes: str) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PKG_ROOT)
    env["DAAS_LIBRARY"] = library_file()
    env.update(changes)
    return env


def cli(*args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daas.cli", *args], capture_output=True, text=True,
                          env=env or _env(), timeout=120)


def ok(*args: str, env: Optional[Dict[str, str]] = None) -> str:
    r = cli(*args, env=env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r.stdout


def _run_engine(config: dict, path: Path, steps: int = 4) -> Path:
    rng = np.random.default_rng(3)
    with daas.Engine(config) as eng:
        n_alpha, n_edges = eng.sizes
        for epoch in range(1, config["epochs"] + 1):
            eng.set_epoch(epoch)
            for _ in range(steps):
                eng.step((3 * rng.standard_normal(n_alpha)).astype(np.float32),
                         (3 * rng.standard_normal(n_edges)).astype(np.float32))
        eng.save_file(str(path))
    return path


@pytest.fixture(scope="module")
def states(tmp_path_factory) -> Dict[str, Path]:
    d = tmp_path_factory.mktemp("states")
    return {
        "darts": _run_engine({"space": "darts", "epochs": 3, "control": {"edge_target": 0.99}}, d / "darts.daas"),
        "nb201": _run_engine({"space": "nb201", "epochs": 2}, d / "nb201.daas"),
        "imbalanced": _run_engine({"space": IMBALANCED, "epochs": 2}, d / "imbalanced.daas"),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A two-epoch search of daas and darts on small random data: OUT/t-daas and OUT/t-darts. The
    search's own PNG plots are skipped (they are not what is tested here and cost most of the time)."""
    import torch

    from daas.torch import plots as torch_plots
    from daas.torch import search

    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(0)
    np.savez(d / "data.npz", x=rng.standard_normal((128, 8, 8)).astype(np.float32), y=rng.integers(0, 4, 128),
             x_test=rng.standard_normal((32, 8, 8)).astype(np.float32), y_test=rng.integers(0, 4, 32))
    out = d / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch_plots, "plot_all", lambda *a, **k: [])
        rc = search.main(["--data", str(d / "data.npz"), "--name", "t", "--epochs", "2", "--out", str(out),
                          "--train-size", "64", "--val-size", "64", "--C", "2", "--layers", "2", "--no-progress",
                          "--retrain-epochs", "0", "--random", "0", "--methods", "daas,darts", "--jobs", "1",
                          "--threads", "1"])
    assert rc == 0
    return out


def _engine_view(path: Path) -> Tuple[dict, dict]:
    with daas.Engine.load(str(path)) as eng:
        return eng.metrics(), eng.discretize().to_dict()


# ---------------------------------------------------------------------------------------------
# inspect


def test_inspect_prints_config_position_metrics_genotype_and_history(states) -> None:
    out = ok("inspect", str(states["darts"]))
    _, genotype = _engine_view(states["darts"])
    assert "method     daas, 3 epochs, seed 0" in out
    assert "cell normal: 2 inputs, 4 nodes, keep 2 2 2 2" in out
    assert "control    edge_target 0.99" in out
    assert "epoch 3 of 3, 12 steps in all (4 in this epoch)" in out
    assert "metrics now (libdaas " in out
    assert genotype["darts"] in out
    assert "history (2 finished epochs):" in out
    header = next(line for line in out.splitlines() if line.startswith("epoch  steps"))
    assert header.split() == ["epoch", "steps", "discreteness", "weakest_kept_edge", "kept_mass", "op_entropy",
                              "disc_loss", "op_boost", "edge_boost"]
    rows = [line.split() for line in out.splitlines()[out.splitlines().index(header) + 2:]]
    assert [r[:2] for r in rows] == [["1", "4"], ["2", "4"]]


def test_inspect_json_holds_everything(states) -> None:
    obj = json.loads(ok("inspect", str(states["darts"]), "--json"))
    metrics, genotype = _engine_view(states["darts"])
    st = daas.state.read(states["darts"])
    assert (obj["epoch"], obj["steps"], obj["epoch_steps"], obj["epochs"]) == (3, 12, 4, 3)
    assert obj["method"] == "daas" and obj["source"] == "libdaas"
    assert obj["metrics"] == metrics
    assert {"discreteness", "weakest_kept_edge", "kept_mass", "op_entropy", "disc_loss", "op_boost",
            "edge_boost", "lambda_c"} <= set(obj["metrics"])
    assert obj["genotype"] == genotype
    assert obj["config"]["control"]["edge_target"] == 0.99
    assert obj["control"] == pytest.approx(st.control)
    assert [h["epoch"] for h in obj["history"]] == [1, 2]
    assert obj["history"][-1]["genotype"] == st.history[-1].genotype
    assert obj["history"][0]["metrics"]["discreteness"] == st.history[0].metrics["discreteness"]


def test_inspect_a_search_run_folder(runs) -> None:
    obj = json.loads(ok("inspect", str(runs / "t-daas"), "--json"))
    assert (obj["epoch"], obj["epochs"], len(obj["history"])) == (2, 2, 1)
    with open(runs / "t-daas" / "genotype.json") as f:
        assert obj["genotype"] == json.load(f)


def test_inspect_without_libdaas_falls_back_to_the_history(states, tmp_path) -> None:
    env = _env(DAAS_LIBRARY=str(tmp_path / "missing.so"))
    st = daas.state.read(states["darts"])
    obj = json.loads(ok("inspect", str(states["darts"]), "--json", env=env))
    assert obj["source"] == "history" and "libdaas" in obj["note"]
    assert obj["genotype"] == st.history[-1].genotype
    assert obj["metrics"] == st.history[-1].metrics
    text = ok("inspect", str(states["darts"]), env=env)
    assert "libdaas not loaded" in text and "last history record, the end of epoch 2" in text


def test_inspect_genotype_and_compare_json_need_no_torch(states, runs) -> None:
    code = ("import sys; sys.modules['torch'] = None\n"  # any import of torch now fails
            "from daas.cli import main\n"
            f"assert main(['inspect', {str(states['darts'])!r}]) == 0\n"
            f"assert main(['genotype', {str(states['darts'])!r}, '--format', 'dot']) == 0\n"
            f"assert main(['compare', '--json', {str(runs / 't-daas')!r}, {str(runs / 't-darts')!r}]) == 0\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "epoch 3 of 3" in r.stdout and "digraph" in r.stdout and '"runs"' in r.stdout


# ---------------------------------------------------------------------------------------------
# genotype


@pytest.mark.parametrize("which", ["darts", "nb201", "imbalanced"])
def test_genotype_json_is_the_engines(states, which) -> None:
    assert json.loads(ok("genotype", str(states[which]), "--format", "json")) == _engine_view(states[which])[1]


def test_genotype_strings(states) -> None:
    darts_g = _engine_view(states["darts"])[1]
    nb201_g = _engine_view(states["nb201"])[1]
    out = ok("genotype", str(states["darts"]), "--format", "darts").strip()
    assert out == darts_g["darts"] and out.startswith("Genotype(normal=[(")
    out = ok("genotype", str(states["nb201"]), "--format", "nb201").strip()
    assert out == nb201_g["nb201"] and out.count("+") == 2


def test_genotype_from_genotype_json_report_json_and_run_folder(runs) -> None:
    with open(runs / "t-darts" / "genotype.json") as f:
        want = json.load(f)
    for source in (runs / "t-darts" / "genotype.json", runs / "t-darts" / "report.json", runs / "t-darts"):
        assert json.loads(ok("genotype", str(source))) == want
    assert ok("genotype", str(runs / "t-darts" / "report.json"), "--format", "darts").strip() == want["darts"]


# ---------------------------------------------------------------------------------------------
# draw: the DOT source and the rendered files

_EDGE = re.compile(r'^\s*(\w+) -> (\w+)(?: \[(.*)\])?;\s*$', re.M)
_NODE = re.compile(r'(\w+) \[label="((?:[^"\\]|\\.)*)"')


def parse_dot(source: str) -> Tuple[List[Tuple[str, str, Optional[str]]], Dict[str, str]]:
    """(edges as (tail, head, label or None), {node id: label}) of DOT source."""
    edges = []
    for m in _EDGE.finditer(source):
        lab = re.search(r'label="((?:[^"\\]|\\.)*)"', m.group(3) or "")
        edges.append((m.group(1), m.group(2), None if lab is None else lab.group(1).replace("\\n", "\n")))
    nodes = {m.group(1): m.group(2) for line in source.splitlines() if "->" not in line
             for m in _NODE.finditer(line)}
    return edges, nodes


def expected_edges(genotype: dict, cells: Optional[Sequence[str]] = None) -> Set[Tuple[str, str, Optional[str]]]:
    want = set()
    for ci, c in enumerate(genotype["cells"]):
        if cells is not None and c["name"] not in cells:
            continue
        m = c.get("inputs") or c["concat"][0]
        for j, node in enumerate(c["nodes"]):
            for ch in node:
                label = ch["op"] if "weight" not in ch else f"{ch['op']}\n{ch['weight']:.2f}"
                want.add((f"c{ci}_s{ch['input']}", f"c{ci}_s{m + j}", label))
        for s in c["concat"]:
            want.add((f"c{ci}_s{s}", f"c{ci}_out", None))
    return want


@pytest.mark.parametrize("which", ["darts", "nb201", "imbalanced"])
def test_dot_has_exactly_the_kept_edges(states, which) -> None:
    genotype = _engine_view(states[which])[1]
    edges, nodes = parse_dot(ok("genotype", str(states[which]), "--format", "dot"))
    assert len(edges) == len(set(edges))
    assert set(edges) == expected_edges(genotype)
    for ci, c in enumerate(genotype["cells"]):
        m = c["inputs"]
        inputs = ["c_{k-2}", "c_{k-1}"] if m == 2 else [f"in {i}" for i in range(m)]
        assert [nodes[f"c{ci}_s{i}"] for i in range(m)] == inputs
        assert [nodes[f"c{ci}_s{m + j}"] for j in range(len(c["nodes"]))] == [str(j) for j in range(len(c["nodes"]))]
        assert f"c{ci}_out" in nodes
    if which == "imbalanced":  # nodes keeping 1, 3 (all), 2 and 4 inputs
        assert [sum(1 for t, h, _ in edges if h == f"c0_s{2 + j}") for j in range(4)] == [1, 3, 2, 4]
    if which == "nb201":  # one input, three nodes keeping every input
        assert len([e for e in edges if e[2] is not None]) == 6


def test_dot_of_an_old_genotype_infers_the_inputs(states, tmp_path) -> None:
    genotype = _engine_view(states["imbalanced"])[1]
    old = {"method": genotype["method"],
           "cells": [{"name": c["name"], "concat": c["concat"],
                      "nodes": [[{"input": ch["input"], "op": ch["op"]} for ch in node] for node in c["nodes"]]}
                     for c in genotype["cells"]]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    edges, _ = parse_dot(ok("genotype", str(path), "--format", "dot"))
    assert set(edges) == expected_edges(old)
    assert ("c0_s0", "c0_s2", genotype["cells"][0]["nodes"][0][0]["op"]) in edges or \
           ("c0_s1", "c0_s2", genotype["cells"][0]["nodes"][0][0]["op"]) in edges


def test_dot_for_one_cell(runs) -> None:
    with open(runs / "t-daas" / "genotype.json") as f:
        genotype = json.load(f)
    source = ok("genotype", str(runs / "t-daas"), "--format", "dot", "--cell", "reduce")
    edges, _ = parse_dot(source)
    assert set(edges) == expected_edges(genotype, cells=["reduce"])
    assert "cluster_1" in source and "cluster_0" not in source


def test_draw_writes_svg_png_and_pdf_with_dot(runs, tmp_path) -> None:
    for name, check in (("cell.svg", lambda b: b.startswith(b"<?xml") and b"<svg" in b and b"graphviz" in b.lower()),
                        ("cell.png", lambda b: b.startswith(PNG)),
                        ("cell.pdf", lambda b: b.startswith(b"%PDF"))):
        ok("draw", str(runs / "t-daas" / "state.daas"), "-o", str(tmp_path / name))
        data = (tmp_path / name).read_bytes()
        assert len(data) > 500 and check(data), name
    assert sorted(os.listdir(tmp_path)) == ["cell.pdf", "cell.png", "cell.svg"]  # no temporary file left


@pytest.mark.parametrize("which", ["imbalanced", "nb201"])
def test_draw_svg_holds_every_kept_edge(states, tmp_path, which) -> None:
    genotype = _engine_view(states[which])[1]
    out = tmp_path / f"{which}.svg"
    ok("draw", str(states[which]), "-o", str(out))
    svg = out.read_text()
    # dot titles each edge "tail->head" (escaped) and writes its label as text
    titles = set(re.findall(r"<title>(\w+)&#45;&gt;(\w+)</title>", svg))
    assert titles == {(t, h) for t, h, _ in expected_edges(genotype)}
    for c in genotype["cells"]:
        for node in c["nodes"]:
            for ch in node:
                assert f">{ch['op']}</text>" in svg


# ---------------------------------------------------------------------------------------------
# plot


def test_plot_writes_png_files(runs, tmp_path) -> None:
    out = tmp_path / "plots"
    printed = ok("plot", str(runs / "t-daas" / "state.daas"), "-o", str(out)).split()
    names = sorted(os.listdir(out))
    assert names == sorted(["history_metrics.png", "history_choices_normal.png", "history_choices_reduce.png",
                            "final_op_weights_normal.png", "final_op_weights_reduce.png", "final_edge_weights.png"])
    assert sorted(os.path.basename(p) for p in printed) == names
    for name in names:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 2000, name


@pytest.mark.parametrize("which", ["darts", "nb201", "imbalanced"])
@pytest.mark.parametrize("method", ["daas", "darts"])
def test_plots_relaxation_and_kept_choices_match_the_engine(tmp_path, which, method) -> None:
    space = {"darts": "darts", "nb201": "nb201", "imbalanced": IMBALANCED}[which]
    # a large learning rate, so α leaves [-1/2, ∞) (the cubic branch) and β passes its clip at 1
    config = {"space": space, "method": method, "epochs": 2, "optimizer": {"alpha": {"lr": 0.2}, "beta": {"lr": 0.2}}}
    path = _run_engine(config, tmp_path / "s.daas")
    st = daas.state.read(path)
    assert st.alpha.min() < -0.5 and (method == "darts" or which == "nb201" or st.beta.max() > 1)
    with daas.Engine.load(str(path)) as eng:
        op_w, edge_w = eng.weights()
        genotype = eng.discretize().to_dict()
    np.testing.assert_allclose(plots.op_weights(method, st.alpha, len(st.space["ops"])).ravel(), op_w, atol=1e-6)
    np.testing.assert_allclose(plots.edge_weights(st.space, method, st.beta), edge_w, atol=1e-6)
    kept = plots.kept_choices(st.space, method, st.alpha, st.beta)
    for mine, theirs in zip(kept["cells"], genotype["cells"]):
        assert [[(ch["input"], ch["op"]) for ch in n] for n in mine["nodes"]] == \
               [[(ch["input"], ch["op"]) for ch in n] for n in theirs["nodes"]]
        assert [ch["weight"] for n in mine["nodes"] for ch in n] == \
               pytest.approx([ch.get("weight", 0.0) for n in theirs["nodes"] for ch in n])


# ---------------------------------------------------------------------------------------------
# compare and search


def test_compare_prints_both_runs(runs) -> None:
    out = ok("compare", str(runs / "t-daas"), str(runs / "t-darts" / "report.json"))
    header = next(line for line in out.splitlines() if line.strip().startswith("daas"))
    assert header.split() == ["daas", "darts"]
    assert "supernet accuracy" in out and "weakest kept edge" in out
    obj = json.loads(ok("compare", "--json", str(runs / "t-daas"), str(runs / "t-darts")))
    assert [r["method"] for r in obj["runs"]] == ["daas", "darts"]
    with open(runs / "t-darts" / "report.json") as f:
        report = json.load(f)
    assert obj["runs"][1]["discretized_accuracy"] == report["discretized_accuracy"]
    assert obj["runs"][1]["kept_mass"] == report["kept_mass"]


def test_search_forwards_every_argument(monkeypatch) -> None:
    from daas import cli
    from daas.torch import search

    seen = []
    monkeypatch.setattr(search, "main", lambda argv: seen.append(argv) or 0)
    assert cli.main(["search", "--epochs", "2", "--methods", "daas", "--help"]) == 0
    assert seen == [["--epochs", "2", "--methods", "daas", "--help"]]


# ---------------------------------------------------------------------------------------------
# user mistakes: one line on stderr, a non-zero status, no traceback


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, states) -> Dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    data = bytearray(states["darts"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "flipped.daas").write_bytes(bytes(data))
    (d / "truncated.daas").write_bytes(states["darts"].read_bytes()[:100])
    (d / "text.txt").write_text("hello\n")
    (d / "list.json").write_text("[1, 2]\n")
    (d / "empty-run").mkdir()
    (d / "nodot").mkdir()
    return {p.name: p for p in d.iterdir()}


MISTAKES = {
    "missing state": (["inspect", "{bad}/missing.daas"], "No such file"),
    "not a state": (["inspect", "{bad}/text.txt"], "not a daas state"),
    "flipped byte": (["inspect", "{bad}/flipped.daas"], "checksum"),
    "truncated": (["genotype", "{bad}/truncated.daas"], ""),
    "not a genotype": (["genotype", "{bad}/list.json"], "not a genotype"),
    "neither state nor json": (["draw", "{bad}/text.txt", "-o", "{bad}/x.svg"], "neither"),
    "unknown format": (["genotype", "{darts}", "--format", "yaml"], "invalid choice"),
    "no nb201 string": (["genotype", "{darts}", "--format", "nb201"], "no nb201 string"),
    "no darts string": (["genotype", "{nb201}", "--format", "darts"], "no darts string"),
    "unknown extension": (["draw", "{darts}", "-o", "{bad}/cell.txt"], "unknown output format"),
    "unknown cell": (["draw", "{darts}", "-o", "{bad}/cell.svg", "--cell", "middle"], "no cell 'middle'"),
    "missing output folder": (["draw", "{darts}", "-o", "{bad}/nope/cell.svg"], "does not exist"),
    "plot of a non-state": (["plot", "{bad}/list.json", "-o", "{bad}/plots"], "not a daas state"),
    "run without report": (["compare", "{bad}/empty-run"], "no report.json"),
    "no command": ([], "missing command"),
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_user_mistakes_are_one_line(states, bad_files, case) -> None:
    args, says = MISTAKES[case]
    bad = str(bad_files["text.txt"].parent)
    r = cli(*[a.format(bad=bad, darts=states["darts"], nb201=states["nb201"]) for a in args])
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("daas: "), r.stderr
    assert says in lines[0]
    assert r.stdout == ""


def test_draw_without_graphviz_says_how_to_install_it(states, bad_files, tmp_path) -> None:
    r = cli("draw", str(states["darts"]), "-o", str(tmp_path / "cell.svg"), env=_env(PATH=str(bad_files["nodot"])))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("daas: ")
    assert "Graphviz" in lines[0] and "graphviz" in lines[0] and "tools/setup-debian.sh" in lines[0]
    assert not (tmp_path / "cell.svg").exists() and os.listdir(tmp_path) == []
    # the DOT source itself needs no Graphviz
    ok("draw", str(states["darts"]), "-o", str(tmp_path / "cell.dot"), env=_env(PATH=str(bad_files["nodot"])))
    assert (tmp_path / "cell.dot").read_text() == ok("genotype", str(states["darts"]), "--format", "dot")


def test_a_failing_dot_is_exit_status_1(states, tmp_path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dot").write_text("#!/bin/sh\necho 'Error: something broke' >&2\nexit 3\n")
    (bin_dir / "dot").chmod(0o755)
    r = cli("draw", str(states["darts"]), "-o", str(tmp_path / "cell.svg"), env=_env(PATH=str(bin_dir)))
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["daas: dot -Tsvg failed (exit status 3): Error: something broke"]
    assert sorted(os.listdir(tmp_path)) == ["bin"]  # neither the output nor a temporary file


def test_inspect_a_state_before_its_first_epoch_ends(tmp_path) -> None:
    with daas.Engine({"space": "nb201", "epochs": 4}) as eng:
        eng.save_file(str(tmp_path / "fresh.daas"))
    out = ok("inspect", str(tmp_path / "fresh.daas"))
    assert "epoch 1 of 4, 0 steps in all" in out and "history: none yet" in out and "control    off" in out
    r = cli("genotype", str(tmp_path / "fresh.daas"), env=_env(DAAS_LIBRARY=str(tmp_path / "missing.so")))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "no history yet" in r.stderr
