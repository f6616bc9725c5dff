"""Candidate operations of the search spaces, as PyTorch modules, in a registry keyed by op name.

Every op named by the engine's presets is here: the DARTS primitives (``none``, ``max_pool_3x3``,
``avg_pool_3x3``, ``skip_connect``, ``sep_conv_3x3``, ``sep_conv_5x5``, ``dil_conv_3x3``,
``dil_conv_5x5``) and the NAS-Bench-201 ones (``nor_conv_1x1``, ``nor_conv_3x3``; its ``none``,
``skip_connect`` and ``avg_pool_3x3`` are the same modules). A custom space may use any op name
registered here; :func:`register_op` adds new ones.

Each builder takes ``(C, stride, affine)`` and returns a module mapping ``[N, C, H, W]`` to
``[N, C, ceil(H/stride), ceil(W/stride)]`` (odd sizes included). During a search BatchNorm layers are
built with ``affine=False``, as in DARTS.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "OpBuilder",
    "UnknownOpError",
    "OPS",
    "register_op",
    "build_op",
    "check_ops",
    "known_ops",
    "Zero",
    "Identity",
    "FactorizedReduce",
    "ReLUConvBN",
    "SepConv",
    "DilConv",
]

OpBuilder = Callable[[int, int, bool], nn.Module]


class UnknownOpError(ValueError):
    """An op name that the registry does not know."""


class Zero(nn.Module):
    """The ``none`` op: zeros of the output's shape (no parameters)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def halving_conv1x1(x: torch.Tensor, weight: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """``F.conv2d(x, weight, stride=2, groups=groups)`` for a 1x1 ``weight``. A channels-last ``x``
    on the CPU runs at stride 1 on its even pixels, made dense: the same products. oneDNN's stride-2
    1x1 backward on channels-last tensors corrupts the heap for some channel counts (6 -> 4 channels
    on 8x8 maps, torch 2.15 on an AVX2 CPU), the stride-1 one does not."""
    if x.device.type == "cpu" and x.dim() == 4 and x.stride(1) == 1 and x.shape[1] > 1:
        even = x[:, :, ::2, ::2].contiguous(memory_format=torch.channels_last)
        return F.conv2d(even, weight, groups=groups)
    return F.conv2d(x, weight, stride=2, groups=groups)


class FactorizedReduce(nn.Module):
    """Halves the spatial size with two 1x1 stride-2 convolutions, one shifted by a pixel, whose
    outputs are concatenated (DARTS's skip connection in reduction cells). Odd sizes are padded so
    both halves have the shape ``ceil(H/2) x ceil(W/2)``."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True) -> None:
        super().__init__()
        half = C_out // 2
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(C_in, half, 1, stride=2, padding=0, bias=False)
        self.conv_b = nn.Conv2d(C_in, C_out - half, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        a, b = halving_conv1x1(x, self.conv_a.weight), halving_conv1x1(shifted, self.conv_b.weight)
        return self.bn(torch.cat([a, b], dim=1))


class ReLUConvBN(nn.Sequential):
    """ReLU, a k x k convolution, BatchNorm (NAS-Bench-201's ``nor_conv`` and the cells' 1x1
    preprocessing)."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, a dilated depthwise k x k convolution, a pointwise convolution, BatchNorm."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable k x k convolutions (the first with the stride)."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(
            DilConv(C_in, C_in, kernel, stride, padding, 1, affine),
            DilConv(C_in, C_out, kernel, 1, padding, 1, affine),
        )


def _pool(kind: str) -> OpBuilder:
    def build(C: int, stride: int, affine: bool) -> nn.Module:
        if kind == "max":
            pool: nn.Module = nn.MaxPool2d(3, stride=stride, padding=1)
        else:
            pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        # DARTS follows a pooling op by an affine-free BatchNorm inside the supernet, so its scale
        # matches the convolutions' normalized outputs.
        return nn.Sequential(pool, nn.BatchNorm2d(C, affine=affine))

    return build


def _skip(C: int, stride: int, affine: bool) -> nn.Module:
    return Identity() if stride == 1 else FactorizedReduce(C, C, affine)


OPS: Dict[str, OpBuilder] = {
    "none": lambda C, stride, affine: Zero(stride),
    "max_pool_3x3": _pool("max"),
    "avg_pool_3x3": _pool("avg"),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
    "nor_conv_1x1": lambda C, stride, affine: ReLUConvBN(C, C, 1, stride, 0, affine),
    "nor_conv_3x3": lambda C, stride, affine: ReLUConvBN(C, C, 3, stride, 1, affine),
}


def known_ops() -> List[str]:
    """The registered op names, sorted."""
    return sorted(OPS)


def register_op(name: str, builder: OpBuilder, *, replace: bool = False) -> None:
    """Registers ``builder(C, stride, affine) -> nn.Module`` under ``name`` so spaces may use it.
    Re-registering an existing name needs ``replace=True``."""
    if not isinstance(name, str) or not name:
        raise ValueError("daas.torch: an op name must be a non-empty string")
    if name in OPS and not replace:
        raise ValueError(f"daas.torch: op {name!r} is already registered (pass replace=True to override)")
    if not callable(builder):
        raise TypeError(f"daas.torch: the builder of op {name!r} is not callable")
    OPS[name] = builder


def check_ops(names: Iterable[str]) -> None:
    """Raises UnknownOpError naming every op in ``names`` that the registry does not know."""
    unknown = [n for n in names if n not in OPS]
    if unknown:
        raise UnknownOpError(
            "daas.torch: unknown op" + ("s " if len(unknown) > 1 else " ") + ", ".join(repr(n) for n in unknown)
            + " in the search space; known ops: " + ", ".join(known_ops())
            + " (add one with daas.torch.ops.register_op)"
        )


def build_op(name: str, C: int, stride: int, affine: bool = False) -> nn.Module:
    """Builds op ``name`` on ``C`` channels with the given stride."""
    check_ops([name])
    return OPS[name](C, stride, affine)
