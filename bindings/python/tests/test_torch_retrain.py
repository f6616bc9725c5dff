"""daas.torch.retrain: a genotype as a stand-alone network (the supernet's layout with only the kept
edges), random genotypes, genotype validation and training from scratch. CPU, small tensors."""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest
import torch

import daas
from daas.torch.data import load_digits
from daas.torch.model import Network, SpaceSpec, default_layout
from daas.torch.retrain import (DiscreteNetwork, check_genotype, random_genotype,
                                retrain, train_from_scratch)

torch.set_num_threads(1)

# One cell type with imbalanced keep: a single input, a keep-all node, keep 2 of 4, keep 4 of 5.
IMBALANCED = {
    "ops": ["none", "skip_connect", "sep_conv_3x3", "avg_pool_3x3"],
    "discard": ["none"],
    "cells": [{"name": "normal", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}],
}
# A three-input reduction cell keeping every edge: inputs at two spatial sizes meet in one cell.
THREE_INPUT = {
    "ops": ["none", "skip_connect", "sep_conv_3x3", "max_pool_3x3", "nor_conv_1x1"],
    "discard": ["none"],
    "cells": [
        {"name": "normal", "inputs": 2, "nodes": 3, "keep": [2, 1, 3]},
        {"name": "reduce", "inputs": 3, "nodes": 2, "keep": "all"},
    ],
}
# One-input cells, a reduction among them.
ONE_INPUT = {
    "ops": ["skip_connect", "dil_conv_3x3", "avg_pool_3x3", "nor_conv_3x3"],
    "cells": [
        {"name": "normal", "inputs": 1, "nodes": 2, "keep": 1},
        {"name": "reduce", "inputs": 1, "nodes": 2, "keep": "all"},
    ],
}
SPACES = ["darts", "darts-none", "nb201", IMBALANCED, THREE_INPUT, ONE_INPUT]
SPACE_IDS = ["darts", "darts-none", "nb201", "imbalanced", "three-input", "one-input"]


def engine_genotype(space) -> dict:
    with daas.Engine({"space": space, "epochs": 2}) as eng:
        return json.loads(eng.discretize().to_json())


def expected_counts(space: SpaceSpec, genotype: dict, cell_types) -> Counter:
    per_type = {c["name"]: Counter(ch["op"] for node in c["nodes"] for ch in node) for c in genotype["cells"]}
    total: Counter = Counter()
    for name, n in Counter(cell_types).items():
        for op, k in per_type[name].items():
            total[op] += k * n
    return total


def copy_into_supernet(net: DiscreteNetwork, sup: Network) -> tuple:
    """Loads ``net``'s weights into the matching modules of ``sup`` and returns the one-hot engine
    weights that select exactly the genotype's edges and ops."""
    space = net.space
    sup.stem.load_state_dict(net.stem.state_dict())
    sup.classifier.load_state_dict(net.classifier.state_dict())
    op_w = torch.zeros(space.n_edges, len(space.ops))
    edge_w = torch.zeros(space.n_edges)
    for dcell, scell, name in zip(net.cells, sup.cells, net.cell_types):
        ci = space.cell_index(name)
        for i in dcell._used:
            scell.preprocess[i].load_state_dict(dcell.preprocess[i].state_dict())
        for e, (j, i, op) in enumerate(dcell.choices):
            k = dcell.spec.edge_index(j, i)
            o = space.ops.index(op)
            scell.edges[k].ops[o].load_state_dict(dcell.edges[e].state_dict())
            op_w[space.edge_offset(ci) + k, o] = 1.0
            edge_w[space.edge_offset(ci) + k] = 1.0
    return op_w.reshape(-1), edge_w


@pytest.mark.parametrize("space", SPACES, ids=SPACE_IDS)
def test_engine_genotype_builds_runs_and_counts(space) -> None:
    g = engine_genotype(space)
    layers = 5
    torch.manual_seed(0)
    net = DiscreteNetwork(space, g, C=4, layers=layers, num_classes=7, in_channels=2)
    spec = SpaceSpec.parse(space)
    assert net.cell_types == default_layout(spec, layers)
    kept = {c["name"]: sum(len(node) for node in c["nodes"]) for c in g["cells"]}
    assert net.edge_count() == sum(kept[name] for name in net.cell_types)
    assert net.op_counts() == expected_counts(spec, g, net.cell_types)
    x = torch.randn(3, 2, 9, 9)
    out = net(x)
    assert out.shape == (3, 7) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, f"{name} received no gradient"
        assert torch.isfinite(p.grad).all(), name


