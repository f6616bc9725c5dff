"""The reference way: the DAAS architecture step written directly in PyTorch on CPU, as a search
loop would without daas. Op weights and edge weights through the relaxation of docs/DESIGN.md relaxation, the DAAS losses of
§3, autograd and torch.optim.Adam (§4's settings), vectorized as well as plain PyTorch allows (one
softmax over every edge; one softmax per group of nodes with the same number of inputs, not a Python
loop over nodes as the authors' code has).

``python bench/torch_reference.py --out FILE`` times one step (relaxation + losses + backward + Adam)
against daas's ``Engine.weights`` + ``Engine.step`` on the same spaces, in the same process, one
thread, after checking that both take the same step from the same state."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BENCH_EPOCH, FACTORS, bench_config, command_line, grads, machine, time_per_call,  # noqa: E402
                    write_json)


class TorchArch(torch.nn.Module):
    """α and β of a space as torch parameters, with the DAAS relaxation and losses."""

    def __init__(self, space: Any, alpha: np.ndarray, beta: np.ndarray, *, w_sum: float = 0.2) -> None:
        super().__init__()
        from daas.torch.model import SpaceSpec

        spec = SpaceSpec.parse(space)
        self.n_ops = len(spec.ops)
        self.n_edges = spec.n_edges
        self.w_sum = w_sum
        # learnable β entries grouped by the node's input count n: group n holds rows of n entries
        groups: Dict[int, Tuple[List[List[int]], List[int]]] = {}
        start = 0
        for cell in spec.cells:
            for j in range(cell.nodes):
                n, k = cell.inputs + j, cell.keep[j]
                if k < n:
                    rows, ks = groups.setdefault(n, ([], []))
                    rows.append([start + cell.edge_index(j, i) for i in range(n)])
                    ks.append(k)
            start += cell.edges
        self.group_n = sorted(groups)
        order: List[int] = []
        self.group_k = []
        for n in self.group_n:
            rows, ks = groups[n]
            order.extend(i for r in rows for i in r)
            self.group_k.append(torch.tensor(ks, dtype=torch.float32))
        self.learn_idx = torch.tensor(order, dtype=torch.long)
        self.alpha = torch.nn.Parameter(torch.from_numpy(alpha.astype(np.float32).reshape(self.n_edges, self.n_ops)))
        self.beta = torch.nn.Parameter(torch.from_numpy(beta.astype(np.float32)[order]))

    def relax(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(op weights [n_edges*ops], edge weights [n_edges], H_alpha, L_E)."""
        a = self.alpha
        g = torch.where(a >= -0.5, 2 * a, (2 * a) ** 3)
        logp = F.log_softmax(g, dim=1)
        p = logp.exp()
        h_alpha = -(p * logp).sum()
        parts, l_e, off = [], a.new_zeros(()), 0
        for n, k in zip(self.group_n, self.group_k):
            b = self.beta[off:off + k.numel() * n].view(-1, n).clamp(max=1.0)
            off += k.numel() * n
            lq = F.log_softmax(b, dim=1)
            q = lq.exp()
            l_e = l_e - (q * lq).sum() + self.w_sum * ((F.relu(b).sum(1) - k) ** 2).sum()
            parts.append((n * q).reshape(-1))
        w = torch.ones(self.n_edges).index_put((self.learn_idx,), torch.cat(parts))
        return p.reshape(-1), w, h_alpha, l_e

    def optimizer(self, lr: float = 3e-4, betas=(0.5, 0.999), eps: float = 1e-8,
                  weight_decay: float = 1e-3) -> torch.optim.Adam:
        return torch.optim.Adam([{"params": [self.alpha]}, {"params": [self.beta]}], lr=lr, betas=betas, eps=eps,
                                weight_decay=weight_decay)

    def full_beta(self) -> np.ndarray:
        out = np.ones(self.n_edges, dtype=np.float32)
        out[self.learn_idx.numpy()] = self.beta.detach().numpy()
        return out


