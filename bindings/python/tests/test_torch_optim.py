"""ArchitectureOptimizer against the plain engine calls it stands for, and the Engine's state_dict."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import daas
from daas.torch import ArchitectureOptimizer

torch.set_num_threads(1)
CONFIG = {"space": "darts", "epochs": 4, "seed": 5, "optimizer": {"alpha": {"lr": 0.05}, "beta": {"lr": 0.05}}}


def _loss(op_w: torch.Tensor, edge_w: torch.Tensor, k: int) -> torch.Tensor:
    """A made-up task loss of both weight tensors."""
    g = torch.Generator().manual_seed(k)
    a, b = torch.randn(op_w.shape, generator=g), torch.randn(edge_w.shape, generator=g)
    return (op_w * a).sum() ** 2 / 100 + (edge_w * b).sum()


def test_steps_equal_the_engines_own_bit_for_bit() -> None:
    with daas.Engine(CONFIG) as ref, daas.Engine(CONFIG) as eng:
        arch = ArchitectureOptimizer(eng)
        for k in range(12):
            arch.set_epoch(1 + k // 4)
            ref.set_epoch(1 + k // 4)
            op_w, edge_w = (torch.from_numpy(w).requires_grad_(True) for w in ref.weights())
            g_op, g_edge = torch.autograd.grad(_loss(op_w, edge_w, k), (op_w, edge_w))
            ref.step(g_op.numpy(), g_edge.numpy())
            arch.zero_grad()
            _loss(*arch.weights, k).backward()
            arch.step()
            w_op, w_edge = ref.weights()
            assert torch.equal(arch.op_weights.detach(), torch.from_numpy(w_op))
            assert torch.equal(arch.edge_weights.detach(), torch.from_numpy(w_edge))
        assert eng.save() == ref.save()
        assert arch.op_weights.is_leaf and arch.op_weights.requires_grad


def test_backward_fills_only_the_weights_and_a_closure_works() -> None:
    with daas.Engine(CONFIG) as eng:
        arch = ArchitectureOptimizer(eng)
        lin = torch.nn.Linear(196, 1)
        loss = lin(arch.op_weights).sum() + arch.edge_weights.sum()
        arch.backward(loss)
        assert arch.op_weights.grad is not None and lin.weight.grad is None
        before = arch.op_weights.detach().clone()

        def closure():
            arch.zero_grad()
            out = _loss(*arch.weights, 0)
            out.backward()
            return out

        assert isinstance(arch.step(closure), torch.Tensor)
        assert not torch.equal(before, arch.op_weights.detach())  # alpha moves from epoch 1 in a 4-epoch search
        arch.zero_grad()
        with pytest.raises(RuntimeError, match=r"op_weights.grad is None"):
            arch.step()


def test_state_dict_in_one_torch_save_resumes_bit_for_bit() -> None:
    def run(arch: ArchitectureOptimizer, ks) -> None:
        for k in ks:
            arch.set_epoch(1 + k // 4)
            arch.zero_grad()
            _loss(*arch.weights, k).backward()
            arch.step()

    with daas.Engine(CONFIG) as whole:
        run(ArchitectureOptimizer(whole), range(16))
        want = whole.save()
    with daas.Engine(CONFIG) as eng:
        arch = ArchitectureOptimizer(eng)
        run(arch, range(7))
        buf = io.BytesIO()
        torch.save({"arch": arch.state_dict()}, buf)
        run(arch, range(7, 10))  # wander off, then come back
        buf.seek(0)
        arch.load_state_dict(torch.load(buf, weights_only=False)["arch"])
        assert arch.op_weights.grad is None and eng.metrics()["step"] == 7
        run(arch, range(7, 16))
        assert eng.save() == want


def test_engine_load_file_bytes_and_state_dict(tmp_path) -> None:
    with daas.Engine(CONFIG) as eng:
        n_a, n_e = eng.sizes
        eng.step(np.ones(n_a, np.float32), np.ones(n_e, np.float32))
        eng.save_file(str(tmp_path / "s.daas"))
        data = eng.save()
    with daas.Engine.load_file(tmp_path / "s.daas") as a, daas.Engine.load_bytes(data) as b:
        assert a.save() == b.save() == data
    with pytest.raises(TypeError, match="load_bytes needs bytes"):
        daas.Engine.load_bytes(str(tmp_path / "s.daas"))
    with pytest.raises(TypeError, match="load_file needs a path"):
        daas.Engine.load_file(data)
    with daas.Engine({"space": "nb201", "epochs": 2}) as other:
        other.load_state_dict({"state": data})  # another space entirely: the same object takes it
        assert other.sizes == (n_a, n_e) and other.save() == data
        bad = bytearray(data)
        bad[-3] ^= 1
        with pytest.raises(daas.CorruptStateError):
            other.load_state_dict({"state": bytes(bad)})
        assert other.save() == data  # unchanged by the refused state
