"""daas.torch.batched.BatchedNetwork against the reference daas.torch.model.Network: outputs,
gradients of every weight and of the op/edge weights, BatchNorm running statistics (float32
tolerance) on the darts, nb201 and imbalanced spaces with and without skip_zero; checkpoint
conversion; the channels-last and autocast options; CapturedStep's checks on CPU; and a digits
search whose architecture (α) follows the reference's step for step, its drift from float summation
order reported next to two controls (the reference in other float orders). CPU, one thread."""

from __future__ import annotations

import itertools
import json
from typing import List

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import daas
from conftest import REPO
from daas.torch import ops as ops_mod
from daas.torch.batched import BatchedNetwork
from daas.torch.captured import CapturedStep, CaptureUnavailable
from daas.torch.model import MixedOp, Network
from daas.torch.optim import ArchitectureOptimizer
from test_torch_model import IMBALANCED as IRREGULAR  # three-input cells, none, nor_conv next to DARTS ops

torch.set_num_threads(1)

with open(REPO / "examples" / "spaces" / "imbalanced.json") as f:
    IMBALANCED = json.load(f)

SPACES = {"darts": "darts", "nb201": "nb201", "imbalanced": IMBALANCED, "irregular": IRREGULAR}


def close(a: torch.Tensor, b: torch.Tensor, what: str, rtol: float = 1e-4, floor: float = 1e-3) -> None:
    """|a - b| within float32 summation-order error, relative to the tensor's scale (at least
    ``floor``: a running mean near 0 is a mean of values of order 1)."""
    a, b = a.detach().double(), b.detach().double()
    scale = max(float(a.abs().max()), float(b.abs().max()), floor)
    err = float((a - b).abs().max()) if a.numel() else 0.0
    assert a.shape == b.shape and err <= rtol * scale, f"{what}: max |diff| {err:.3g} at scale {scale:.3g}"


def pair(space, seed: int = 0, **kw):
    torch.manual_seed(seed)
    ref = Network(space, C=4, layers=3, num_classes=5, in_channels=2, **kw)
    torch.manual_seed(seed)
    bat = BatchedNetwork(space, C=4, layers=3, num_classes=5, in_channels=2, **kw)
    return ref, bat


def mixing_weights(net, seed: int, zeros: bool):
    """Random op and edge weights; with ``zeros`` about 40% of the op weights and a third of the
    edges exactly 0, every node keeping its first edge (the reference and the batched network then
    agree on BatchNorm statistics too, see batched.py)."""
    g = torch.Generator().manual_seed(seed)
    n_alpha, n_edges = net.sizes
    n_ops = len(net.space.ops)
    op = torch.rand(n_edges, n_ops, generator=g) + 0.1
    edge = torch.rand(n_edges, generator=g) * 2
    if zeros:
        op[torch.rand(n_edges, n_ops, generator=g) < 0.4] = 0.0
        edge[torch.rand(n_edges, generator=g) < 0.33] = 0.0
        for ci, spec in enumerate(net.space.cells):
            for j in range(spec.nodes):
                e = net.space.edge_offset(ci) + spec.edge_index(j, 0)
                edge[e] = 1.0
                op[e, int(torch.randint(n_ops, (1,), generator=g))] = 0.7
    return op.reshape(-1).requires_grad_(), edge.requires_grad_()


class Dispatched:
    """The names of the aten ops dispatched inside the block, and the arguments of each call of the
    ops in ``record``."""

    def __init__(self, record=()) -> None:
        self.record = tuple(record)

    def __enter__(self) -> "Dispatched":
        from torch.utils._python_dispatch import TorchDispatchMode

        self.names, self.calls = set(), []
        names, calls, record = self.names, self.calls, self.record

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                names.add(func.__name__.split(".")[0])
                if func in record:
                    calls.append(args)
                return func(*args, **(kwargs or {}))

        self._mode = Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)


