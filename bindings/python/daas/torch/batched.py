"""A batched supernet: the math of :class:`daas.torch.model.Network`, batched across edges.

:class:`Network` runs every op of every edge as its own chain of small modules (a digits supernet
issues about 11,000 aten calls per forward); :class:`BatchedNetwork` computes the same function:

- **Waves.** A cell's states are processed in order; a *wave* is every edge that leaves the cell's
  inputs (all of them are ready at once), then every edge that leaves intermediate node 0, node 1, and
  so on. The wave's input is its source states stacked along the channels, ``[N, K*C, H, W]`` for
  ``K`` edges, and the ReLU in front of the convolutions is taken once for all of them.
- **One call per op type per wave.** Each op type runs once on the stacked input: depthwise
  convolutions over ``K*C`` groups, pointwise and plain convolutions with ``groups=K`` over stacked
  weights, pooling as it is. The BatchNorm that ends every op (one per op and edge in the reference)
  is **one** BatchNorm over the stacked channels of the wave's op types; its running statistics are
  those of the reference's BatchNorms laid end to end (BatchNorm is per channel, so the numbers are
  the same).
- **The mixing as one weighted reduction.** The op outputs of a wave, ``M`` (op, edge) pairs, are
  reduced into the wave's target nodes by one matrix product with the ``[nodes, M]`` matrix of
  combined weights ``W_e * A_e,o`` (the ``none`` op adds exact zeros in the reference and is left
  out).
- **On the CPU** the stacked tensors of a large wave fall out of the caches, so a wave whose edges
  are all active runs in groups of consecutive edges stacking about 1 MB each
  (``CPU_GROUP_ENTRIES``), and each op type's output of a group stays its own tensor: the wave's
  BatchNorm runs on each over its slice of the statistics (once on all of them, concatenated, when
  the wave is one group of few channels), and the mixing is one GEMM per output, accumulated, by
  its rows of ``mix^T (x) I_C`` (channels-last rows need no transposing copy that way), or with
  more than ``CPU_GEMM_MIX_CHANNELS`` channels per node, where the zeros of those blocks cost more
  than the calls, one weighted sum per (op, edge) pair. Groups that leave the same states (a
  state's edges to different nodes) share their stacked input, its ReLU and, where the BatchNorm
  statistics of their pooling are equal, the normalized pooling itself. A depthwise kernel
  wider than its map runs on the map padded beforehand, and a dilated one at stride 1 as the
  undilated convolution of the input's polyphase components, where oneDNN is several times
  faster. docs/BENCHMARKS.md has the measurements.
- **skip_zero.** With ``skip_zero=True`` an (op, edge) pair whose combined weight is exactly 0 is not
  computed, as in the reference: an op type none of whose edges is active is not run at all; a
  partly active one runs on the active edges only (their weights, channels and running statistics
  picked out, the statistics written back), so a discretized network pays for its kept ops alone.

Equality with the reference (outputs, every gradient, BatchNorm running statistics; float32
tolerance, since sums run in another order) is tested in tests/test_batched.py on the darts, nb201
and imbalanced spaces, with and without ``skip_zero``. Ops the batched code does not know (a
:func:`~daas.torch.ops.register_op` op, or a built-in name registered anew) run per edge as the
reference's modules, inside the same waves.

**Checkpoints.** The stem, the cells' preprocessing and the classifier are the reference's modules
under the same names; the ops' weights are stacked. :meth:`BatchedNetwork.to_reference_state_dict`
gives a state dict that :class:`Network` loads, :meth:`BatchedNetwork.load_reference_state_dict`
reads one, and :meth:`BatchedNetwork.from_network` / :meth:`BatchedNetwork.to_network` convert whole
modules. A stacked BatchNorm has one ``num_batches_tracked`` for the BatchNorms it stands for: the
conversion writes it into each of them and reads back their largest. Constructed with the same
arguments under the same torch seed, a BatchedNetwork starts from exactly the weights of the
Network (it builds one and converts it).

**Options** (measured in docs/BENCHMARKS.md, not assumed): ``channels_last=True`` keeps activations
and convolution weights in the channels-last memory format, ``False`` in the contiguous one, and
the default ``None`` picks by the input's device: channels-last activations on the CPU, where
oneDNN's depthwise convolutions, BatchNorm and pooling run several times faster on them, contiguous
elsewhere; ``amp="bfloat16"`` or ``"float16"``
runs the forward under ``torch.autocast`` (logits come back as float32).

Two deliberate differences: where every incoming edge of a node is inactive under ``skip_zero``, the
reference runs the ops of the node's first edge to get a tensor to zero (updating their BatchNorm
statistics); the batched network makes the zeros directly. And ``num_batches_tracked`` is shared by
the ops of a wave, which matters only for BatchNorms with ``momentum=None`` whose active set changes
from call to call.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .model import CellSpec, Network, SpaceSpec
from .ops import OPS, halving_conv1x1

__all__ = ["BatchedNetwork", "AMP_DTYPES"]

#: The builders of the ops the batched code implements itself, as registered when daas.torch was
#: imported; an op re-registered later runs per edge (the batched code would not match it).
_BUILTIN_BUILDERS = {name: OPS[name] for name in ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                                                 "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
                                                 "nor_conv_1x1", "nor_conv_3x3")}

#: ``amp`` values: autocast dtypes by name.
AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


# ---------------------------------------------------------------------------------------------
# Stacked pieces


#: Edges of a wave: None (all of them), a tensor of indices (the active ones under skip_zero) or a
#: slice (a group of consecutive edges, on the CPU).
Edges = Any


def _count(idx: Edges, K: int) -> int:
    if idx is None:
        return K
    if isinstance(idx, slice):
        return idx.stop - idx.start
    return int(idx.numel())


def _rows(t: torch.Tensor, idx: Edges, K: int) -> torch.Tensor:
    """Edge ``idx``'s rows of a tensor stacked edge by edge along dim 0 (all of it when idx is None)."""
    if isinstance(idx, slice):  # one slice (no op at all for every edge: a slice's gradient is a copy)
        n = t.shape[0] // K
        return t if idx.stop - idx.start == K else t[idx.start * n:idx.stop * n]
    return t if idx is None else t.unflatten(0, (K, -1))[idx].flatten(0, 1)


