"""A first-order DAAS search loop, and the command line behind ``make search``.

:func:`search` is the loop, written to be called as it is or copied into your own script. Per step:

1. architecture step on a validation batch: the engine's op and edge weights become leaf tensors
   (``requires_grad``) on the model's device, the supernet's task loss is differentiated with respect
   to them only, and the two gradients go back to :meth:`daas.Engine.step` as CPU float32 arrays;
2. weight step on a training batch with the updated weights: SGD (momentum 0.9, weight decay 3e-4),
   cosine learning rate over the epochs, gradient-norm clipping at 5.

``set_epoch`` starts every epoch; a checkpoint callback runs at the end of each. The loop times every
step and the share of it spent inside daas (``weights`` and ``step``).

Under ``torch.distributed`` (``torchrun``) the loop is data-parallel with one architecture: the
supernet's weights train under ``DistributedDataParallel``, the architecture gradients of each rank's
shard are averaged by one all-reduce before every ``Engine.step`` (so every rank's engine takes the
same step), and the engines' state digests are compared after every epoch
(:mod:`daas.torch.distributed`).

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
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import distributed
from .data import Batches, Dataset, DataWarning, batch_warnings, load_digits, load_npz
from .evaluate import discretization_gap, genotype_dict
from .batched import AMP_DTYPES, BatchedNetwork
from .model import Network, SpaceSpec
from .optim import ArchitectureOptimizer

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
    #: What a resumed search needs besides the engine and the model, as of the last finished epoch:
    #: the learning-rate scheduler's state and the epoch; for batch sources without ``set_epoch``
    #: (a :class:`~daas.torch.data.Batches`), their generator states.
    resume_state: Dict[str, Any] = field(default_factory=dict)
    #: The ranks and the process group's backend (None on a single process).
    world_size: int = 1
    backend: Optional[str] = None
    #: This run's (not restored on resume) seconds in the architecture gradients' all-reduce, over
    #: ``run_steps`` steps, and in the per-epoch agreement check, over ``epochs_checked`` epochs.
    run_steps: int = 0
    reduce_seconds: float = 0.0
    agreement_seconds: float = 0.0
    epochs_checked: int = 0
    #: The engine's state digest after the last epoch (hex; :func:`daas.torch.distributed.state_digest`).
    digest: str = ""

    @property
    def reduce_ms_per_step(self) -> float:
        return 1e3 * self.reduce_seconds / max(self.run_steps, 1)

    @property
    def agreement_ms_per_epoch(self) -> float:
        return 1e3 * self.agreement_seconds / max(self.epochs_checked, 1)

    @property
    def agreement(self) -> Dict[str, Any]:
        """``{"epochs_checked", "digest", "ranks"}``: the epochs of this run after which every rank's
        state digest was compared (0 on a single process: nothing to compare with), the final digest
        and the ranks that hold it."""
        return {"epochs_checked": self.epochs_checked if self.world_size > 1 else 0, "digest": self.digest,
                "ranks": list(range(self.world_size))}

    @property
    def time_per_step_ms(self) -> float:
        return 1e3 * self.seconds / max(self.steps, 1)

    @property
    def daas_ms_per_step(self) -> float:
        return 1e3 * self.daas_seconds / max(self.steps, 1)

    @property
    def daas_share_percent(self) -> float:
        return 100.0 * self.daas_seconds / self.seconds if self.seconds > 0 else 0.0


def _record(engine: Any, epoch: int, **extra: Any) -> Dict[str, Any]:
    op_w, edge_w = engine.weights()
    rec: Dict[str, Any] = {"epoch": epoch, "op_weights": op_w.astype(float).tolist(),
                           "edge_weights": edge_w.astype(float).tolist(), "metrics": engine.metrics()}
    rec.update(extra)
    return rec


def architecture_step(arch: ArchitectureOptimizer, model: Network, x: torch.Tensor, y: torch.Tensor,
                      reduce: Optional[Callable[[ArchitectureOptimizer], None]] = None) -> Tuple[torch.Tensor, float]:
    """One first-order architecture step on the batch ``(x, y)`` (already on the model's device): the
    supernet forwards with ``arch``'s op and edge weights, the cross-entropy's gradients with respect
    to those weights alone are taken (the supernet's own gradients are not touched) and
    :meth:`ArchitectureOptimizer.step` hands them to the engine and refreshes the weights. ``reduce``,
    when given, is called with ``arch`` between the backward pass and the step (data parallelism:
    :func:`daas.torch.distributed.reduce_architecture_gradients`). ``model`` is the plain supernet,
    not a ``DistributedDataParallel`` wrapper (no gradient of its weights is taken here). Returns the
    detached logits and the seconds spent in daas calls."""
    arch.zero_grad()
    logits = model(x, arch.op_weights, arch.edge_weights)
    arch.backward(F.cross_entropy(logits, y))
    if reduce is not None:
        reduce(arch)
    arch.step()
    return logits.detach(), arch.take_engine_seconds()


def weight_step(model: Network, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                op_w: torch.Tensor, edge_w: torch.Tensor, grad_clip: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """One step of the supernet's weights on ``(x, y)`` with the mixing weights held fixed: cross-entropy,
    backward, gradient norm clipped to ``grad_clip``, ``optimizer.step()``. ``model`` may be a
    ``DistributedDataParallel`` wrapper (its backward averages the gradients over the ranks before the
    clipping). Returns the detached loss and logits."""
    optimizer.zero_grad(set_to_none=True)
    logits = model(x, op_w, edge_w)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach(), logits.detach()


def _epoch_setter(source: Any) -> Optional[Callable[[int], None]]:
    """``source.set_epoch``, or its sampler's (a DataLoader with a DistributedSampler), or None."""
    for obj in (source, getattr(source, "sampler", None)):
        f = getattr(obj, "set_epoch", None)
        if callable(f):
            return f
    return None


def search(engine: Any, model: Network, train: Iterable, val: Iterable, *, epochs: int,
           device: Optional[torch.device] = None, lr: float = 0.025, lr_min: float = 0.001, momentum: float = 0.9,
           weight_decay: float = 3e-4, grad_clip: float = 5.0,
           checkpoint: Optional[Callable[[int, "SearchResult", torch.optim.Optimizer], None]] = None,
           progress: bool = True, desc: str = "search", position: int = 0,
           resume: Optional[Mapping[str, Any]] = None, distributed: Optional[bool] = None,
           cuda_graphs: bool = False, log: Optional[Callable[[str], None]] = None) -> SearchResult:
    """Runs ``epochs`` epochs of first-order search of ``model``'s architecture with ``engine``.

    ``train`` and ``val`` are re-iterable sources of ``(x, y)`` batches (a :class:`~daas.torch.data.Batches`,
    a :class:`~daas.torch.distributed.ShardedBatches` or a DataLoader with ``num_workers=0`` or the
    ``spawn`` start method: libdaas must not be used in a forked child); an epoch has
    ``min(len(train), len(val))`` steps. A source with ``set_epoch`` (ShardedBatches), or a DataLoader
    whose sampler has one (``DistributedSampler``), is told each epoch before it is iterated. The
    engine's epochs run 1..``epochs`` and must match its config. ``checkpoint(epoch, result,
    optimizer)`` is called after every epoch (on rank 0 alone when distributed).

    ``resume`` continues a search checkpointed after epoch ``resume["epoch"]``: the engine and the
    model come loaded, and the mapping holds what the checkpoint saved: ``optimizer`` (its state dict),
    ``history``, ``timing`` and ``resume_state`` (as :attr:`SearchResult.resume_state`). Sources with
    ``set_epoch`` need nothing more; a :class:`~daas.torch.data.Batches` gets its generator back. Either
    way the resumed search sees the same batches as one that was never stopped.

    ``distributed`` (default: whether a ``torch.distributed`` process group of more than one rank is
    initialized) makes the search data-parallel over the default group, every rank calling ``search``
    with its own shard of the batches: the supernet is wrapped in ``DistributedDataParallel`` for the
    weight step, each architecture step averages the op and edge weights' gradients over the ranks
    (:func:`~daas.torch.distributed.reduce_architecture_gradients`: one all-reduce) before
    ``Engine.step``, the epoch's losses and accuracies are summed over the ranks, and the engines'
    state digests are compared before the first epoch and after every epoch
    (:func:`~daas.torch.distributed.check_agreement`, which raises
    :class:`~daas.torch.distributed.ArchitectureDisagreement` on every rank when they differ).

    ``cuda_graphs`` replays both passes of every step from CUDA graphs
    (:class:`~daas.torch.captured.CapturedStep`); where that is not possible (not on CUDA, or
    distributed) the search says why through ``log`` (default: a warning) and runs the eager step.
    """
    from . import distributed as dist  # (the argument ``distributed`` hides the module's name here)

    device = device if device is not None else next(model.parameters()).device
    model.check_engine(engine)
    model.to(device).train()
    world = dist.world_size()
    if distributed is None:
        distributed = world > 1
    elif distributed and not dist._initialized():
        raise ValueError("daas.torch: search(distributed=True) needs an initialized torch.distributed process "
                         "group (torch.distributed.init_process_group, or run under torchrun)")
    trained: torch.nn.Module = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    arch = ArchitectureOptimizer(engine, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=lr_min)
    result = SearchResult()
    result.world_size = world if distributed else 1
    result.backend = torch.distributed.get_backend() if distributed else None
    is_main = dist.rank() == 0 or not distributed
    first = 1
    setters = [f for f in (_epoch_setter(s) for s in (train, val)) if f is not None]
    sources = [s for s in (train, val)
               if _epoch_setter(s) is None and isinstance(getattr(s, "generator", None), torch.Generator)]
    if resume is not None:
        first = int(resume["epoch"]) + 1
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["resume_state"]["scheduler"])
        for src, gen_state in zip(sources, resume["resume_state"].get("generators", [])):
            src.generator.set_state(gen_state)
        result.history = list(resume["history"])
        result.steps, result.seconds, result.daas_seconds = resume["timing"][:3]
        if engine.epoch != resume["epoch"]:
            raise ValueError(f"daas.torch: the engine is at epoch {engine.epoch} but the checkpoint at epoch "
                             f"{resume['epoch']}; resume both from the same checkpoint")
    # Every rank starts from the same state (a fresh config, or the same checkpoint files).
    result.digest = dist.check_agreement(engine, first - 1) if distributed else dist.state_digest(engine).hex()
    if resume is None:
        result.history.append(_record(engine, 0, digest=result.digest))

    on_cuda = device.type == "cuda"

    def timed_reduce(a: ArchitectureOptimizer) -> None:
        t = time.perf_counter()
        dist.reduce_architecture_gradients(a)
        if on_cuda:
            torch.cuda.synchronize(device)
        result.reduce_seconds += time.perf_counter() - t

    reduce = timed_reduce if distributed else None
    captured = _captured_step(model, optimizer, arch, device, distributed, log) if cuda_graphs else None

    steps_per_epoch = min(len(train), len(val))  # type: ignore[arg-type]
    bar = None
    if progress and is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * steps_per_epoch, initial=(first - 1) * steps_per_epoch, desc=desc, unit="step",
                   dynamic_ncols=True, file=sys.stderr, position=position, leave=True)
    for epoch in range(first, epochs + 1):
        engine.set_epoch(epoch)
        for set_epoch in setters:
            set_epoch(epoch)
        loss_sum = correct = seen = val_correct = val_seen = 0.0
        for (xt, yt), (xv, yv) in zip(train, val):
            t0 = time.perf_counter()
            xt, yt, xv, yv = (t.to(device, non_blocking=True) for t in (xt, yt, xv, yv))
            # 1. architecture step on the validation batch; 2. weight step on the training batch
            if captured is not None:
                val_logits, d_time = captured.architecture_step(xv, yv)
            else:
                val_logits, d_time = architecture_step(arch, model, xv, yv, reduce)
            val_correct += float((val_logits.argmax(1) == yv).sum())
            val_seen += yv.numel()
            if captured is not None:
                loss, logits = captured.weight_step(xt, yt, grad_clip)
            else:
                loss, logits = weight_step(trained, optimizer, xt, yt, arch.op_weights.detach(),
                                           arch.edge_weights.detach(), grad_clip)
            loss_sum += float(loss) * yt.numel()
            correct += float((logits.argmax(1) == yt).sum())
            seen += yt.numel()
            if on_cuda:
                torch.cuda.synchronize(device)
            result.steps += 1
            result.run_steps += 1
            result.seconds += time.perf_counter() - t0
            result.daas_seconds += d_time
            if bar is not None:
                bar.update(1)
        scheduler.step()
        if distributed:
            loss_sum, correct, seen, val_correct, val_seen = dist._sum_across(
                [loss_sum, correct, seen, val_correct, val_seen])
            t = time.perf_counter()
            result.digest = dist.check_agreement(engine, epoch)
            result.agreement_seconds += time.perf_counter() - t
            result.epochs_checked += 1
        else:
            result.digest = dist.state_digest(engine).hex()
        rec = _record(engine, epoch, train_loss=loss_sum / max(seen, 1),
                      train_accuracy=100.0 * correct / max(seen, 1), val_accuracy=100.0 * val_correct / max(val_seen, 1),
                      lr=optimizer.param_groups[0]["lr"], digest=result.digest, world_size=result.world_size)
        result.history.append(rec)
        result.resume_state = {"scheduler": scheduler.state_dict(), "epoch": epoch}
        if sources:
            result.resume_state["generators"] = [src.generator.get_state() for src in sources]
        if bar is not None:
            bar.set_postfix(epoch=epoch, loss=f"{rec['train_loss']:.3f}", acc=f"{rec['train_accuracy']:.1f}",
                            disc=f"{rec['metrics'].get('discreteness', float('nan')):.3f}")
        if checkpoint is not None and is_main:
            checkpoint(epoch, result, optimizer)
    if bar is not None:
        bar.close()
    return result