def count_shares(monkeypatch) -> List[bool]:
    """A list that gets, for each time a group of a wave might reuse an earlier group's pooling,
    whether it did."""
    from daas.torch import batched

    shares: List[bool] = []
    share_normalized = batched._share_normalized

    def counted(*args):
        y = share_normalized(*args)
        shares.append(y is not None)
        return y

    monkeypatch.setattr(batched, "_share_normalized", counted)
    return shares


def named_grads(net):
    return {n: p.grad for n, p in net.named_parameters()}


@pytest.mark.parametrize("groups", ["whole_waves", "edge_by_edge", "edge_pairs", "whole_waves_summed", "edge_pairs_summed"])
@pytest.mark.parametrize("skip_zero", [False, True], ids=["all", "skip_zero"])
@pytest.mark.parametrize("space", list(SPACES), ids=list(SPACES))
def test_batched_equals_reference(space: str, skip_zero: bool, groups: str, monkeypatch) -> None:
    """On the CPU a wave's edges run in groups of CPU_GROUP_ENTRIES stacked entries: these small
    networks fit one group (whole_waves: the wave's BatchNorm runs once, on all of its channels,
    when mixed by GEMMs); edge_by_edge makes every edge a group of its own, and edge_pairs groups
    of two (and one left over where a wave has an odd number of edges), their BatchNorm a slice at
    a time, the groups of a state's edges sharing their pooling. edge_pairs
    runs on 8x8 inputs, where the dilated convolutions run on the input's phases, the others on
    8x7 ones, where they run dilated. The *_summed variants mix by weighted sums, not GEMMs (as
    networks with more than CPU_GEMM_MIX_CHANNELS channels per node do)."""
    from daas.torch import batched

    summed = groups.endswith("_summed")
    groups = groups.removesuffix("_summed")
    if summed:
        monkeypatch.setattr(batched, "CPU_GEMM_MIX_CHANNELS", 0)

    seen: List[int] = []
    edge_groups = batched._edge_groups
    sliced: List[torch.nn.Module] = []  # the BatchNorms normalized a slice at a time
    batch_norm = batched._batch_norm

    def counted_bn(x, bn, chan):
        sliced.append(bn)
        return batch_norm(x, bn, chan)

    monkeypatch.setattr(batched, "_batch_norm", counted_bn)
    shares = count_shares(monkeypatch)

    def counted(K: int, per_edge: int):
        out = [slice(a, min(a + 2, K)) for a in range(0, K, 2)] if groups == "edge_pairs" else edge_groups(K, per_edge)
        seen.append(len(out))
        return out

    monkeypatch.setattr(batched, "_edge_groups", counted)
    if groups == "edge_by_edge":
        monkeypatch.setattr(batched, "CPU_GROUP_ENTRIES", 1)
    ref, bat = pair(SPACES[space])
    ref.train(), bat.train()
    x = torch.randn(6, 2, 8, 8 if groups == "edge_pairs" else 7, generator=torch.Generator().manual_seed(3))
    y = torch.arange(6) % 5
    op, edge = mixing_weights(ref, 4, zeros=skip_zero)
    op2, edge2 = op.detach().clone().requires_grad_(), edge.detach().clone().requires_grad_()
    for step in range(2):  # twice: the second forward sees the first one's running statistics
        ref.zero_grad(), bat.zero_grad()
        op.grad = edge.grad = op2.grad = edge2.grad = None
        a = ref(x, op, edge, skip_zero=skip_zero)
        with Dispatched() as dispatched:
            b = bat(x, op2, edge2, skip_zero=skip_zero)
        close(a, b, f"logits, forward {step}")
        F.cross_entropy(a, y).backward()
        F.cross_entropy(b, y).backward()
        close(op.grad, op2.grad, "op weight gradients")
        close(edge.grad, edge2.grad, "edge weight gradients")
        if skip_zero:  # no gradient reaches a skipped weight, in either network
            combined = (op.detach().reshape(edge.numel(), -1) * edge.detach()[:, None]).reshape(-1)
            assert float(op2.grad[combined == 0].abs().max()) == 0.0
        mine = bat.to_reference_layout({k: v for k, v in named_grads(bat).items() if v is not None})
        theirs = {k: v for k, v in named_grads(ref).items() if v is not None}
        assert set(theirs) <= set(mine)
        for k in set(mine) - set(theirs):  # an op the reference skipped: a zero slice of a stacked weight
            assert skip_zero and float(mine[k].abs().max()) == 0.0, k
        for k in theirs:
            close(theirs[k], mine[k], f"gradient of {k}")
    state, ref_state = bat.to_reference_state_dict(), ref.state_dict()
    assert set(state) == set(ref_state)
    for k, v in ref_state.items():
        if k.endswith("num_batches_tracked"):
            if not skip_zero:  # one counter per stacked BatchNorm (the module's docstring)
                assert int(state[k]) == int(v), k
        else:
            close(v, state[k], f"state {k}", rtol=1e-5, floor=1.0)
    ref.eval(), bat.eval()  # eval mode: the running statistics at work
    close(ref(x, op, edge, skip_zero=skip_zero), bat(x, op2, edge2, skip_zero=skip_zero), "eval logits")
    if not skip_zero:  # (with these zeros no wave has every edge active: they take the general path)
        most = {"whole_waves": 1, "edge_pairs": (max(w.K for c in bat.cells for w in c.waves) + 1) // 2,
                "edge_by_edge": max(w.K for c in bat.cells for w in c.waves)}[groups]
        assert seen and max(seen) == most, seen
        assert ("addcmul_" in dispatched.names) == summed and ("addmm_" in dispatched.names) != summed
        if groups != "edge_pairs":  # one group: nothing to share; one edge each: a state's edges share
            assert any(shares) == (groups == "edge_by_edge"), shares
        finals = {id(w.bn) for c in bat.cells for w in c.waves}
        assert any(id(bn) in finals for bn in sliced) == (groups != "whole_waves" or summed)