def _chans(x: torch.Tensor, idx: Edges, K: int) -> torch.Tensor:
    """Edge ``idx``'s channels of an activation stacked edge by edge along dim 1."""
    return x if idx is None else x.unflatten(1, (K, -1))[:, idx].flatten(1, 2)


def _count_batch(bn: nn.BatchNorm2d, count: bool = True) -> Tuple[bool, float]:
    """What ``nn.BatchNorm2d.forward`` does before normalizing: counts the batch in training (unless
    ``count`` is false: another part of the same batch counted it) and returns (use the batch's
    statistics, the running statistics' update factor)."""
    factor = 0.0
    if bn.training and bn.track_running_stats:
        if count:
            bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    return bn.training or bn.running_mean is None, factor


def _batch_norm(x: torch.Tensor, bn: nn.BatchNorm2d, chan: Any) -> torch.Tensor:
    """``bn`` on ``x``, whose channels are ``bn``'s channels ``chan`` (all of them when None): the
    running statistics of those channels alone are used and updated, as ``nn.BatchNorm2d`` would.
    ``chan`` is a tensor of channel indices, or a slice: consecutive channels, whose statistics and
    parameters are used as views (updated in place); a slice is one part of a batch split along the
    channels, and the part starting at channel 0 counts the batch."""
    if chan is None:
        return bn(x)
    view = isinstance(chan, slice)
    training, factor = _count_batch(bn, not view or chan.start == 0)

    def part(v: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        return None if v is None else v[chan]

    rm, rv = part(bn.running_mean), part(bn.running_var)
    y = F.batch_norm(x, rm, rv, part(bn.weight), part(bn.bias), training, factor, bn.eps)
    if bn.training and rm is not None and not view:  # indexed statistics are copies: write them back
        with torch.no_grad():
            bn.running_mean.index_copy_(0, chan, rm)
            bn.running_var.index_copy_(0, chan, rv)
    return y


@dataclass(frozen=True)
class _Kind:
    """How an op is computed on a wave: ``kind`` and its hyper-parameters."""

    kind: str  # zero | pool | identity | reduce | sep | dil | conv | module
    kernel: int = 0
    padding: int = 0
    dilation: int = 1
    pool: str = ""


def _kind(name: str, stride: int) -> _Kind:
    if OPS.get(name) is not _BUILTIN_BUILDERS.get(name):
        return _Kind("module")
    table = {
        "none": _Kind("zero"),
        "max_pool_3x3": _Kind("pool", pool="max"), "avg_pool_3x3": _Kind("pool", pool="avg"),
        "skip_connect": _Kind("identity" if stride == 1 else "reduce"),
        "sep_conv_3x3": _Kind("sep", 3, 1), "sep_conv_5x5": _Kind("sep", 5, 2),
        "dil_conv_3x3": _Kind("dil", 3, 2, 2), "dil_conv_5x5": _Kind("dil", 5, 4, 2),
        "nor_conv_1x1": _Kind("conv", 1, 0), "nor_conv_3x3": _Kind("conv", 3, 1),
    }
    return table[name]


#: For each kind, the stacked parameters and buffers: (name in the branch, path in the reference's
#: op module). A path ending in ``bn`` stands for a BatchNorm's weight, bias and statistics; ``FINAL``
#: is the op's last BatchNorm, which lives in the wave's stacked BatchNorm.
_FINAL = "<final>"
_LAYOUT: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "zero": (), "identity": (), "module": (),
    "pool": ((_FINAL, "1"),),
    "reduce": (("conv_a", "conv_a.weight"), ("conv_b", "conv_b.weight"), (_FINAL, "bn")),
    "sep": (("dw1", "0.1.weight"), ("pw1", "0.2.weight"), ("bn1", "0.3"), ("dw2", "1.1.weight"),
            ("pw2", "1.2.weight"), (_FINAL, "1.3")),
    "dil": (("dw", "1.weight"), ("pw", "2.weight"), (_FINAL, "3")),
    "conv": (("w", "1.weight"), (_FINAL, "2")),
}
_BN_ENTRIES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class _Branch(nn.Module):
    """One op type on every edge of a wave, its weights stacked edge by edge."""

    def __init__(self, name: str, op: int, kind: _Kind, refs: Sequence[nn.Module], C: int, stride: int,
                 affine: bool) -> None:
        super().__init__()
        self.name, self.op, self.kind, self.C, self.stride, self.K = name, op, kind, C, stride, len(refs)
        self.normalized = any(n == _FINAL for n, _ in _LAYOUT[kind.kind])
        if kind.kind == "module":
            self.mods = nn.ModuleList(refs)  # per edge, as the reference
            return
        for attr, path in _LAYOUT[kind.kind]:
            if attr == _FINAL:
                continue
            if path.split(".")[-1] == "weight":
                stacked = torch.cat([_get(r, path).detach() for r in refs], 0).clone()
                self.register_parameter(attr, nn.Parameter(stacked))
            else:  # an inner BatchNorm
                self.add_module(attr, nn.BatchNorm2d(self.K * C, affine=affine))

    def forward(self, x: torch.Tensor, r: torch.Tensor, idx: Edges, chan: Any) -> torch.Tensor:
        """The op on the (active) edges: ``x`` and ``r = relu(x)`` hold their channels. Returns the
        output before the final BatchNorm for normalized kinds, the op's output otherwise."""
        k, s, K = self.kind, self.stride, self.K
        n = _count(idx, K)
        if k.kind == "pool":
            if k.pool == "max":
                return F.max_pool2d(x, 3, s, 1)
            return F.avg_pool2d(x, 3, s, 1, count_include_pad=False)
        if k.kind == "identity":
            return x
        if k.kind == "conv":
            return F.conv2d(r, _rows(self.w, idx, K), stride=s, padding=k.padding, groups=n)
        if k.kind == "dil":
            t = _depthwise(r, _rows(self.dw, idx, K), s, k.padding, k.dilation)
            return F.conv2d(t, _rows(self.pw, idx, K), groups=n)
        if k.kind == "sep":
            t = _depthwise(r, _rows(self.dw1, idx, K), s, k.padding, 1)
            t = F.conv2d(t, _rows(self.pw1, idx, K), groups=n)
            t = F.relu(_batch_norm(t, self.bn1, chan))
            t = _depthwise(t, _rows(self.dw2, idx, K), 1, k.padding, 1)
            return F.conv2d(t, _rows(self.pw2, idx, K), groups=n)
        if k.kind == "reduce":
            a = halving_conv1x1(r, _rows(self.conv_a, idx, K), n)
            shifted = F.pad(r, (0, 1, 0, 1))[:, :, 1:, 1:]
            b = halving_conv1x1(shifted, _rows(self.conv_b, idx, K), n)
            y = torch.cat([a.unflatten(1, (n, -1)), b.unflatten(1, (n, -1))], 2).flatten(1, 2)
            return y.contiguous(memory_format=torch.channels_last) if _is_channels_last(r) else y
        # module: per edge
        edges = range(K) if idx is None else range(idx.start, idx.stop) if isinstance(idx, slice) else idx.tolist()
        C = self.C
        return torch.cat([self.mods[e](x[:, j * C:(j + 1) * C]) for j, e in enumerate(edges)], 1)