def _captured_step(model: Any, optimizer: torch.optim.Optimizer, arch: ArchitectureOptimizer, device: torch.device,
                   distributed: bool, log: Optional[Callable[[str], None]]) -> Any:
    """The CapturedStep of a search with ``cuda_graphs``, or None (said through ``log``) where the
    eager step must run instead."""
    from .captured import CapturedStep, capture_available

    why = "not with data parallelism (DistributedDataParallel)" if distributed else capture_available(device)
    if why is None:
        return CapturedStep(model, optimizer, arch)
    message = f"daas.torch.search: cuda_graphs: {why}; running the eager step"
    if log is not None:
        log(message)
    else:
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    return None


#: The supernet implementations of ``--supernet`` (docs/SEARCH.md, The supernet).
SUPERNETS = {"batched": BatchedNetwork, "reference": Network}


def build_supernet(kind: str, config: Any, *, channels_last: Optional[bool] = None, amp: Optional[str] = None,
                   **kwargs: Any) -> torch.nn.Module:
    """The search's supernet: ``kind`` ``"batched"`` (:class:`~daas.torch.batched.BatchedNetwork`,
    with its ``channels_last`` and ``amp`` options) or ``"reference"`` (:class:`Network`, which has
    neither). ``kwargs`` go to the constructor (C, layers, num_classes, in_channels)."""
    if kind not in SUPERNETS:
        raise ValueError(f"daas.torch: unknown supernet {kind!r} (want {' or '.join(SUPERNETS)})")
    if kind == "reference":
        if channels_last is not None or amp is not None:
            raise ValueError("daas.torch: channels_last and amp are options of the batched supernet")
        return Network(config, **kwargs)
    return BatchedNetwork(config, channels_last=channels_last, amp=amp, **kwargs)


