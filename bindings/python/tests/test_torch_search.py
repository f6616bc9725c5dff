"""daas.torch's search loop and `python -m daas.torch.search` (what `make search` runs), on tiny
settings: every output file, the report's keys, the small-data scaling of docs/SEARCH.md, Settings scaled to a small data set, user data from an
.npz. CPU, a few seconds each."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import daas
from daas.torch import search as search_mod
from daas.torch.data import Batches, load_digits, load_npz, split_indices
from daas.torch.evaluate import discrete_weights
from daas.torch.model import Network

torch.set_num_threads(1)

REPORT_KEYS = {"method", "epochs", "seed", "device", "supernet_accuracy", "discretized_accuracy", "accuracy_drop",
               "discretized_accuracy_unit_edges", "accuracy_drop_unit_edges", "weakest_kept_edge", "kept_mass",
               "discreteness", "genotype", "wall_seconds", "time_per_step_ms", "daas_ms_per_step",
               "daas_share_percent"}
# Retraining kept to one epoch and one random genotype, so the CLI tests stay short.
QUICK_RETRAIN = ["--retrain-epochs", "1", "--random", "1", "--retrain-C", "4", "--retrain-layers", "2"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_scaled_config_follows_spec_section_9() -> None:
    config, notes = search_mod.scaled_config("daas", 30, 11)
    lr = config["optimizer"]["alpha"]["lr"]
    assert math.isclose(lr * 30 * 11, 6.0) and config["optimizer"]["beta"]["lr"] == lr
    assert config["optimizer"]["alpha_start_epoch"] == 5 == config["loss"]["lambda_alpha"]["delay"]  # round(4.8)
    assert config["loss"]["lambda_c"] == {"type": "linear", "scale": 0.3, "delay": 0}
    assert any("lr x steps = 6.00" in n for n in notes) and any("round(8/50 x 30)" in n for n in notes)
    assert search_mod.scaled_config("daas", 50, 391)[0]["optimizer"]["alpha_start_epoch"] == 8  # the reference
    short, _ = search_mod.scaled_config("daas", 2, 11)
    assert short["optimizer"]["alpha_start_epoch"] == 1 == short["loss"]["lambda_alpha"]["delay"]
    given, notes = search_mod.scaled_config("darts", 30, 11, arch_lr=3e-4, delay=8, lambda_c=0.1)
    assert given["method"] == "darts" and given["optimizer"]["alpha"]["lr"] == 3e-4
    assert given["optimizer"]["alpha_start_epoch"] == 8 and "(given)" in notes[0]
    for cfg in (config, short, given):  # the engine accepts every one and keeps the values
        with daas.Engine(cfg) as eng:
            got = eng.config
            assert got["epochs"] == cfg["epochs"] and got["optimizer"]["alpha_start_epoch"] == cfg["optimizer"]["alpha_start_epoch"]
            assert math.isclose(got["optimizer"]["alpha"]["lr"], cfg["optimizer"]["alpha"]["lr"])


def test_digits_split_is_fixed_and_disjoint() -> None:
    a, b = load_digits(seed=0), load_digits(seed=0)
    assert (len(a.train), len(a.val), len(a.test)) == (700, 700, 397)
    assert a.num_classes == 10 and a.in_channels == 1 and tuple(a.train.x.shape[2:]) == (8, 8)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    tr, va, te = split_indices(1797, 700, 700, 0)
    assert len(set(tr) | set(va) | set(te)) == 1797
    assert abs(float(a.train.x.mean())) < 1e-5  # standardized with the training split's statistics
    assert len(Batches(a.train, 64)) == 11 and len(Batches(a.train, 64, drop_last=True)) == 10
    assert len(Batches(a.train, 699)) == 1  # a last batch of one example is dropped


def test_search_loop_drives_the_engine(tmp_path: Path) -> None:
    data = load_digits(96, 96, seed=1)
    config, _ = search_mod.scaled_config("daas", 2, 3, space={"ops": ["skip_connect", "avg_pool_3x3", "nor_conv_3x3"],
                                                             "cells": [{"name": "normal", "inputs": 2, "nodes": 3, "keep": [1, 2, 1]},
                                                                       {"name": "reduce", "inputs": 1, "nodes": 2, "keep": 1}]})
    torch.manual_seed(0)
    saved = []
    with daas.Engine(config) as eng:
        model = Network(eng.config, C=2, layers=3, num_classes=10, in_channels=1)
        before = [p.detach().clone() for p in model.parameters()]
        alpha0 = eng.alpha.copy()
        result = search_mod.search(eng, model, Batches(data.train, 32), Batches(data.val, 32), epochs=2,
                                   checkpoint=lambda e, r, opt: saved.append((e, eng.save())), progress=False)
        m = eng.metrics()
        assert m["epoch"] == 2 and m["step"] == 6 == result.steps
        assert not np.array_equal(eng.alpha, alpha0)
        assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
        assert [e for e, _ in saved] == [1, 2]
        restored = daas.Engine.load(saved[-1][1])
        assert np.array_equal(restored.alpha, eng.alpha)
        restored.close()
    assert [h["epoch"] for h in result.history] == [0, 1, 2]
    assert len(result.history[-1]["op_weights"]) == model.sizes[0]
    assert result.time_per_step_ms > 0 and 0 < result.daas_share_percent < 100


def _check_run(run: Path, method: str, epochs: int) -> dict:
    for f in ("state.daas", "supernet.pt", "genotype.json", "report.json", "history.json", "edge_weights.png",
              "cells.svg"):
        assert (run / f).is_file(), f
    svg = (run / "cells.svg").read_text()
    assert "<svg" in svg and "Generated by graphviz" in svg
    pngs = sorted(run.glob("*.png"))
    assert len(pngs) >= 3
    for p in pngs:
        assert p.read_bytes()[:8] == PNG_MAGIC, p
    report = json.loads((run / "report.json").read_text())
    assert REPORT_KEYS <= set(report)
    assert report["method"] == method and report["epochs"] == epochs
    for k in ("supernet_accuracy", "discretized_accuracy"):
        assert 0.0 <= report[k] <= 100.0
    assert math.isclose(report["accuracy_drop"], report["supernet_accuracy"] - report["discretized_accuracy"])
    assert math.isclose(report["accuracy_drop_unit_edges"],
                        report["supernet_accuracy"] - report["discretized_accuracy_unit_edges"])
    assert 0.0 < report["discreteness"] <= 1.0
    genotype = json.loads((run / "genotype.json").read_text())
    assert genotype == report["genotype"] and genotype["method"] == method
    with daas.Engine.load(str(run / "state.daas")) as eng:  # the checkpoint is the final state
        assert json.loads(eng.discretize().to_json()) == genotype
        assert eng.metrics()["epoch"] == epochs
        assert math.isclose(eng.metrics()["discreteness"], report["discreteness"])
    ckpt = torch.load(run / "supernet.pt", weights_only=False)
    assert ckpt["epoch"] == epochs and "model" in ckpt
    return report


def test_cli_two_epoch_search_on_digits_writes_every_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs"
    rc = search_mod.main(["--epochs", "2", "--out", str(out), "--train-size", "128", "--val-size", "128",
                          "--C", "4", "--layers", "3", "--no-progress", *QUICK_RETRAIN])
    assert rc == 0
    reports = [_check_run(out / f"digits-{m}", m, 2) for m in ("daas", "darts")]
    assert reports[0]["config"]["control"] == search_mod.DEFAULT_CONTROL and "control" not in reports[1]["config"]
    retrained = json.loads((out / "retrain.json").read_text())
    assert [r["label"] for r in retrained] == ["daas", "darts", "random-0"]
    for rep, r in zip(reports, retrained):
        assert rep["retrained_accuracy"] == r["test_accuracy"] and r["genotype"] == rep["genotype"]
        assert r["edges"] == 2 * 8  # --retrain-layers 2 of DARTS cells, 8 kept edges each
    assert reports[0]["genotype"]["darts"].startswith("Genotype(normal=[")
    assert reports[0]["config"]["loss"]["lambda_c"]["scale"] == 0.3
    text = capsys.readouterr().out
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert f"device {device}" in text and reports[0]["device"].startswith(device) and "lr x steps" in text
    assert any(line.split() == ["daas", "darts"] for line in text.splitlines())  # the table's header
    assert "discretized accuracy" in text and "accuracy drop" in text and "retrained accuracy" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0] and set(summary["methods"]) == {"daas", "darts", "random"}
    assert summary["methods"]["daas"]["accuracy_drop"]["values"] == [reports[0]["accuracy_drop"]]


def test_cli_several_seeds_write_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    rc = search_mod.main(["--epochs", "2", "--seeds", "0 1", "--out", str(out), "--train-size", "64",
                          "--val-size", "64", "--C", "2", "--layers", "2", "--batch-size", "32", "--no-progress",
                          *QUICK_RETRAIN])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    methods = summary["methods"]
    assert set(methods) == {"daas", "darts", "random"} and set(methods["random"]) == {"retrained_accuracy"}
    for method in ("daas", "darts"):
        reports = [json.loads((out / f"seed-{s}" / f"digits-{method}" / "report.json").read_text()) for s in (0, 1)]
        assert [r["seed"] for r in reports] == [0, 1]
        for key in ("supernet_accuracy", "discretized_accuracy", "accuracy_drop", "accuracy_drop_unit_edges",
                    "discreteness", "weakest_kept_edge", "retrained_accuracy"):
            st = methods[method][key]
            values = [r[key] for r in reports]
            assert st["values"] == values
            assert st["mean"] == pytest.approx(np.mean(values)) and st["std"] == pytest.approx(np.std(values, ddof=1))
            assert st["min"] == min(values) and st["max"] == max(values)
    assert len(methods["random"]["retrained_accuracy"]["values"]) == 2
    md = (out / "summary.md").read_text()
    assert "## daas" in md and "accuracy_drop" in md and "--seeds 0 1" in md


def test_cli_user_data_from_npz_with_nb201(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=90)
    x = rng.normal(size=(90, 6, 6)).astype(np.float64) + y[:, None, None]  # [N, H, W], learnable
    path = tmp_path / "mine.npz"
    np.savez(path, x=x, y=y)
    data = load_npz(str(path))
    assert (len(data.train), len(data.val), len(data.test)) == (36, 36, 18) and data.in_channels == 1
    out = tmp_path / "runs"
    rc = search_mod.main(["--data", str(path), "--space", "nb201", "--methods", "daas", "--epochs", "1",
                          "--batch-size", "16", "--C", "2", "--layers", "2", "--out", str(out), "--no-progress",
                          *QUICK_RETRAIN])
    assert rc == 0
    report = _check_run(out / "mine-daas", "daas", 1)
    assert report["genotype"]["nb201"].startswith("|") and report["cell_types"] == ["cell", "cell"]
    assert (out / "mine-daas" / "op_weights_cell.png").is_file()


def test_npz_errors_name_the_problem(tmp_path: Path) -> None:
    p = tmp_path / "bad.npz"
    np.savez(p, x=np.zeros((4, 3, 3)))
    with pytest.raises(ValueError, match="no array 'y'"):
        load_npz(str(p))
    np.savez(p, x=np.zeros((4, 3)), y=np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        load_npz(str(p))
    np.savez(p, x=np.zeros((4, 3, 3)), y=np.array([0.5, 1, 2, 0]))
    with pytest.raises(ValueError, match="integer class labels"):
        load_npz(str(p))
    np.savez(p, x=np.zeros((4, 3, 3)), y=np.zeros(4, dtype=int), x_test=np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="both x_test and y_test"):
        load_npz(str(p))


def test_discretized_weights_follow_the_engines_genotype() -> None:
    with daas.Engine({"space": "darts", "seed": 3}) as eng:
        g = eng.discretize()
        op_w, edge_w = discrete_weights(eng.config, g)
        op_i, edge_i = discrete_weights(eng.config, g, inherit=True)
        _, w = eng.weights()
        config = eng.config
    assert edge_w.sum() == 16  # 2 cells x 4 nodes x keep 2
    assert op_w.sum() == 16
    assert np.array_equal(op_i, op_w)
    kept = edge_w == 1
    assert np.allclose(edge_i[kept], w[kept], rtol=1e-6) and np.all(edge_i[~kept] == 0)
    with pytest.raises(ValueError, match="no edge weights"):
        discrete_weights(config, {"cells": [{"name": c["name"], "nodes": [[{"input": 0, "op": "skip_connect"}] * 2] * 4}
                                                for c in json.loads(g.to_json())["cells"]]}, inherit=True)


def test_cli_help_documents_user_data(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        search_mod.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for needle in ("--data", "x_test", "[N,C,H,W]", "--epochs", "docs/SEARCH.md"):
        assert needle in text, needle


def test_cli_refuses_an_unknown_method() -> None:
    with pytest.raises(SystemExit, match="unknown method 'enas'"):
        search_mod.main(["--methods", "daas,enas", "--epochs", "1"])