@pytest.mark.parametrize("affine", [False, True], ids=["plain", "affine"])
def test_groups_share_pooling_only_over_equal_statistics(affine: bool, monkeypatch) -> None:
    """Edges that leave the same state pool the same input: a group of them reuses an earlier
    group's normalized pooling and copies its running statistics' update, but only where its own
    statistics were equal to the earlier group's; a pooling BatchNorm whose statistics differ (a
    checkpoint from elsewhere) is computed on its own, in training and in evaluation. Affine
    BatchNorms (a weight and bias per edge) are never shared."""
    from daas.torch import batched

    monkeypatch.setattr(batched, "CPU_GROUP_ENTRIES", 1)  # every edge a group of its own
    shares = count_shares(monkeypatch)
    ref, bat = pair("darts", affine=affine)
    pool = ref.space.ops.index("max_pool_3x3")
    bn = ref.cells[0].edges[1].ops[pool][1]  # the first of input 1's edges: 3, 6 and 10 differ from it
    bn.running_mean.add_(0.25)
    bn.running_var.mul_(1.5)
    if affine:
        with torch.no_grad():
            ref.cells[0].edges[2].ops[pool][1].weight.mul_(1.5)  # (also from input 0; statistics equal)
    bat.load_reference_state_dict(ref.state_dict())
    x = torch.randn(6, 2, 8, 8, generator=torch.Generator().manual_seed(4))
    op, edge = mixing_weights(ref, 5, zeros=False)
    for training in (True, False):
        ref.train(training), bat.train(training)
        shares.clear()
        close(ref(x, op, edge), bat(x, op, edge), f"logits, training={training}")
        assert (True in shares and False in shares) if not affine else not shares, shares
        state = bat.to_reference_state_dict()
        for k, v in ref.state_dict().items():
            if "running" in k:
                close(v, state[k], f"state {k}", rtol=1e-5, floor=1.0)


