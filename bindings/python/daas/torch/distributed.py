"""Data-parallel search on ``torch.distributed``: one architecture across every rank.

The engine's α and β are not module parameters, so ``DistributedDataParallel`` never averages their
gradients: left alone, each rank's engine steps on its own shard's gradients and drifts to its own
architecture. The engine is deterministic to the bit, so the fix is to give every engine the same
numbers and then check that they agree:

- :func:`reduce_architecture_gradients` averages the ``.grad`` of the op and edge weights over the
  ranks with one all-reduce of one flat float32 buffer (between the backward pass and
  :meth:`ArchitectureOptimizer.step <daas.torch.optim.ArchitectureOptimizer.step>`); every rank then
  calls ``Engine.step`` with the same bits and their states stay identical.
- :func:`check_agreement` compares a digest of each rank's engine state (:func:`state_digest`: the
  first 16 bytes of the SHA-256 of ``Engine.save()``, which covers α, β, the Adam moments, the epoch
  and step counts and the history) with one ``all_gather`` and raises
  :class:`ArchitectureDisagreement` on every rank when they differ, so a run stops together instead of
  hanging or going on with several architectures.
- :class:`ShardedBatches` gives each rank its slice of every global batch; the batches of an epoch
  depend only on the seed, the epoch, the rank and the world size, so a checkpoint needs no generator
  states and a search resumes on any number of ranks. On one rank it yields exactly the batches of
  :class:`daas.torch.data.Batches` with the same seed.

``python -m daas.torch.search`` uses all of this under ``torchrun`` (docs/SEARCH.md, Several
processes); :func:`init_from_environment` is how it finds out. The helpers work in a loop of your own
too. Never use daas in a forked child: start ranks with ``torchrun`` or the ``spawn`` start method.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import torch

from .data import Split

__all__ = ["ArchitectureDisagreement", "World", "environment", "init_from_environment", "rank", "world_size",
           "state_digest", "reduce_architecture_gradients", "check_agreement", "shard", "ShardedBatches"]

#: Bytes of the SHA-256 of ``Engine.save()`` that :func:`state_digest` keeps.
DIGEST_BYTES = 16

#: How long :meth:`World.barrier` lets the other ranks wait for rank 0's evaluation and retraining.
#: The barrier runs on a gloo group of its own, so the search's collectives keep the process group's
#: default timeout (a rank that stops answering is noticed in minutes, not a day).
WAIT_TIMEOUT = datetime.timedelta(hours=24)


class ArchitectureDisagreement(RuntimeError):
    """The ranks' engine states differ (raised on every rank by :func:`check_agreement`).

    ``epoch`` is the epoch after which the states were compared, ``digests`` the hex digest of each
    rank (in rank order) and ``ranks`` the ranks whose digest differs from rank 0's (the first rank of
    the group)."""

    def __init__(self, message: str, epoch: int, digests: Sequence[str], ranks: Sequence[int]) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.digests = list(digests)
        self.ranks = list(ranks)


# ---------------------------------------------------------------------------------------------
# Who am I


def _initialized() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def rank(group: Any = None) -> int:
    """This process's rank in ``group`` (the default group when None); 0 without a process group."""
    return torch.distributed.get_rank(group) if _initialized() else 0


def world_size(group: Any = None) -> int:
    """The number of ranks in ``group`` (the default group when None); 1 without a process group."""
    return torch.distributed.get_world_size(group) if _initialized() else 1


_this_rank, _world_size = rank, world_size  # for the functions below whose arguments take these names


