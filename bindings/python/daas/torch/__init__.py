"""PyTorch integration of daas: the search space as modules and a first-order search loop.

- :mod:`daas.torch.ops`: the candidate ops in a registry keyed by op name (DARTS and NAS-Bench-201
  primitives; :func:`~daas.torch.ops.register_op` adds your own).
- :mod:`daas.torch.model`: :class:`MixedOp`, :class:`SearchCell` (any space the engine accepts) and the
  supernet :class:`Network`, driven by the engine's flat op and edge weights.
- :mod:`daas.torch.search`: :func:`search`, the loop, and ``python -m daas.torch.search`` (``make search``).
- :mod:`daas.torch.evaluate`: the discretization gap (supernet vs. discretized network accuracy).
- :mod:`daas.torch.data`, :mod:`daas.torch.plots`: digits / .npz data, PNG plots.
"""

from .model import CellSpec, MixedOp, Network, SearchCell, SpaceSpec, default_layout
from .ops import OPS, UnknownOpError, build_op, register_op

__all__ = ["CellSpec", "MixedOp", "Network", "SearchCell", "SpaceSpec", "default_layout", "OPS", "UnknownOpError",
           "build_op", "register_op", "search", "scaled_config", "discretized_network_accuracy", "discrete_weights"]


def __getattr__(name: str):
    # The loop and the evaluation are imported on first use (they pull in the engine bindings).
    if name in ("search", "scaled_config"):
        from . import search as _search

        return getattr(_search, name)
    if name in ("discretized_network_accuracy", "discrete_weights"):
        from . import evaluate as _evaluate

        return getattr(_evaluate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
