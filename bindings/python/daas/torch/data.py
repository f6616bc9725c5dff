"""Data for the example search: scikit-learn's bundled digits, or a user's own arrays from an .npz.

Everything stays in memory as tensors and is batched by :class:`Batches` in the calling process: no
DataLoader workers, so no forked child ever touches the Go runtime inside libdaas (a forked Go runtime
hangs).

User data (``--data path.npz``): arrays ``x`` with shape ``[N, C, H, W]`` or ``[N, H, W]`` (one
channel), any real dtype, and ``y`` with shape ``[N]``, integer class labels ``0..K-1``. Optional
``x_test``/``y_test`` give a fixed test split; otherwise one is carved out of ``x``/``y``. Inputs are
standardized per channel with the training split's mean and standard deviation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch

__all__ = ["Split", "Dataset", "DataWarning", "load_digits", "load_npz", "split_indices", "Batches", "batch_warnings"]


class DataWarning(UserWarning):
    """Data that loads but is probably not what was meant (channels-last images, empty classes)."""


@dataclass
class Split:
    x: torch.Tensor  # [N, C, H, W] float32
    y: torch.Tensor  # [N] int64

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int

    @property
    def in_channels(self) -> int:
        return int(self.train.x.shape[1])

    def describe(self) -> str:
        _, c, h, w = self.train.x.shape
        return (f"{self.name}: {c}x{h}x{w} inputs, {self.num_classes} classes, "
                f"{len(self.train)} train / {len(self.val)} validation / {len(self.test)} test")


def split_indices(n: int, n_train: int, n_val: int, seed: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A seeded permutation of ``range(n)`` cut into train, validation and the rest (test)."""
    if n_train < 1 or n_val < 1 or n_train + n_val > n:
        raise ValueError(f"daas.torch: cannot split {n} examples into {n_train} train and {n_val} validation")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]


def _as_nchw(x: np.ndarray, key: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None, :, :]
    if x.ndim == 4 and x.shape[3] in (1, 3, 4) and x.shape[1] > 4:
        warnings.warn(f"daas.torch: {key} has shape {list(x.shape)}, which looks channels-last [N, H, W, C]; "
                      f"it is read as [N, C, H, W] = {x.shape[1]} channels of {x.shape[2]}x{x.shape[3]}. "
                      f"Pass {key}.transpose(0, 3, 1, 2) if the last axis holds the channels", DataWarning,
                      stacklevel=3)
    if x.ndim != 4:
        raise ValueError(f"daas.torch: {key} must have shape [N, C, H, W] or [N, H, W], got {list(x.shape)}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"daas.torch: {key} must hold real numbers, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"daas.torch: {key} holds NaN or Inf")
    return x


def _labels(y: np.ndarray, n: int, key: str) -> np.ndarray:
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"daas.torch: {key} must have shape [{n}], got {list(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"daas.torch: {key} must hold integer class labels, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"daas.torch: {key} holds a negative label")
    return y.astype(np.int64)


def _standardize(train: np.ndarray, *others: np.ndarray) -> Tuple[np.ndarray, ...]:
    mean = train.mean(axis=(0, 2, 3), keepdims=True)
    std = train.std(axis=(0, 2, 3), keepdims=True)
    std[std < 1e-8] = 1.0
    return tuple(((a - mean) / std).astype(np.float32) for a in (train, *others))


def _make(name: str, xtr, ytr, xva, yva, xte, yte) -> Dataset:
    xtr, xva, xte = _standardize(xtr, xva, xte)
    k = int(max(ytr.max(), yva.max(), yte.max() if yte.size else 0)) + 1
    for split, y in (("train", ytr), ("validation", yva)):
        empty = sorted(set(range(k)) - set(np.unique(y).tolist()))
        if empty:
            warnings.warn(f"daas.torch: {name}: the {split} split has no example of class"
                          f"{'es' if len(empty) > 1 else ''} {', '.join(map(str, empty[:10]))}"
                          f"{' ...' if len(empty) > 10 else ''} (labels run 0..{k - 1}); "
                          "check the labels or use more data", DataWarning, stacklevel=3)
    t = lambda x, y: Split(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y)))
    return Dataset(name, t(xtr, ytr), t(xva, yva), t(xte, yte), k)


