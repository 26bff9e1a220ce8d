"""Neurenix: reinforcement learning on a small numpy autograd engine."""

from neurenix._accel.runtime import available_cores, configure_allocator, configure_blas_threads
from neurenix.tensor import Tensor, manual_seed, no_grad, ones, tensor, where, zeros

BLAS_THREADS = configure_blas_threads()
TUNED_ALLOCATOR = configure_allocator()

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "available_cores",
    "manual_seed",
    "no_grad",
    "ones",
    "tensor",
    "where",
    "zeros",
    "__version__",
]
