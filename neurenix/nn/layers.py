"""Layers: `__init__` makes the parameters, `forward` is one expression."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from neurenix.nn import functional as F
from neurenix.nn.init import orthogonal, uniform_fan_in
from neurenix.nn.module import Module, Parameter
from neurenix.tensor import Tensor, default_generator, is_grad_enabled


class Linear(Module):
    """y = x W^T + b with W of shape (out, in).

    init="default" draws U(-1/sqrt(in), 1/sqrt(in)) like torch; init="orthogonal" draws an orthogonal W scaled
    by `gain` and zero biases, the usual choice for policy and value networks in PPO/A2C.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "default",
        gain: float = 1.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        rng = rng if rng is not None else default_generator()
        self.in_features, self.out_features = in_features, out_features
        if init == "default":
            self.weight = Parameter(uniform_fan_in((out_features, in_features), in_features, rng))
            b = uniform_fan_in((out_features,), in_features, rng)
        elif init == "orthogonal":
            self.weight = Parameter(orthogonal((out_features, in_features), gain, rng))
            b = np.zeros(out_features, dtype=np.float32)
        else:
            raise ValueError(f"unknown init {init!r}: expected 'default' or 'orthogonal'")
        self.bias = Parameter(b) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return self.activated(x, None)

    def activated(self, x: Tensor, activation: str | None) -> Tensor:
        """The layer and the activation after it (a Sequential's fused step) as one op."""
        return F.linear(x if isinstance(x, Tensor) else Tensor(x), self.weight, self.bias, activation)

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"


class Conv2d(Module):
    """A 2-D convolution over NCHW inputs (`F.conv2d`), weight (out, in, kh, kw) and bias (out,).

    Both drawn from torch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels * kh * kw.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        rng = rng if rng is not None else default_generator()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        fan_in = in_channels * kh * kw
        self.weight = Parameter(uniform_fan_in((out_channels, in_channels, kh, kw), fan_in, rng))
        self.bias = Parameter(uniform_fan_in((out_channels,), fan_in, rng)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return self.activated(x, None)

    def activated(self, x: Tensor, activation: str | None) -> Tensor:
        """The convolution and the activation after it (a Sequential's fused step) as one op."""
        x = x if isinstance(x, Tensor) else Tensor(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, activation)

    def __repr__(self) -> str:
        return (
            f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding})"
        )


class Flatten(Module):
    """(N, ...) -> (N, prod(...)): the batch axis kept, the rest in C order, as torch's nn.Flatten."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1)

    def __repr__(self) -> str:
        return "Flatten()"


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()

    def __repr__(self) -> str:
        return "ReLU()"


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()

    def __repr__(self) -> str:
        return "Tanh()"


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()

    def __repr__(self) -> str:
        return "Sigmoid()"


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x

    def __repr__(self) -> str:
        return "Identity()"


class Sequential(Module):
    """Modules applied in order; indexable and iterable, with parameter names "0.weight", "2.bias", ..."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        object.__setattr__(self, "_layers", ())
        object.__setattr__(self, "_steps", ())
        object.__setattr__(self, "_plain", True)
        for i, module in enumerate(modules):
            setattr(self, str(i), module)

    def __setattr__(self, name: str, value: Any) -> None:
        """Registering (or replacing) a numbered layer re-derives the fused steps the forward runs."""
        super().__setattr__(name, value)
        if isinstance(value, Module) and name.isdigit():
            layers = tuple(self._modules[key] for key in sorted(self._modules, key=int) if key.isdigit())
            steps = tuple(step for step in _fuse_activations(layers) if type(step[0]) is not Identity)
            object.__setattr__(self, "_layers", layers)
            object.__setattr__(self, "_steps", steps)
            # Only Linear steps: the graph-free forward can run them all.
            object.__setattr__(self, "_plain", all(type(layer) is Linear for layer, _ in steps))

    def forward(self, *inputs: Tensor) -> Tensor:
        """Several inputs are concatenated on the last axis first: critic(states, actions) is Q(s, a)."""
        inputs = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in inputs)
        x = inputs[0] if len(inputs) == 1 else Tensor.cat(inputs, dim=-1)
        if not is_grad_enabled() and self._plain:
            return Tensor(self._values(x.numpy()))
        for layer, activation in self._steps:
            x = layer(x) if activation is None else layer.activated(x, activation)
        return x

    def forward_with_features(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(the last step's input, the output): a policy's last hidden features and its head, in one pass
        (gSDE's noise reads the features)."""
        *body, (last, activation) = self._steps
        for layer, layer_activation in body:
            x = layer(x) if layer_activation is None else layer.activated(x, layer_activation)
        out = last(x) if activation is None else last.activated(x, activation)
        return x, out

    def _values(self, x: np.ndarray) -> np.ndarray:
        """The forward on plain arrays, for acting: no Tensor per layer, no graph (~2 us a layer at batch 1)."""
        for layer, activation in self._steps:
            bias = None if layer.bias is None else layer.bias.numpy()
            x = F.linear_values(x, layer.weight.numpy(), bias, activation)
        return x

    def __getitem__(self, index: int) -> Module:
        return self._layers[index]

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers)

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(repr(m) for m in self._layers) + ")"


ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "identity": Identity}
_FUSABLE = {Linear: {ReLU: "relu", Tanh: "tanh"}, Conv2d: {ReLU: "relu"}}  # layer -> activation after it


def _fuse_activations(modules: Sequence[Module]) -> tuple[tuple[Module, str | None], ...]:
    """(module, None) steps, except that a Linear followed by a ReLU or Tanh, or a Conv2d followed by a ReLU,
    becomes one (layer, name) step, run by `layer.activated`."""
    steps: list[tuple[Module, str | None]] = []
    i = 0
    while i < len(modules):
        module = modules[i]
        following = type(modules[i + 1]) if i + 1 < len(modules) else None
        fusable = _FUSABLE.get(type(module), {})
        if following in fusable:
            steps.append((module, fusable[following]))
            i += 2
        else:
            steps.append((module, None))
            i += 1
    return tuple(steps)


def mlp(
    sizes: Sequence[int],
    activation: str = "relu",
    output_activation: str | None = None,
    init: str = "default",
    output_gain: float = 1.0,
    rng: np.random.Generator | None = None,
) -> Sequential:
    """A multilayer perceptron sizes[0] -> ... -> sizes[-1].

    With init="orthogonal", hidden layers use gain sqrt(2) and the output layer `output_gain` (0.01 for a
    policy's logits, 1 for a value head), the initialisation that PPO implementations found to matter.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: expected one of {sorted(ACTIVATIONS)}")
    layers: list[Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        gain = output_gain if last else float(np.sqrt(2.0))
        layers.append(Linear(fan_in, fan_out, init=init, gain=gain, rng=rng))
        if not last:
            layers.append(ACTIVATIONS[activation]())
        elif output_activation is not None:
            layers.append(ACTIVATIONS[output_activation]())
    return Sequential(*layers)