def load_digits(n_train: int = 700, n_val: int = 700, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes, no download), split by a seeded
    permutation into ``n_train`` / ``n_val`` / the rest (397 by default) for the test split."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    x = _as_nchw(d.images, "digits")
    y = d.target.astype(np.int64)
    tr, va, te = split_indices(len(y), n_train, n_val, seed)
    return _make("digits", x[tr], y[tr], x[va], y[va], x[te], y[te])


def load_npz(path: str, n_train: Optional[int] = None, n_val: Optional[int] = None, seed: int = 0) -> Dataset:
    """A user's data from an .npz (keys in the module doc). Without ``x_test``/``y_test`` the split
    is 40% train / 40% validation / 20% test by default; ``n_train``/``n_val`` set the counts."""
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        for k in ("x", "y"):
            if k not in keys:
                raise ValueError(f"daas.torch: {path} has no array {k!r} (has {sorted(keys)}); "
                                 "want x [N,C,H,W] or [N,H,W] and y [N]")
        x = _as_nchw(z["x"], "x")
        y = _labels(z["y"], x.shape[0], "y")
        test = None
        if "x_test" in keys or "y_test" in keys:
            if not ("x_test" in keys and "y_test" in keys):
                raise ValueError(f"daas.torch: {path} must hold both x_test and y_test, or neither")
            xt = _as_nchw(z["x_test"], "x_test")
            if xt.shape[1:] != x.shape[1:]:
                raise ValueError(f"daas.torch: x_test's image shape {list(xt.shape[1:])} differs from x's {list(x.shape[1:])}")
            test = (xt, _labels(z["y_test"], xt.shape[0], "y_test"))
    n = x.shape[0]
    if test is None:
        n_train = n_train if n_train is not None else int(0.4 * n)
        n_val = n_val if n_val is not None else int(0.4 * n)
        tr, va, te = split_indices(n, n_train, n_val, seed)
        if te.size == 0:
            raise ValueError("daas.torch: no examples left for the test split")
        test = (x[te], y[te])
    else:
        n_train = n_train if n_train is not None else n // 2
        n_val = n_val if n_val is not None else n - n_train
        tr, va, _ = split_indices(n, n_train, n_val, seed)
    name = path.rsplit("/", 1)[-1].removesuffix(".npz")
    return _make(name, x[tr], y[tr], x[va], y[va], test[0], test[1])


def batch_warnings(data: Dataset, batch_size: int) -> List[str]:
    """What is wrong with ``data`` for batches of ``batch_size``: splits with fewer examples than one
    batch (they give a single, smaller batch per epoch)."""
    out = []
    for name, split in (("train", data.train), ("validation", data.val)):
        if len(split) < batch_size:
            out.append(f"daas.torch: {data.name}: the {name} split has {len(split)} examples, fewer than one batch "
                       f"of {batch_size}: each epoch is a single batch of {len(split)}")
    return out


class Batches:
    """Shuffled mini-batches of a split, reshuffled every pass by a seeded generator. The last partial
    batch is kept unless ``drop_last``; a last batch of a single example is always dropped (BatchNorm
    in train mode cannot normalize one example)."""

    def __init__(self, split: Split, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, device: Optional[torch.device] = None) -> None:
        if batch_size < 1:
            raise ValueError("daas.torch: batch_size must be >= 1")
        self.split = split
        self.batch_size = min(batch_size, len(split))
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = torch.Generator().manual_seed(seed)
        self.device = device

    def __len__(self) -> int:
        n = len(self.split)
        full, rest = divmod(n, self.batch_size)
        return full + (1 if rest > 1 and not self.drop_last else 0)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.split)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            x, y = self.split.x[idx], self.split.y[idx]
            if self.device is not None:
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            yield x, y