# ---------------------------------------------------------------------------------------------
# Settings scaled to a small data set (docs/SEARCH.md, Settings scaled to a small data set)

#: The discreteness controller ``make search`` turns on for DAAS (see include/daas.h, "control"):
#: every kept edge's op weight and every node's kept mass at 0.99 or more by the controller's
#: default ``by_epoch`` (the last fifth of the search is left to hold them there).
DEFAULT_CONTROL: Dict[str, Any] = {"edge_target": 0.99, "mass_target": 0.99}


def engine_delay(epochs: int) -> int:
    """The engine's default delay (``optimizer.alpha_start_epoch`` and ``loss.lambda_alpha.delay``) for
    a search of ``epochs`` epochs, as the engine itself resolves it."""
    import daas

    with daas.Engine({"epochs": epochs}) as eng:
        return int(eng.config["optimizer"]["alpha_start_epoch"])


def scaled_config(method: str, epochs: int, steps_per_epoch: int, *, space: Any = "darts", seed: int = 0,
                  travel: float = 6.0, arch_lr: Optional[float] = None, lambda_c: float = 0.3,
                  delay: Optional[int] = None, control: Optional[Mapping[str, Any]] = None
                  ) -> Tuple[Dict[str, Any], List[str]]:
    """An engine config for a search of ``epochs`` epochs of ``steps_per_epoch`` steps, and the lines
    that explain its choices (docs/SEARCH.md, Settings scaled to a small data set):

    - architecture learning rate (α and β) ``travel / (epochs * steps_per_epoch)`` so the parameters can
      move about as far as in the reference's CIFAR-10 run (391 x 50 steps at 3e-4, ≈ 6), unless
      ``arch_lr`` is given;
    - the engine's default delay (α's learning-rate start and λα's start), the reference's 8 of 50
      epochs scaled to the run, ``max(1, round(8 / 50 * epochs))``, unless ``delay`` is given;
    - ``lambda_c`` linear up to ``lambda_c`` (the reference uses 0.1; 0.3 leaves a near-discrete supernet
      on small data);
    - for method daas, ``control`` as the engine's discreteness controller (for example
      :data:`DEFAULT_CONTROL`); None leaves it off, as in the paper's fixed schedules.
    """
    total = max(1, epochs * steps_per_epoch)
    lr = arch_lr if arch_lr is not None else travel / total
    d = delay if delay is not None else engine_delay(epochs)
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
                               f" = max(1, round(8/50 x {epochs})), the reference's 8 of 50 scaled")
        + ": alpha_start_epoch and lambda_alpha's start",
        f"lambda_c linear 0 -> {lambda_c:g}" + (" (3x the reference's 0.1: small data needs the pressure to end "
                                                "near-discrete)" if abs(lambda_c - 0.3) < 1e-12 else ""),
    ]
    if method == "darts":
        notes[-1] = "method darts: plain softmax, edge weights 1, no discretization losses (same lr and delay)"
    elif control:
        config["control"] = dict(control)
        notes.append("discreteness controller: " + ", ".join(f"{k} {v:g}" for k, v in control.items())
                     + " (boosts the losses while the weakest kept edge or the kept mass lags its trajectory)")
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
    """Every file of a run goes through libdaas's one writer (daas.write_file: whole or not at all, synced)."""
    import daas

    daas.write_file(path, data)