def test_darts_network_has_the_darts_layout() -> None:
    g = engine_genotype("darts")
    net = DiscreteNetwork("darts", g, C=4, layers=8, num_classes=10, in_channels=3)
    assert net.cell_types == ["normal", "normal", "reduce", "normal", "normal", "reduce", "normal", "normal"]
    assert net.edge_count() == 8 * 8
    assert net.stem[0].out_channels == 12
    # Channels double at each reduction; the cell outputs concatenate 4 nodes.
    widths = [c.out_channels for c in net.cells]
    assert widths == [16, 16, 32, 32, 32, 64, 64, 64]
    assert net.classifier.in_features == 64
    x = torch.randn(2, 3, 16, 16)
    h = net.stem(x)
    assert h.shape[-1] == 16
    assert net(x).shape == (2, 10)


@pytest.mark.parametrize("space", ["darts", IMBALANCED, THREE_INPUT, "nb201", ONE_INPUT],
                         ids=["darts", "imbalanced", "three-input", "nb201", "one-input"])
@pytest.mark.parametrize("seed", [0, 1])
def test_network_equals_the_supernet_cut_to_the_genotype(space, seed: int) -> None:
    # Same weights in the matching modules, one-hot engine weights: the two networks are one function.
    g = random_genotype(space, seed)
    torch.manual_seed(seed)
    net = DiscreteNetwork(space, g, C=4, layers=4, num_classes=5, in_channels=2)
    sup = Network(space, C=4, layers=4, num_classes=5, in_channels=2, affine=True)
    assert sup.cell_types == net.cell_types
    op_w, edge_w = copy_into_supernet(net, sup)
    x = torch.randn(4, 2, 8, 8)
    for mode in ("train", "eval"):
        net.train(mode == "train")
        sup.train(mode == "train")
        with torch.no_grad():
            torch.testing.assert_close(net(x), sup(x, op_w, edge_w, skip_zero=True), rtol=1e-4, atol=1e-5)
    # Only the kept edges are built: the discrete network holds fewer parameters.
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in sup.parameters())


def test_genotype_forms_are_equivalent() -> None:
    with daas.Engine({"space": "darts", "epochs": 2}) as eng:
        gobj = eng.discretize()
    outs = []
    for form in (gobj, gobj.to_json(), json.loads(gobj.to_json()), gobj.to_json().encode()):
        torch.manual_seed(3)
        net = DiscreteNetwork("darts", form, C=2, layers=3, num_classes=3, in_channels=1).eval()
        with torch.no_grad():
            outs.append(net(torch.ones(2, 1, 6, 6)))
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=0, atol=0)


