"""Neural-network building blocks on top of `neurenix.tensor`."""

from neurenix.nn import functional, init
from neurenix.nn.layers import (
    ACTIVATIONS,
    Conv2d,
    Flatten,
    Identity,
    Linear,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    mlp,
)
from neurenix.nn.module import Module, Parameter

__all__ = [
    "ACTIVATIONS",
    "Conv2d",
    "Flatten",
    "Identity",
    "Linear",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "functional",
    "init",
    "mlp",
]
