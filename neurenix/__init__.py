"""Neurenix: reinforcement learning on a small numpy autograd engine."""

from neurenix.tensor import Tensor, manual_seed, no_grad, ones, tensor, where, zeros

__version__ = "0.1.0"

__all__ = ["Tensor", "manual_seed", "no_grad", "ones", "tensor", "where", "zeros", "__version__"]
