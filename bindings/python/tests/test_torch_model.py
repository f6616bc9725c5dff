"""daas.torch's search space as modules: the op registry, the cell layout (docs/DESIGN.md, Flat layouts), the node formula
(docs/DESIGN.md, Relaxation), one-hot discretized networks and BatchNorm re-estimation. CPU, small tensors."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import daas
from conftest import PKG_ROOT
from daas.torch import ops as ops_mod
from daas.torch.evaluate import discrete_weights, reestimate_batchnorm
from daas.torch.model import PRESETS, MixedOp, Network, SearchCell, SpaceSpec, default_layout

torch.set_num_threads(1)

PRESET_OPS = sorted({op for p in PRESETS.values() for op in p["ops"]})

# Imbalanced keep (a keep-all node, keep 1 and keep 3 of 3), three inputs in the reduction cell.
IMBALANCED = {
    "ops": ["none", "skip_connect", "sep_conv_3x3", "max_pool_3x3", "nor_conv_1x1"],
    "discard": ["none"],
    "cells": [
        {"name": "normal", "inputs": 2, "nodes": 3, "keep": [2, 1, 3]},
        {"name": "reduce", "inputs": 3, "nodes": 2, "keep": 1},
    ],
}


@pytest.mark.parametrize("name", PRESET_OPS)
@pytest.mark.parametrize("stride", [1, 2])
def test_every_preset_op_is_registered_and_keeps_shapes(name: str, stride: int) -> None:
    op = ops_mod.build_op(name, 6, stride)
    for h, w in [(8, 8), (7, 5)]:
        y = op(torch.randn(3, 6, h, w))
        assert y.shape == (3, 6, -(-h // stride), -(-w // stride)), name


def test_unknown_op_error_names_the_op() -> None:
    space = {"ops": ["skip_connect", "conv_9x9", "warp_op"], "cells": [{"name": "cell", "inputs": 1, "nodes": 2}]}
    with pytest.raises(ValueError) as info:
        Network(space, C=2, layers=1, num_classes=3, in_channels=1)
    msg = str(info.value)
    assert "'conv_9x9'" in msg and "'warp_op'" in msg and "skip_connect" in msg
    assert isinstance(info.value, ops_mod.UnknownOpError)


def test_register_op_makes_a_custom_op_usable() -> None:
    name = "test_torch_model_double"

    class Double(torch.nn.Module):
        def __init__(self, stride: int) -> None:
            super().__init__()
            self.stride = stride

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * x[:, :, :: self.stride, :: self.stride]

    ops_mod.register_op(name, lambda C, stride, affine: Double(stride))
    try:
        with pytest.raises(ValueError):
            ops_mod.register_op(name, lambda C, stride, affine: Double(stride))
        net = Network({"ops": [name, "skip_connect"], "cells": [{"name": "c", "inputs": 1, "nodes": 2}]},
                      C=2, layers=2, num_classes=3, in_channels=1)
        n_alpha, n_edges = net.sizes
        out = net(torch.randn(4, 1, 6, 6), torch.full((n_alpha,), 0.5), torch.ones(n_edges))
        assert out.shape == (4, 3)
    finally:
        del ops_mod.OPS[name]


@pytest.mark.parametrize("space", ["darts", "darts-none", "nb201", IMBALANCED], ids=["darts", "darts-none", "nb201", "imbalanced"])
def test_network_matches_engine_sizes_and_runs(space) -> None:
    config = {"space": space}
    with daas.Engine(config) as eng:
        net = Network(eng.config, C=3, layers=3, num_classes=5, in_channels=2)
        assert net.sizes == tuple(eng.sizes)
        net.check_engine(eng)
        op_w, edge_w = eng.weights()
    out = net(torch.randn(4, 2, 8, 8), torch.from_numpy(op_w), torch.from_numpy(edge_w))
    assert out.shape == (4, 5)
    if space == "nb201":
        assert net.cell_types == ["cell"] * 3
        assert all(c.spec.inputs == 1 and len(c.edges) == 6 for c in net.cells)
    else:
        assert net.cell_types == ["normal", "reduce", "reduce"]


def test_check_engine_refuses_another_space() -> None:
    net = Network("nb201", C=2, layers=1, num_classes=2, in_channels=1)
    with daas.Engine({"space": "darts"}) as eng, pytest.raises(ValueError, match="sizes"):
        net.check_engine(eng)


def test_forward_refuses_wrong_weight_lengths() -> None:
    net = Network("nb201", C=2, layers=1, num_classes=2, in_channels=1)
    n_alpha, n_edges = net.sizes
    with pytest.raises(ValueError, match=f"want {n_alpha} op weights"):
        net(torch.randn(2, 1, 4, 4), torch.ones(n_alpha + 1), torch.ones(n_edges))


def test_default_layout() -> None:
    darts = SpaceSpec.parse("darts")
    assert default_layout(darts, 3) == ["normal", "reduce", "reduce"]
    assert default_layout(darts, 8) == ["normal", "normal", "reduce", "normal", "normal", "reduce", "normal", "normal"]
    assert default_layout(SpaceSpec.parse("nb201"), 4) == ["cell"] * 4
    three = SpaceSpec.parse({"ops": ["skip_connect"], "cells": [{"name": n, "inputs": 1, "nodes": 1} for n in "ab"]})
    assert default_layout(three, 3) == ["a", "b", "a"]


def test_keep_forms_match_the_engine() -> None:
    for keep, want in [(None, (2, 3, 4)), ("all", (2, 3, 4)), (2, (2, 2, 2)), (3, (2, 3, 3)), ([1, 3, 2], (1, 3, 2))]:
        space = {"ops": ["skip_connect"], "cells": [{"name": "c", "inputs": 2, "nodes": 3, "keep": keep}]}
        assert SpaceSpec.parse(space).cells[0].keep == want
        with daas.Engine({"space": space}) as eng:
            assert eng.config["space"]["cells"][0]["keep"] == list(want)


def test_presets_are_the_engines() -> None:
    # The names are the engine's: its message for an unknown preset lists them all.
    with pytest.raises(daas.InvalidConfigError) as exc:
        daas.Engine({"space": "no-such-preset"})
    known = re.search(r"\(known: ([^)]*)\)", exc.value.message)
    assert known and known.group(1).split(", ") == list(PRESETS), exc.value.message
    # The spaces are the engine's, and SpaceSpec builds the same layout from them.
    for name in PRESETS:
        with daas.Engine({"space": name}) as eng:
            assert PRESETS[name] == eng.config["space"], name
            assert SpaceSpec.parse(name).sizes == eng.sizes, name
        assert SpaceSpec.parse(name).to_json_object() == PRESETS[name], name
    # Each lookup is a fresh copy.
    PRESETS["darts"]["ops"].append("changed")
    assert "changed" not in PRESETS["darts"]["ops"]


def test_presets_need_no_library_until_a_space_is_read() -> None:
    code = (
        "import daas._library as L\n"
        "from daas.torch.model import PRESETS, SpaceSpec\n"
        "assert list(PRESETS) and 'darts' in PRESETS and 'x' not in PRESETS and len(PRESETS) == 3\n"
        "assert L._lib is None, 'importing daas.torch or listing PRESETS loaded libdaas'\n"
        "assert PRESETS['darts']['ops'] and L._lib is not None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, PYTHONPATH=str(PKG_ROOT)))


def _cell_with_states(spec_space, C=3, reduction=False):
    space = SpaceSpec.parse(spec_space)
    spec = space.cells[0]
    cell = SearchCell(spec, space.ops, [(C, 0)] * spec.inputs, C, reduction).eval()
    inputs = [torch.randn(2, C, 5, 5) for _ in range(spec.inputs)]
    with torch.no_grad():
        states = [pre(x) for pre, x in zip(cell.preprocess, inputs)]
    return space, spec, cell, inputs, states


@pytest.mark.parametrize("inputs,nodes", [(2, 4), (1, 3), (3, 2)])
def test_edges_are_ordered_node_then_input(inputs: int, nodes: int) -> None:
    # One op (skip) and a single edge at weight 1: node j becomes exactly state i, every other node 0.
    space, spec, cell, xs, states = _cell_with_states(
        {"ops": ["skip_connect"], "cells": [{"name": "c", "inputs": inputs, "nodes": nodes}]})
    e = 0
    for j in range(nodes):
        for i in range(inputs + j):
            assert spec.edge_index(j, i) == e
            w = torch.zeros(spec.edges, 1)
            w[e, 0] = 1.0
            with torch.no_grad():
                out = cell(xs, w).split(3, dim=1)
            for jj in range(nodes):
                if jj == j and i < inputs:
                    torch.testing.assert_close(out[jj], states[i])
                elif jj != j:
                    assert torch.count_nonzero(out[jj]) == 0
            e += 1
    assert e == spec.edges


def test_node_is_the_weighted_sum_of_spec_section_2() -> None:
    space, spec, cell, xs, states = _cell_with_states(
        {"ops": ["skip_connect", "avg_pool_3x3", "nor_conv_3x3"], "cells": [{"name": "c", "inputs": 2, "nodes": 3}]})
    torch.manual_seed(1)
    A = torch.softmax(torch.randn(spec.edges, 3), dim=1)
    W = 3 * torch.softmax(torch.randn(spec.edges), dim=0)
    with torch.no_grad():
        out = cell(xs, A * W[:, None])
        want = list(states)
        for j in range(spec.nodes):
            node = 0
            for i in range(spec.inputs + j):
                e = spec.edge_index(j, i)
                node = node + W[e] * sum(A[e, o] * cell.edges[e].ops[o](want[i]) for o in range(3))
            want.append(node)
    torch.testing.assert_close(out, torch.cat(want[spec.inputs:], dim=1))


def test_mixed_op_with_one_hot_weights_is_the_chosen_op() -> None:
    torch.manual_seed(0)
    mixed = MixedOp(PRESETS["darts"]["ops"], 4, 1).eval()
    x = torch.randn(2, 4, 6, 6)
    for k, op in enumerate(mixed.ops):
        w = torch.zeros(len(mixed.ops))
        w[k] = 1.0
        with torch.no_grad():
            torch.testing.assert_close(mixed(x, w), op(x))
            torch.testing.assert_close(mixed(x, w, [o == k for o in range(len(mixed.ops))]), op(x))


def _genotype_for(space: SpaceSpec, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    choosable = [op for op in space.ops if op not in space.discard]
    cells = []
    for spec in space.cells:
        nodes = []
        for j in range(spec.nodes):
            inputs = rng.choice(spec.inputs + j, size=spec.keep[j], replace=False)
            nodes.append([{"input": int(i), "op": str(rng.choice(choosable))} for i in inputs])
        cells.append({"name": spec.name, "concat": list(range(spec.inputs, spec.inputs + spec.nodes)), "nodes": nodes})
    return {"method": "daas", "cells": cells}


def test_discrete_weights_layout() -> None:
    space = SpaceSpec.parse(IMBALANCED)
    g = _genotype_for(space, 3)
    op_w, edge_w = discrete_weights(space, g)
    assert op_w.dtype == np.float32 and op_w.shape == (space.n_alpha,) and edge_w.shape == (space.n_edges,)
    ops = op_w.reshape(space.n_edges, len(space.ops))
    expect_kept = 0
    for ci, (spec, cg) in enumerate(zip(space.cells, g["cells"])):
        for j, kept in enumerate(cg["nodes"]):
            expect_kept += len(kept)
            for c in kept:
                e = space.edge_offset(ci) + spec.edge_index(j, c["input"])
                assert edge_w[e] == 1.0 and ops[e, space.ops.index(c["op"])] == 1.0 and ops[e].sum() == 1.0
    assert edge_w.sum() == expect_kept and ops.sum() == expect_kept
    with pytest.raises(ValueError, match="not in the space"):
        discrete_weights(space, {"cells": [{"name": "normal", "nodes": [[{"input": 0, "op": "bogus"}], [], []]},
                                           g["cells"][1]]})


@pytest.mark.parametrize("space", ["darts", IMBALANCED], ids=["darts", "imbalanced"])
def test_one_hot_network_depends_only_on_the_chosen_ops(space) -> None:
    torch.manual_seed(0)
    net = Network(space, C=3, layers=3, num_classes=4, in_channels=1).eval()
    g = _genotype_for(net.space, 5)
    op_np, edge_np = discrete_weights(net.space, g)
    op_w, edge_w = torch.from_numpy(op_np), torch.from_numpy(edge_np)
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        full = net(x, op_w, edge_w)
        skipped = net(x, op_w, edge_w, skip_zero=True)
    torch.testing.assert_close(full, skipped)
    # Scramble every parameter and BatchNorm statistic of every op that is not chosen: no change.
    other = copy.deepcopy(net)
    ops = op_np.reshape(net.space.n_edges, len(net.space.ops))
    changed = 0
    for cell, ci in zip(other.cells, other._cell_index):
        base = net.space.edge_offset(ci)
        for e, mixed in enumerate(cell.edges):
            for o, op in enumerate(mixed.ops):
                if ops[base + e, o] == 1.0:
                    continue
                for t in list(op.parameters()) + [b for b in op.buffers() if b.dtype.is_floating_point]:
                    t.data.uniform_(0.5, 2.0)
                    changed += 1
    assert changed > 0
    with torch.no_grad():
        torch.testing.assert_close(other(x, op_w, edge_w), full)
    # ...while scrambling a chosen op does change the output.
    chosen = next(i for i, v in enumerate(ops[: net.space.cells[net._cell_index[0]].edges].reshape(-1)) if v == 1.0)
    e, o = divmod(chosen, len(net.space.ops))
    params = list(other.cells[0].edges[e].ops[o].parameters())
    if params:
        for p in params:
            p.data.uniform_(0.5, 2.0)
        with torch.no_grad():
            assert not torch.allclose(other(x, op_w, edge_w), full)


def test_architecture_gradients_reach_every_weight() -> None:
    torch.manual_seed(0)
    net = Network(IMBALANCED, C=2, layers=3, num_classes=3, in_channels=1)
    n_alpha, n_edges = net.sizes
    op_w = torch.softmax(torch.randn(n_edges, len(net.space.ops)), 1).reshape(-1).requires_grad_()
    edge_w = (1 + 0.1 * torch.randn(n_edges)).requires_grad_()
    loss = torch.nn.functional.cross_entropy(net(torch.randn(4, 1, 6, 6), op_w, edge_w), torch.tensor([0, 1, 2, 0]))
    g_op, g_edge = torch.autograd.grad(loss, (op_w, edge_w))
    g = g_op.reshape(n_edges, -1)
    none = net.space.ops.index("none")
    assert torch.all(g[:, none] == 0)  # the zero op's output does not depend on its weight
    others = [o for o in range(len(net.space.ops)) if o != none]
    assert torch.all(g[:, others].abs().sum(1) > 0)
    assert torch.all(g_edge != 0)


def test_batchnorm_reestimation_is_a_cumulative_average() -> None:
    torch.manual_seed(0)
    net = Network("nb201", C=2, layers=1, num_classes=3, in_channels=1)
    n_alpha, n_edges = net.sizes
    op_w, edge_w = torch.full((n_alpha,), 0.2), torch.ones(n_edges)
    batches = [(torch.randn(8, 1, 5, 5) * (b + 1) + b, torch.zeros(8, dtype=torch.long)) for b in range(3)]
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(7.0)
    reestimate_batchnorm(net, batches, op_w, edge_w)
    stem_bn = net.stem[1]
    with torch.no_grad():
        conv = torch.cat([net.stem[0](x) for x, _ in batches])
    torch.testing.assert_close(stem_bn.running_mean, conv.mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    assert stem_bn.momentum == 0.1 and stem_bn.num_batches_tracked == 3
