"""The Tensor's reductions (sum, mean, var, max/min with indices, arg-extremes) and softmaxes, each forward
beside its local backward.

A mixin of `neurenix.tensor.Tensor`: its ops reach the engine as `engine.<name>` (see `neurenix._ops`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

import neurenix.tensor as engine

if TYPE_CHECKING:
    from neurenix.tensor import Tensor


class MinMax(NamedTuple):
    values: Tensor
    indices: Tensor


class ReductionOps:
    __slots__ = ()

    # ---------------------------------------------------------------------------------------- reductions
    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        shape = self._data.shape
        dims = _normalize_dims(dim, self._data.ndim)
        out = self._data.sum(axis=dims, keepdims=keepdim)
        return engine.from_op(
            np.asarray(out), (self,), lambda g: (np.broadcast_to(_expand_reduced(g, dims, keepdim), shape),)
        )

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        shape = self._data.shape
        dims = _normalize_dims(dim, self._data.ndim)
        count = self._data.size if dims is None else int(np.prod([shape[d] for d in dims]))
        out = np.asarray(self._data.mean(axis=dims, keepdims=keepdim))

        def backward(g):
            return (np.broadcast_to(_expand_reduced(g, dims, keepdim) / count, shape),)

        return engine.from_op(out, (self,), backward)

    def var(
        self, dim: int | Sequence[int] | None = None, keepdim: bool = False, unbiased: bool = True
    ) -> Tensor:
        dims = _normalize_dims(dim, self._data.ndim)
        count = self._data.size if dims is None else int(np.prod([self._data.shape[d] for d in dims]))
        centred = self - self.mean(dim=dims, keepdim=True)
        return (centred * centred).sum(dim=dims, keepdim=keepdim) / (count - 1 if unbiased else count)

    def std(
        self, dim: int | Sequence[int] | None = None, keepdim: bool = False, unbiased: bool = True
    ) -> Tensor:
        return self.var(dim=dim, keepdim=keepdim, unbiased=unbiased).sqrt()

    def max(self, dim: Any = None, keepdim: bool = False):
        """`max()` -> scalar; `max(dim)` -> (values, indices); `max(other_tensor)` -> elementwise maximum."""
        if isinstance(dim, engine.Tensor):
            return self.maximum(dim)
        return _extreme(self, dim, keepdim, np.argmax)

    def min(self, dim: Any = None, keepdim: bool = False):
        """`min()` -> scalar; `min(dim)` -> (values, indices); `min(other_tensor)` -> elementwise minimum."""
        if isinstance(dim, engine.Tensor):
            return self.minimum(dim)
        return _extreme(self, dim, keepdim, np.argmin)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return engine.Tensor(np.argmax(self._data, axis=dim, keepdims=keepdim))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return engine.Tensor(np.argmin(self._data, axis=dim, keepdims=keepdim))

    # ------------------------------------------------------------------------------ softmax and sampling
    def softmax(self, dim: int = -1) -> Tensor:
        shifted = self._data - self._data.max(axis=dim, keepdims=True)
        exp = np.exp(shifted)
        out = exp / exp.sum(axis=dim, keepdims=True)
        return engine.from_op(out, (self,), lambda g: (out * (g - (g * out).sum(axis=dim, keepdims=True)),))

    def log_softmax(self, dim: int = -1) -> Tensor:
        out = log_softmax_values(self._data, dim)
        return engine.from_op(out, (self,), lambda g: (g - np.exp(out) * g.sum(axis=dim, keepdims=True),))


def _normalize_dims(dim: int | Sequence[int] | None, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(d % ndim if ndim else 0 for d in dims)


def _expand_reduced(grad: np.ndarray, dims: tuple[int, ...] | None, keepdim: bool) -> np.ndarray:
    """Give a reduced gradient back its reduced axes (as size 1) so that it broadcasts over the input."""
    if dims is None or keepdim:
        return grad
    return np.expand_dims(grad, dims)


def _extreme(t: Tensor, dim: int | None, keepdim: bool, arg: Callable):
    data = t._data
    if dim is None:
        flat = arg(data)
        out = np.asarray(data.reshape(-1)[flat])

        def backward(g):
            grad = np.zeros(data.size, dtype=data.dtype)
            grad[flat] = g
            return (grad.reshape(data.shape),)

        return engine.from_op(out, (t,), backward)
    dim = dim % data.ndim
    idx = np.expand_dims(arg(data, axis=dim), dim)
    values = np.take_along_axis(data, idx, axis=dim)

    def backward(g):
        grad = np.zeros(data.shape, dtype=data.dtype)
        np.put_along_axis(grad, idx, g if keepdim else np.expand_dims(g, dim), axis=dim)
        return (grad,)

    if not keepdim:
        values, out_idx = values.squeeze(dim), idx.squeeze(dim)
    else:
        out_idx = idx
    return MinMax(engine.from_op(values, (t,), backward), engine.Tensor(out_idx.astype(np.int64)))


def log_softmax_values(a: np.ndarray, dim: int = -1) -> np.ndarray:
    """log softmax(a) along `dim` on a plain array, shifted by the max so that exp cannot overflow."""
    shifted = a - a.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