def environment() -> Optional[Tuple[int, int, int]]:
    """``(rank, world_size, local_rank)`` from the variables ``torchrun`` sets (RANK, WORLD_SIZE,
    LOCAL_RANK), or None when WORLD_SIZE is not set. Raises ValueError when they are set but
    inconsistent."""
    if "WORLD_SIZE" not in os.environ:
        return None
    try:
        values = tuple(int(os.environ.get(k, "0")) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise ValueError("daas.torch: RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun), got "
                         + ", ".join(f"{k}={os.environ.get(k)!r}" for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
                         ) from None
    r, w, lr = values
    if w < 1 or not 0 <= r < w or lr < 0:
        raise ValueError(f"daas.torch: RANK={r}, WORLD_SIZE={w}, LOCAL_RANK={lr} do not describe a rank of a world")
    return r, w, lr


@dataclass(frozen=True)
class World:
    """Where this process runs: its rank among ``world_size``, its ``local_rank`` on the node, the
    process group's ``backend`` (None for a single process) and the ``device`` it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: Optional[str] = None
    device: torch.device = torch.device("cpu")
    #: The group :meth:`barrier` waits on (gloo, :data:`WAIT_TIMEOUT`); None: the default group.
    wait_group: Any = field(default=None, repr=False, compare=False)

    @property
    def distributed(self) -> bool:
        """Whether there is more than one rank."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the rank that writes files and prints."""
        return self.rank == 0

    def barrier(self) -> None:
        """Waits for every rank, up to :data:`WAIT_TIMEOUT` (nothing on a single process)."""
        if self.distributed:
            torch.distributed.barrier(group=self.wait_group)


def init_from_environment(device: str = "auto") -> World:
    """Joins the process group ``torchrun`` describes in the environment and returns this process's
    :class:`World`; a single process (no WORLD_SIZE, or WORLD_SIZE=1) gets ``World(device=...)``.

    ``device`` is ``auto``, ``cpu`` or ``cuda``: under ``torchrun`` a CUDA rank uses ``cuda:LOCAL_RANK``
    and the NCCL backend, a CPU rank the gloo backend. An explicit ``cuda:N`` is refused with more than
    one rank (every rank would share one GPU)."""
    env = environment()
    on_cuda = torch.cuda.is_available() if device == "auto" else torch.device(device).type == "cuda"
    if on_cuda and not torch.cuda.is_available():
        raise ValueError(f"daas.torch: device {device!r} asked for, but PyTorch sees no CUDA device")
    if env is None or env[1] == 1:
        lr = env[2] if env is not None else 0
        if device == "auto":
            dev = torch.device("cuda" if on_cuda else "cpu")
        else:
            dev = torch.device(device)
        return World(0, 1, lr, None, dev)
    r, w, lr = env
    if on_cuda:
        if device not in ("auto", "cuda"):
            raise ValueError(f"daas.torch: device {device!r} with {w} ranks: each rank uses cuda:LOCAL_RANK; "
                             "pass cuda or auto")
        if lr >= torch.cuda.device_count():
            raise ValueError(f"daas.torch: LOCAL_RANK={lr} but this node has {torch.cuda.device_count()} CUDA "
                             "devices; start at most that many processes per node")
        torch.cuda.set_device(lr)
        dev, backend = torch.device("cuda", lr), "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not _initialized():
        torch.distributed.init_process_group(backend, rank=r, world_size=w)
    wait = torch.distributed.new_group(backend="gloo", timeout=WAIT_TIMEOUT)
    return World(r, w, lr, torch.distributed.get_backend(), dev, wait)


def _collective_device(group: Any, fallback: torch.device) -> torch.device:
    """Where a collective's tensor must live: NCCL wants CUDA, gloo takes either."""
    if torch.distributed.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return fallback


# ---------------------------------------------------------------------------------------------
# The collectives


def _grad_owners(arch_or_tensors: Any) -> List[torch.Tensor]:
    if hasattr(arch_or_tensors, "op_weights") and hasattr(arch_or_tensors, "edge_weights"):
        return [arch_or_tensors.op_weights, arch_or_tensors.edge_weights]
    if isinstance(arch_or_tensors, torch.Tensor):
        return [arch_or_tensors]
    return list(arch_or_tensors)


def reduce_architecture_gradients(arch_or_tensors: Any, group: Any = None) -> None:
    """Averages the ``.grad`` of the architecture's weight tensors over the ranks of ``group``, in place.

    ``arch_or_tensors`` is an :class:`~daas.torch.optim.ArchitectureOptimizer` (its op and edge
    weights) or a sequence of tensors whose ``.grad`` is averaged. The gradients go into one flat
    float32 buffer, one ``all_reduce`` sums it and every rank divides by the world size, so every rank
    ends with the same bits. Call it on every rank between the backward pass and ``arch.step()``.
    Nothing happens without a process group or on one rank."""
    owners = _grad_owners(arch_or_tensors)
    grads = []
    for k, t in enumerate(owners):
        if t.grad is None:
            raise RuntimeError(f"daas.torch: reduce_architecture_gradients: tensor {k} has no .grad; backpropagate "
                               "(loss.backward() or ArchitectureOptimizer.backward(loss)) first")
        grads.append(t.grad)
    n = world_size(group)
    if n == 1:
        return
    device = _collective_device(group, grads[0].device)
    flat = torch.cat([g.detach().reshape(-1).to(device, torch.float32) for g in grads])
    torch.distributed.all_reduce(flat, op=torch.distributed.ReduceOp.SUM, group=group)
    flat.div_(n)
    offset = 0
    for g in grads:
        k = g.numel()
        g.copy_(flat[offset:offset + k].view(g.shape))
        offset += k


def state_digest(engine: Any) -> bytes:
    """The first :data:`DIGEST_BYTES` (16) bytes of the SHA-256 of ``engine.save()`` (an
    :class:`~daas.torch.optim.ArchitectureOptimizer` stands for its engine). Equal digests mean equal
    states: α, β, the Adam moments, the epoch and step counts, the history."""
    engine = getattr(engine, "engine", engine)
    return hashlib.sha256(engine.save()).digest()[:DIGEST_BYTES]


def check_agreement(engine: Any, epoch: int, group: Any = None) -> str:
    """Compares :func:`state_digest` of ``engine`` across the ranks of ``group`` with one ``all_gather``
    and returns the common digest as hex. When any rank's digest differs, every rank raises
    :class:`ArchitectureDisagreement` naming the ranks and ``epoch`` (the epoch after which the states
    were compared). Call it on every rank at the same point (for example after each epoch)."""
    own = state_digest(engine)
    if world_size(group) == 1:
        return own.hex()
    device = _collective_device(group, torch.device("cpu"))
    mine = torch.frombuffer(bytearray(own), dtype=torch.uint8).to(device)
    gathered = [torch.empty_like(mine) for _ in range(world_size(group))]
    torch.distributed.all_gather(gathered, mine, group=group)
    digests = [bytes(t.cpu().tolist()).hex() for t in gathered]
    if all(d == digests[0] for d in digests):
        return digests[0]
    ranks = torch.distributed.get_process_group_ranks(group) if group is not None else list(range(len(digests)))
    differ = [r for r, d in zip(ranks, digests) if d != digests[0]]
    who = (f"rank {differ[0]} disagrees" if len(differ) == 1
           else f"ranks {', '.join(map(str, differ[:-1]))} and {differ[-1]} disagree")
    listing = ", ".join(f"rank {r} {d}" for r, d in zip(ranks, digests))
    raise ArchitectureDisagreement(
        f"daas.torch: {who} with rank {ranks[0]} on the architecture after epoch {epoch} (state digests: {listing}); "
        f"every rank stops here (this is rank {rank()})", epoch, digests, differ)


def _sum_across(values: Sequence[float], group: Any = None) -> List[float]:
    """``values`` summed over the ranks (float64; one all_reduce)."""
    if world_size(group) == 1:
        return [float(v) for v in values]
    device = _collective_device(group, torch.device("cpu"))
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM, group=group)
    return [float(v) for v in t.cpu().tolist()]


# ---------------------------------------------------------------------------------------------
# Shards


def _slice(n: int, r: int, w: int) -> torch.Tensor:
    """Rank ``r``'s positions in a global batch of ``n``, padded to a multiple of ``w`` by cycling
    from its start: the r-th contiguous run of ``ceil(n / w)``."""
    per = -(-n // w)
    return torch.arange(r * per, (r + 1) * per) % n


def shard(batch: torch.Tensor, rank: Optional[int] = None, world_size: Optional[int] = None,
          group: Any = None) -> torch.Tensor:
    """This rank's part of a global ``batch`` (along dimension 0): the batch is padded to a multiple
    of the world size by repeating its first rows, then rank r takes the r-th contiguous slice of
    ``ceil(len / world_size)`` rows, so every rank has as many rows and the average of the ranks' mean
    gradients is the mean gradient of the padded batch. ``rank`` and ``world_size`` default to the
    group's."""
    r = _this_rank(group) if rank is None else rank
    w = _world_size(group) if world_size is None else world_size
    if not 0 <= r < w:
        raise ValueError(f"daas.torch: shard: rank {r} is not in a world of {w}")
    if batch.shape[0] == 0:
        raise ValueError("daas.torch: shard: the batch is empty")
    return batch[_slice(int(batch.shape[0]), r, w).to(batch.device)]


class ShardedBatches:
    """Mini-batches of a split, like :class:`daas.torch.data.Batches`, of which each rank gets its
    :func:`shard`. ``batch_size`` is the global batch, so the number of batches per epoch (``len``)
    and the search's settings do not depend on the world size.

    Epoch ``e``'s order is the ``e``-th permutation drawn from a generator seeded with ``seed``:
    on one rank the batches are exactly those of ``Batches(split, batch_size, seed=seed)``'s
    ``e``-th pass, and on any number of ranks they depend only on the seed, the epoch, the rank and the
    world size. :meth:`set_epoch` picks the epoch (as ``DistributedSampler.set_epoch`` does);
    without it, each pass takes the next epoch, starting at 1."""

    def __init__(self, split: Split, batch_size: int, *, seed: int = 0, rank: Optional[int] = None,
                 world_size: Optional[int] = None, shuffle: bool = True, drop_last: bool = False,
                 device: Optional[torch.device] = None) -> None:
        if batch_size < 1:
            raise ValueError("daas.torch: batch_size must be >= 1")
        self.split = split
        self.batch_size = min(batch_size, len(split))
        self.seed = seed
        self.rank = _this_rank() if rank is None else rank
        self.world_size = _world_size() if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"daas.torch: rank {self.rank} is not in a world of {self.world_size}")
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.device = device
        self.epoch = 1
        # The generator after the permutations of epochs 1..self._drawn (a cache: any epoch can be
        # recomputed by drawing again from the seed).
        self._gen = torch.Generator().manual_seed(seed)
        self._drawn = 0

    @property
    def per_rank(self) -> int:
        """Examples per rank in a full batch: ``ceil(batch_size / world_size)``."""
        return -(-self.batch_size // self.world_size)

    def set_epoch(self, epoch: int) -> None:
        """The next pass yields epoch ``epoch``'s batches (1-based)."""
        if epoch < 1:
            raise ValueError(f"daas.torch: set_epoch: epochs count from 1, got {epoch}")
        self.epoch = int(epoch)

    def order(self, epoch: int) -> torch.Tensor:
        """The permutation of the split that epoch ``epoch`` uses (the same on every rank)."""
        n = len(self.split)
        if not self.shuffle:
            return torch.arange(n)
        if self._drawn >= epoch:
            self._gen.manual_seed(self.seed)
            self._drawn = 0
        perm = None
        while self._drawn < epoch:
            perm = torch.randperm(n, generator=self._gen)
            self._drawn += 1
        assert perm is not None
        return perm

    def __len__(self) -> int:
        full, rest = divmod(len(self.split), self.batch_size)
        return full + (1 if rest > 1 and not self.drop_last else 0)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        order = self.order(epoch)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            if self.world_size > 1:
                idx = idx[_slice(int(idx.numel()), self.rank, self.world_size)]
            x, y = self.split.x[idx], self.split.y[idx]
            if self.device is not None:
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            yield x, y
