"""End to end: time per search step of the digits supernet (daas.torch's Network, C=4, 3 cells,
batch 64, CPU, one thread) with daas driving the architecture vs the same loop with the architecture
step written in PyTorch (bench/torch_reference.py's TorchArch: relaxation, DAAS losses, autograd,
torch.optim.Adam), and daas's share of the step.

Both loops do the same supernet work per step: a forward and backward on a validation batch for the
architecture gradient (torch.autograd.grad with respect to the architecture only), then a forward,
backward and SGD step on a training batch. Rounds of the two alternate; the median round counts.

    python bench/e2e.py --out FILE [--steps 10 --rounds 3]"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from typing import Any, Dict, List

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command_line, machine, write_json  # noqa: E402
from torch_reference import TorchArch  # noqa: E402
from daas.torch.optim import ArchitectureOptimizer  # noqa: E402
from daas.torch.search import architecture_step, weight_step  # noqa: E402

EPOCHS, EPOCH = 30, 20  # a 30-epoch search, measured at an epoch where every loss term is on


def make_batches(seed: int):
    from daas.torch.data import Batches, load_digits

    data = load_digits(700, 700, seed=0)
    train, val = Batches(data.train, 64, seed=seed + 1), Batches(data.val, 64, seed=seed + 2)
    return data, itertools.cycle(list(zip(train, val))), min(len(train), len(val))


class DaasLoop:
    """daas.torch.search's own step: architecture_step, then weight_step."""

    def __init__(self, eng, model) -> None:
        self.eng, self.model = eng, model
        self.arch = ArchitectureOptimizer(eng)
        self.opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)

    def step(self, batch) -> float:
        """One search step; returns the seconds spent in daas calls."""
        (xt, yt), (xv, yv) = batch
        _, d = architecture_step(self.arch, self.model, xv, yv)
        weight_step(self.model, self.opt, xt, yt, self.arch.op_weights.detach(), self.arch.edge_weights.detach(), 5.0)
        return d


class TorchLoop:
    def __init__(self, eng, model) -> None:
        cfg = eng.config
        self.lam = {k: float(v) for k, v in eng.metrics().items() if k in ("lambda_c", "lambda_alpha", "lambda_beta")}
        adam = cfg["optimizer"]["alpha"]
        self.arch = TorchArch(cfg["space"], eng.alpha, eng.beta, w_sum=cfg["loss"]["w_sum"])
        self.arch_opt = self.arch.optimizer(lr=adam["lr"], betas=tuple(adam["betas"]), eps=adam["eps"],
                                            weight_decay=adam["weight_decay"])
        self.model = model
        self.opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)

    def step(self, batch) -> float:
        """One search step; returns the seconds spent in the architecture-only parts that can be
        timed apart (relaxation and losses forward, Adam, the detached relaxation for the weight
        step); the backward through the relaxation runs inside the supernet's autograd call."""
        (xt, yt), (xv, yv) = batch
        lam = self.lam
        a0 = time.perf_counter()
        self.arch_opt.zero_grad(set_to_none=True)
        p, w, h_alpha, l_e = self.arch.relax()
        disc = lam["lambda_c"] * (lam["lambda_alpha"] * h_alpha + lam["lambda_beta"] * l_e)
        a = time.perf_counter() - a0
        loss = F.cross_entropy(self.model(xv, p, w), yv) + disc
        ga, gb = torch.autograd.grad(loss, (self.arch.alpha, self.arch.beta))
        a0 = time.perf_counter()
        self.arch.alpha.grad, self.arch.beta.grad = ga, gb
        self.arch_opt.step()
        with torch.no_grad():
            p, w, _, _ = self.arch.relax()
        a += time.perf_counter() - a0
        weight_step(self.model, self.opt, xt, yt, p, w, 5.0)
        return a


def run(steps: int, rounds: int, warmup: int) -> Dict[str, Any]:
    import daas
    from daas.torch.model import Network
    from daas.torch.search import scaled_config

    torch.set_num_threads(1)
    torch.manual_seed(0)
    data, batches, steps_per_epoch = make_batches(0)
    config, _ = scaled_config("daas", EPOCHS, steps_per_epoch)
    eng = daas.Engine(config)
    eng.set_epoch(EPOCH)
    net = lambda: Network(config, C=4, layers=3, num_classes=data.num_classes, in_channels=data.in_channels)  # noqa: E731
    torch.manual_seed(0)
    m1 = net()
    torch.manual_seed(0)
    m2 = net()
    loops = {"daas": DaasLoop(eng, m1.train()), "torch": TorchLoop(eng, m2.train())}
    for loop in loops.values():
        for _ in range(warmup):
            loop.step(next(batches))
    per: Dict[str, List[float]] = {"daas": [], "torch": []}
    arch: Dict[str, List[float]] = {"daas": [], "torch": []}
    for _ in range(rounds):
        for name, loop in loops.items():
            total = side = 0.0
            for _ in range(steps):
                b = next(batches)
                t0 = time.perf_counter()
                side += loop.step(b)
                total += time.perf_counter() - t0
            per[name].append(1e3 * total / steps)
            arch[name].append(1e3 * side / steps)
        print(f"round: daas {per['daas'][-1]:.1f} ms/step ({arch['daas'][-1] * 1e3:.0f} us in daas); "
              f"PyTorch arch step {per['torch'][-1]:.1f} ms/step ({arch['torch'][-1] * 1e3:.0f} us timed apart)",
              flush=True)
    med = statistics.median
    res = {
        "what": "digits supernet (C=4, 3 cells, batch 64, CPU, 1 thread): ms per search step, median of rounds",
        "steps_per_round": steps, "rounds": rounds, "warmup_steps": warmup,
        "daas_step_ms": med(per["daas"]), "torch_step_ms": med(per["torch"]),
        "daas_arch_ms": med(arch["daas"]), "torch_arch_timed_apart_ms": med(arch["torch"]),
        "daas_share_percent": 100 * med([a / t for a, t in zip(arch["daas"], per["daas"])]),
        "torch_arch_share_percent_lower_bound": 100 * med([a / t for a, t in zip(arch["torch"], per["torch"])]),
        "rounds_ms": per, "arch_rounds_ms": arch,
        "supernet_weights": sum(p.numel() for p in m1.parameters()), "sizes": list(eng.sizes),
        "torch": torch.__version__,
    }
    res["saving_ms"] = res["torch_step_ms"] - res["daas_step_ms"]
    eng.close()
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    res = run(args.steps, args.rounds, args.warmup)
    res["machine"], res["command"] = machine(), command_line()
    write_json(args.out, res)
    print(f"daas {res['daas_step_ms']:.1f} ms/step, daas share {res['daas_share_percent']:.3f}%; PyTorch arch step "
          f"{res['torch_step_ms']:.1f} ms/step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