def _atomic_torch_save(obj: Any, path: str) -> None:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    _atomic_write(path, buf.getvalue())


#: The per-epoch scalars written with --tensorboard, from the engine's metrics.
TENSORBOARD_METRICS = ("discreteness", "weakest_edge", "weakest_kept_edge", "kept_mass", "op_entropy", "edge_entropy",
                       "edge_count_penalty", "disc_loss", "lambda_c", "lambda_alpha", "lambda_beta", "op_boost",
                       "edge_boost")


def _epoch_scalars(result: SearchResult) -> Dict[str, float]:
    rec = result.history[-1]
    out = {f"metrics/{k}": rec["metrics"][k] for k in TENSORBOARD_METRICS if k in rec["metrics"]}
    for k in ("train_loss", "train_accuracy", "val_accuracy", "lr"):
        if k in rec:
            out[f"train/{k}"] = rec[k]
    out["time/daas_share_percent"] = result.daas_share_percent
    return out


def _draw_cells(genotype: Mapping[str, Any], out_dir: str, log: Callable[[str], None], name: str) -> str:
    """The genotype's cell diagram: ``cells.svg`` with Graphviz, or its DOT source ``cells.dot`` (with a
    note) when Graphviz is not installed. Returns the file written."""
    from ..draw import GraphvizMissingError, render

    try:
        return render(genotype, os.path.join(out_dir, "cells.svg"))
    except GraphvizMissingError as exc:
        log(f"[{name}] {exc}; wrote the DOT source cells.dot instead")
        return render(genotype, os.path.join(out_dir, "cells.dot"))


def _resume_checkpoint(state_path: str, model_path: str, config: Mapping[str, Any],
                       supernet: str = "reference") -> Optional[Dict[str, Any]]:
    """The supernet checkpoint to resume from, or None when the run folder has none yet (a fresh start).
    Raises SystemExit when the folder holds a run of another configuration or only half a checkpoint."""
    have = [os.path.exists(p) for p in (state_path, model_path)]
    if not any(have):
        return None
    if not all(have):
        missing = state_path if not have[0] else model_path
        raise SystemExit(f"daas.torch.search: --resume: {missing} is missing; the run folder holds half a checkpoint")
    ckpt = torch.load(model_path, weights_only=False)
    if ckpt.get("supernet", "reference") != supernet:
        raise SystemExit(f"daas.torch.search: --resume: {model_path} was written with --supernet "
                         f"{ckpt.get('supernet', 'reference')} (its optimizer state has that layout); resume with it")
    if ckpt.get("config") != config or "resume_state" not in ckpt:
        raise SystemExit(f"daas.torch.search: --resume: {model_path} was written by a run with other settings "
                         "(or by an older daas); resume with the same flags, or start afresh in another --out")
    import daas.state

    if daas.state.read(state_path).epoch != ckpt["epoch"]:
        raise SystemExit(f"daas.torch.search: --resume: {state_path} and {model_path} are from different epochs")
    return ckpt


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


def _batches(data: Dataset, args: argparse.Namespace,
             world: Optional[distributed.World] = None) -> Tuple[distributed.ShardedBatches, distributed.ShardedBatches]:
    """This rank's training and validation batches: ``--batch-size`` is the global batch, the order of
    an epoch a function of the seed and the epoch (on one process, the batches of ``Batches`` with the
    same seeds), so the settings and a checkpoint do not depend on the number of ranks."""
    r, w = (world.rank, world.world_size) if world is not None else (0, 1)
    return (distributed.ShardedBatches(data.train, args.batch_size, seed=args.seed + 1, rank=r, world_size=w),
            distributed.ShardedBatches(data.val, args.batch_size, seed=args.seed + 2, rank=r, world_size=w))


def engine_placement(config: Mapping[str, Any], device: torch.device) -> Tuple[Dict[str, Any], str]:
    """The config with the engine placed where the supernet is, and words saying where: on CUDA the
    device engine (libdaas-cuda.so: α, β and the Adam state on the GPU, each step a kernel on the
    current stream, no host copy), else the host engine. A config that names a device keeps it."""
    import daas

    placed = dict(config)
    if "device" in placed:
        return placed, f"device {placed['device']}"
    if device.type != "cuda":
        return placed, "host"
    if not daas._library.has_device():
        return placed, "host; with libdaas-cuda.so (make lib-cuda) it would run on the GPU"
    placed["device"] = f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return placed, f"device engine on {placed['device']}"


def plan(method: str, data: Dataset, args: argparse.Namespace) -> Tuple[Dict[str, Any], List[str], int]:
    """The engine config of one method's run, the lines explaining it, and the steps per epoch."""
    train, val = _batches(data, args)
    steps = min(len(train), len(val))
    config, notes = scaled_config(method, args.epochs, steps, space=_space_arg(args.space), seed=args.seed,
                                  travel=args.travel, arch_lr=args.arch_lr, lambda_c=args.lambda_c, delay=args.delay,
                                  control=DEFAULT_CONTROL if args.control else None)
    return config, notes, steps


