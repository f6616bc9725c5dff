"""What a user sees when they slip: missing or mis-sized gradients, odd data, resuming a search."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import daas
from daas.torch import search as search_mod
from daas.torch.data import DataWarning, batch_warnings, load_digits, load_npz

torch.set_num_threads(1)


def test_step_with_a_gradient_that_was_never_set() -> None:
    op = torch.zeros(196, requires_grad=True)  # a leaf whose .grad nobody filled
    with daas.Engine({"epochs": 3}) as eng:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no copy warning on the way to the message
            with pytest.raises(TypeError, match=r"grad_op is None: the gradient of the op weights was never computed"):
                eng.step(op.grad, np.zeros(28, dtype=np.float32))
            with pytest.raises(TypeError, match="grad_edge is None"):
                eng.step(np.zeros(196, dtype=np.float32), None)
        assert eng.metrics()["step"] == 0


def test_wrong_lengths_name_the_argument_and_the_layout() -> None:
    with daas.Engine({"epochs": 3}) as eng:
        with pytest.raises(daas.InvalidArgumentError, match=r"grad_op has 195 values, want n_alpha = 196: layout \[cell\]\[edge\]\[op\] = 2x14x7"):
            eng.step(np.zeros(195, dtype=np.float32), np.zeros(28, dtype=np.float32))
        with pytest.raises(daas.InvalidArgumentError, match=r"grad_edge has 14 values, want n_edges = 28: layout \[cell\]\[edge\] = 2x14"):
            eng.step(np.zeros(196, dtype=np.float32), np.zeros(14, dtype=np.float32))
    custom = {"ops": ["a", "b"], "cells": [{"name": "x", "inputs": 1, "nodes": 2}, {"name": "y", "inputs": 2, "nodes": 1}]}
    with daas.Engine({"space": custom, "epochs": 3}) as eng:
        with pytest.raises(daas.InvalidArgumentError, match=r"want n_alpha = 10: layout \[cell\]\[edge\]\[op\] = 3\+2x2"):
            eng.step(np.zeros(4, dtype=np.float32), np.zeros(5, dtype=np.float32))


def test_channels_last_and_empty_classes_warn(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "hwc.npz"
    np.savez(path, x=rng.normal(size=(60, 8, 8, 3)), y=np.arange(60) % 3)
    with pytest.warns(DataWarning, match=r"looks channels-last \[N, H, W, C\]"):
        load_npz(str(path))
    path = tmp_path / "gap.npz"
    y = np.where(np.arange(60) % 2 == 0, 0, 2)  # class 1 never appears
    np.savez(path, x=rng.normal(size=(60, 1, 4, 4)), y=y)
    with pytest.warns(DataWarning, match="no example of class 1"):
        load_npz(str(path))
    small = load_digits(40, 40)
    assert [m.split(": ", 2)[-1][:10] for m in batch_warnings(small, 64)] == ["the train ", "the valida"]
    assert batch_warnings(small, 32) == []


def test_cli_data_errors_are_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 3, 3)))
    with pytest.raises(SystemExit) as info:
        search_mod.main(["--data", str(bad), "--epochs", "1", "--no-progress"])
    msg = str(info.value.code)
    assert msg.startswith("daas.torch.search: --data") and "no array 'y'" in msg and "\n" not in msg
    with pytest.raises(SystemExit) as info:
        search_mod.main(["--data", str(tmp_path / "missing.npz"), "--epochs", "1", "--no-progress"])
    assert "missing.npz" in str(info.value.code) and "\n" not in str(info.value.code)


ARGS = ["--epochs", "2", "--train-size", "64", "--val-size", "64", "--batch-size", "32", "--C", "2", "--layers", "2",
        "--methods", "daas", "--jobs", "1", "--retrain-epochs", "0", "--no-progress"]


def test_resume_continues_a_search_bit_for_bit(tmp_path: Path, monkeypatch) -> None:
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert search_mod.main([*ARGS, "--out", str(whole)]) == 0
    # Stop the second run at its second checkpoint (the first is written, then the process "dies").
    calls = {"n": 0}
    real = daas.Engine.save_file

    def dying_save(self, path):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        real(self, path)

    monkeypatch.setattr(daas.Engine, "save_file", dying_save)
    with pytest.raises(KeyboardInterrupt):
        search_mod.main([*ARGS, "--out", str(cut)])
    monkeypatch.setattr(daas.Engine, "save_file", real)
    assert daas.state.read(str(cut / "digits-daas" / "state.daas")).epoch == 1
    assert search_mod.main([*ARGS, "--out", str(cut), "--resume"]) == 0
    a = (whole / "digits-daas" / "state.daas").read_bytes()
    b = (cut / "digits-daas" / "state.daas").read_bytes()
    assert a == b
    ra = json.loads((whole / "digits-daas" / "report.json").read_text())
    rb = json.loads((cut / "digits-daas" / "report.json").read_text())
    assert ra["supernet_accuracy"] == rb["supernet_accuracy"] and ra["genotype"] == rb["genotype"]
    assert len(json.loads((cut / "digits-daas" / "history.json").read_text())) == 3  # epochs 0, 1, 2
    # Resuming with other settings is refused in one line.
    with pytest.raises(SystemExit, match="other settings"):
        search_mod.main([*ARGS, "--out", str(cut), "--resume", "--lambda-c", "0.2"])


def _read_events(path: Path):
    """An independent reader of TensorBoard's record framing and the Event fields a scalar uses."""
    from daas.state import crc32c

    def masked(b: bytes) -> int:
        c = crc32c(b)
        return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    def varint(buf, i):
        n = shift = 0
        while True:
            b = buf[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n, i

    def fields(buf):
        i, out = 0, []
        while i < len(buf):
            key, i = varint(buf, i)
            num, wire = key >> 3, key & 7
            if wire == 0:
                v, i = varint(buf, i)
            elif wire == 1:
                v, i = buf[i:i + 8], i + 8
            elif wire == 5:
                v, i = buf[i:i + 4], i + 4
            else:
                n, i = varint(buf, i)
                v, i = buf[i:i + n], i + n
            out.append((num, v))
        return out

    import struct
    data, i, events = path.read_bytes(), 0, []
    while i < len(data):
        header = data[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[i + 8:i + 12])[0] == masked(header)
        body = data[i + 12:i + 12 + n]
        assert struct.unpack("<I", data[i + 12 + n:i + 16 + n])[0] == masked(body)
        i += 16 + n
        ev = {"scalars": {}}
        for num, v in fields(body):
            if num == 2:
                ev["step"] = v
            elif num == 3:
                ev["file_version"] = v.decode()
            elif num == 5:
                for _, value in fields(v):
                    f = dict(fields(value))
                    ev["scalars"][f[1].decode()] = struct.unpack("<f", f[2])[0]
        events.append(ev)
    return events


def test_tensorboard_scalars(tmp_path: Path) -> None:
    board = tmp_path / "tb"
    assert search_mod.main([*ARGS, "--out", str(tmp_path / "runs"), "--tensorboard", str(board)]) == 0
    files = list((board / "digits-daas").glob("events.out.tfevents.*"))
    assert len(files) == 1
    events = _read_events(files[0])
    assert events[0]["file_version"] == "brain.Event:2"
    per_epoch = [e for e in events if "metrics/discreteness" in e["scalars"]]
    assert [e["step"] for e in per_epoch] == [1, 2]
    history = json.loads((tmp_path / "runs" / "digits-daas" / "history.json").read_text())
    for e, rec in zip(per_epoch, history[1:]):
        assert e["scalars"]["metrics/kept_mass"] == pytest.approx(rec["metrics"]["kept_mass"], rel=1e-6)
        assert e["scalars"]["train/train_loss"] == pytest.approx(rec["train_loss"], rel=1e-6)
    report = json.loads((tmp_path / "runs" / "digits-daas" / "report.json").read_text())
    final = {k: v for e in events for k, v in e["scalars"].items() if k.startswith("result/")}
    assert final["result/accuracy_drop"] == pytest.approx(report["accuracy_drop"], abs=1e-4)
