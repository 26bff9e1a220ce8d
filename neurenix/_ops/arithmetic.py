"""The Tensor's arithmetic, elementwise math and comparisons, each forward beside its local backward.

A mixin of `neurenix.tensor.Tensor`: its ops reach the engine as `engine.<name>` (see `neurenix._ops`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

import neurenix.tensor as engine

if TYPE_CHECKING:
    from neurenix.tensor import Tensor


class ArithmeticOps:
    __slots__ = ()

    # ---------------------------------------------------------------------------------------- arithmetic
    def __add__(self, other: Any) -> Tensor:
        if isinstance(other, engine.Tensor):
            return engine.from_op(self._data + other._data, (self, other), lambda g: (g, g))
        return engine.from_op(self._data + _constant(other), (self,), lambda g: (g,))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        if isinstance(other, engine.Tensor):
            return engine.from_op(self._data - other._data, (self, other), lambda g: (g, -g))
        return engine.from_op(self._data - _constant(other), (self,), lambda g: (g,))

    def __rsub__(self, other: Any) -> Tensor:
        return engine.from_op(_constant(other) - self._data, (self,), lambda g: (-g,))

    def __mul__(self, other: Any) -> Tensor:
        a = self._data
        if isinstance(other, engine.Tensor):
            b = other._data
            return engine.from_op(a * b, (self, other), lambda g: (g * b, g * a))
        b = _constant(other)
        return engine.from_op(a * b, (self,), lambda g: (g * b,))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        a = self._data
        if isinstance(other, engine.Tensor):
            b = other._data
            return engine.from_op(a / b, (self, other), lambda g: (g / b, -g * a / (b * b)))
        b = _constant(other)
        return engine.from_op(a / b, (self,), lambda g: (g / b,))

    def __rtruediv__(self, other: Any) -> Tensor:
        a = _constant(other)
        b = self._data
        return engine.from_op(a / b, (self,), lambda g: (-g * a / (b * b),))

    def __pow__(self, exponent: Any) -> Tensor:
        a = self._data
        if isinstance(exponent, engine.Tensor):
            e = exponent._data
            out = a**e

            def backward(g):
                return g * e * a ** (e - 1), g * out * np.log(np.where(a > 0, a, 1))

            return engine.from_op(out, (self, exponent), backward)
        e = _constant(exponent)
        if isinstance(e, (int, float)) and e == 2:
            return engine.from_op(a * a, (self,), lambda g: (2 * g * a,))
        return engine.from_op(a**e, (self,), lambda g: (g * e * a ** (e - 1),))

    def __rpow__(self, base: Any) -> Tensor:
        b = _constant(base)
        out = b**self._data
        return engine.from_op(out, (self,), lambda g: (g * out * np.log(b),))

    def __neg__(self) -> Tensor:
        return engine.from_op(-self._data, (self,), lambda g: (-g,))

    def __matmul__(self, other: Any) -> Tensor:
        return self.matmul(other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return engine.Tensor(other).matmul(self)

    def matmul(self, other: Any) -> Tensor:
        other = other if isinstance(other, engine.Tensor) else engine.Tensor(other)
        a, b = self._data, other._data
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b

        def backward(g):
            # Restore the axes a 1-D operand removed from the output, so both grads are plain matmuls.
            if a.ndim == 1:
                g = np.expand_dims(g, -2 if g.ndim else 0)
            if b.ndim == 1:
                g = np.expand_dims(g, -1)
            grad_a = g @ np.swapaxes(b2, -1, -2)
            grad_b = np.swapaxes(a2, -1, -2) @ g
            if a.ndim == 1:
                grad_a = engine._unbroadcast(grad_a, a2.shape).reshape(a.shape)
            if b.ndim == 1:
                grad_b = engine._unbroadcast(grad_b, b2.shape).reshape(b.shape)
            return grad_a, grad_b

        return engine.from_op(a @ b, (self, other), backward)

    # ------------------------------------------------------------------------------------ elementwise math
    def exp(self) -> Tensor:
        out = np.exp(self._data)
        return engine.from_op(out, (self,), lambda g: (g * out,))

    def log(self) -> Tensor:
        a = self._data
        return engine.from_op(np.log(a), (self,), lambda g: (g / a,))

    def tanh(self) -> Tensor:
        out = np.tanh(self._data)
        return engine.from_op(out, (self,), lambda g: (g * (1 - out * out),))

    def relu(self) -> Tensor:
        out = np.maximum(self._data, 0)
        return engine.from_op(out, (self,), lambda g: (g * (out > 0),))

    def sigmoid(self) -> Tensor:
        out = _sigmoid(self._data)
        return engine.from_op(out, (self,), lambda g: (g * out * (1 - out),))

    def softplus(self) -> Tensor:
        a = self._data
        # log(1 + e^a) = max(a, 0) + log1p(e^-|a|): finite for any a.
        out = np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))
        return engine.from_op(out, (self,), lambda g: (g * _sigmoid(a),))

    def abs(self) -> Tensor:
        a = self._data
        return engine.from_op(np.abs(a), (self,), lambda g: (g * np.sign(a),))

    def sqrt(self) -> Tensor:
        out = np.sqrt(self._data)
        return engine.from_op(out, (self,), lambda g: (g * 0.5 / out,))

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        a = self._data
        out = np.clip(a, min, max)
        inside = np.ones(a.shape, dtype=bool)
        if min is not None:
            inside &= a >= min
        if max is not None:
            inside &= a <= max
        return engine.from_op(out, (self,), lambda g: (g * inside,))

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        return _select(self, other, np.greater_equal)

    def minimum(self, other: Any) -> Tensor:
        return _select(self, other, np.less_equal)

    # --------------------------------------------------------------------------------------- comparisons
    # Defining __eq__ leaves this mixin unhashable; `Tensor` hashes by identity (its `__hash__`).
    def __lt__(self, other: Any) -> Tensor:
        return engine.Tensor(self._data < _value(other))

    def __le__(self, other: Any) -> Tensor:
        return engine.Tensor(self._data <= _value(other))

    def __gt__(self, other: Any) -> Tensor:
        return engine.Tensor(self._data > _value(other))

    def __ge__(self, other: Any) -> Tensor:
        return engine.Tensor(self._data >= _value(other))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return engine.Tensor(self._data == _value(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return engine.Tensor(self._data != _value(other))


def _constant(value: Any) -> Any:
    """Scalars become Python scalars, which numpy treats as weakly typed: float32 stays float32 even when the
    scalar was a numpy float64. Anything else becomes an array."""
    if isinstance(value, np.generic):  # first: np.float64 is also a Python float
        return value.item()
    if isinstance(value, (int, float, bool)):
        return value
    return np.asarray(value)


def _value(x: Any) -> Any:
    return x._data if isinstance(x, engine.Tensor) else _constant(x)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # Split by sign so that exp never overflows.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


def _select(a: Tensor, b: Any, keep_a: Callable) -> Tensor:
    """Elementwise max/min: the gradient goes to the chosen side (to `a` on ties)."""
    bv = _value(b)
    chosen = keep_a(a._data, bv)
    out = np.where(chosen, a._data, bv)
    if isinstance(b, engine.Tensor):
        return engine.from_op(out, (a, b), lambda g: (g * chosen, g * ~chosen))
    return engine.from_op(out, (a,), lambda g: (g * chosen,))
