"""The discreteness controller, the kept-edge metrics, the genotype's edge weights and the delays
that scale with the epochs, seen from Python (the engine's own tests cover the arithmetic)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import daas
import daas.state

CONTROLLED = {"space": "darts", "epochs": 12, "seed": 2,
              "optimizer": {"alpha": {"lr": 0.05}, "beta": {"lr": 0.05}},
              "loss": {"lambda_c": {"type": "linear", "scale": 0.3}},
              "control": {"edge_target": 0.99, "mass_target": 0.99, "by_epoch": 8}}


def _task_step(eng: daas.Engine, rng: np.random.Generator) -> None:
    """A step whose task wants every edge split between two ops and every input kept."""
    op_w, edge_w = eng.weights()
    n_ops = len(eng.config["space"]["ops"])
    target = np.zeros_like(op_w).reshape(-1, n_ops)
    target[:, 3], target[:, 4] = 0.55, 0.45
    g_op = 8 * (op_w - target.reshape(-1)) + rng.normal(0, 0.01, op_w.shape).astype(np.float32)
    g_edge = 8 * (edge_w - 1.0 - 0.1 * (np.arange(edge_w.size) % 3))  # some inputs wanted a little more
    eng.step(g_op.astype(np.float32), g_edge.astype(np.float32))


def _run(config: dict, steps_per_epoch: int = 25) -> daas.Engine:
    eng = daas.Engine(config)
    rng = np.random.default_rng(0)
    for epoch in range(1, config["epochs"] + 1):
        eng.set_epoch(epoch)
        for _ in range(steps_per_epoch):
            _task_step(eng, rng)
    return eng


def test_controller_reaches_its_targets_and_the_plain_run_does_not() -> None:
    plain_cfg = {k: v for k, v in CONTROLLED.items() if k != "control"}
    with _run(plain_cfg) as plain, _run(CONTROLLED) as ctl:
        p, c = plain.metrics(), ctl.metrics()
        assert p["op_boost"] == 1 and p["edge_boost"] == 1
        assert p["weakest_kept_edge"] < 0.9
        assert c["weakest_kept_edge"] >= 0.99 and c["kept_mass"] >= 0.99, c
        history = daas.state.read(ctl.save()).history
        assert max(r.metrics["op_boost"] for r in history) > 1
        assert max(r.metrics["edge_boost"] for r in history) > 1


def test_controller_state_is_saved_and_resumes_bit_for_bit() -> None:
    with _run(CONTROLLED) as ref:
        want = ref.save()
    cfg = dict(CONTROLLED)
    eng = daas.Engine(cfg)
    rng = np.random.default_rng(0)
    for epoch in range(1, 13):
        eng.set_epoch(epoch)
        for _ in range(25):
            _task_step(eng, rng)
        if epoch == 6:  # save and continue from the bytes mid-search
            data = eng.save()
            eng.close()
            eng = daas.Engine.load(data)
            st = daas.state.read(data)
            m = eng.metrics()
            assert st.control == {"op": m["op_boost"], "edge": m["edge_boost"]}
            assert max(st.control.values()) > 1
    assert eng.save() == want
    eng.close()
    assert daas.state.read(want).history[-1].metrics["kept_mass"] > 0
    with daas.Engine({"epochs": 3}) as plain:
        assert daas.state.read(plain.save()).control is None


def test_genotype_carries_the_kept_edges_weights() -> None:
    with _run({**CONTROLLED, "epochs": 3, "control": {"edge_target": 0.99}}, steps_per_epoch=5) as eng:
        _, edge_w = eng.weights()
        g = json.loads(eng.discretize().to_json())
    for ci, cell in enumerate(g["cells"]):
        for j, node in enumerate(cell["nodes"]):
            for ch in node:
                e = 14 * ci + j * 2 + j * (j - 1) // 2 + ch["input"]
                assert ch["weight"] == pytest.approx(float(edge_w[e]), rel=1e-6)
    assert "darts" in g  # the DARTS string is unchanged by the weights
    assert "weight" not in g["darts"]


@pytest.mark.parametrize("epochs,delay", [(2, 1), (3, 1), (12, 2), (30, 5), (50, 8)])
def test_delays_left_out_scale_with_epochs(epochs: int, delay: int) -> None:
    with daas.Engine({"epochs": epochs}) as eng:
        assert eng.config["optimizer"]["alpha_start_epoch"] == delay
        assert eng.config["loss"]["lambda_alpha"]["delay"] == delay


def test_a_three_epoch_search_moves_alpha_with_the_defaults() -> None:
    with daas.Engine({"epochs": 3, "optimizer": {"alpha": {"lr": 0.05}}}) as eng:
        before = eng.alpha.copy()
        n_a, n_e = eng.sizes
        eng.step(np.linspace(-1, 1, n_a, dtype=np.float32), np.zeros(n_e, dtype=np.float32))
        assert not np.array_equal(eng.alpha, before)


@pytest.mark.parametrize("config,key", [
    ({"epochs": 3, "optimizer": {"alpha_start_epoch": 8}}, "optimizer.alpha_start_epoch"),
    ({"epochs": 4, "loss": {"lambda_alpha": {"type": "log", "scale": 1, "delay": 4}}}, "loss.lambda_alpha.delay"),
    ({"epochs": 10, "control": {"edge_target": 0.99, "by_epoch": 11}}, "control.by_epoch"),
    ({"method": "darts", "control": {"edge_target": 0.99}}, "control"),
])
def test_settings_that_cannot_take_effect_are_refused(config: dict, key: str) -> None:
    with pytest.raises(daas.InvalidConfigError, match=key):
        daas.Engine(config)