def test_unused_cell_inputs_get_no_preprocessing() -> None:
    space = {"ops": ["skip_connect", "sep_conv_3x3"], "cells": [{"name": "normal", "inputs": 2, "nodes": 2, "keep": 1}]}
    g = {"cells": [{"name": "normal", "nodes": [[{"input": 1, "op": "sep_conv_3x3"}],
                                                [{"input": 2, "op": "sep_conv_3x3"}]]}]}
    net = DiscreteNetwork(space, g, C=2, layers=3, num_classes=3, in_channels=1)
    for cell in net.cells:
        assert cell._used == [1]
        assert sum(p.numel() for p in cell.preprocess[0].parameters()) == 0
        assert sum(p.numel() for p in cell.preprocess[1].parameters()) > 0
    net(torch.randn(2, 1, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_use_weights_scales_edges() -> None:
    g = random_genotype("nb201", 4)
    with pytest.raises(ValueError, match="finite 'weight'"):
        DiscreteNetwork("nb201", g, C=2, layers=2, num_classes=3, in_channels=1, use_weights=True)
    x = torch.randn(3, 1, 6, 6)
    weighted = copy.deepcopy(g)
    for c in weighted["cells"]:
        for node in c["nodes"]:
            for ch in node:
                ch["weight"] = 1.0
    torch.manual_seed(0)
    plain = DiscreteNetwork("nb201", g, C=2, layers=2, num_classes=3, in_channels=1).eval()
    torch.manual_seed(0)
    ones = DiscreteNetwork("nb201", weighted, C=2, layers=2, num_classes=3, in_channels=1, use_weights=True).eval()
    # Weights are ignored by default, and weight 1 changes nothing.
    torch.manual_seed(0)
    ignored = DiscreteNetwork("nb201", weighted, C=2, layers=2, num_classes=3, in_channels=1).eval()
    for c in weighted["cells"]:
        for node in c["nodes"]:
            for ch in node:
                ch["weight"] = 0.0
    torch.manual_seed(0)
    zeros = DiscreteNetwork("nb201", weighted, C=2, layers=2, num_classes=3, in_channels=1, use_weights=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(ones(x), plain(x))
        torch.testing.assert_close(ignored(x), plain(x))
        # Every edge at weight 0: the last cell outputs zeros, so the logits are the classifier's bias.
        torch.testing.assert_close(zeros(x), zeros.classifier.bias.expand(3, 3))
        assert not torch.allclose(plain(x), zeros(x))


def test_drop_path_only_in_training() -> None:
    g = random_genotype("darts", 2)
    torch.manual_seed(0)
    net = DiscreteNetwork("darts", g, C=2, layers=3, num_classes=3, in_channels=1, drop_path=0.5)
    torch.manual_seed(0)
    ref = DiscreteNetwork("darts", g, C=2, layers=3, num_classes=3, in_channels=1)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        net.eval()
        ref.eval()
        torch.testing.assert_close(net(x), ref(x))
        net.train()
        ref.train()
        torch.manual_seed(1)
        a = net(x)
        torch.manual_seed(2)
        b = net(x)
        assert not torch.allclose(a, b)
        assert not torch.allclose(a, ref(x))
    with pytest.raises(ValueError, match="drop_path"):
        DiscreteNetwork("darts", g, C=2, layers=3, drop_path=1.0)
    # Identity edges are never dropped: a cell of skips alone is unaffected even in training.
    skips = {"ops": ["skip_connect", "nor_conv_1x1"], "cells": [{"name": "c", "inputs": 1, "nodes": 2, "keep": 1}]}
    gs = {"cells": [{"name": "c", "nodes": [[{"input": 0, "op": "skip_connect"}], [{"input": 1, "op": "skip_connect"}]]}]}
    torch.manual_seed(0)
    dropped = DiscreteNetwork(skips, gs, C=2, layers=2, num_classes=3, in_channels=1, drop_path=0.9).train()
    torch.manual_seed(0)
    kept = DiscreteNetwork(skips, gs, C=2, layers=2, num_classes=3, in_channels=1).train()
    with torch.no_grad():
        torch.testing.assert_close(dropped(x), kept(x))


# -- random genotypes -------------------------------------------------------------------------------


@pytest.mark.parametrize("space", SPACES, ids=SPACE_IDS)
def test_random_genotype_respects_the_space(space) -> None:
    spec = SpaceSpec.parse(space)
    allowed = {o for o in spec.ops if o not in spec.discard}
    seen_ops = set()
    for seed in range(20):
        g = random_genotype(space, seed)
        assert g["method"] == "random"
        assert [c["name"] for c in g["cells"]] == [c.name for c in spec.cells]
        for cs, c in zip(spec.cells, g["cells"]):
            assert c["concat"] == list(range(cs.inputs, cs.inputs + cs.nodes))
            assert len(c["nodes"]) == cs.nodes
            for j, node in enumerate(c["nodes"]):
                inputs = [ch["input"] for ch in node]
                assert len(node) == cs.keep[j]
                assert len(set(inputs)) == len(inputs) and inputs == sorted(inputs)
                assert all(0 <= i < cs.inputs + j for i in inputs)
                assert all(set(ch) == {"input", "op"} for ch in node)
                assert all(ch["op"] in allowed for ch in node)
                seen_ops.update(ch["op"] for ch in node)
        assert check_genotype(space, g)["cells"] == g["cells"]
        json.dumps(g)  # plain JSON data
    assert seen_ops == allowed  # every allowed op is drawn, discarded ones never


def test_random_genotype_is_deterministic_per_seed() -> None:
    for space in ("darts", IMBALANCED):
        assert random_genotype(space, 11) == random_genotype(space, 11)
        drawn = {json.dumps(random_genotype(space, s), sort_keys=True) for s in range(10)}
        assert len(drawn) == 10
    assert random_genotype("nb201", 5, method="baseline")["method"] == "baseline"


def test_random_genotype_draws_inputs_uniformly() -> None:
    # Node 3 of a DARTS cell keeps 2 of 5 inputs: each input is kept with probability 2/5.
    counts = Counter()
    n = 300
    for seed in range(n):
        counts.update(ch["input"] for ch in random_genotype("darts", seed)["cells"][0]["nodes"][3])
    assert sorted(counts) == [0, 1, 2, 3, 4]
    for i in range(5):
        assert 0.3 < counts[i] / n < 0.5, counts


def test_random_genotype_refuses_a_space_discarding_every_op() -> None:
    with pytest.raises(ValueError, match="discards every op"):
        random_genotype({"ops": ["none"], "discard": ["none"], "cells": [{"name": "c", "inputs": 1, "nodes": 1}]}, 0)


# -- validation -------------------------------------------------------------------------------------


def _mutate(fn, space="darts"):
    g = random_genotype(space, 0)
    fn(g)
    return g


def _set_choice(cell, j, r, **kw):
    def fn(g):
        g["cells"][cell]["nodes"][j][r].update(kw)
    return fn


BAD = [
    ("unknown cell", lambda g: g["cells"][0].update(name="weird"), "darts", r"'weird' is not in the space"),
    ("missing cell", lambda g: g["cells"].pop(), "darts", r"no cell type 'reduce'"),
    ("repeated cell", lambda g: g["cells"].__setitem__(1, dict(g["cells"][0])), "darts", r"'normal' twice"),
    ("node count", lambda g: g["cells"][1]["nodes"].pop(), "darts", r"cell 'reduce' has 3 nodes, the space has 4"),
    ("keep count", lambda g: g["cells"][0]["nodes"][2].pop(), "darts",
     r"cell 'normal' node 2 keeps 1 inputs, the space keeps 2"),
    ("keep count imbalanced", lambda g: g["cells"][0]["nodes"][1].pop(), IMBALANCED,
     r"node 1 keeps 2 inputs, the space keeps 3"),
    ("input too large", _set_choice(0, 1, 0, input=3), "darts", r"node 1 choice 0: input 3 is out of range.*0\.\.2"),
    ("negative input", _set_choice(1, 0, 1, input=-1), "darts", r"input -1 is out of range"),
    ("input not an int", _set_choice(0, 0, 0, input="1"), "darts", r"'input' must be an integer"),
    ("bool input", _set_choice(0, 0, 0, input=True), "darts", r"'input' must be an integer"),
    ("op not in space", _set_choice(0, 3, 1, op="conv_9x9"), "darts", r"op 'conv_9x9' is not in the space"),
    ("discarded op", _set_choice(0, 0, 0, op="none"), "darts-none", r"op 'none' is discarded"),
    ("duplicate input", lambda g: g["cells"][0]["nodes"][0][1].update(input=g["cells"][0]["nodes"][0][0]["input"]),
     "darts", r"node 0 choice 1: input \d is already kept by choice 0"),
    ("short concat", lambda g: g["cells"][0].update(concat=[2, 3, 4]), "darts", r"concat \[2, 3, 4\] must list"),
    ("concat with an input", lambda g: g["cells"][0].update(concat=[1, 2, 3, 4]), "darts", r"concat"),
    ("cells not a list", lambda g: g.update(cells={}), "darts", r"'cells' is a list"),
    ("choice not an object", lambda g: g["cells"][0]["nodes"][0].__setitem__(0, 3), "darts", r"want an object"),
]


@pytest.mark.parametrize("fn,space,match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_invalid_genotypes_are_refused_with_the_reason(fn, space, match: str) -> None:
    g = _mutate(fn, space)
    with pytest.raises(ValueError, match=match):
        check_genotype(space, g)
    with pytest.raises(ValueError, match=match):
        DiscreteNetwork(space, g, C=2, layers=3, num_classes=2, in_channels=1)


def test_other_bad_arguments() -> None:
    g = random_genotype("darts", 0)
    with pytest.raises(ValueError, match="not valid JSON"):
        check_genotype("darts", "{nope")
    with pytest.raises(TypeError):
        check_genotype("darts", 42)
    with pytest.raises(ValueError, match="cell_types names 'cell'"):
        DiscreteNetwork("darts", g, C=2, layers=2, cell_types=["normal", "cell"])
    with pytest.raises(ValueError, match="cell_types has 1 entries"):
        DiscreteNetwork("darts", g, C=2, layers=2, cell_types=["normal"])
    # A missing concat defaults to every intermediate node.
    del g["cells"][0]["concat"]
    assert check_genotype("darts", g)["cells"][0]["concat"] == [2, 3, 4, 5]


# -- training ---------------------------------------------------------------------------------------

CONV_NB201 = {"method": "manual", "cells": [{"name": "cell", "concat": [1, 2, 3], "nodes": [
    [{"input": 0, "op": "nor_conv_3x3"}],
    [{"input": 0, "op": "nor_conv_3x3"}, {"input": 1, "op": "skip_connect"}],
    [{"input": 0, "op": "skip_connect"}, {"input": 1, "op": "nor_conv_1x1"}, {"input": 2, "op": "nor_conv_3x3"}],
]}]}


@pytest.fixture(scope="module")
def digits():
    return load_digits(n_train=300, n_val=300, seed=0)


def test_retrain_learns_digits(digits) -> None:
    result = retrain("nb201", CONV_NB201, digits, C=8, layers=3, epochs=3, seed=0, batch_size=32, lr=0.1)
    assert set(result) >= {"test_accuracy", "train_accuracy", "epochs", "params", "seconds", "edges", "ops"}
    assert 0.0 <= result["test_accuracy"] <= 100.0 and 0.0 <= result["train_accuracy"] <= 100.0
    assert result["test_accuracy"] > 50.0, result  # chance is 10%
    assert result["epochs"] == 3 and result["train_examples"] == 600 and result["seconds"] > 0
    assert result["edges"] == 3 * 6
    assert result["ops"] == {"nor_conv_1x1": 3, "nor_conv_3x3": 9, "skip_connect": 6}
    torch.manual_seed(0)
    net = DiscreteNetwork("nb201", CONV_NB201, C=8, layers=3, num_classes=10, in_channels=1)
    assert result["params"] == sum(p.numel() for p in net.parameters())


def test_train_from_scratch_is_deterministic_per_seed() -> None:
    data = load_digits(n_train=96, n_val=32, seed=1)
    results, states = [], []
    for seed in (5, 5, 6):
        torch.manual_seed(0)
        net = DiscreteNetwork("darts", random_genotype("darts", 0), C=2, layers=2, num_classes=10, in_channels=1,
                              drop_path=0.2)
        results.append(train_from_scratch(net, data, epochs=2, batch_size=32, seed=seed, use_val=False))
        states.append(net.state_dict())
        assert not net.training and net.drop_path_prob == 0.2
    assert results[0]["train_examples"] == 96
    for key in ("test_accuracy", "train_accuracy", "train_loss"):
        assert results[0][key] == results[1][key]
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k
    assert results[0]["train_loss"] != results[2]["train_loss"]


def test_train_from_scratch_checks_the_data(digits) -> None:
    net = DiscreteNetwork("nb201", CONV_NB201, C=2, layers=1, num_classes=10, in_channels=3)
    with pytest.raises(ValueError, match="1 input channels"):
        train_from_scratch(net, digits, epochs=1)
    net = DiscreteNetwork("nb201", CONV_NB201, C=2, layers=1, num_classes=4, in_channels=1)
    with pytest.raises(ValueError, match="10 classes"):
        train_from_scratch(net, digits, epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        train_from_scratch(net, digits, epochs=0)
