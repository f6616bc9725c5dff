"""The supernet's search step: the reference daas.torch.model.Network against
daas.torch.batched.BatchedNetwork (and the CUDA-graph CapturedStep when CUDA is there), in ms per
search step and aten calls per step, at the digits size (C=4, 3 cells, 8x8, batch 64) and at DARTS
size (C=16, 8 cells, 32x32 synthetic inputs, batch 64; --quick: batch 16). One thread on CPU.

A search step is what daas.torch.search does: architecture_step (forward and the op/edge weight
gradients on a validation batch, Engine.step) then weight_step (forward, backward, clipping, SGD on
a training batch). The variants of a case run interleaved: round after round, each variant's steps
in turn, the median round counting (three rounds at DARTS size on CPU, one step each). Aten calls are counted with a TorchDispatchMode over one step
(every aten op that reaches the dispatcher's Python key, backward included). Also measured: the
relative error of the op and edge weight gradients with channels-last and bfloat16 autocast against
float32 contiguous, at the digits size.

    python bench/supernet.py [--quick] [--out FILE]

prints one line per case, e.g. ``digits cpu: reference 750.1 ms, batched 240.3 ms per search step,
speed-up 3.12x``."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command_line, machine, write_json  # noqa: E402

import daas  # noqa: E402
from daas.torch.batched import BatchedNetwork  # noqa: E402
from daas.torch.model import Network  # noqa: E402
from daas.torch.optim import ArchitectureOptimizer  # noqa: E402
from daas.torch.search import architecture_step, scaled_config, weight_step  # noqa: E402

CASES = {  # name: C, cells, side, input channels, batch (quick batch)
    "digits": dict(C=4, layers=3, side=8, in_channels=1, batch=64, quick_batch=64),
    "darts": dict(C=16, layers=8, side=32, in_channels=3, batch=64, quick_batch=16),
}


class Counter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls += 1
        return func(*args, **(kwargs or {}))


class Loop:
    """One variant's search loop: its own supernet (same seed), engine, optimizers and batches."""

    def __init__(self, kind: str, case: Dict[str, Any], batch: int, device: torch.device) -> None:
        config, _ = scaled_config("daas", 30, 10)
        self.eng = daas.Engine(config)
        self.eng.set_epoch(20)  # every loss term and α's learning rate on
        torch.manual_seed(0)
        cls = Network if kind == "reference" else BatchedNetwork
        self.model = cls(config, C=case["C"], layers=case["layers"], num_classes=10,
                         in_channels=case["in_channels"]).to(device)
        self.arch = ArchitectureOptimizer(self.eng, device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        g = torch.Generator().manual_seed(1)
        shape = (batch, case["in_channels"], case["side"], case["side"])
        self.batch = [t.to(device) for t in (torch.randn(shape, generator=g), torch.randint(0, 10, (batch,), generator=g),
                                             torch.randn(shape, generator=g), torch.randint(0, 10, (batch,), generator=g))]
        self.captured = None
        if kind == "captured":
            from daas.torch.captured import CapturedStep

            self.captured = CapturedStep(self.model, self.opt, self.arch)
        self.device = device

    def step(self) -> None:
        xt, yt, xv, yv = self.batch
        if self.captured is not None:
            self.captured.architecture_step(xv, yv)
            self.captured.weight_step(xt, yt, 5.0)
        else:
            architecture_step(self.arch, self.model, xv, yv)
            weight_step(self.model, self.opt, xt, yt, self.arch.op_weights.detach(), self.arch.edge_weights.detach(), 5.0)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        self.eng.close()


def time_steps(loop: Loop, steps: int) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        loop.step()
    return (time.perf_counter() - t) / steps * 1e3


def count_calls(loop: Loop) -> int:
    with Counter() as c:
        loop.step()
    return c.calls


def run_case(name: str, case: Dict[str, Any], batch: int, device: torch.device, kinds: List[str], rounds: int,
             steps: int) -> Dict[str, Any]:
    loops = {k: Loop(k, case, batch, device) for k in kinds}
    try:
        calls = {}
        for k, loop in loops.items():  # the first step warms up (captures) and is the one counted
            if k == "captured":  # (a replayed graph issues no aten call)
                loop.step()
            else:
                calls[k] = count_calls(loop)
        per: Dict[str, List[float]] = {k: [] for k in kinds}
        for _ in range(rounds):
            for k, loop in loops.items():
                per[k].append(time_steps(loop, steps))
        ms = {k: statistics.median(v) for k, v in per.items()}
        return {"case": name, "device": device.type, "batch": batch, "C": case["C"], "cells": case["layers"],
                "side": case["side"], "ms_per_step": ms, "rounds_ms": per, "aten_calls_per_step": calls,
                "speedup": {k: ms["reference"] / ms[k] for k in kinds if k != "reference"},
                "rounds": rounds, "steps_per_round": steps}
    finally:
        for loop in loops.values():
            loop.close()


def gradient_errors(device: torch.device) -> List[Dict[str, Any]]:
    """Relative error (L2) of the op and edge weight gradients of one digits-size batch under each
    option against the same BatchedNetwork in float32, contiguous (channels_last=None is the default:
    channels-last activations on the CPU, contiguous on CUDA)."""
    case = CASES["digits"]
    config, _ = scaled_config("daas", 30, 10)
    torch.manual_seed(0)
    base = BatchedNetwork(config, C=case["C"], layers=case["layers"], num_classes=10, in_channels=1,
                          channels_last=False).to(device)
    with daas.Engine(config) as eng:
        arch = ArchitectureOptimizer(eng, device)
        op0, edge0 = arch.op_weights.detach().clone(), arch.edge_weights.detach().clone()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, 1, 8, 8, generator=g).to(device), torch.randint(0, 10, (64,), generator=g).to(device)

    def grads(net: torch.nn.Module):
        op, edge = op0.clone().requires_grad_(), edge0.clone().requires_grad_()
        return torch.autograd.grad(F.cross_entropy(net(x, op, edge), y), (op, edge))

    state = base.state_dict()
    ref = grads(base)
    amps = ["bfloat16"] + (["float16"] if device.type == "cuda" else [])
    options = ([{"channels_last": None}, {"channels_last": True}] + [{"channels_last": False, "amp": a} for a in amps]
               + [{"channels_last": True, "amp": a} for a in amps])
    out = []
    for opt in options:
        net = BatchedNetwork(config, C=case["C"], layers=case["layers"], num_classes=10, in_channels=1).to(device)
        net.load_state_dict(state)
        net.set_options(**opt)
        got = grads(net)
        out.append({"options": opt, "op_weights": float((got[0] - ref[0]).norm() / ref[0].norm()),
                    "edge_weights": float((got[1] - ref[1]).norm() / ref[1].norm())})
    return out


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="DARTS size at batch 16, fewer rounds")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--cases", default="digits,darts")
    args = ap.parse_args()
    torch.set_num_threads(1)
    load_before = _loadavg()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        kinds = ["reference", "batched"] + (["captured"] if device.type == "cuda" else [])
        for name in args.cases.split(","):
            case = CASES[name]
            batch = case["quick_batch"] if args.quick else case["batch"]
            big = name == "darts" and device.type == "cpu"
            rounds = args.rounds or (3 if big or args.quick else 5)
            steps = 1 if big else (2 if args.quick else 3)
            r = run_case(name, case, batch, device, kinds, rounds, steps)
            rows.append(r)
            ms, calls = r["ms_per_step"], r["aten_calls_per_step"]
            extra = "".join(f", {k} {ms[k]:.1f} ms (speed-up {r['speedup'][k]:.2f}x)" for k in kinds[2:])
            print(f"{name} {device.type} (batch {batch}): aten calls per step: "
                  + ", ".join(f"{k} {v}" for k, v in calls.items()) + extra, flush=True)
            print(f"{name} {device.type}: reference {ms['reference']:.1f} ms, batched {ms['batched']:.1f} ms per "
                  f"search step, speed-up {r['speedup']['batched']:.2f}x", flush=True)
    errs = gradient_errors(devices[-1])
    for e in errs:
        print(f"gradient error {devices[-1].type} {e['options']}: op weights {e['op_weights']:.2e}, "
              f"edge weights {e['edge_weights']:.2e} (relative, vs float32 contiguous)")
    if args.out:
        write_json(args.out, {"machine": machine(), "command": command_line(), "threads": torch.get_num_threads(),
                              "torch": torch.__version__, "quick": args.quick, "rows": rows,
                              "gradient_errors": errs, "loadavg_before": load_before, "loadavg_after": _loadavg()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
