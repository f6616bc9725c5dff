"""The architecture side as a PyTorch optimizer.

:class:`ArchitectureOptimizer` wraps a :class:`daas.Engine` the way ``torch.optim.Adam`` wraps a model's
parameters. Its two parameters are the engine's mixing weights as leaf tensors on your device: the
op weights ``[cell][edge][op]`` and the edge weights ``[cell][edge]``. Use them in the supernet's forward
pass, backpropagate, and :meth:`~ArchitectureOptimizer.step` hands their ``.grad`` to the engine (one
Adam step of α and β with the DAAS losses) and refreshes them in place with the new weights::

    arch = ArchitectureOptimizer(daas.Engine(config), device="cuda")
    for epoch in range(1, epochs + 1):
        arch.set_epoch(epoch)
        for x, y in val_loader:
            arch.zero_grad()
            loss = F.cross_entropy(model(x, *arch.weights), y)
            arch.backward(loss)          # or loss.backward(), which also fills the supernet's .grad
            arch.step()
    torch.save({"model": model.state_dict(), "arch": arch.state_dict()}, "search.pt")

With a device engine (``daas.Engine({"device": "cuda", ...})`` in a process that loaded libdaas-cuda.so)
the two tensors are the engine's own output on the GPU: :meth:`~ArchitectureOptimizer.step` enqueues the
engine's step and the refresh of the weights on the current stream and returns without copying anything
to the host or waiting for the GPU (a refused step raises from the next synchronizing call, e.g.
``engine.sync()``). With a host engine on CUDA the gradients are copied to the host and the weights back.

``state_dict()`` holds the engine's whole state as bytes (α, β, the Adam moments, epoch, step count and
history), so the supernet, its optimizer and the architecture go into one ``torch.save`` checkpoint;
``load_state_dict()`` puts the engine back exactly where it was, and the search continues bit for bit.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import torch

__all__ = ["ArchitectureOptimizer"]


class ArchitectureOptimizer(torch.optim.Optimizer):
    """α and β of ``engine`` as an optimizer over the mixing-weight tensors :attr:`op_weights` and
    :attr:`edge_weights` (float32, on ``device``). The engine is the optimizer's state; it is not
    closed by this object."""

    def __init__(self, engine: Any, device: Any = None) -> None:
        self.engine = engine
        self.on_device = getattr(engine, "device", "cpu") != "cpu"
        default = engine.device if self.on_device else "cpu"
        self.device = torch.device(device) if device is not None else torch.device(default)
        if self.on_device and self.device != torch.device(engine.device):
            raise ValueError(f"daas.torch: the engine lives on {engine.device}, the weights would be on {self.device}")
        n_alpha, n_edges = engine.sizes
        # Host buffers the engine fills in place (no allocation per step); unused by a device engine.
        self._op_np = np.empty(n_alpha, dtype=np.float32)
        self._edge_np = np.empty(n_edges, dtype=np.float32)
        if self.on_device:
            op, edge = (t.requires_grad_(True) for t in engine.weights())
        else:
            engine.weights(out=(self._op_np, self._edge_np))
            op = torch.from_numpy(self._op_np).to(self.device, copy=True).requires_grad_(True)
            edge = torch.from_numpy(self._edge_np).to(self.device, copy=True).requires_grad_(True)
        super().__init__([op, edge], {})
        #: Seconds spent inside the engine (weights and step) since the last :meth:`take_engine_seconds`.
        self.engine_seconds = 0.0

    @property
    def op_weights(self) -> torch.Tensor:
        """The op weights A, ``[cell][edge][op]`` flat, a leaf tensor with ``requires_grad``."""
        return self.param_groups[0]["params"][0]

    @property
    def edge_weights(self) -> torch.Tensor:
        """The edge weights W, ``[cell][edge]`` flat, a leaf tensor with ``requires_grad``."""
        return self.param_groups[0]["params"][1]

    @property
    def weights(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(op_weights, edge_weights)``."""
        return self.op_weights, self.edge_weights

    def set_epoch(self, epoch: int) -> None:
        """Moves the engine's schedules to ``epoch`` (``Engine.set_epoch``)."""
        self.engine.set_epoch(epoch)

    def backward(self, loss: torch.Tensor) -> None:
        """Fills the ``.grad`` of the two weight tensors from ``loss`` alone: unlike ``loss.backward()``
        it computes no gradient of the supernet's own parameters."""
        grads = torch.autograd.grad(loss, (self.op_weights, self.edge_weights), allow_unused=True)
        for p, g in zip((self.op_weights, self.edge_weights), grads):
            p.grad = torch.zeros_like(p) if g is None else g

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], torch.Tensor]] = None) -> Optional[torch.Tensor]:
        """One architecture step: the ``.grad`` of both weight tensors go to ``Engine.step`` (a weight
        that took no part in the loss has gradient 0), then both tensors are refreshed in place.
        ``closure``, when given, is called first with gradients enabled (it should zero the gradients,
        compute the loss and backpropagate) and its loss is returned."""
        import time

        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads = []
        for name, p in (("op_weights", self.op_weights), ("edge_weights", self.edge_weights)):
            if p.grad is None:
                raise RuntimeError(f"daas.torch: {name}.grad is None: use the weights in the forward pass and "
                                   "backpropagate (loss.backward() or ArchitectureOptimizer.backward(loss)) "
                                   "before step()")
            g = p.grad.detach().to(torch.float32).contiguous()
            grads.append(g if self.on_device else g.to("cpu").numpy())
        t0 = time.perf_counter()
        self.engine.step(grads[0], grads[1])
        self._refresh()
        self.engine_seconds += time.perf_counter() - t0
        return loss

    def _refresh(self) -> None:
        """The weight tensors take the engine's current weights, in place."""
        if self.on_device:  # a kernel writes them on the current stream
            self.engine.weights(out=(self.op_weights.detach(), self.edge_weights.detach()))
            return
        self.engine.weights(out=(self._op_np, self._edge_np))
        self.op_weights.copy_(torch.from_numpy(self._op_np))
        self.edge_weights.copy_(torch.from_numpy(self._edge_np))

    def take_engine_seconds(self) -> float:
        """The seconds spent in the engine since the last call, and resets the count."""
        s, self.engine_seconds = self.engine_seconds, 0.0
        return s

    def state_dict(self) -> Dict[str, Any]:  # type: ignore[override]
        """``{"engine_state": bytes, "epoch": int}``: the engine's whole state (``Engine.save``)."""
        return {"engine_state": self.engine.save(), "epoch": self.engine.epoch}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:  # type: ignore[override]
        """Restores the engine from ``state_dict()``'s bytes, in place (the same :class:`daas.Engine`
        object), and refreshes the weight tensors."""
        self.engine.load_state_dict({"state": state_dict["engine_state"]})
        with torch.no_grad():
            self._refresh()
        for p in (self.op_weights, self.edge_weights):
            p.grad = None
