"""Weights, loss terms and gradients against docs/DESIGN.md, written independently in spec_reference.

The gradient check uses an Adam configuration that exposes the gradient: with betas (0, 0),
weight decay 0 and eps = 1, one step moves each parameter by exactly lr * g / (|g| + 1), a strictly
increasing function of g, so α and β after the step pin the engine's (dα, dβ) down.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import daas
import spec_reference as ref
from conftest import SPACES, SPACE_IDS

EPOCHS = 5
DELAY = 3
LR = 0.5


def _config(space, method, **adam):
    a = {"lr": LR, "betas": [0.0, 0.0], "eps": 1.0, "weight_decay": 0.0}
    a.update(adam)
    return {
        "space": space,
        "method": method,
        "epochs": EPOCHS,
        "seed": 11,
        "optimizer": {"alpha": a, "beta": a, "alpha_start_epoch": 1},
        "loss": {"lambda_alpha": {"type": "log", "scale": 1, "delay": DELAY}},
    }


def _f64(x):
    return torch.tensor(x, dtype=torch.float64)


def _check_weights_and_metrics(eng, lay, method, epoch):
    alpha, beta = eng.alpha, eng.beta
    a, b = _f64(alpha), _f64(beta)
    op, edge = eng.weights()
    np.testing.assert_allclose(op, ref.op_weights(a, lay, method).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(edge, ref.edge_weights(b, lay, method).numpy(), rtol=1e-5, atol=1e-6)
    m = eng.metrics()
    lam_c = ref.lambda_c(epoch, EPOCHS) if method == "daas" else 0.0
    lam_a = ref.lambda_alpha(epoch, EPOCHS, DELAY) if method == "daas" else 0.0
    lam_b = ref.LAMBDA_BETA if method == "daas" else 0.0
    assert m["epoch"] == epoch
    assert m["lambda_c"] == pytest.approx(lam_c, rel=1e-12, abs=1e-15)
    assert m["lambda_alpha"] == pytest.approx(lam_a, rel=1e-12, abs=1e-15)
    assert m["lambda_beta"] == pytest.approx(lam_b, rel=1e-12, abs=1e-15)
    assert m["op_entropy"] == pytest.approx(ref.op_entropy(a, lay, method).item(), rel=1e-5)
    if method == "daas":
        ent, pen = ref.edge_terms(b, lay)
        assert m["edge_entropy"] == pytest.approx(ent.item(), rel=1e-5, abs=1e-9)
        assert m["edge_count_penalty"] == pytest.approx(pen.item(), rel=1e-4, abs=1e-6)
    A = ref.op_weights(a, lay, method).reshape(lay.n_edges, lay.n_ops)
    assert m["discreteness"] == pytest.approx(A.max(dim=1).values.mean().item(), rel=1e-5)
    return lam_c, lam_a, lam_b


@pytest.mark.parametrize("method", ["daas", "darts"])
@pytest.mark.parametrize("space", SPACES, ids=SPACE_IDS)
def test_weights_metrics_and_gradients(space, method):
    lay = ref.layout(space)
    rng = np.random.default_rng(5)
    drift_op = 2 * rng.standard_normal(lay.n_alpha)  # a steady push, so α and β travel far
    drift_edge = 2 * rng.standard_normal(lay.n_edges)
    const = np.ones(lay.n_edges, bool)
    const[lay.learnable_edges()] = False
    with daas.Engine(_config(space, method)) as eng:
        assert eng.sizes == (lay.n_alpha, lay.n_edges)
        for step in range(12):
            epoch = 1 + step * EPOCHS // 12
            eng.set_epoch(epoch)
            lam_c, lam_a, lam_b = _check_weights_and_metrics(eng, lay, method, epoch)
            alpha, beta = eng.alpha, eng.beta
            g_op = (drift_op + rng.standard_normal(lay.n_alpha)).astype(np.float32)
            g_edge = (drift_edge + rng.standard_normal(lay.n_edges)).astype(np.float32)
            d_alpha, d_beta = ref.gradients(alpha, beta, g_op, g_edge, lay, method, lam_c, lam_a, lam_b)
            eng.step(g_op, g_edge)
            want_alpha = _f64(alpha) - LR * d_alpha / (d_alpha.abs() + 1.0)
            np.testing.assert_allclose(eng.alpha, want_alpha.numpy(), rtol=0, atol=1e-6, err_msg=f"alpha, step {step}")
            beta_after = eng.beta
            if method == "daas":
                want_beta = _f64(beta) - LR * d_beta / (d_beta.abs() + 1.0)
                np.testing.assert_allclose(beta_after, want_beta.numpy(), rtol=0, atol=1e-6, err_msg=f"beta, step {step}")
                assert np.all(beta_after[const] == 1.0)  # constant entries are never updated
            else:
                assert np.all(beta_after == 1.0)  # darts: β is constant
        alpha, beta = eng.alpha, eng.beta
        if method == "daas":  # the walk reached every branch of the formulas
            assert (alpha < -0.5).any() and (alpha > 0).any()
            learn = beta[~const]
            if learn.size:
                assert (learn > 1).any() and (learn < 1).any()
        _check_weights_and_metrics(eng, lay, method, EPOCHS)


def test_default_schedule_coefficients():
    """The default schedules (docs/DESIGN.md, Schedules): λc linear to 0.1, λα log-delayed, λβ 4; the
    delay is the paper's 8 at 50 epochs and scales with the epochs, max(1, round(8 E / 50))."""
    for E, D in ((50, 8), (12, 2)):
        with daas.Engine({"epochs": E}) as eng:
            for e in range(1, E + 1):
                eng.set_epoch(e)
                m = eng.metrics()
                assert m["lambda_c"] == pytest.approx(ref.lambda_c(e, E), abs=1e-15)
                assert m["lambda_alpha"] == pytest.approx(ref.lambda_alpha(e, E, D), abs=1e-15)
                assert m["lambda_beta"] == 4
    # An explicit delay keeps the paper's schedule in a shorter search.
    with daas.Engine({"epochs": 12, "loss": {"lambda_alpha": {"type": "log", "scale": 1, "delay": 8}}}) as eng:
        for e in range(1, 13):
            eng.set_epoch(e)
            assert eng.metrics()["lambda_alpha"] == pytest.approx(ref.lambda_alpha(e, 12, 8), abs=1e-15)
    with daas.Engine({"epochs": 1}) as eng:
        m = eng.metrics()
        assert m["lambda_c"] == pytest.approx(0.1) and m["lambda_alpha"] == 1  # E = 1: lin = 1; D = 1, E - D <= 1
    with daas.Engine({"epochs": 9, "loss": {"lambda_alpha": {"type": "log", "scale": 1, "delay": 8}}}) as eng:
        eng.set_epoch(9)
        assert eng.metrics()["lambda_alpha"] == 1  # E - D <= 1


def test_initialization():
    """docs/DESIGN.md, Relaxation: α = 1e-4 N(0,1); β = k/n + 1e-4 N(0,1) on learnable nodes, 1 elsewhere; seeded."""
    lay = ref.layout("darts")
    with daas.Engine({"seed": 3}) as a, daas.Engine({"seed": 3}) as b, daas.Engine({"seed": 4}) as c:
        assert np.array_equal(a.alpha, b.alpha) and not np.array_equal(a.alpha, c.alpha)
        alpha = a.alpha.astype(np.float64)
        assert abs(alpha.std() / 1e-4 - 1) < 0.2 and abs(alpha.mean()) < 3e-5
        beta = a.beta.astype(np.float64)
        for nd in lay.nodes:
            np.testing.assert_allclose(beta[nd.edge:nd.edge + nd.n], nd.k / nd.n, atol=5e-4)
        with daas.Engine({"space": "nb201"}) as nb:
            assert np.all(nb.beta == 1.0)