def test_a_discretized_network_runs_only_its_kept_ops() -> None:
    ref, bat = pair("darts")
    from daas.torch.evaluate import discrete_weights
    from daas.torch.retrain import random_genotype

    op_np, edge_np = discrete_weights("darts", random_genotype("darts", 3))
    op, edge = torch.from_numpy(op_np), torch.from_numpy(edge_np)
    x = torch.randn(4, 2, 8, 8)
    close(ref(x, op, edge, skip_zero=True), bat(x, op, edge, skip_zero=True), "discretized logits")
    calls = {}
    with torch.autograd.profiler.profile() as prof:
        bat(x, op, edge, skip_zero=True)
    calls["skip"] = sum(1 for e in prof.function_events if e.name == "aten::conv2d")
    with torch.autograd.profiler.profile() as prof:
        bat(x, op, edge)
    calls["all"] = sum(1 for e in prof.function_events if e.name == "aten::conv2d")
    assert calls["skip"] < calls["all"], calls


def test_a_registered_op_runs_per_edge_inside_the_waves() -> None:
    name = "test_batched_scaled_identity"

    class Scaled(torch.nn.Module):
        def __init__(self, C: int, stride: int) -> None:
            super().__init__()
            self.stride, self.w = stride, torch.nn.Parameter(torch.rand(C))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :, :: self.stride, :: self.stride] * self.w.view(1, -1, 1, 1)

    ops_mod.register_op(name, lambda C, stride, affine: Scaled(C, stride))
    try:
        space = {"ops": ["skip_connect", name, "sep_conv_3x3"], "cells": [{"name": "normal", "inputs": 2, "nodes": 2},
                                                                          {"name": "reduce", "inputs": 2, "nodes": 2}]}
        ref, bat = pair(space)
        op, edge = mixing_weights(ref, 1, zeros=False)
        x = torch.randn(3, 2, 8, 8)
        a, b = ref(x, op, edge), bat(x, op, edge)
        close(a, b, "logits with a registered op")
        ga = torch.autograd.grad(a.sum(), [op] + [p for n, p in ref.named_parameters() if n.endswith(".w")])
        gb = torch.autograd.grad(b.sum(), [op])
        close(ga[0], gb[0], "op weight gradients with a registered op")
    finally:
        ops_mod.OPS.pop(name)


def test_checkpoints_convert_both_ways() -> None:
    ref, bat = pair(IRREGULAR, affine=True)
    for k, v in ref.state_dict().items():  # the same seed gives the same initial weights
        assert torch.equal(v, bat.to_reference_state_dict()[k]), k
    # train the batched one a little, then convert: the reference computes the same function
    op, edge = mixing_weights(ref, 2, zeros=False)
    opt = torch.optim.SGD(bat.parameters(), lr=0.1)
    x = torch.randn(4, 2, 8, 8)
    for _ in range(2):
        opt.zero_grad()
        bat(x, op.detach(), edge.detach()).square().mean().backward()
        opt.step()
    back = bat.to_network()
    assert type(back) is Network
    back.eval(), bat.eval()
    close(back(x, op, edge), bat(x, op, edge), "to_network logits")
    again = BatchedNetwork.from_network(back)
    for k, v in bat.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    fresh = pair(IRREGULAR, seed=9, affine=True)[1]
    fresh.load_reference_state_dict(torch.load(_saved(back.state_dict()), weights_only=True))
    for k, v in bat.state_dict().items():
        assert torch.equal(v, fresh.state_dict()[k]), k
    wrong = dict(back.state_dict())
    wrong.pop("cells.0.edges.0.ops.2.0.1.weight")
    wrong["bogus"] = torch.zeros(1)
    with pytest.raises(ValueError, match="missing.*unexpected.*bogus"):
        fresh.load_reference_state_dict(wrong)
    with pytest.raises(TypeError, match="Network"):
        BatchedNetwork.from_network(bat)  # type: ignore[arg-type]


