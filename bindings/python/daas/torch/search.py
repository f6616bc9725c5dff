"""A first-order DAAS search loop, and the command line behind ``make search``.

:func:`search` is the loop, written to be called as it is or copied into your own script. Per step:

1. architecture step on a validation batch: the engine's op and edge weights become leaf tensors
   (``requires_grad``) on the model's device, the supernet's task loss is differentiated with respect
   to them only, and the two gradients go back to :meth:`daas.Engine.step` as CPU float32 arrays;
2. weight step on a training batch with the updated weights: SGD (momentum 0.9, weight decay 3e-4),
   cosine learning rate over the epochs, gradient-norm clipping at 5.

``set_epoch`` starts every epoch; a checkpoint callback runs at the end of each. The loop times every
step and the share of it spent inside daas (``weights`` and ``step``).

``python -m daas.torch.search`` runs a DAAS search and then the same search with method ``darts`` on
scikit-learn's digits (or ``--data file.npz``), evaluates the discretization gap of each and writes
``<out>/<data>-<method>/``: ``state.daas``, ``supernet.pt``, ``genotype.json``, ``report.json`` and PNG
plots. See docs/SEARCH.md and ``--help``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .data import Batches, Dataset, load_digits, load_npz
from .evaluate import discretization_gap, genotype_dict
from .model import Network, SpaceSpec

__all__ = ["SearchResult", "search", "architecture_step", "weight_step", "scaled_config", "run_search", "main"]


# ---------------------------------------------------------------------------------------------
# The loop


@dataclass
class SearchResult:
    """What :func:`search` collected: one history record per epoch (epoch 0 = initialization) with
    the op and edge weights, the engine's metrics and the supernet's running accuracies; and timing."""

    history: List[Dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    daas_seconds: float = 0.0

    @property
    def time_per_step_ms(self) -> float:
        return 1e3 * self.seconds / max(self.steps, 1)

    @property
    def daas_ms_per_step(self) -> float:
        return 1e3 * self.daas_seconds / max(self.steps, 1)

    @property
    def daas_share_percent(self) -> float:
        return 100.0 * self.daas_seconds / self.seconds if self.seconds > 0 else 0.0


def _record(engine: Any, epoch: int, op_w: np.ndarray, edge_w: np.ndarray, **extra: Any) -> Dict[str, Any]:
    rec: Dict[str, Any] = {"epoch": epoch, "op_weights": op_w.astype(float).tolist(),
                           "edge_weights": edge_w.astype(float).tolist(), "metrics": engine.metrics()}
    rec.update(extra)
    return rec


def architecture_step(engine: Any, model: Network, x: torch.Tensor, y: torch.Tensor, op_np: np.ndarray,
                      edge_np: np.ndarray) -> Tuple[torch.Tensor, float]:
    """One first-order architecture step on the batch ``(x, y)`` (already on the model's device).

    Fills ``op_np``/``edge_np`` (float32 host buffers of the engine's sizes) with the current mixing
    weights, takes the cross-entropy's gradients with respect to them alone (the supernet's own
    gradients are not touched), hands those to :meth:`daas.Engine.step` and refills the buffers with the
    updated weights. Returns the detached logits and the seconds spent in daas calls.
    """
    device = x.device
    d0 = time.perf_counter()
    engine.weights(out=(op_np, edge_np))
    d_time = time.perf_counter() - d0
    op_t = torch.from_numpy(op_np).to(device).requires_grad_(True)
    edge_t = torch.from_numpy(edge_np).to(device).requires_grad_(True)
    logits = model(x, op_t, edge_t)
    g_op, g_edge = torch.autograd.grad(F.cross_entropy(logits, y), (op_t, edge_t), allow_unused=True)
    g_op = torch.zeros_like(op_t) if g_op is None else g_op
    g_edge = torch.zeros_like(edge_t) if g_edge is None else g_edge
    g_op_np = g_op.detach().to("cpu", torch.float32).contiguous().numpy()
    g_edge_np = g_edge.detach().to("cpu", torch.float32).contiguous().numpy()
    d0 = time.perf_counter()
    engine.step(g_op_np, g_edge_np)
    engine.weights(out=(op_np, edge_np))
    return logits.detach(), d_time + time.perf_counter() - d0


def weight_step(model: Network, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                op_w: torch.Tensor, edge_w: torch.Tensor, grad_clip: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """One step of the supernet's weights on ``(x, y)`` with the mixing weights held fixed: cross-entropy,
    backward, gradient norm clipped to ``grad_clip``, ``optimizer.step()``. Returns the detached loss
    and logits."""
    optimizer.zero_grad(set_to_none=True)
    logits = model(x, op_w, edge_w)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach(), logits.detach()


def search(engine: Any, model: Network, train: Iterable, val: Iterable, *, epochs: int,
           device: Optional[torch.device] = None, lr: float = 0.025, lr_min: float = 0.001, momentum: float = 0.9,
           weight_decay: float = 3e-4, grad_clip: float = 5.0,
           checkpoint: Optional[Callable[[int, "SearchResult", torch.optim.Optimizer], None]] = None,
           progress: bool = True, desc: str = "search", position: int = 0) -> SearchResult:
    """Runs ``epochs`` epochs of first-order search of ``model``'s architecture with ``engine``.

    ``train`` and ``val`` are re-iterable sources of ``(x, y)`` batches (a :class:`~daas.torch.data.Batches`
    or a DataLoader with ``num_workers=0`` or the ``spawn`` start method: libdaas must not be used in a
    forked child); an epoch has ``min(len(train), len(val))`` steps. The engine's epochs run 1..``epochs``
    and must match its config. ``checkpoint(epoch, result, optimizer)`` is called after every epoch.
    """
    device = device if device is not None else next(model.parameters()).device
    model.check_engine(engine)
    model.to(device).train()
    n_alpha, n_edges = model.sizes
    # Host buffers the engine fills in place every step (no allocation in the loop).
    op_np = np.empty(n_alpha, dtype=np.float32)
    edge_np = np.empty(n_edges, dtype=np.float32)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=lr_min)
    result = SearchResult()
    engine.weights(out=(op_np, edge_np))
    result.history.append(_record(engine, 0, op_np, edge_np))
    steps_per_epoch = min(len(train), len(val))  # type: ignore[arg-type]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * steps_per_epoch, desc=desc, unit="step", dynamic_ncols=True, file=sys.stderr,
                   position=position, leave=True)
    on_cuda = device.type == "cuda"
    for epoch in range(1, epochs + 1):
        engine.set_epoch(epoch)
        loss_sum = correct = seen = val_correct = val_seen = 0.0
        for (xt, yt), (xv, yv) in zip(train, val):
            t0 = time.perf_counter()
            xt, yt, xv, yv = (t.to(device, non_blocking=True) for t in (xt, yt, xv, yv))
            # 1. architecture step on the validation batch; 2. weight step on the training batch
            val_logits, d_time = architecture_step(engine, model, xv, yv, op_np, edge_np)
            val_correct += float((val_logits.argmax(1) == yv).sum())
            val_seen += yv.numel()
            loss, logits = weight_step(model, optimizer, xt, yt, torch.from_numpy(op_np).to(device),
                                       torch.from_numpy(edge_np).to(device), grad_clip)
            loss_sum += float(loss) * yt.numel()
            correct += float((logits.argmax(1) == yt).sum())
            seen += yt.numel()
            if on_cuda:
                torch.cuda.synchronize(device)
            result.steps += 1
            result.seconds += time.perf_counter() - t0
            result.daas_seconds += d_time
            if bar is not None:
                bar.update(1)
        scheduler.step()
        engine.weights(out=(op_np, edge_np))
        rec = _record(engine, epoch, op_np, edge_np, train_loss=loss_sum / max(seen, 1),
                      train_accuracy=100.0 * correct / max(seen, 1), val_accuracy=100.0 * val_correct / max(val_seen, 1),
                      lr=optimizer.param_groups[0]["lr"])
        result.history.append(rec)
        if bar is not None:
            bar.set_postfix(epoch=epoch, loss=f"{rec['train_loss']:.3f}", acc=f"{rec['train_accuracy']:.1f}",
                            disc=f"{rec['metrics'].get('discreteness', float('nan')):.3f}")
        if checkpoint is not None:
            checkpoint(epoch, result, optimizer)
    if bar is not None:
        bar.close()
    return result


# ---------------------------------------------------------------------------------------------
# Settings scaled to a small data set (SPEC §9)

REFERENCE_EPOCHS = 50
REFERENCE_DELAY = 8


def scaled_config(method: str, epochs: int, steps_per_epoch: int, *, space: Any = "darts", seed: int = 0,
                  travel: float = 6.0, arch_lr: Optional[float] = None, lambda_c: float = 0.3,
                  delay: Optional[int] = None) -> Tuple[Dict[str, Any], List[str]]:
    """An engine config for a search of ``epochs`` epochs of ``steps_per_epoch`` steps, and the lines
    that explain its choices (SPEC §9):

    - architecture learning rate (α and β) ``travel / (epochs * steps_per_epoch)`` so the parameters can
      move about as far as in the reference's CIFAR-10 run (391 x 50 steps at 3e-4, ≈ 6), unless
      ``arch_lr`` is given;
    - the reference's delay of 8 of 50 epochs (α's learning-rate start and λα's start) scaled to the run:
      ``max(1, round(8 / 50 * epochs))``, unless ``delay`` is given;
    - ``lambda_c`` linear up to ``lambda_c`` (the reference uses 0.1; 0.3 leaves a near-discrete supernet
      on small data).
    """
    total = max(1, epochs * steps_per_epoch)
    lr = arch_lr if arch_lr is not None else travel / total
    d = delay if delay is not None else max(1, round(REFERENCE_DELAY / REFERENCE_EPOCHS * epochs))
    d = min(max(d, 1), epochs)
    adam = {"lr": lr, "betas": [0.5, 0.999], "eps": 1e-8, "weight_decay": 1e-3}
    config = {
        "space": space, "method": method, "epochs": epochs, "seed": seed,
        "optimizer": {"alpha": dict(adam), "beta": dict(adam), "alpha_start_epoch": d},
        "loss": {"w_sum": 0.2, "lambda_c": {"type": "linear", "scale": lambda_c, "delay": 0},
                 "lambda_alpha": {"type": "log", "scale": 1.0, "delay": d},
                 "lambda_beta": {"type": "const", "scale": 4.0, "delay": 0}},
    }
    notes = [
        f"architecture lr {lr:.4g} for alpha and beta"
        + (" (given)" if arch_lr is not None else
           f" = {travel:g} / ({epochs} epochs x {steps_per_epoch} steps): lr x steps = {lr * total:.2f}, as the "
           f"reference's 3e-4 x 391 x 50 = 5.9 on CIFAR-10"),
        f"delay {d} epochs" + (" (given)" if delay is not None else
                               f" = round(8/50 x {epochs}), the reference's 8 of 50 scaled")
        + ": alpha_start_epoch and lambda_alpha's start",
        f"lambda_c linear 0 -> {lambda_c:g}" + (" (3x the reference's 0.1: small data needs the pressure to end "
                                                "near-discrete)" if abs(lambda_c - 0.3) < 1e-12 else ""),
    ]
    if method == "darts":
        notes[-1] = "method darts: plain softmax, edge weights 1, no discretization losses (same lr and delay)"
    return config, notes


# ---------------------------------------------------------------------------------------------
# The command line


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("daas.torch.search: --device cuda asked for, but PyTorch sees no CUDA device")
    return dev


def _device_words(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"


def _atomic_write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _atomic_torch_save(obj: Any, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load_data(args: argparse.Namespace) -> Dataset:
    if args.data:
        return load_npz(args.data, args.train_size, args.val_size, seed=args.split_seed)
    return load_digits(args.train_size or 700, args.val_size or 700, seed=args.split_seed)


def _space_arg(text: str) -> Any:
    if os.path.isfile(text):
        with open(text) as f:
            return json.load(f)
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return text


def _batches(data: Dataset, args: argparse.Namespace) -> Tuple[Batches, Batches]:
    return (Batches(data.train, args.batch_size, seed=args.seed + 1),
            Batches(data.val, args.batch_size, seed=args.seed + 2))


def plan(method: str, data: Dataset, args: argparse.Namespace) -> Tuple[Dict[str, Any], List[str], int]:
    """The engine config of one method's run, the lines explaining it, and the steps per epoch."""
    train, val = _batches(data, args)
    steps = min(len(train), len(val))
    config, notes = scaled_config(method, args.epochs, steps, space=_space_arg(args.space), seed=args.seed,
                                  travel=args.travel, arch_lr=args.arch_lr, lambda_c=args.lambda_c, delay=args.delay)
    return config, notes, steps


def _log(message: str) -> None:
    """Prints a line without tearing the progress bars (other processes' bars share the lock)."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stdout)
    sys.stdout.flush()


def run_search(method: str, data: Dataset, args: argparse.Namespace, device: torch.device,
               log: Callable[[str], None] = _log, position: int = 0) -> Dict[str, Any]:
    """One search of ``method`` on ``data`` with the CLI's settings; writes its run folder and returns
    its report."""
    import daas

    start = time.perf_counter()
    name = f"{args.name or data.name}-{method}"
    out_dir = os.path.join(args.out, name)
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    train, val = _batches(data, args)
    config, notes, steps = plan(method, data, args)
    with daas.Engine(config) as eng:
        model = Network(eng.config, C=args.C, layers=args.layers, num_classes=data.num_classes,
                        in_channels=data.in_channels).to(device)
        n_params = sum(p.numel() for p in model.parameters())
        log(f"[{name}] supernet: C={args.C}, {args.layers} cells ({', '.join(model.cell_types)}), "
            f"{n_params} weights; engine: {eng.sizes[0]} op weights, {eng.sizes[1]} edge weights; "
            f"{steps} steps per epoch of batch {train.batch_size}")
        state_path = os.path.join(out_dir, "state.daas")
        model_path = os.path.join(out_dir, "supernet.pt")

        def checkpoint(epoch: int, result: SearchResult, optimizer: torch.optim.Optimizer) -> None:
            eng.save_file(state_path)
            _atomic_torch_save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                "config": config, "C": args.C, "layers": args.layers,
                                "num_classes": data.num_classes, "in_channels": data.in_channels}, model_path)

        result = search(eng, model, train, val, epochs=args.epochs, device=device, lr=args.lr,
                        checkpoint=checkpoint, progress=not args.no_progress, desc=name, position=position)
        genotype = genotype_dict(eng.discretize())
        metrics = eng.metrics()
        eval_train = Batches(data.train, args.batch_size, shuffle=False, drop_last=False, device=device)
        test = Batches(data.test, 256, shuffle=False, drop_last=False, device=device)
        op_np, edge_np = eng.weights()
        gap = discretization_gap(model, genotype, op_np, edge_np, eval_train, test)
        eng.save_file(state_path)
    with open(os.path.join(out_dir, "genotype.json"), "w") as f:
        json.dump(genotype, f, indent=2)
        f.write("\n")
    from .plots import plot_all

    pngs = plot_all(model.space, result.history, out_dir, title=name)
    with open(os.path.join(out_dir, "history.json"), "w") as f:
        json.dump(result.history, f)
    report = {
        "name": name, "method": method, "epochs": args.epochs, "seed": args.seed, "device": _device_words(device),
        "data": data.describe(), "space": config["space"], "C": args.C, "layers": args.layers,
        "cell_types": model.cell_types, "batch_size": train.batch_size, "steps_per_epoch": steps,
        "weight_lr": args.lr, "config": config, "choices": notes,
        **gap,
        "discreteness": metrics.get("discreteness"), "weakest_edge": metrics.get("weakest_edge"),
        "metrics": metrics, "genotype": genotype,
        "time_per_step_ms": result.time_per_step_ms, "daas_ms_per_step": result.daas_ms_per_step,
        "daas_share_percent": result.daas_share_percent, "steps": result.steps,
        "search_seconds": result.seconds,
        "accuracy_unit": "percent of the test split; BatchNorm statistics re-estimated on the training split "
                         "(the *_search_bn entries: the search's running statistics)",
        "files": sorted(["state.daas", "supernet.pt", "genotype.json", "history.json", "report.json"]
                        + [os.path.basename(p) for p in pngs]),
    }
    report["wall_seconds"] = time.perf_counter() - start
    _atomic_write(os.path.join(out_dir, "report.json"), (json.dumps(report, indent=2) + "\n").encode())
    log(f"[{name}] supernet {gap['supernet_accuracy']:.1f}%, discretized {gap['discretized_accuracy']:.1f}% "
        f"(drop {report['accuracy_drop']:.1f} points), discreteness {report['discreteness']:.3f}; "
        f"{report['time_per_step_ms']:.0f} ms/step, daas {report['daas_ms_per_step']:.3f} ms "
        f"({report['daas_share_percent']:.2f}%); {report['wall_seconds']:.0f} s -> {out_dir}")
    return report


def summary_table(reports: Sequence[Dict[str, Any]]) -> str:
    """The side-by-side comparison printed at the end."""
    rows = [("", *[r["method"] for r in reports])]
    rows.append(("supernet accuracy", *[f"{r['supernet_accuracy']:.1f}%" for r in reports]))
    rows.append(("discretized accuracy", *[f"{r['discretized_accuracy']:.1f}%" for r in reports]))
    rows.append(("accuracy drop", *[f"{r['accuracy_drop']:.1f} pts" for r in reports]))
    rows.append(("discreteness", *[f"{r['discreteness']:.3f}" for r in reports]))
    rows.append(("weakest edge", *[f"{r['weakest_edge']:.3f}" for r in reports]))
    rows.append(("ms per step (daas share)",
                 *[f"{r['time_per_step_ms']:.0f} ({r['daas_share_percent']:.2f}%)" for r in reports]))
    rows.append(("wall time", *[f"{r['wall_seconds']:.0f} s" for r in reports]))
    widths = [max(len(str(row[c])) for row in rows) for c in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(str(v).ljust(widths[c]) if c == 0 else str(v).rjust(widths[c]) for c, v in enumerate(row)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m daas.torch.search",
        description="DAAS architecture search with a PyTorch supernet, then the DARTS baseline, on scikit-learn's "
                    "digits or your own data; reports the discretization gap of each.",
        epilog="Your own data: --data file.npz with arrays x ([N,C,H,W] or [N,H,W], any real dtype) and y ([N], "
               "integer labels 0..K-1); optional x_test/y_test give the test split, otherwise 20% of x is held out "
               "(40% train, 40% validation; --train-size/--val-size set counts). Inputs are standardized per "
               "channel. Outputs: OUT/NAME-METHOD/{state.daas, supernet.pt, genotype.json, report.json, "
               "history.json, *.png}. See docs/SEARCH.md.",
)
    p.add_argument("--epochs", type=int, default=30, help="search epochs per method (default: %(default)s)")
    p.add_argument("--out", default="runs", help="output folder (default: %(default)s)")
    p.add_argument("--methods", default="daas,darts", help="comma-separated methods to run, in order (default: %(default)s)")
    p.add_argument("--data", default=None, help="an .npz with x and y (see below); default: scikit-learn's digits")
    p.add_argument("--name", default=None, help="run-name prefix (default: the data set's name)")
    p.add_argument("--train-size", type=int, default=None, help="training examples (digits: 700)")
    p.add_argument("--val-size", type=int, default=None, help="validation examples (digits: 700)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the train/validation/test split (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of PyTorch and of the engine (default: %(default)s)")
    p.add_argument("--space", default="darts",
                   help="preset (darts, darts-none, nb201), a JSON space object, or a file holding one (default: %(default)s)")
    p.add_argument("--C", type=int, default=4, help="channels of the first cells (default: %(default)s)")
    p.add_argument("--layers", type=int, default=3, help="cells in the supernet (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.025, help="weight learning rate (SGD, cosine to 0.001; default: %(default)s)")
    p.add_argument("--arch-lr", type=float, default=None,
                   help="architecture learning rate; default TRAVEL / total steps (SPEC §9)")
    p.add_argument("--travel", type=float, default=6.0, help="target arch lr x total steps when --arch-lr is unset (default: %(default)s)")
    p.add_argument("--lambda-c", type=float, default=0.3, help="final value of the linear lambda_c schedule (default: %(default)s)")
    p.add_argument("--delay", type=int, default=None,
                   help="alpha_start_epoch and lambda_alpha delay; default max(1, round(8/50 x epochs))")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N] (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="PyTorch CPU threads (0: PyTorch's default). A supernet this small gains nothing from "
                        "intra-op threads, and several threads slow down badly on shared cores (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=0,
                   help="methods run at once in separate (spawned) processes; 0: one per CPU core on CPU, 1 on a GPU")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _child(method: str, args: argparse.Namespace, position: int) -> Dict[str, Any]:
    """One method's run in a worker process (started with ``spawn``: libdaas must not be forked)."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    return run_search(method, _load_data(args), args, _device(args.device), position=position)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.epochs < 1:
        raise SystemExit("daas.torch.search: --epochs must be >= 1")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in ("daas", "darts"):
            raise SystemExit(f"daas.torch.search: unknown method {m!r} in --methods (want daas and/or darts)")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = _device(args.device)
    jobs = args.jobs
    if jobs <= 0:  # auto: the methods side by side on CPU cores, one after the other on a GPU
        jobs = 1 if device.type == "cuda" else min(len(methods), max(1, (os.cpu_count() or 1) // max(args.threads, 1)))
    jobs = max(1, min(jobs, len(methods)))
    start = time.perf_counter()
    data = _load_data(args)
    print(f"daas.torch.search: device {_device_words(device)}"
          + (f"; {jobs} methods side by side in separate processes" if jobs > 1 else ""))
    print(f"data {data.describe()}")
    for m in methods:
        _, notes, _ = plan(m, data, args)
        print(f"{m}: " + "\n  ".join([""] + notes))
    sys.stdout.flush()
    if jobs == 1:
        reports = [run_search(m, data, args, device) for m in methods]
    else:
        import multiprocessing

        from tqdm.auto import tqdm

        # The workers share the parent's tqdm lock, so the bars do not overwrite each other and no
        # worker leaves its own semaphore behind.
        ctx = multiprocessing.get_context("spawn")
        lock = ctx.RLock()
        with ctx.Pool(jobs, initializer=tqdm.set_lock, initargs=(lock,)) as pool:
            reports = pool.starmap(_child, [(m, args, k) for k, m in enumerate(methods)])
    print()
    print(summary_table(reports))
    print(f"\ntotal {time.perf_counter() - start:.0f} s; runs in {os.path.abspath(args.out)}")
    summary = {r["method"]: {k: r[k] for k in ("supernet_accuracy", "discretized_accuracy", "accuracy_drop",
                                                "discreteness", "weakest_edge", "wall_seconds")} for r in reports}
    _atomic_write(os.path.join(args.out, f"{args.name or data.name}-summary.json"),
                  (json.dumps(summary, indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