def _log(message: str) -> None:
    """Prints a line without tearing the progress bars (other processes' bars share the lock)."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stdout)
    sys.stdout.flush()


def _silent(*args: Any, **kwargs: Any) -> None:
    """What ranks other than 0 print: nothing."""


def run_search(method: str, data: Dataset, args: argparse.Namespace, device: torch.device,
               log: Callable[[str], None] = _log, position: int = 0,
               world: Optional[distributed.World] = None) -> Dict[str, Any]:
    """One search of ``method`` on ``data`` with the CLI's settings; writes its run folder and returns
    its report.

    With a distributed ``world`` every rank calls it: all of them search (each on its shard, one
    architecture), rank 0 alone writes the checkpoints, evaluates, writes the run folder and logs; the
    other ranks wait at a barrier for it and return ``{"name", "method", "rank"}``."""
    import daas

    world = world if world is not None else distributed.World(device=device)
    if not world.is_main:
        log = _silent
    start = time.perf_counter()
    name = f"{args.name or data.name}-{method}"
    out_dir = os.path.join(args.out, name)
    if world.is_main:
        os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    train, val = _batches(data, args, world)
    config, notes, steps = plan(method, data, args)
    config, where = engine_placement(config, device)
    state_path = os.path.join(out_dir, "state.daas")
    model_path = os.path.join(out_dir, "supernet.pt")
    supernet = getattr(args, "supernet", "batched")
    ckpt = _resume_checkpoint(state_path, model_path, config, supernet) if args.resume else None
    with (daas.Engine.load(state_path) if ckpt is not None else daas.Engine(config)) as eng:
        try:
            model = build_supernet(supernet, eng.config, channels_last=getattr(args, "channels_last", None),
                                   amp=getattr(args, "amp", None), C=args.C, layers=args.layers,
                                   num_classes=data.num_classes, in_channels=data.in_channels).to(device)
        except ValueError as exc:
            raise SystemExit(f"daas.torch.search: {exc}") from None
        if ckpt is not None:  # supernet.pt holds the reference layout whichever supernet wrote it
            if supernet == "reference":
                model.load_state_dict(ckpt["model"])
            else:
                model.load_reference_state_dict(ckpt["model"])
            log(f"[{name}] resuming after epoch {ckpt['epoch']} of {args.epochs} from {out_dir}")
        n_params = sum(p.numel() for p in model.parameters())
        log(f"[{name}] supernet: C={args.C}, {args.layers} cells ({', '.join(model.cell_types)}), "
            f"{n_params} weights; engine ({where}): {eng.sizes[0]} op weights, {eng.sizes[1]} edge weights; "
            f"{steps} steps per epoch of batch {train.batch_size}"
            + (f" ({train.per_rank} on each of {world.world_size} ranks, {world.backend})" if world.distributed else ""))
        board = None
        if args.tensorboard and world.is_main:
            from .tensorboard import EventWriter

            board = EventWriter(os.path.join(args.tensorboard, getattr(args, "tensorboard_sub", ""), name))

        def checkpoint(epoch: int, result: SearchResult, optimizer: torch.optim.Optimizer) -> None:
            if board is not None:
                board.scalars(epoch, _epoch_scalars(result))
            eng.save_file(state_path)
            state = model.state_dict() if supernet == "reference" else model.to_reference_state_dict()
            _atomic_torch_save({"epoch": epoch, "model": state, "supernet": supernet, "optimizer": optimizer.state_dict(),
                                "config": config, "C": args.C, "layers": args.layers,
                                "num_classes": data.num_classes, "in_channels": data.in_channels,
                                "history": result.history, "resume_state": result.resume_state,
                                "timing": (result.steps, result.seconds, result.daas_seconds)}, model_path)

        result = search(eng, model, train, val, epochs=args.epochs, device=device, lr=args.lr,
                        checkpoint=checkpoint, progress=not args.no_progress, desc=name, position=position,
                        resume=ckpt, distributed=world.distributed,
                        cuda_graphs=getattr(args, "cuda_graphs", False), log=log)
        if not world.is_main:
            world.barrier()  # rank 0 evaluates and writes; the next method starts on every rank together
            return {"name": name, "method": method, "rank": world.rank}
        genotype = genotype_dict(eng.discretize())
        metrics = eng.metrics()
        eval_train = Batches(data.train, args.batch_size, shuffle=False, drop_last=False, device=device)
        test = Batches(data.test, 256, shuffle=False, drop_last=False, device=device)
        op_np, edge_np = eng.weights()
        gap = discretization_gap(model, genotype, op_np, edge_np, eval_train, test)
        eng.save_file(state_path)
        if board is not None:
            board.scalars(args.epochs, {f"result/{k}": v for k, v in gap.items() if not k.endswith("_search_bn")})
            board.scalars(args.epochs, {"time/daas_share_percent": result.daas_share_percent,
                                        "time/ms_per_step": result.time_per_step_ms})
            board.close()
    _atomic_write(os.path.join(out_dir, "genotype.json"), (json.dumps(genotype, indent=2) + "\n").encode())
    from .plots import plot_all

    pngs = plot_all(model.space, result.history, out_dir, title=name)
    import daas.plots
    import daas.state

    # The plots of `daas plot`: kept edges and chosen ops marked, the final α per cell as a heatmap.
    pngs += daas.plots.plot_state(daas.state.read(state_path), out_dir, title=name, now=metrics)
    pngs.append(_draw_cells(genotype, out_dir, log, name))
    _atomic_write(os.path.join(out_dir, "history.json"), json.dumps(result.history).encode())
    report = {
        "name": name, "method": method, "epochs": args.epochs, "seed": args.seed, "device": _device_words(device),
        "data": data.describe(), "space": config["space"], "C": args.C, "layers": args.layers,
        "cell_types": model.cell_types, "supernet": supernet, "batch_size": train.batch_size, "steps_per_epoch": steps,
        "weight_lr": args.lr, "config": config, "choices": notes,
        "world_size": result.world_size, "backend": result.backend, "batch_per_rank": train.per_rank,
        "agreement": result.agreement,
        **gap,
        **{k: metrics.get(k) for k in ("discreteness", "weakest_edge", "weakest_kept_edge", "kept_mass",
                                        "op_boost", "edge_boost")},
        "metrics": metrics, "genotype": genotype,
        "time_per_step_ms": result.time_per_step_ms, "daas_ms_per_step": result.daas_ms_per_step,
        "daas_share_percent": result.daas_share_percent, "steps": result.steps,
        "allreduce_ms_per_step": result.reduce_ms_per_step, "agreement_ms_per_epoch": result.agreement_ms_per_epoch,
        "search_seconds": result.seconds,
        "accuracy_unit": "percent of the test split; BatchNorm statistics re-estimated on the training split "
                         "(the *_search_bn entries: the search's running statistics); the discretized network "
                         "keeps each kept edge at its trained edge weight (*_unit_edges: at 1)",
        "files": sorted(["state.daas", "supernet.pt", "genotype.json", "history.json", "report.json"]
                        + [os.path.basename(p) for p in pngs]),
    }
    report["wall_seconds"] = time.perf_counter() - start
    _atomic_write(os.path.join(out_dir, "report.json"), (json.dumps(report, indent=2) + "\n").encode())
    log(f"[{name}] supernet {gap['supernet_accuracy']:.1f}%, discretized {gap['discretized_accuracy']:.1f}% "
        f"(drop {report['accuracy_drop']:.1f} points; {report['accuracy_drop_unit_edges']:.1f} with kept edges at 1), "
        f"discreteness {report['discreteness']:.3f}, weakest kept edge {report['weakest_kept_edge']:.3f}; "
        f"{report['time_per_step_ms']:.0f} ms/step, daas {report['daas_ms_per_step']:.3f} ms "
        f"({report['daas_share_percent']:.2f}%); {report['wall_seconds']:.0f} s -> {out_dir}")
    if world.distributed:
        log(f"[{name}] {world.world_size} ranks ({world.backend}) agreed after each of {result.epochs_checked} "
            f"epochs (state digest {result.digest}); all-reduce {result.reduce_ms_per_step:.3f} ms per step, "
            f"agreement check {result.agreement_ms_per_epoch:.3f} ms per epoch")
    world.barrier()
    return report


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows under a header, the first column left-aligned and the others right-aligned."""
    rows = [tuple(header), *[tuple(r) for r in rows]]
    widths = [max(len(str(row[c])) for row in rows) for c in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(str(v).ljust(widths[c]) if c == 0 else str(v).rjust(widths[c]) for c, v in enumerate(row)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_table(reports: Sequence[Dict[str, Any]]) -> str:
    """The side-by-side comparison printed at the end of a seed's searches."""
    def row(label: str, fmt: Callable[[Dict[str, Any]], str]) -> Tuple[str, ...]:
        return (label, *[fmt(r) if r.get("supernet_accuracy") is not None else "" for r in reports])

    def pct(key: str) -> Callable[[Dict[str, Any]], str]:
        return lambda r: "" if r.get(key) is None else f"{r[key]:.1f}%"

    rows = [
        row("supernet accuracy", pct("supernet_accuracy")),
        row("discretized accuracy", pct("discretized_accuracy")),
        row("accuracy drop", lambda r: f"{r['accuracy_drop']:.1f} pts"),
        row("  with kept edges at 1", lambda r: f"{r['accuracy_drop_unit_edges']:.1f} pts"),
        row("discreteness", lambda r: f"{r['discreteness']:.3f}"),
        row("weakest kept edge", lambda r: f"{r['weakest_kept_edge']:.3f}"),
        row("kept mass", lambda r: f"{r['kept_mass']:.3f}"),
        row("retrained accuracy", pct("retrained_accuracy")),
        row("ms per step (daas share)", lambda r: f"{r['time_per_step_ms']:.0f} ({r['daas_share_percent']:.2f}%)"),
        row("ranks", lambda r: f"{r.get('world_size', 1)}" + (f" ({r['backend']})" if r.get("backend") else "")),
        row("ranks agreed after", lambda r: "" if not r.get("agreement", {}).get("epochs_checked") else
            f"{r['agreement']['epochs_checked']} epochs"),
        row("wall time", lambda r: f"{r['wall_seconds']:.0f} s"),
    ]
    return _table(("", *[r["method"] for r in reports]), rows)


# ---------------------------------------------------------------------------------------------
# Retraining and the summary over seeds

#: The figures the summary gathers per method, over seeds.
SUMMARY_FIGURES = ("supernet_accuracy", "discretized_accuracy", "accuracy_drop", "discretized_accuracy_unit_edges",
                   "accuracy_drop_unit_edges", "discreteness", "weakest_edge", "weakest_kept_edge", "kept_mass",
                   "retrained_accuracy", "wall_seconds")


def retrain_jobs(reports: Sequence[Dict[str, Any]], space: Any, seed: int, n_random: int) -> List[Tuple[str, Dict[str, Any]]]:
    """What a seed retrains: each method's genotype, then ``n_random`` random genotypes of the same
    space (same keep counts), drawn from seeds ``1000 * seed + k``."""
    from .retrain import random_genotype

    jobs = [(r["method"], r["genotype"]) for r in reports]
    jobs += [(f"random-{k}", random_genotype(space, 1000 * seed + k)) for k in range(n_random)]
    return jobs


def _retrain_one(label: str, genotype: Dict[str, Any], space: Any, args: argparse.Namespace, seed: int) -> Dict[str, Any]:
    """One retraining run (also the body of a worker process, started with ``spawn``)."""
    from .retrain import retrain

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    result = retrain(space, genotype, _load_data(args), C=args.retrain_C, layers=args.retrain_layers,
                     epochs=args.retrain_epochs, seed=seed, device=_device(args.device),
                     batch_size=args.batch_size, lr=args.retrain_lr)
    result.update(label=label, genotype=genotype)
    return result


def stats(values: Sequence[float]) -> Dict[str, Any]:
    """``{"mean", "std", "min", "max", "values"}`` of ``values`` (std with n - 1; 0 for one value)."""
    v = [float(x) for x in values]
    mean = sum(v) / len(v)
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(v), "max": max(v), "values": v}


def summarize(seeds: Sequence[int], per_seed: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """The summary over seeds: ``{"seeds", "methods": {method: {figure: stats}}}``; ``random`` holds
    ``retrained_accuracy`` over every random genotype of every seed."""
    methods: Dict[str, Dict[str, Any]] = {}
    for run in per_seed:
        for r in run["reports"]:
            m = methods.setdefault(r["method"], {})
            for k in SUMMARY_FIGURES:
                if r.get(k) is not None:
                    m.setdefault(k, []).append(r[k])
        randoms = [x["test_accuracy"] for x in run["retrained"] if x["label"].startswith("random-")]
        if randoms:
            methods.setdefault("random", {}).setdefault("retrained_accuracy", []).extend(randoms)
    return {"seeds": list(seeds),
            "methods": {m: {k: stats(v) for k, v in figs.items()} for m, figs in methods.items()}}


def summary_markdown(summary: Dict[str, Any], command: str) -> str:
    """summary.md: one table per method, mean ± std (min .. max) over the seeds."""
    lines = [f"# Search summary over seeds {', '.join(str(s) for s in summary['seeds'])}", "",
             f"Made by `{command}`. Accuracies in percent of the test split, drops in points; std over "
             "seeds (n - 1).", ""]
    for method, figs in summary["methods"].items():
        lines += [f"## {method}", "", "| figure | mean | std | min | max | values |", "|---|---|---|---|---|---|"]
        for k, st in figs.items():
            vals = ", ".join(f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}" for x in st["values"])
            lines.append(f"| {k} | {st['mean']:.3f} | {st['std']:.3f} | {st['min']:.3f} | {st['max']:.3f} | {vals} |")
        lines.append("")
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
    p.add_argument("--seeds", default=None,
                   help="several seeds, e.g. '0 1 2': the whole comparison per seed in OUT/seed-N/, then "
                        "OUT/summary.json and OUT/summary.md over them (default: --seed alone, in OUT)")
    p.add_argument("--no-control", dest="control", action="store_false",
                   help="DAAS with the paper's fixed schedules only (default: the engine's discreteness controller, "
                        "targets 0.99 for the weakest kept edge and the kept mass)")
    p.add_argument("--retrain-epochs", type=int, default=20,
                   help="epochs to retrain each genotype from scratch after the searches; 0: no retraining "
                        "(default: %(default)s)")
    p.add_argument("--random", type=int, default=3,
                   help="random genotypes of the same space retrained as a baseline (default: %(default)s)")
    p.add_argument("--retrain-C", type=int, default=8, help="channels of the retrained networks (default: %(default)s)")
    p.add_argument("--retrain-layers", type=int, default=3, help="cells of the retrained networks (default: %(default)s)")
    p.add_argument("--retrain-lr", type=float, default=0.05,
                   help="SGD learning rate of retraining (momentum 0.9, cosine, train+validation splits; "
                        "default: %(default)s)")
    p.add_argument("--space", default="darts",
                   help="preset (darts, darts-none, nb201), a JSON space object, or a file holding one (default: %(default)s)")
    p.add_argument("--C", type=int, default=4, help="channels of the first cells (default: %(default)s)")
    p.add_argument("--layers", type=int, default=3, help="cells in the supernet (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.025, help="weight learning rate (SGD, cosine to 0.001; default: %(default)s)")
    p.add_argument("--arch-lr", type=float, default=None,
                   help="architecture learning rate; default TRAVEL / total steps (docs/SEARCH.md, Settings scaled to a small data set)")
    p.add_argument("--travel", type=float, default=6.0, help="target arch lr x total steps when --arch-lr is unset (default: %(default)s)")
    p.add_argument("--lambda-c", type=float, default=0.3, help="final value of the linear lambda_c schedule (default: %(default)s)")
    p.add_argument("--delay", type=int, default=None,
                   help="alpha_start_epoch and lambda_alpha delay; default max(1, round(8/50 x epochs))")
    p.add_argument("--supernet", choices=sorted(SUPERNETS), default="batched",
                   help="the supernet's implementation: batched (daas.torch.batched.BatchedNetwork, the same math "
                        "batched across edges) or reference (daas.torch.model.Network); default: %(default)s")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="batched supernet: activations and convolution weights in the channels-last memory format "
                        "(--no-channels-last: the contiguous one); default: channels-last activations on the CPU, "
                        "where they are faster, contiguous on CUDA")
    p.add_argument("--amp", choices=sorted(AMP_DTYPES), default=None,
                   help="batched supernet: run its forward under torch.autocast with this dtype (bfloat16 on CPU; "
                        "float16 or bfloat16 on CUDA); docs/BENCHMARKS.md measures what it does to the gradients")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="replay each step's two passes from CUDA graphs (daas.torch.captured.CapturedStep); on CPU or "
                        "with several ranks the search says so and runs the eager step")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N] (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="PyTorch CPU threads (0: PyTorch's default). A supernet this small gains nothing from "
                        "intra-op threads, and several threads slow down badly on shared cores (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=0,
                   help="methods run at once in separate (spawned) processes; 0: one per CPU core on CPU, 1 on a GPU")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also write TensorBoard scalars (engine metrics per epoch, accuracies, daas's share of the "
                        "step time) to DIR/<run>/ (DIR/seed-N/<run>/ with --seeds); no TensorBoard package needed")
    p.add_argument("--resume", action="store_true",
                   help="continue each run from the checkpoint in its folder (state.daas and supernet.pt, written "
                        "after every epoch) instead of starting afresh; the same flags as the run being resumed")
    return p