def _saved(state):
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return buf


def arch_grads(net, x, y, op, edge):
    op, edge = op.detach().clone().requires_grad_(), edge.detach().clone().requires_grad_()
    loss = F.cross_entropy(net(x, op, edge), y)
    return torch.autograd.grad(loss, (op, edge))


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_depthwise_without_dead_taps_equals_the_convolution() -> None:
    """_depthwise drops the kernel taps that read only padding and runs a dilated convolution whose
    stride equals its dilation on the subsampled input: the same outputs and gradients as conv2d."""
    from daas.torch.batched import _dead_taps, _depthwise

    assert _dead_taps(2, 5, 1, 2, 1) == 1  # sep_conv_5x5 on 2x2 maps: a 3x3 kernel
    assert _dead_taps(2, 5, 1, 4, 2) == 2  # dil_conv_5x5 on 2x2 maps: the centre tap alone
    assert _dead_taps(8, 5, 1, 4, 2) == 0
    torch.manual_seed(0)
    checked = 0
    for H, k, s, d in itertools.product((1, 2, 3, 4, 5, 8), (1, 3, 5), (1, 2), (1, 2)):
        p = d * (k - 1) // 2
        x = torch.randn(3, 4, H, H + 1, dtype=torch.float64, requires_grad=True)
        w = torch.randn(4, 1, k, k, dtype=torch.float64, requires_grad=True)
        ref = F.conv2d(x, w, None, s, p, d, 4)
        g = torch.randn_like(ref)
        out = _depthwise(x, w, s, p, d)
        assert out.shape == ref.shape, (H, k, s, d)
        torch.testing.assert_close(out, ref)
        for a, b in zip(torch.autograd.grad(out, (x, w), g), torch.autograd.grad(ref, (x, w), g)):
            torch.testing.assert_close(a, b)
        checked += 1
    assert checked == 72


def test_dilated_depthwise_runs_undilated_on_the_phases() -> None:
    """A dilated stride-1 depthwise convolution of even-sided maps runs as the undilated convolution
    of the input's polyphase components (oneDNN's dilated kernels are several times slower): the
    same outputs and gradients as conv2d, and no dilated convolution is dispatched."""
    from daas.torch.batched import _depthwise

    torch.manual_seed(0)
    for H, W, k, fmt in itertools.product((2, 4, 8), (4, 6), (3, 5), (torch.channels_last, torch.contiguous_format)):
        x = torch.randn(3, 4, H, W, dtype=torch.float64).contiguous(memory_format=fmt).requires_grad_()
        w = torch.randn(4, 1, k, k, dtype=torch.float64, requires_grad=True)
        ref = F.conv2d(x, w, None, 1, k - 1, 2, 4)
        g = torch.randn_like(ref)
        with Dispatched([torch.ops.aten.convolution.default]) as dispatched:
            out = _depthwise(x, w, 1, k - 1, 2)
        seen = [(tuple(args[0].shape), tuple(args[5])) for args in dispatched.calls]
        assert seen and all(dil == (1, 1) for _, dil in seen), (H, W, k, seen)
        assert seen[0][0][0] == 4 * 3 or w.shape[-1] == 1  # the four phases as one batch
        assert out.is_contiguous(memory_format=fmt)
        torch.testing.assert_close(out, ref)
        for a, b in zip(torch.autograd.grad(out, (x, w), g), torch.autograd.grad(ref, (x, w), g)):
            torch.testing.assert_close(a, b)


