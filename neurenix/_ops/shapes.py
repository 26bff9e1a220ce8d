"""The Tensor's shape ops, indexing and joining (reshape, transpose, getitem, gather, cat, stack, where), each
forward beside its local backward.

A mixin of `neurenix.tensor.Tensor`: its ops reach the engine as `engine.<name>` (see `neurenix._ops`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import neurenix.tensor as engine
from neurenix._ops.arithmetic import _value

if TYPE_CHECKING:
    from neurenix.tensor import Tensor


class ShapeOps:
    __slots__ = ()

    # ------------------------------------------------------------------------------------ shape and index
    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        original = self._data.shape
        return engine.from_op(self._data.reshape(shape), (self,), lambda g: (g.reshape(original),))

    view = reshape

    def flatten(self, start_dim: int = 0) -> Tensor:
        return self.reshape(*self._data.shape[:start_dim], -1)

    def unsqueeze(self, dim: int) -> Tensor:
        original = self._data.shape
        return engine.from_op(np.expand_dims(self._data, dim), (self,), lambda g: (g.reshape(original),))

    def squeeze(self, dim: int | None = None) -> Tensor:
        original = self._data.shape
        if dim is not None and original[dim] != 1:
            return self
        return engine.from_op(np.squeeze(self._data, axis=dim), (self,), lambda g: (g.reshape(original),))

    def transpose(self, dim0: int = 0, dim1: int = 1) -> Tensor:
        return engine.from_op(
            np.swapaxes(self._data, dim0, dim1), (self,), lambda g: (np.swapaxes(g, dim0, dim1),)
        )

    @property
    def T(self) -> Tensor:
        return engine.from_op(self._data.T, (self,), lambda g: (g.T,))

    def expand(self, *shape: int) -> Tensor:
        return engine.from_op(np.broadcast_to(self._data, shape), (self,), lambda g: (g,))

    def __getitem__(self, index: Any) -> Tensor:
        index = _plain_index(index)
        shape, dtype = self._data.shape, self._data.dtype

        def backward(g):
            grad = np.zeros(shape, dtype=dtype)
            if _is_advanced(index):
                np.add.at(grad, index, g)  # repeated indices must add up
            else:
                grad[index] = g
            return (grad,)

        return engine.from_op(np.asarray(self._data[index]), (self,), backward)

    def gather(self, dim: int, index: Any) -> Tensor:
        """out[i][j] = self[i][index[i][j]] along `dim` (torch.gather)."""
        idx = (
            engine._as_array(index, np.intp)
            if not isinstance(index, np.ndarray)
            else index.astype(np.intp, copy=False)
        )
        shape, dtype = self._data.shape, self._data.dtype
        dim = dim % self._data.ndim
        # Like torch, the index may be smaller than the input along the other dims: gather from that corner.
        corner = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(idx.shape))

        def backward(g):
            grad = np.zeros(shape, dtype=dtype)
            if idx.shape[dim] == 1:
                np.put_along_axis(grad[corner], idx, g, axis=dim)  # one pick per slice: no repeats possible
            else:
                coords = list(np.indices(idx.shape, sparse=True))
                coords[dim] = idx
                np.add.at(grad, tuple(coords), g)
            return (grad,)

        return engine.from_op(np.take_along_axis(self._data[corner], idx, axis=dim), (self,), backward)

    @staticmethod
    def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
        tensors = [t if isinstance(t, engine.Tensor) else engine.Tensor(t) for t in tensors]
        splits = np.cumsum([t._data.shape[dim] for t in tensors])[:-1]
        out = np.concatenate([t._data for t in tensors], axis=dim)
        return engine.from_op(out, tuple(tensors), lambda g: tuple(np.split(g, splits, axis=dim)))

    @staticmethod
    def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
        tensors = [t if isinstance(t, engine.Tensor) else engine.Tensor(t) for t in tensors]
        out = np.stack([t._data for t in tensors], axis=dim)

        def backward(g):
            return tuple(np.take(g, i, axis=dim) for i in range(len(tensors)))

        return engine.from_op(out, tuple(tensors), backward)

    @staticmethod
    def where(condition: Any, a: Any, b: Any) -> Tensor:
        cond = engine._as_array(condition, bool)
        parents, sides = [], []
        for side, value in ((True, a), (False, b)):
            if isinstance(value, engine.Tensor):
                parents.append(value)
                sides.append(side)
        out = np.where(cond, _value(a), _value(b))

        def backward(g):
            return tuple(np.where(cond, g, 0) if side else np.where(cond, 0, g) for side in sides)

        return engine.from_op(out, tuple(parents), backward)


def _plain_index(index: Any) -> Any:
    if isinstance(index, engine.Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, engine.Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_advanced(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (np.ndarray, list)) for p in parts)