def _child(method: str, args: argparse.Namespace, position: int) -> Dict[str, Any]:
    """One method's run in a worker process (started with ``spawn``: libdaas must not be forked)."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    return run_search(method, _load_data(args), args, _device(args.device), position=position)


def _parse_seeds(args: argparse.Namespace) -> List[int]:
    if args.seeds is None:
        return [args.seed]
    try:
        seeds = [int(t) for t in args.seeds.replace(",", " ").split()]
    except ValueError:
        raise SystemExit(f"daas.torch.search: --seeds wants integers, got {args.seeds!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise SystemExit(f"daas.torch.search: --seeds wants distinct integers, got {args.seeds!r}")
    return seeds


def _in_pool(jobs: int, fn: Callable[..., Any], calls: Sequence[Tuple[Any, ...]]) -> List[Any]:
    """``fn(*call)`` for each call, in ``jobs`` spawned processes when jobs > 1 (libdaas must not be
    forked); the workers share the parent's tqdm lock so their bars do not overwrite each other."""
    if jobs <= 1 or len(calls) <= 1:
        return [fn(*c) for c in calls]
    import multiprocessing

    from tqdm.auto import tqdm

    ctx = multiprocessing.get_context("spawn")
    lock = ctx.RLock()
    with ctx.Pool(min(jobs, len(calls)), initializer=tqdm.set_lock, initargs=(lock,)) as pool:
        return pool.starmap(fn, calls)


