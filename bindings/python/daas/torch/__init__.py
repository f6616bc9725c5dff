"""PyTorch integration of daas: the search space as modules and a first-order search loop.

- :mod:`daas.torch.ops`: the candidate ops in a registry keyed by op name (DARTS and NAS-Bench-201
  primitives; :func:`~daas.torch.ops.register_op` adds your own).
- :mod:`daas.torch.model`: :class:`MixedOp`, :class:`SearchCell` (any space the engine accepts) and the
  supernet :class:`Network`, driven by the engine's flat op and edge weights.
- :mod:`daas.torch.batched`: :class:`BatchedNetwork`, the same supernet batched across edges (each op type
  once per wave of edges, or per cache-sized group of them on the CPU, over stacked weights),
  converting to and from the reference ``Network``'s checkpoints.
- :mod:`daas.torch.captured`: :class:`CapturedStep`, a search step's passes replayed from CUDA graphs.
- :mod:`daas.torch.optim`: :class:`ArchitectureOptimizer`, the engine as a PyTorch optimizer over the
  op and edge weight tensors (``zero_grad``, ``step``, ``state_dict``).
- :mod:`daas.torch.distributed`: data-parallel search on torch.distributed (one flat all-reduce of the
  architecture gradients, state digests compared every epoch, deterministic shards).
- :mod:`daas.torch.search`: the loop (``from daas.torch.search import search``) and
  ``python -m daas.torch.search`` (``make search``).
- :mod:`daas.torch.evaluate`: the discretization gap (supernet vs. discretized network accuracy).
- :mod:`daas.torch.retrain`: a genotype as a stand-alone network (:class:`~daas.torch.retrain.DiscreteNetwork`),
  random genotypes of a space, and training from scratch.
- :mod:`daas.torch.data`, :mod:`daas.torch.plots`: digits / .npz data, PNG plots.
"""

from .batched import BatchedNetwork
from .captured import CapturedStep, CaptureUnavailable
from .model import CellSpec, MixedOp, Network, SearchCell, SpaceSpec, default_layout
from .ops import OPS, UnknownOpError, build_op, register_op
from .optim import ArchitectureOptimizer

__all__ = ["ArchitectureOptimizer", "BatchedNetwork", "CapturedStep", "CaptureUnavailable", "CellSpec", "MixedOp", "Network", "SearchCell", "SpaceSpec", "default_layout", "OPS", "UnknownOpError",
           "build_op", "register_op", "scaled_config", "discretization_gap", "discretized_network_accuracy",
           "discrete_weights"]


def __getattr__(name: str):
    # The loop and the evaluation are imported on first use (they pull in the engine bindings).
    # (``search`` itself is the submodule; the loop function is daas.torch.search.search.)
    if name == "scaled_config":
        from .search import scaled_config

        return scaled_config
    if name in ("discretization_gap", "discretized_network_accuracy", "discrete_weights"):
        from . import evaluate as _evaluate

        return getattr(_evaluate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