def test_channels_last_halving_convolutions_leave_the_heap_intact() -> None:
    """A two-cell digits-size supernet (both cells reductions, 6 -> 4 channels at 8x8) channels-last
    on the CPU: oneDNN's stride-2 1x1 backward corrupted the heap there and aborted the process
    (daas.torch.ops.halving_conv1x1 runs it at stride 1 on the even pixels). In a subprocess, so
    that an abort fails this test alone."""
    import subprocess
    import sys

    code = """
import torch, torch.nn.functional as F
from daas.torch.batched import BatchedNetwork
from daas.torch.model import Network
torch.set_num_threads(1)
for cls in (BatchedNetwork, Network):
    torch.manual_seed(0)
    net = cls("darts", C=2, layers=2, num_classes=4, in_channels=1)
    op, edge = torch.rand(net.sizes[0], requires_grad=True), torch.rand(net.sizes[1], requires_grad=True)
    x = torch.randn(64, 1, 8, 8).contiguous(memory_format=torch.channels_last)
    for _ in range(10):
        F.cross_entropy(net(x, op, edge), torch.arange(64) % 4).backward()
print("intact")
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "intact", (run.returncode, run.stderr[-2000:])


def test_channels_last_and_autocast() -> None:
    _, bat = pair("darts")
    bat.set_options(channels_last=False)
    x, y = torch.randn(8, 2, 8, 8), torch.arange(8) % 5
    op, edge = mixing_weights(bat, 5, zeros=False)
    base = arch_grads(bat, x, y, op, edge)
    state = bat.state_dict()
    for options, bound in [({"channels_last": None}, 1e-4), ({"channels_last": True}, 1e-4),
                           ({"channels_last": False, "amp": "bfloat16"}, 0.2),
                           ({"channels_last": True, "amp": "bfloat16"}, 0.2)]:
        net = BatchedNetwork.from_network(bat.to_network(), **options)
        net.load_state_dict(state)
        assert net(x, op, edge).dtype == torch.float32
        got = arch_grads(net, x, y, op, edge)
        errs = [relative_error(g, b) for g, b in zip(got, base)]
        print(f"{options}: relative error of the op / edge weight gradients {errs[0]:.2e} / {errs[1]:.2e}")
        assert max(errs) < bound, (options, errs)
    w = next(p for n, p in net.named_parameters() if n.endswith("dw1"))
    assert w.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="amp must be one of"):
        bat.set_options(amp="float8")


def test_captured_step_says_what_it_needs_on_cpu() -> None:
    _, bat = pair("darts")
    with daas.Engine({"space": "darts"}) as eng:
        arch = ArchitectureOptimizer(eng)
        opt = torch.optim.SGD(bat.parameters(), lr=0.1)
        with pytest.raises(CaptureUnavailable, match="CUDA graphs need a CUDA device; the supernet is on cpu"):
            CapturedStep(bat, opt, arch)
        assert issubclass(CaptureUnavailable, RuntimeError)
        with pytest.raises(TypeError, match="ArchitectureOptimizer"):
            CapturedStep(bat, opt, eng)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="torch.optim.Optimizer"):
            CapturedStep(bat, None, arch)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="warmup"):
            CapturedStep(bat, opt, arch, warmup=0)


def test_search_with_cuda_graphs_on_cpu_falls_back_and_says_so() -> None:
    from daas.torch.data import Batches, load_digits
    from daas.torch.search import search

    data = load_digits(64, 64, seed=0)
    lines = []
    bat = BatchedNetwork("darts", C=2, layers=1, num_classes=data.num_classes, in_channels=data.in_channels)
    with daas.Engine({"space": "darts", "epochs": 1}) as eng:
        result = search(eng, bat, Batches(data.train, 32, seed=1), Batches(data.val, 32, seed=2), epochs=1,
                        progress=False, cuda_graphs=True, log=lines.append)
    assert result.steps == 2
    assert lines == ["daas.torch.search: cuda_graphs: CUDA graphs need a CUDA device; the supernet is on cpu; "
                     "running the eager step"]


def test_search_command_line_options() -> None:
    from daas.torch.search import build_parser, build_supernet

    args = build_parser().parse_args([])
    assert args.supernet == "batched" and args.channels_last is None and args.amp is None and not args.cuda_graphs
    with pytest.raises(ValueError, match="options of the batched supernet"):
        build_supernet("reference", "darts", amp="bfloat16", C=2, layers=1)
    with pytest.raises(ValueError, match="unknown supernet"):
        build_supernet("fast", "darts")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--supernet", "fast"])


# -- a digits search, step for step ----------------------------------------------------------

STEPS = 5


class _ReversedSum(MixedOp):
    """A control: the reference's mixed op summing its ops in the reverse order (the same math,
    another float summation order)."""

    def forward(self, x, weights, active=None):
        out = None
        for o in reversed(range(len(self.ops))):
            y = weights[o] * self.ops[o](x)
            out = y if out is None else out + y
        return out


#: The runs compared: the reference, the batched supernet, and two controls that are the reference's
#: own math in other float orders: its mixed ops summing in reverse, and its tensors in the
#: channels-last memory format (the convolutions then run other kernels, which block their sums
#: differently, as the batched supernet's grouped convolutions do).
KINDS = ("reference", "batched", "reversed sums", "channels-last")


def _alpha_trajectory(kind: str):
    from daas.torch.data import Batches, load_digits
    from daas.torch.search import architecture_step, scaled_config, weight_step

    data = load_digits(256, 256, seed=0)
    config, _ = scaled_config("daas", 5, 8, seed=0, delay=1)
    torch.manual_seed(0)
    args = dict(C=4, layers=3, num_classes=data.num_classes, in_channels=data.in_channels)
    model = BatchedNetwork(config, **args) if kind == "batched" else Network(config, **args)
    if kind == "reversed sums":
        for m in list(model.modules()):
            if type(m) is MixedOp:
                m.__class__ = _ReversedSum
    fmt = torch.channels_last if kind == "channels-last" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    out = []
    with daas.Engine(config) as eng:
        eng.set_epoch(2)  # past the delay: α's learning rate and every loss term are on
        arch = ArchitectureOptimizer(eng)
        opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        train, val = Batches(data.train, 32, seed=1), Batches(data.val, 32, seed=2)
        for step, ((xt, yt), (xv, yv)) in enumerate(zip(train, val)):
            if step == STEPS:
                break
            xv, xt = xv.contiguous(memory_format=fmt), xt.contiguous(memory_format=fmt)
            architecture_step(arch, model, xv, yv)
            weight_step(model, opt, xt, yt, arch.op_weights.detach(), arch.edge_weights.detach(), 5.0)
            out.append(np.concatenate([eng.alpha, eng.beta]).astype(np.float64))
    return np.array(out)


def test_a_digits_search_follows_the_reference_step_for_step() -> None:
    runs = {kind: _alpha_trajectory(kind) for kind in KINDS}
    ref = runs["reference"]
    moved = np.abs(ref[-1] - ref[0]).max()
    drift = {kind: np.abs(runs[kind] - ref).max(axis=1) for kind in KINDS[1:]}
    print("\nmax |Δα, Δβ| vs the reference, steps 1.." + str(STEPS) + ":")
    for kind, d in drift.items():
        print(f"  {kind + ':':<16} " + " ".join(f"{v:.2e}" for v in d))
    print(f"  (α, β moved by up to {moved:.3f} over these steps)")
    d_bat = drift["batched"]
    assert d_bat[0] <= 1e-6, d_bat  # the same numbers after the first step, up to float32 rounding
    # then a drift that grows as the weights' trajectories part (Adam turns relative gradient
    # differences into steps of α): of the order the controls reach, which are the reference's math
    # in other float orders (the channels-last one reaches about 1e-3 of α's motion by step 5), and
    # far from the whole motion
    control = max(drift["reversed sums"].max(), drift["channels-last"].max(), 1e-7)
    assert d_bat.max() <= 100 * control and d_bat.max() <= 1e-2 * moved, drift