def run_seed(seed: int, methods: Sequence[str], data: Dataset, args: argparse.Namespace, device: torch.device,
             jobs: int, world: Optional[distributed.World] = None) -> Dict[str, Any]:
    """The whole comparison for one seed in ``args.out``: every method's search, then the retraining of
    their genotypes and of ``--random`` random ones; writes ``retrain.json`` and adds
    ``retrained_accuracy`` to each report. Returns ``{"seed", "reports", "retrained"}``.

    With a distributed ``world`` the methods run one after the other on every rank, and the retraining
    and the printing on rank 0 alone; the other ranks wait for it and return empty lists."""
    if world is not None and world.distributed:
        reports = [run_search(m, data, args, device, world=world) for m in methods]
        if not world.is_main:
            world.barrier()  # rank 0 retrains
            return {"seed": seed, "reports": [], "retrained": []}
    elif jobs == 1:
        reports = [run_search(m, data, args, device) for m in methods]
    else:
        reports = _in_pool(jobs, _child, [(m, args, k) for k, m in enumerate(methods)])
    retrained: List[Dict[str, Any]] = []
    if args.retrain_epochs > 0:
        space = _space_arg(args.space)
        todo = retrain_jobs(reports, space, seed, args.random)
        _log(f"retraining {len(todo)} genotypes from scratch ({', '.join(label for label, _ in todo)}): "
             f"C={args.retrain_C}, {args.retrain_layers} cells, {args.retrain_epochs} epochs on train+validation")
        retrained = _in_pool(jobs, _retrain_one, [(label, g, space, args, seed) for label, g in todo])
        for r in retrained:
            _log(f"  {r['label']}: test accuracy {r['test_accuracy']:.1f}% ({r['params']} weights, {r['seconds']:.0f} s)")
        by_label = {r["label"]: r for r in retrained}
        for rep in reports:
            rep["retrained_accuracy"] = by_label[rep["method"]]["test_accuracy"]
            _atomic_write(os.path.join(args.out, rep["name"], "report.json"), (json.dumps(rep, indent=2) + "\n").encode())
        _atomic_write(os.path.join(args.out, "retrain.json"), (json.dumps(retrained, indent=2) + "\n").encode())
    print()
    print(summary_table(reports))
    if retrained:
        randoms = [r["test_accuracy"] for r in retrained if r["label"].startswith("random-")]
        if randoms:
            print(f"random genotypes retrained: {', '.join(f'{a:.1f}%' for a in randoms)} "
                  f"(mean {sum(randoms) / len(randoms):.1f}%)")
    if world is not None:
        world.barrier()
    return {"seed": seed, "reports": reports, "retrained": retrained}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.epochs < 1:
        raise SystemExit("daas.torch.search: --epochs must be >= 1")
    if args.retrain_epochs < 0 or args.random < 0:
        raise SystemExit("daas.torch.search: --retrain-epochs and --random must be >= 0")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in ("daas", "darts"):
            raise SystemExit(f"daas.torch.search: unknown method {m!r} in --methods (want daas and/or darts)")
    seeds = _parse_seeds(args)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        env = distributed.environment()
        world = (distributed.init_from_environment(args.device) if env is not None and env[1] > 1
                 else distributed.World(device=_device(args.device)))
    except ValueError as exc:
        raise SystemExit(f"daas.torch.search: {exc}") from None
    try:
        return _main(args, methods, seeds, world, argv)
    except distributed.ArchitectureDisagreement as exc:
        raise SystemExit(str(exc)) from None
    finally:
        if world.distributed:
            torch.distributed.destroy_process_group()