@functools.lru_cache(maxsize=None)
def _dead_taps(size: int, k: int, stride: int, padding: int, dilation: int) -> int:
    """How many taps at each end of a kernel dimension read only padding for an input dimension of
    ``size``: the largest t such that the first t and the last t taps never meet the input. They
    add exact zeros (and get exact zero gradients), so a convolution without them, its padding
    reduced by ``t * dilation``, computes the same outputs at the same size."""
    out = (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    used = [a for a in range(k) if any(0 <= i * stride + a * dilation - padding < size for i in range(out))]
    return min(used[0], k - 1 - used[-1]) if used else 0


def _depthwise(x: torch.Tensor, w: torch.Tensor, stride: int, padding: Any, dilation: int) -> torch.Tensor:
    """The depthwise convolution of ``x`` ([N, G, H, W]) by ``w`` ([G, 1, k, k]): ``F.conv2d(x, w,
    stride=stride, padding=padding, dilation=dilation, groups=G)``, without the taps that read only
    padding (on the small feature maps of a search those are most of a 5x5 kernel's), and a dilated
    one as an undilated convolution: of the subsampled input when the stride equals the dilation, of
    the input's polyphase components at stride 1 (``padding``: one int, or (rows, columns)). On the
    CPU it runs on channels-last tensors, where oneDNN computes it several times faster, except when
    still dilated and wider than 3x3, which is faster contiguous (docs/BENCHMARKS.md); the output is
    channels-last when ``x`` was, else in the format it was computed in."""
    k = w.shape[-1]
    pads = (padding, padding) if isinstance(padding, int) else tuple(padding)  # (rows, columns)
    th, tw = (_dead_taps(n, m, stride, p, dilation) for n, m, p in zip(x.shape[-2:], w.shape[-2:], pads))
    if th or tw:
        w = w[:, :, th:w.shape[-2] - th, tw:k - tw]
    pad = (pads[0] - th * dilation, pads[1] - tw * dilation)
    if w.shape[-1] == w.shape[-2] == 1:
        dilation = 1
    if dilation > 1 and stride == dilation and pad[0] % dilation == 0 and pad[1] % dilation == 0:
        # every tap of output i reads input d*(i + a) - pad: the even (d-th) rows and columns alone,
        # an undilated convolution of them at stride 1 (when the output comes out the same size)
        sub = x[:, :, ::dilation, ::dilation]
        sizes = [(n + 2 * p - dilation * (m - 1) - 1) // stride + 1 for n, p, m in zip(x.shape[-2:], pad, w.shape[-2:])]
        sub_pad = (pad[0] // dilation, pad[1] // dilation)
        if sizes == [n + 2 * p - (m - 1) for n, p, m in zip(sub.shape[-2:], sub_pad, w.shape[-2:])]:
            x, stride, pad, dilation = sub, 1, sub_pad, 1
    d = dilation
    if d > 1 and stride == 1 and all(p % d == 0 for p in pad) and all(n % d == 0 for n in x.shape[-2:]):
        # output row d*i + r reads input rows d*(i + a - pad/d) + r: phase r of the output is the
        # undilated convolution of phase r of the input (d*d phases, run as one batch), which
        # oneDNN computes several times faster than the dilated one (docs/BENCHMARKS.md)
        return _unphase(_depthwise(_phases(x, d), w, 1, (pad[0] // d, pad[1] // d), 1), d, _is_channels_last(x))
    last = _is_channels_last(x)
    if x.device.type == "cpu":
        if dilation == 1 and any(m > n for m, n in zip(w.shape[-2:], x.shape[-2:])):
            # a kernel wider than the map: oneDNN's kernels are several times slower with such
            # padding than on the map padded beforehand (a dilated one is slower padded)
            x, pad = F.pad(x, (pad[1], pad[1], pad[0], pad[0])), (0, 0)
        fast = torch.channels_last if dilation == 1 or max(w.shape[-2:]) <= 3 else torch.contiguous_format
        x = x.contiguous(memory_format=fast)
    y = F.conv2d(x, w, stride=stride, padding=pad, dilation=dilation, groups=w.shape[0])
    return y.contiguous(memory_format=torch.channels_last) if last else y


def _phases(x: torch.Tensor, d: int) -> torch.Tensor:
    """``x`` ([N, G, H, W], H and W multiples of ``d``) as its d*d polyphase components stacked along
    the batch, phase-major: ``out[(r*d + s)*N + n] = x[n, :, r::d, s::d]``; channels-last."""
    N, G, H, W = x.shape
    nhwc = x.permute(0, 2, 3, 1).reshape(N, H // d, d, W // d, d, G)
    return nhwc.permute(2, 4, 0, 1, 3, 5).reshape(d * d * N, H // d, W // d, G).permute(0, 3, 1, 2)


def _unphase(y: torch.Tensor, d: int, channels_last: bool) -> torch.Tensor:
    """The inverse of :func:`_phases`: [d*d*N, G, h, w] -> [N, G, d*h, d*w]."""
    M, G, h, w = y.shape
    N = M // (d * d)
    nhwc = y.permute(0, 2, 3, 1).reshape(d, d, N, h, w, G).permute(2, 3, 0, 4, 1, 5).reshape(N, h * d, w * d, G)
    out = nhwc.permute(0, 3, 1, 2)
    return out if channels_last else out.contiguous()


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def _get(module: nn.Module, path: str) -> Any:
    for part in path.split("."):
        module = getattr(module, part)
    return module


class _Wave(nn.Module):
    """The edges leaving some states of a cell: ``sources[k]`` -> ``targets[k]`` (node), edge index
    ``edges[k]`` within the cell."""

    def __init__(self, spec: CellSpec, ops: Sequence[str], pairs: Sequence[Tuple[int, int]], ref_cell: nn.Module,
                 C: int, stride: int, affine: bool) -> None:
        super().__init__()
        self.sources = [i for i, _ in pairs]
        self.nodes = sorted({j for _, j in pairs})
        self.targets = [self.nodes.index(j) for _, j in pairs]
        self.edges = [spec.edge_index(j, i) for i, j in pairs]
        self.C, self.K = C, len(pairs)
        branches = []
        for o, name in enumerate(ops):
            kind = _kind(name, stride)
            if kind.kind == "zero":
                continue
            refs = [ref_cell.edges[e].ops[o] for e in self.edges]
            branches.append(_Branch(name, o, kind, refs, C, stride, affine))
        self.branches = nn.ModuleList(branches)
        self.rectified = any(b.kind.kind in ("conv", "dil", "sep", "reduce") for b in branches)
        # where each branch's pairs start in the mixing (normalized branches first, as _make_plans
        # orders them) and its channels in the wave's BatchNorm
        order = [b for b in branches if b.normalized] + [b for b in branches if not b.normalized]
        self.pair_start = [order.index(b) * self.K for b in branches]
        self.bn_start = [order.index(b) * self.K * C if b.normalized else 0 for b in branches]
        channels = sum(self.K * C for b in branches if b.normalized)
        self.bn = nn.BatchNorm2d(channels, affine=affine) if channels else None

    def layout(self) -> Iterator[Tuple[str, int, int, str]]:
        """(wave-relative key, edge k, op, path within the reference's op module) of every stacked
        entry, in the order of the stacked tensors: edges ascending within a key, and for the wave's
        final BatchNorm (``bn.*``) branch by branch."""
        for bi, br in enumerate(self.branches):
            if br.kind.kind == "module":
                continue
            for attr, path in _LAYOUT[br.kind.kind]:
                if path.split(".")[-1] == "weight":
                    for k in range(self.K):
                        yield f"branches.{bi}.{attr}", k, br.op, path
                    continue
                prefix = "bn" if attr == _FINAL else f"branches.{bi}.{attr}"
                for entry in _BN_ENTRIES:
                    for k in range(self.K):
                        yield f"{prefix}.{entry}", k, br.op, f"{path}.{entry}"


@dataclass
class _Plan:
    """What one forward computes of a wave of a cell: per branch the
    active edges (None: all; empty: skipped), the (branch, edge) pairs in the order of the stacked
    outputs, their flat index into the cell type's combined weights and their target node."""

    active: List[Optional[torch.Tensor]]
    final_chan: Optional[torch.Tensor]
    inner_chan: List[Optional[torch.Tensor]]
    weight_index: torch.Tensor
    onehot: torch.Tensor
    full: bool = False  # every edge of every branch active


class _BatchedCell(nn.Module):
    def __init__(self, ref_cell: nn.Module, ops: Sequence[str], affine: bool) -> None:
        super().__init__()
        spec = ref_cell.spec
        self.spec, self.reduction = spec, ref_cell.reduction
        self.preprocess = ref_cell.preprocess
        self.out_channels, self.out_level = ref_cell.out_channels, ref_cell.out_level
        C = ref_cell.out_channels // spec.nodes
        waves = [_Wave(spec, ops, [(i, j) for i in range(spec.inputs) for j in range(spec.nodes)], ref_cell, C,
                       2 if self.reduction else 1, affine)]
        for t in range(spec.nodes - 1):
            s = spec.inputs + t
            waves.append(_Wave(spec, ops, [(s, j) for j in range(t + 1, spec.nodes)], ref_cell, C, 1, affine))
        self.waves = nn.ModuleList(waves)

    def forward(self, inputs: Sequence[torch.Tensor], plans: Sequence[_Plan], weights: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        states = [pre(x) for pre, x in zip(self.preprocess, inputs)]
        if any(_is_channels_last(x) for x in inputs):  # (the reference's FactorizedReduce returns contiguous)
            states = [x.contiguous(memory_format=torch.channels_last) for x in states]
        contributions: List[List[torch.Tensor]] = [[] for _ in range(spec.nodes)]
        for w, (wave, plan) in enumerate(zip(self.waves, plans)):
            if w > 0:  # node w-1 is complete: it is the state this wave leaves
                states.append(_node(contributions[w - 1], states[0], self.out_channels // spec.nodes,
                                    self.reduction))
            for j, part in zip(wave.nodes, _run_wave(wave, plan, states, weights)):
                if part is not None:
                    contributions[j].append(part)
        states.append(_node(contributions[-1], states[0], self.out_channels // spec.nodes, self.reduction))
        return torch.cat(states[spec.inputs:], dim=1)


def _node(parts: List[torch.Tensor], like: torch.Tensor, C: int, halve: bool) -> torch.Tensor:
    """The sum of a node's contributions, in wave order; zeros when every incoming edge was skipped.
    It is channels-last when ``like`` is (a lone contribution is a strided slice of a wave's output)."""
    fmt = torch.channels_last if _is_channels_last(like) else torch.contiguous_format
    if not parts:
        N, _, H, W = like.shape
        if halve:
            H, W = (H + 1) // 2, (W + 1) // 2
        return like.new_zeros((N, C, H, W)).contiguous(memory_format=fmt)
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out.contiguous(memory_format=fmt)


def _run_wave(wave: _Wave, plan: _Plan, states: Sequence[torch.Tensor], weights: torch.Tensor
              ) -> List[Optional[torch.Tensor]]:
    """The wave's contribution to each of its target nodes, ``[N, C, H, W]`` (None: nothing ran)."""
    if plan.weight_index.numel() == 0:
        return [None] * len(wave.nodes)
    mix = (weights.reshape(-1)[plan.weight_index].unsqueeze(1) * plan.onehot).t()  # [nodes, M]
    srcs = wave.sources
    s0 = states[srcs[0]]
    if (s0.device.type == "cpu" and s0.is_contiguous(memory_format=torch.channels_last) and plan.full
            and not torch.is_autocast_enabled("cpu")):  # (under autocast a sum of parts would round each)
        return _run_wave_by_groups(wave, states, mix)
    x = torch.cat([states[i] for i in srcs], 1) if len(srcs) > 1 else states[srcs[0]]
    r = x.relu() if wave.rectified else x
    normalized, plain = [], []
    for br, idx, chan in zip(wave.branches, plan.active, plan.inner_chan):
        if idx is not None and idx.numel() == 0:
            continue
        xs, rs = (x, r) if idx is None else (_chans(x, idx, wave.K), _chans(r, idx, wave.K))
        (normalized if br.normalized else plain).append(br(xs, rs, idx, chan))
    outs = []
    if normalized:
        y = torch.cat(normalized, 1) if len(normalized) > 1 else normalized[0]
        outs.append(_batch_norm(y, wave.bn, plan.final_chan))
    outs += plain
    y = torch.cat(outs, 1) if len(outs) > 1 else outs[0]
    return list(_reduce(y, mix.to(y.dtype), wave.C).split(wave.C, 1))


#: On the CPU, how many activation entries (N*C*H*W of the sources) a group of a wave's edges may
#: stack: about 1 MB of float32, which keeps a group's tensors in the caches (docs/BENCHMARKS.md).
CPU_GROUP_ENTRIES = 1 << 18

#: On the CPU, up to how many channels per node a wave's mixing runs as GEMMs by blocks of
#: ``mix^T (x) I_C``; above, as one weighted sum per (op, edge) pair (docs/BENCHMARKS.md).
CPU_GEMM_MIX_CHANNELS = 16


def _edge_groups(K: int, per_edge: int) -> List[slice]:
    """Consecutive groups of a wave's K edges, each stacking at most CPU_GROUP_ENTRIES entries (at
    least one edge)."""
    g = max(1, min(K, CPU_GROUP_ENTRIES // max(per_edge, 1)))
    return [slice(a, min(a + g, K)) for a in range(0, K, g)]


def _run_wave_by_groups(wave: _Wave, states: Sequence[torch.Tensor], mix: torch.Tensor) -> List[Optional[torch.Tensor]]:
    """The CPU form of :func:`_run_wave` for a wave whose edges are all active and whose states are
    channels-last: the edges run in groups (:func:`_edge_groups`), each op type's output of a group
    stays its own tensor, the wave's BatchNorm runs on each over its slice of the statistics (on
    all of them at once when there is one group mixed by GEMMs: one call instead of one per op
    type), and a node's mix is accumulated in place from each output that reaches it: up to
    CPU_GEMM_MIX_CHANNELS channels per node by one GEMM by that output's block of ``mix^T (x) I_C``
    (channels-last rows need no transposing copy that way; the zeros of the block cost C times the
    products, which still beats NHW tiny [J, M] x [M, C] products), above by one weighted sum per
    (op, edge) pair."""
    K, C = wave.K, wave.C
    srcs = wave.sources
    N, _, H, W = states[srcs[0]].shape
    mixT = mix.to(states[srcs[0]].dtype).t()  # [M, nodes]
    eye = _eye(C, mixT.dtype, mixT.device)
    groups = _edge_groups(K, N * C * H * W)
    joint = len(groups) == 1
    # up to CPU_GEMM_MIX_CHANNELS channels per node the mixing runs as GEMMs: for one group (a small
    # wave) one per output into all the nodes at once, the fewest calls; for several one per output
    # and node it reaches, the fewest products and no slicing of the result. With more channels
    # the C-fold products of the blocks' zeros cost more than a weighted sum per (op, edge) pair
    gemm = C <= CPU_GEMM_MIX_CHANNELS
    one_gemm = joint and gemm  # one GEMM per output into all the nodes, after one BatchNorm call
    acc: List[Optional[torch.Tensor]] = [None] * (1 if one_gemm else len(wave.nodes))
    if one_gemm:
        kron = (mixT[:, None, :, None] * eye).reshape(-1, len(wave.nodes) * C)
    elif not gemm:  # each pair's weight into its edge's node (pairs run op type by op type, edge by edge)
        pair_w = mixT[torch.arange(mixT.shape[0]), torch.tensor(wave.targets * (mixT.shape[0] // K))].unbind(0)
    # groups that leave the same sources (the edges of one state to different nodes) share their
    # input, its ReLU and their pooling (see _share_normalized; not with affine BatchNorms, whose
    # weights differ from edge to edge)
    keys = [tuple(srcs[g]) for g in groups]
    shareable = not joint and wave.bn is not None and not wave.bn.affine
    repeated = {k for k in keys if keys.count(k) > 1} if shareable else set()
    inputs: Dict[Tuple[int, ...], Tuple[torch.Tensor, torch.Tensor]] = {}
    pooled: Dict[Tuple[Tuple[int, ...], int], Tuple[torch.Tensor, slice, Any]] = {}
    for g, key in zip(groups, keys):
        if key not in inputs:
            x = torch.cat([states[i] for i in key], 1) if len(key) > 1 else states[key[0]]
            inputs[key] = (x, x.relu() if wave.rectified else x)
        x, r = inputs[key]
        chan = slice(g.start * C, g.stop * C)
        outs, pending = [], []  # (first pair, output); one group: the outputs the BatchNorm awaits
        for bi, (br, pair, off) in enumerate(zip(wave.branches, wave.pair_start, wave.bn_start)):
            sl = slice(off + chan.start, off + chan.stop)
            share = br.kind.kind == "pool" and key in repeated
            if share and (key, bi) in pooled:
                y = _share_normalized(wave.bn, *pooled[key, bi], sl)
                if y is not None:
                    outs.append((pair + g.start, y))
                    continue
            y = br(x, r, g, chan)
            if br.normalized and one_gemm:
                pending.append(y)
                continue
            if share and (key, bi) not in pooled:  # the first group with these sources
                before = _statistics(wave.bn, sl)
                y = _batch_norm(y, wave.bn, sl)
                pooled[key, bi] = (y, sl, before)
            elif br.normalized:
                y = _batch_norm(y, wave.bn, sl)
            outs.append((pair + g.start, y))
        if pending:  # the wave's BatchNorm once, on all its channels (the normalized pairs come first;
            # weighted sums would split it again, and the concatenation costs more than the calls)
            outs.insert(0, (0, wave.bn(torch.cat(pending, 1) if len(pending) > 1 else pending[0])))
        for first, y in outs:
            n, Ho, Wo = y.shape[1:]
            if not gemm:
                for p, part in enumerate(y.split(C, 1), first):
                    t = wave.targets[p % K]
                    acc[t] = part * pair_w[p] if acc[t] is None else acc[t].addcmul_(part, pair_w[p])
                continue
            rows = y.permute(0, 2, 3, 1).reshape(-1, n)
            if joint:  # rows of the whole Kronecker product, made once (a small one)
                blocks = [(0, kron[first * C:first * C + n])]
            else:  # blocks from the small matrix: slicing a large Kronecker product would zero-fill
                w = mixT[first:first + n // C]  # all of it per block in the backward
                blocks = [(t, (w[:, t, None, None, None] * eye).reshape(n, C)) for t in sorted(set(wave.targets[g]))]
            for t, block in blocks:
                acc[t] = rows @ block if acc[t] is None else acc[t].addmm_(rows, block)
    if not gemm:
        return acc
    if joint:  # (split, whose gradient is one concatenation, not a zero-filled copy per slice)
        return list(acc[0].reshape(N, Ho, Wo, -1).permute(0, 3, 1, 2).split(C, 1))
    return [None if a is None else a.reshape(N, Ho, Wo, C).permute(0, 3, 1, 2) for a in acc]


def _statistics(bn: nn.BatchNorm2d, chan: slice) -> Any:
    """Copies of ``bn``'s running statistics of channels ``chan`` (None when it keeps none)."""
    if bn.running_mean is None:
        return None
    return bn.running_mean[chan].clone(), bn.running_var[chan].clone()


def _share_normalized(bn: nn.BatchNorm2d, y: torch.Tensor, first: slice, before: Any, chan: slice
                      ) -> Optional[torch.Tensor]:
    """The pooling of a group whose sources an earlier group of the wave had, normalized by ``bn``'s
    channels ``chan``: the earlier group's output ``y`` (its channels ``first`` of ``bn``, whose
    running statistics were ``before`` it ran), when ``chan``'s statistics are those: on the same
    input a BatchNorm in training normalizes by the batch's statistics alone, so both outputs are
    the same and so are both updates of equal running statistics (copied over), and in evaluation
    equal running statistics give equal outputs. None when they differ (computed then as usual)."""
    if before is not None:
        if not (torch.equal(bn.running_mean[chan], before[0]) and torch.equal(bn.running_var[chan], before[1])):
            return None
        if bn.training:  # (through .data: the BatchNorms that saved views of the statistics for
            # their backward do not read them there in training, and their version stays)
            bn.running_mean.data[chan] = bn.running_mean.data[first]
            bn.running_var.data[chan] = bn.running_var.data[first]
    return y


@functools.lru_cache(maxsize=None)
def _eye(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The identity [n, 1, n] (shaped for the Kronecker product of _run_wave_by_groups), made once
    (never as an inference tensor, which autograd could not save)."""
    with torch.inference_mode(False):
        return torch.eye(n, dtype=dtype, device=device)[:, None, :]


def _reduce(y: torch.Tensor, mix: torch.Tensor, C: int) -> torch.Tensor:
    """``out[:, j] = sum_m mix[j, m] * y[:, m]`` over channel groups of ``C``: one matrix product."""
    N, MC, H, W = y.shape
    M, J = MC // C, mix.shape[0]
    if _is_channels_last(y):
        out = torch.matmul(mix, y.permute(0, 2, 3, 1).reshape(N * H * W, M, C))  # [NHW, J, C]
        return out.reshape(N, H, W, J * C).permute(0, 3, 1, 2)
    return torch.matmul(mix, y.reshape(N, M, C * H * W)).reshape(N, J * C, H, W)


# ---------------------------------------------------------------------------------------------
# The network


class BatchedNetwork(nn.Module):
    """A drop-in for :class:`~daas.torch.model.Network` (same constructor, same ``forward(x,
    op_weights, edge_weights, *, skip_zero=False)``, same ``space``, ``cell_types``, ``sizes`` and
    ``check_engine``) computing the same function batched across edges (see the module's
    docstring). Under the same torch seed it starts from the weights ``Network(...)`` would have.

    ``channels_last`` keeps activations and 4-D weights in ``torch.channels_last`` (True), in the
    contiguous format (False) or, by default (None), activations channels-last on the CPU alone; ``amp``
    (``"bfloat16"``, ``"float16"`` or None) runs the forward under ``torch.autocast`` on the input's
    device type and returns float32 logits.
    """

    def __init__(self, space: Any = None, C: int = 16, layers: int = 8, num_classes: int = 10,
                 in_channels: int = 3, *, cell_types: Optional[Sequence[str]] = None, stem_multiplier: int = 3,
                 affine: bool = False, channels_last: Optional[bool] = None, amp: Optional[str] = None) -> None:
        super().__init__()
        ref = Network(space, C, layers, num_classes, in_channels, cell_types=cell_types,
                      stem_multiplier=stem_multiplier, affine=affine)
        self._build(ref, {"space": ref.space, "C": C, "layers": layers, "num_classes": num_classes,
                          "in_channels": in_channels, "cell_types": list(ref.cell_types),
                          "stem_multiplier": stem_multiplier, "affine": affine})
        self.set_options(channels_last=channels_last, amp=amp)

    # -- construction and conversion ----------------------------------------------------------

    def _build(self, ref: Network, args: Dict[str, Any]) -> None:
        self._args = args
        self.space: SpaceSpec = ref.space
        self.cell_types = list(ref.cell_types)
        self._cell_index = list(ref._cell_index)
        self.C, self.num_classes = ref.C, ref.num_classes
        self.stem = ref.stem
        self.cells = nn.ModuleList(_BatchedCell(cell, self.space.ops, args["affine"]) for cell in ref.cells)
        self.classifier = ref.classifier
        self._key_map = self._reference_keys(ref)
        self.load_reference_state_dict(ref.state_dict())
        self._plans: Dict[Any, List[List[_Plan]]] = {}

    @classmethod
    def from_network(cls, network: Network, **options: Any) -> "BatchedNetwork":
        """A BatchedNetwork with ``network``'s layout and a copy of its weights and statistics (on its
        device). ``options``: ``channels_last``, ``amp``."""
        if not isinstance(network, Network):
            raise TypeError(f"daas.torch: from_network wants a daas.torch.model.Network, got {type(network).__name__}")
        ref = _clone_network(network)
        stem_conv = network.stem[0]
        obj = cls.__new__(cls)
        nn.Module.__init__(obj)
        obj._build(ref, {"space": network.space, "C": network.C, "layers": len(network.cells),
                         "num_classes": network.num_classes, "in_channels": stem_conv.in_channels,
                         "cell_types": list(network.cell_types),
                         "stem_multiplier": stem_conv.out_channels // network.C,
                         "affine": _is_affine(network)})
        obj.set_options(**options)
        obj.train(network.training)
        return obj

    def to_network(self) -> Network:
        """The reference :class:`Network` holding this network's weights and statistics (on the same
        device; the global RNG is left as it was)."""
        with torch.random.fork_rng(devices=[]):
            net = Network(**self._args)
        device = next(self.parameters()).device
        net.to(device).load_state_dict(self.to_reference_state_dict())
        net.train(self.training)
        return net

    def _reference_keys(self, ref: Network) -> Dict[str, List[str]]:
        """Batched state-dict key -> the reference keys it stacks, in order (dim 0)."""
        out: Dict[str, List[str]] = {}
        for li, (cell, ref_cell) in enumerate(zip(self.cells, ref.cells)):
            for wi, wave in enumerate(cell.waves):
                base = f"cells.{li}.waves.{wi}."
                for key, k, op, path in wave.layout():
                    out.setdefault(base + key, []).append(f"cells.{li}.edges.{wave.edges[k]}.ops.{op}.{path}")
                for bi, br in enumerate(wave.branches):
                    if br.kind.kind != "module":
                        continue
                    for k, e in enumerate(wave.edges):
                        for name in ref_cell.edges[e].ops[br.op].state_dict():
                            out[f"{base}branches.{bi}.mods.{k}.{name}"] = [f"cells.{li}.edges.{e}.ops.{br.op}.{name}"]
        return out

    def to_reference_state_dict(self) -> Dict[str, torch.Tensor]:
        """This network's weights and statistics as a state dict of the reference :class:`Network`
        with the same arguments (``Network.load_state_dict`` takes it; ``torch.save`` it as usual)."""
        return self.to_reference_layout(self.state_dict())

    def to_reference_layout(self, tensors: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Any tensors keyed like this network's state dict (for example ``{name: p.grad for name, p
        in net.named_parameters()}``), split and renamed to the reference :class:`Network`'s keys
        (copies)."""
        out: Dict[str, torch.Tensor] = {}
        for key, value in tensors.items():
            refs = self._key_map.get(key)
            if refs is None:
                out[key] = value.clone()
            elif value.dim() == 0:
                for r in refs:
                    out[r] = value.clone()
            else:
                for r, part in zip(refs, value.chunk(len(refs), 0)):
                    out[r] = part.clone()
        return out

    def load_reference_state_dict(self, state: Mapping[str, torch.Tensor], strict: bool = True) -> None:
        """Loads a state dict of the reference :class:`Network` (``Network.state_dict()``, or the
        ``model`` entry of a ``supernet.pt``) into this network. With ``strict`` every key must be
        there and none left over."""
        mine = self.state_dict()
        new: Dict[str, torch.Tensor] = {}
        used = set()
        missing = []
        for key, value in mine.items():
            refs = self._key_map.get(key, [key])
            used.update(refs)
            if any(r not in state for r in refs):
                missing += [r for r in refs if r not in state]
                continue
            if self._key_map.get(key) is None:
                new[key] = state[key]
            elif value.dim() == 0:
                new[key] = torch.stack([torch.as_tensor(state[r]) for r in refs]).max()
            else:
                new[key] = torch.cat([state[r] for r in refs], 0)
        unexpected = [k for k in state if k not in used]
        if strict and (missing or unexpected):
            raise ValueError("daas.torch: not a state dict of this network's reference layout: "
                             + (f"missing {missing[:3]}{' ...' if len(missing) > 3 else ''}" if missing else "")
                             + ("; " if missing and unexpected else "")
                             + (f"unexpected {unexpected[:3]}{' ...' if len(unexpected) > 3 else ''}"
                                if unexpected else ""))
        self.load_state_dict(new, strict=strict)

    def set_options(self, *, channels_last: Optional[bool] = None, amp: Optional[str] = None) -> "BatchedNetwork":
        """Sets the memory format and the autocast dtype (see the class docstring); returns self."""
        if amp is not None and amp not in AMP_DTYPES:
            raise ValueError(f"daas.torch: amp must be one of {', '.join(AMP_DTYPES)} or None, got {amp!r}")
        self.channels_last, self.amp = (None if channels_last is None else bool(channels_last)), amp
        self.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        return self

    # -- the Network interface ----------------------------------------------------------------

    @property
    def sizes(self) -> Tuple[int, int]:
        """``(n_alpha, n_edges)`` the engine must report for this network's space."""
        return self.space.sizes

    def check_engine(self, engine: Any) -> None:
        """Raises ValueError unless ``engine.sizes`` matches this network's space."""
        Network.check_engine(self, engine)  # type: ignore[arg-type]

    def _combined(self, op_weights: torch.Tensor, edge_weights: torch.Tensor) -> List[torch.Tensor]:
        return Network._split(self, op_weights, edge_weights)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, op_weights: torch.Tensor, edge_weights: torch.Tensor, *,
                skip_zero: bool = False) -> torch.Tensor:
        """Logits for ``x``, as :meth:`Network.forward`. With ``skip_zero`` the (op, edge) pairs
        whose combined weight is exactly 0 are not computed (one host synchronisation per call; no
        gradient reaches those weights)."""
        per_type = self._combined(op_weights, edge_weights)
        plans = self._plans_for(per_type, skip_zero, x.device)
        fmt = (torch.channels_last if self.channels_last or (self.channels_last is None and x.device.type == "cpu")
               else torch.contiguous_format)
        x = x.contiguous(memory_format=fmt)
        ctx = (torch.autocast(x.device.type, dtype=AMP_DTYPES[self.amp]) if self.amp is not None
               else contextlib.nullcontext())
        with ctx:
            # (a one-channel input is contiguous in both formats: the stem's output sets the format)
            states = [self.stem(x).contiguous(memory_format=fmt)]
            for li, (cell, ci) in enumerate(zip(self.cells, self._cell_index)):
                m = cell.spec.inputs
                ins = ([states[0]] * max(0, m - len(states)) + states)[-m:]
                states.append(cell(ins, plans[li], per_type[ci]))
            out = F.adaptive_avg_pool2d(states[-1], 1).flatten(1)
            logits = self.classifier(out)
        return logits.float()

    def _plans_for(self, per_type: Sequence[torch.Tensor], skip_zero: bool, device: torch.device) -> List[List[_Plan]]:
        if skip_zero:
            masks = tuple(tuple(map(tuple, (w != 0).cpu().tolist())) for w in per_type)
        else:
            masks = None
        key = (masks, str(device))
        plans = self._plans.get(key)
        if plans is None:
            if len(self._plans) > 64:  # many different zero patterns: keep the cache small
                self._plans.clear()
            plans = self._plans[key] = self._make_plans(masks, device)
        return plans

    def _make_plans(self, masks: Optional[Tuple[Any, ...]], device: torch.device) -> List[List[_Plan]]:
        """One plan per wave of every cell (cells of one type share the weights, not the channel count)."""
        n_ops = len(self.space.ops)
        out: List[List[_Plan]] = []
        for cell, ci in zip(self.cells, self._cell_index):
            mask = masks[ci] if masks is not None else None
            plans = []
            for wave in cell.waves:
                active, inner, w_index, targets = [], [], [], []
                plain_idx, plain_t = [], []
                final_chan: List[int] = []
                off = 0
                for br in wave.branches:
                    ks = list(range(wave.K)) if mask is None else [k for k in range(wave.K) if mask[wave.edges[k]][br.op]]
                    part = len(ks) < wave.K
                    active.append(torch.tensor(ks, dtype=torch.long, device=device) if part else None)
                    chans = [k * wave.C + c for k in ks for c in range(wave.C)]
                    inner.append(torch.tensor(chans, dtype=torch.long, device=device) if part else None)
                    idx = [wave.edges[k] * n_ops + br.op for k in ks]
                    tgt = [wave.targets[k] for k in ks]
                    if br.normalized:
                        w_index += idx
                        targets += tgt
                        final_chan += [off + c for c in chans]
                        off += wave.K * wave.C
                    else:
                        plain_idx += idx
                        plain_t += tgt
                full = wave.bn is not None and len(final_chan) == wave.bn.num_features
                fc = None if full or wave.bn is None else torch.tensor(final_chan, dtype=torch.long, device=device)
                w_index += plain_idx
                targets += plain_t
                onehot = torch.zeros(len(targets), len(wave.nodes), device=device)
                onehot[torch.arange(len(targets)), torch.tensor(targets, dtype=torch.long)] = 1.0
                plans.append(_Plan(active, fc, inner, torch.tensor(w_index, dtype=torch.long, device=device),
                                   onehot, full=fc is None and all(a is None for a in active)))
            out.append(plans)
        return out

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> "BatchedNetwork":
        self._plans = {}  # index tensors live on a device: rebuild after .to()/.cuda()
        return super()._apply(fn, *args, **kwargs)


def _clone_network(network: Network) -> Network:
    import copy

    return copy.deepcopy(network)


def _is_affine(network: Network) -> bool:
    return any(isinstance(m, nn.BatchNorm2d) and m.affine for m in network.cells.modules())
