"""`Module`: a container of parameters and sub-modules whose dotted names are the checkpoint keys."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from neurenix._accel import FlatParameters
from neurenix.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data, requires_grad=requires_grad)


class Module:
    """Base class: attributes that are Parameters or Modules are registered in assignment order."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, param in self._parameters.items():
            yield prefix + name, param
        for name, module in self._modules.items():
            yield from module.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def modules(self) -> Iterator[Module]:
        yield self
        for module in self._modules.values():
            yield from module.modules()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: p.numpy().copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy values in place (keeping any optimizer's flat views valid); names and shapes must match."""
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
        for name, param in own.items():
            value = np.asarray(state[name])
            if value.shape != param.shape:
                raise ValueError(f"shape mismatch for {name!r}: expected {param.shape}, got {value.shape}")
            param.numpy()[...] = value

    def clone(self) -> Module:
        """An independent deep copy (target networks): own storage, no gradients, no optimizer links.

        The copy's parameters live in one array, so that a Polyak update or a hard copy into it is one pass.
        """
        twin = copy.deepcopy(self)
        params = twin.parameters()
        for p in params:
            p._grad, p._has_grad = None, False  # a deep copy is no optimizer's: `flat_owner` gives None
        if params and len({p.dtype for p in params}) == 1:
            # Held here: `flat_owner` (and so `polyak_update`'s one-pass path) finds only buffers someone holds.
            twin._flat_parameters = FlatParameters(params, gradients=False)
        return twin

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={module!r}" for name, module in self._modules.items())
        return f"{type(self).__name__}({inner})"