def reference_step(arch: TorchArch, opt: torch.optim.Optimizer, g_op: torch.Tensor, g_edge: torch.Tensor,
                   lam: Dict[str, float]) -> Tuple[torch.Tensor, torch.Tensor]:
    """One architecture step given the task loss's gradients w.r.t. the op and edge weights (what
    daas.Engine.step receives); returns the weights the supernet uses (what Engine.weights gives)."""
    opt.zero_grad(set_to_none=True)
    p, w, h_alpha, l_e = arch.relax()
    disc = lam["lambda_c"] * (lam["lambda_alpha"] * h_alpha + lam["lambda_beta"] * l_e)
    ((p * g_op).sum() + (w * g_edge).sum() + disc).backward()
    opt.step()
    return p, w


def compare(factors: Sequence[int], repeats: int) -> Dict[str, Any]:
    import daas

    torch.set_num_threads(1)
    rows = []
    for factor in factors:
        with daas.Engine(bench_config(factor)) as eng:
            eng.set_epoch(BENCH_EPOCH)
            n_alpha, n_edges = eng.sizes
            lam = {k: float(v) for k, v in eng.metrics().items() if k in ("lambda_c", "lambda_alpha", "lambda_beta")}
            arch = TorchArch(eng.config["space"], eng.alpha, eng.beta)
            opt = arch.optimizer()
            # same step from the same state: both must agree (checks the reference is the same work);
            # random gradients, since the timing's patterned ones cancel to ~0 on some entries, where
            # Adam's first step (g / (|g| + eps)) turns float32 rounding into differences of ~lr
            rng = np.random.default_rng(0)
            ca, ce = (rng.standard_normal(n).astype(np.float32) * np.float32(1e-2) for n in (n_alpha, n_edges))
            reference_step(arch, opt, torch.from_numpy(ca), torch.from_numpy(ce), lam)
            eng.step(ca, ce)
            diff = np.concatenate([np.abs(arch.alpha.detach().numpy().reshape(-1) - eng.alpha),
                                   np.abs(arch.full_beta() - eng.beta)])
            off = float((diff > 1e-6).mean())
            # a step moves every entry by ~lr = 3e-4; entries whose gradient is ~0 by chance turn float32
            # rounding into larger differences (Adam divides by |g| + eps), so allow a few of them
            if off > 1e-3 or diff.max() > 1e-4:
                raise SystemExit(f"torch reference and daas disagree after one step (x{factor}): max |diff| "
                                 f"{diff.max():.3g}, {100 * off:.3g}% of entries off by more than 1e-6")
            ga, ge = grads(n_alpha, 7), grads(n_edges, 5)
            op_np, edge_np = np.empty(n_alpha, np.float32), np.empty(n_edges, np.float32)
            ta, te = torch.from_numpy(ga), torch.from_numpy(ge)

            def daas_step() -> None:
                eng.weights(out=(op_np, edge_np))
                eng.step(ga, ge)

            def torch_step() -> None:
                reference_step(arch, opt, ta, te, lam)

            # interleave so a change in the machine's load hits both alike
            d, t = [], []
            for _ in range(repeats):
                d.append(time_per_call(daas_step, repeats=1, target_s=0.1)["median_us"])
                t.append(time_per_call(torch_step, repeats=1, target_s=0.1)["median_us"])
            med = lambda xs: float(np.median(xs))  # noqa: E731
            rows.append({"factor": factor, "n_alpha": n_alpha, "n_edges": n_edges, "daas_us": med(d),
                         "torch_us": med(t), "daas_runs_us": d, "torch_runs_us": t, "speedup": med(t) / med(d),
                         "agree_max_abs": float(diff.max()), "agree_fraction_off_1e-6": off})
            print(f"x{factor:<5d} n_alpha {n_alpha:7d}: daas (Python, weights+step) {med(d):10.1f} us, "
                  f"PyTorch reference {med(t):10.1f} us, speed-up {med(t) / med(d):7.1f}x", flush=True)
    return {"what": "one architecture step: daas Engine.weights(out=numpy) + Engine.step(numpy) vs PyTorch "
                    "relaxation + DAAS losses + backward + torch.optim.Adam; 1 thread; median of repeats, "
                    "interleaved", "torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--factors", default=",".join(map(str, FACTORS)))
    args = ap.parse_args()
    res = compare([int(f) for f in args.factors.split(",")], args.repeats)
    res["machine"] = machine()
    res["command"] = command_line()
    write_json(args.out, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
