"""Neurenix: reinforcement learning on a small numpy autograd engine.

Importing it changes no process-wide setting. `configure_runtime()` sets the BLAS threads and the allocator the
engine's speed was measured with; `Agent.train` calls it at its start (pass `configure_runtime=False` to keep
your own settings), and so does `neurenix eval`.
"""

from neurenix._accel import Runtime, available_cores, configure_runtime
from neurenix.tensor import Tensor, manual_seed, no_grad, ones, tensor, where, zeros

__version__ = "0.1.0"

__all__ = [
    "Runtime",
    "Tensor",
    "available_cores",
    "configure_runtime",
    "manual_seed",
    "no_grad",
    "ones",
    "tensor",
    "where",
    "zeros",
    "__version__",
]
