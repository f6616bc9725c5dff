"""The search step's two passes captured in CUDA graphs (``torch.cuda.graphs``).

:class:`CapturedStep` replays, per search step, two graphs recorded once: the architecture pass
(forward on a validation batch and the gradients of the op and edge weights) and the weight pass
(forward and backward on a training batch, filling the supernet's ``.grad``). What cannot live in a
graph stays outside it, eager: the copies of the batch and of the engine's weights into the graphs'
static input buffers, :meth:`ArchitectureOptimizer.step` with a host engine (the gradients go to the
host and its new weights come back), and the gradient clipping and the optimizer's step (so a learning-rate
scheduler keeps working). The result is the step of :func:`daas.torch.search.architecture_step`
and :func:`~daas.torch.search.weight_step`, BatchNorm statistics included (the warm-up passes a
capture needs are undone).

With a device engine (``arch.on_device``: libdaas-cuda.so, ``{"device": "cuda"}``) the engine's step
and the refresh of the weights are inside the architecture graph: its kernels read the step
counters and coefficients from device memory, so each replay is the next step, and a whole search
step runs without the host touching the architecture. Steps the device refuses raise from the next
synchronizing call (``engine.sync()``; the search's ``set_epoch`` at each epoch is one).

Needs a CUDA device; anything else raises :class:`CaptureUnavailable` at construction, and
``daas.torch.search.search(..., cuda_graphs=True)`` then says so and runs the eager step. A batch
whose shape differs from the captured one (a last, smaller batch) runs eagerly too
(:attr:`CapturedStep.eager_steps` counts them). ``skip_zero`` needs a host synchronisation per
forward and is not available in a graph.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from .optim import ArchitectureOptimizer

__all__ = ["CapturedStep", "CaptureUnavailable", "capture_available"]


class CaptureUnavailable(RuntimeError):
    """CUDA-graph capture is not possible here (no CUDA device, or the model is not on one)."""


def capture_available(device: Any) -> Optional[str]:
    """None when a step on ``device`` can be captured, else the reason why not (a sentence)."""
    device = torch.device(device)
    if device.type != "cuda":
        return f"CUDA graphs need a CUDA device; the supernet is on {device.type}"
    if not torch.cuda.is_available():
        return "CUDA graphs need a CUDA device; PyTorch sees none"
    return None


class CapturedStep:
    """``architecture_step(x, y)`` and ``weight_step(x, y, grad_clip)`` of a search, replayed from
    CUDA graphs captured at the first call (see the module's docstring). ``model`` is the supernet
    (a :class:`~daas.torch.batched.BatchedNetwork` or the reference ``Network``, on a CUDA
    device), ``optimizer`` the weights' optimizer, ``arch`` the :class:`ArchitectureOptimizer`.
    ``warmup`` eager passes on a side stream precede each capture (PyTorch's recipe)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, arch: ArchitectureOptimizer, *,
                 warmup: int = 3) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"daas.torch: CapturedStep wants the supernet module, got {type(model).__name__}")
        if not isinstance(arch, ArchitectureOptimizer):
            raise TypeError(f"daas.torch: CapturedStep wants an ArchitectureOptimizer, got {type(arch).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"daas.torch: CapturedStep wants a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 1:
            raise ValueError(f"daas.torch: CapturedStep warmup must be an integer >= 1, got {warmup!r}")
        params = list(model.parameters())
        if not params:
            raise ValueError("daas.torch: CapturedStep: the model has no parameters")
        why = capture_available(params[0].device)
        if why is None and arch.device != params[0].device:
            why = f"the architecture weights are on {arch.device}, the supernet on {params[0].device}"
        if why is not None:
            raise CaptureUnavailable(f"daas.torch: CapturedStep: {why}")
        self.model, self.optimizer, self.arch, self.warmup = model, optimizer, arch, warmup
        self.device = params[0].device
        self._arch: Optional[Dict[str, Any]] = None
        self._weight: Optional[Dict[str, Any]] = None
        self._pool = torch.cuda.graph_pool_handle()
        #: Steps run eagerly because their batch's shape differed from the captured one.
        self.eager_steps = 0

    # -- capture ------------------------------------------------------------------------------


    def _capture(self, fn: Any, static: Dict[str, torch.Tensor], captured: Any = None) -> Tuple[torch.cuda.CUDAGraph, Any]:
        """Warms ``fn`` up and captures ``captured`` (default ``fn``): what only the graph may do,
        such as the device engine's step, is in ``captured`` alone."""
        saved = [(b, b.clone()) for b in self.model.buffers()]  # the warm-ups must not move the statistics
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                fn(static)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            out = (captured or fn)(static)
        with torch.no_grad():  # in place: the graph holds these buffers' addresses
            for b, value in saved:
                b.copy_(value)
        return graph, out

    def _arch_pass(self, s: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        logits = self.model(s["x"], s["op"], s["edge"])
        g_op, g_edge = torch.autograd.grad(F.cross_entropy(logits, s["y"]), (s["op"], s["edge"]), allow_unused=True)
        g_op = torch.zeros_like(s["op"]) if g_op is None else g_op
        g_edge = torch.zeros_like(s["edge"]) if g_edge is None else g_edge
        return logits.detach(), g_op, g_edge

    def _arch_pass_with_engine(self, s: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """The architecture pass and the device engine's step and weights, as one graph."""
        logits, g_op, g_edge = self._arch_pass(s)
        engine = self.arch.engine
        engine.step(g_op.contiguous(), g_edge.contiguous())
        engine.weights(out=(self.arch.op_weights.detach(), self.arch.edge_weights.detach()))
        return logits, g_op, g_edge

    def _weight_pass(self, s: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        # .grad freed first, so the captured backward allocates (in the graph's pool) the .grad that
        # every replay overwrites, instead of adding to one left by a warm-up pass
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(s["x"], s["op"], s["edge"])
        loss = F.cross_entropy(logits, s["y"])
        loss.backward()
        return loss.detach(), logits.detach()

    def _static(self, x: torch.Tensor, y: torch.Tensor, grad: bool) -> Dict[str, torch.Tensor]:
        op, edge = self.arch.op_weights.detach().clone(), self.arch.edge_weights.detach().clone()
        return {"x": x.detach().clone(), "y": y.detach().clone(), "op": op.requires_grad_(grad),
                "edge": edge.requires_grad_(grad)}

    @staticmethod
    def _fits(cap: Dict[str, Any], x: torch.Tensor, y: torch.Tensor) -> bool:
        s = cap["static"]
        return s["x"].shape == x.shape and s["y"].shape == y.shape and s["x"].dtype == x.dtype

    @staticmethod
    @torch.no_grad()
    def _load(s: Dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, op: torch.Tensor, edge: torch.Tensor) -> None:
        s["x"].copy_(x)
        s["y"].copy_(y)
        s["op"].copy_(op)
        s["edge"].copy_(edge)

    # -- the two steps ------------------------------------------------------------------------

    def architecture_step(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, float]:
        """As :func:`daas.torch.search.architecture_step` (returns the logits and the seconds in daas)."""
        arch = self.arch
        if self._arch is None:
            static = self._static(x, y, True)
            graph, out = self._capture(self._arch_pass, static, self._arch_pass_with_engine if arch.on_device else None)
            self._arch = {"graph": graph, "static": static, "out": out}
        if not self._fits(self._arch, x, y):
            from .search import architecture_step

            self.eager_steps += 1
            return architecture_step(arch, self.model, x, y)  # type: ignore[arg-type]
        cap = self._arch
        self._load(cap["static"], x, y, arch.op_weights, arch.edge_weights)
        cap["graph"].replay()
        logits, g_op, g_edge = cap["out"]
        if arch.on_device:  # the replay took the engine's step and refreshed the weights
            return logits.clone(), 0.0
        arch.op_weights.grad, arch.edge_weights.grad = g_op, g_edge  # read (copied to the host) by step()
        arch.step()
        arch.op_weights.grad = arch.edge_weights.grad = None
        return logits.clone(), arch.take_engine_seconds()

    def weight_step(self, x: torch.Tensor, y: torch.Tensor, grad_clip: float) -> Tuple[torch.Tensor, torch.Tensor]:
        """As :func:`daas.torch.search.weight_step` with the architecture's current weights (returns
        the loss and the logits): the graph fills ``.grad``, clipping and the optimizer run eagerly."""
        if self._weight is None:
            static = self._static(x, y, False)
            graph, out = self._capture(self._weight_pass, static)
            self._weight = {"graph": graph, "static": static, "out": out}
        if not self._fits(self._weight, x, y):
            # search.weight_step eagerly, except that the graph's .grad tensors are zeroed, not freed
            self.eager_steps += 1
            for p in self.model.parameters():
                if p.grad is not None:
                    p.grad.zero_()
            logits = self.model(x, self.arch.op_weights.detach(), self.arch.edge_weights.detach())
            loss = F.cross_entropy(logits, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
            self.optimizer.step()
            return loss.detach(), logits.detach()
        cap = self._weight
        self._load(cap["static"], x, y, self.arch.op_weights, self.arch.edge_weights)
        cap["graph"].replay()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), grad_clip)
        self.optimizer.step()
        loss, logits = cap["out"]
        return loss.clone(), logits.clone()
