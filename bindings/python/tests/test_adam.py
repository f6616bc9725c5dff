"""The engine's step against torch.optim.Adam on docs/DESIGN.md's objective, step after step.

Twenty steps over five epochs cross α's learning-rate switch (alpha_start_epoch = 3) and λα's start:
before the switch, torch's α group runs with lr 0 so that its moments accumulate as the engine's do.
Constant β entries are not parameters at all (the engine never touches them, and weight decay would
move them in torch). A refused NaN step in the middle must not disturb the sequence.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import daas
import spec_reference as ref
from conftest import CUSTOM_SPACE

EPOCHS = 5
ALPHA_START = 3
DELAY = 3
STEPS_PER_EPOCH = 4
ADAM_A = {"lr": 0.05, "betas": [0.5, 0.999], "eps": 1e-8, "weight_decay": 1e-3}
ADAM_B = {"lr": 0.03, "betas": [0.6, 0.99], "eps": 1e-8, "weight_decay": 2e-3}


@pytest.mark.parametrize("method", ["daas", "darts"])
@pytest.mark.parametrize("space", ["darts", "nb201", CUSTOM_SPACE], ids=["darts", "nb201", "custom"])
def test_steps_match_torch_adam(space, method):
    config = {
        "space": space,
        "method": method,
        "epochs": EPOCHS,
        "seed": 21,
        "optimizer": {"alpha": ADAM_A, "beta": ADAM_B, "alpha_start_epoch": ALPHA_START},
        "loss": {"lambda_alpha": {"type": "log", "scale": 1, "delay": DELAY}},
    }
    lay = ref.layout(space)
    learn = torch.tensor(lay.learnable_edges(), dtype=torch.long)
    rng = np.random.default_rng(8)
    with daas.Engine(config) as eng:
        alpha = torch.tensor(eng.alpha, dtype=torch.float64, requires_grad=True)
        beta_full = torch.tensor(eng.beta, dtype=torch.float64)
        beta_l = beta_full[learn].clone().requires_grad_(True)
        groups = [{"params": [alpha], "lr": ADAM_A["lr"], "betas": tuple(ADAM_A["betas"]),
                   "eps": ADAM_A["eps"], "weight_decay": ADAM_A["weight_decay"]}]
        if method == "daas" and len(learn):
            groups.append({"params": [beta_l], "lr": ADAM_B["lr"], "betas": tuple(ADAM_B["betas"]),
                           "eps": ADAM_B["eps"], "weight_decay": ADAM_B["weight_decay"]})
        opt = torch.optim.Adam(groups)
        moved_before_switch = None
        for epoch in range(1, EPOCHS + 1):
            eng.set_epoch(epoch)
            groups[0]["lr"] = ADAM_A["lr"] if epoch >= ALPHA_START else 0.0
            lam_c = ref.lambda_c(epoch, EPOCHS)
            lam_a = ref.lambda_alpha(epoch, EPOCHS, DELAY)
            for s in range(STEPS_PER_EPOCH):
                g_op = rng.standard_normal(lay.n_alpha).astype(np.float32)
                g_edge = rng.standard_normal(lay.n_edges).astype(np.float32)
                if epoch == 3 and s == 1:  # a refused step changes nothing, not even Adam's step count
                    bad = g_op.copy()
                    bad[0] = np.nan
                    with pytest.raises(daas.NumericError):
                        eng.step(bad, g_edge)
                eng.step(g_op, g_edge)

                opt.zero_grad()
                beta = beta_full.index_put((learn,), beta_l) if len(learn) else beta_full
                obj = ref.objective(alpha, beta, torch.from_numpy(g_op).double(), torch.from_numpy(g_edge).double(),
                                    lay, method, lam_c, lam_a)
                obj.backward()
                opt.step()

                want_beta = beta_full.index_put((learn,), beta_l.detach()) if len(learn) else beta_full
                np.testing.assert_allclose(eng.alpha, alpha.detach().numpy(), rtol=0, atol=1e-6,
                                           err_msg=f"alpha at epoch {epoch} step {s}")
                np.testing.assert_allclose(eng.beta, want_beta.numpy(), rtol=0, atol=1e-6,
                                           err_msg=f"beta at epoch {epoch} step {s}")
            if epoch == ALPHA_START - 1:
                moved_before_switch = eng.alpha.copy()
        assert eng.metrics()["step"] == EPOCHS * STEPS_PER_EPOCH
        # α did not move before the switch and did after it; β moved from the start (daas)
        init = daas.Engine(config)
        np.testing.assert_array_equal(moved_before_switch, init.alpha)
        assert np.abs(eng.alpha - init.alpha).max() > 0.1
        if method == "daas" and len(learn):
            assert np.abs(eng.beta - init.beta).max() > 0.1
        else:
            np.testing.assert_array_equal(eng.beta, init.beta)
        init.close()