def _main(args: argparse.Namespace, methods: Sequence[str], seeds: Sequence[int], world: distributed.World,
          argv: Optional[Sequence[str]]) -> int:
    device = world.device
    say = print if world.is_main else _silent
    jobs = args.jobs
    if world.distributed:
        jobs = 1  # the methods one after the other: every rank runs each search, no pool inside a rank
    elif jobs <= 0:  # auto: side by side on CPU cores, one after the other on a GPU
        jobs = 1 if device.type == "cuda" else max(1, (os.cpu_count() or 1) // max(args.threads, 1))
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        try:
            data = _load_data(args)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"daas.torch.search: --data {args.data}: {exc}" if args.data else
                             f"daas.torch.search: {exc}") from None
    for w in caught:
        say(f"daas.torch.search: warning: {w.message}", file=sys.stderr)
    for message in batch_warnings(data, args.batch_size):
        say(f"daas.torch.search: warning: {message}", file=sys.stderr)
    say(f"daas.torch.search: device {_device_words(device)}"
        + (f"; up to {jobs} runs side by side in separate processes" if jobs > 1 else "")
        + (f"; {world.world_size} ranks ({world.backend}), one architecture: the architecture gradients averaged "
           f"by one all-reduce per step, the state digests compared after every epoch" if world.distributed else ""))
    say(f"data {data.describe()}")
    for m in methods:
        _, notes, _ = plan(m, data, args)
        say(f"{m}: " + "\n  ".join([""] + notes))
    sys.stdout.flush()
    per_seed = []
    for seed in seeds:
        run_args = argparse.Namespace(**vars(args))
        run_args.seed = seed
        run_args.tensorboard_sub = f"seed-{seed}" if len(seeds) > 1 else ""
        if len(seeds) > 1:
            run_args.out = os.path.join(args.out, f"seed-{seed}")
            say(f"\n== seed {seed} -> {run_args.out}")
            sys.stdout.flush()
        per_seed.append(run_seed(seed, methods, data, run_args, device, jobs, world))
    if not world.is_main:
        world.barrier()  # rank 0 writes the summary; every rank leaves the process group together
        return 0
    summary = summarize(seeds, per_seed)
    os.makedirs(args.out, exist_ok=True)
    _atomic_write(os.path.join(args.out, "summary.json"), (json.dumps(summary, indent=2) + "\n").encode())
    command = "python -m daas.torch.search " + " ".join(argv if argv is not None else sys.argv[1:])
    _atomic_write(os.path.join(args.out, "summary.md"), summary_markdown(summary, command.strip()).encode())
    if len(seeds) > 1:
        print()
        print(_table(("over seeds " + " ".join(map(str, seeds)), *summary["methods"]),
                     [(k, *[(f"{f[k]['mean']:.3f} ± {f[k]['std']:.3f}" if k in f else "")
                            for f in summary["methods"].values()])
                      for k in ("supernet_accuracy", "discretized_accuracy", "accuracy_drop", "accuracy_drop_unit_edges",
                                "weakest_kept_edge", "kept_mass", "retrained_accuracy")]))
    print(f"\ntotal {time.perf_counter() - start:.0f} s; runs in {os.path.abspath(args.out)} "
          f"(summary.json, summary.md)")
    sys.stdout.flush()
    world.barrier()
    return 0


if __name__ == "__main__":
    sys.exit(main())
