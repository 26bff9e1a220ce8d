"""A small reverse-mode autograd engine over numpy.

Each op computes its output and, right beside it, a local backward that maps the output's gradient to one
gradient per parent. The engine reduces a broadcast gradient back to its parent's shape ("unbroadcast") and adds
it into the parent, so ops never deal with broadcasting. `backward()` is a topological sort plus one reversed
loop. A graph is recorded only when some input requires a gradient and recording is enabled, so acting under
`no_grad()` builds nothing.

Leaves accumulate into `_grad` in place. That lets an optimizer hand every parameter a view into one flat gradient
buffer (see `neurenix.optim`) and update all parameters with a few vectorized numpy calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from neurenix._accel import Product

DEFAULT_DTYPE = np.float32

_grad_enabled = True
_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the default generator used by layer initialisation and `Tensor.sample()`."""
    global _generator
    _generator = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    return _generator


def is_grad_enabled() -> bool:
    return _grad_enabled


class no_grad:
    """Context manager (and decorator, with or without parentheses) under which ops record no graph."""

    def __init__(self, fn: Callable | None = None) -> None:
        self._fn = fn
        if fn is not None:
            functools.update_wrapper(self, fn)

    def __enter__(self) -> None:
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = False

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._previous

    def __call__(self, *args, **kwargs):
        if self._fn is not None:
            with no_grad():
                return self._fn(*args, **kwargs)
        fn = args[0]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)

        return wrapper


class MinMax(NamedTuple):
    values: Tensor
    indices: Tensor


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, np.ndarray):
        if dtype is not None and data.dtype != dtype:
            return data.astype(dtype)
        return data
    if dtype is None:
        dtype = DEFAULT_DTYPE
    return np.asarray(data, dtype=dtype)


def _unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched, so it matches `shape`."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


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


def from_op(data: np.ndarray, parents: tuple[Tensor, ...], backward: Callable) -> Tensor:
    """Wrap an op's output; record the graph edge only if a parent needs a gradient and recording is on.

    `backward(grad)` returns one gradient (or None) per parent, shaped like the output where broadcasting
    applied; the engine unbroadcasts. A gradient may be a `neurenix._accel.Product`, shaped like its parent.
    Fused ops in `neurenix.nn.functional` use this too.
    """
    out = Tensor.__new__(Tensor)
    out._data = data
    out._grad = None
    out._has_grad = False
    if _grad_enabled and any(p.requires_grad for p in parents):
        out.requires_grad = True
        out._parents = parents
        out._backward = backward
    else:
        out.requires_grad = False
        out._parents = ()
        out._backward = None
    return out


class Tensor:
    """An n-dimensional array (float32 by default) that can record how it was computed."""

    __slots__ = (
        "_data",
        "_grad",
        "_has_grad",
        "requires_grad",
        "_parents",
        "_backward",
        # Set and read only by neurenix._accel.flat: the buffer owner that re-homed this tensor's storage. A slot
        # rather than a registry there, since a registry holding owners (which hold their tensors) would keep
        # every optimized tensor alive.
        "_flat_owner",
        "__weakref__",
    )
    __array_priority__ = 1000.0

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self._data = _as_array(data, dtype)
        # `_grad` may be storage an optimizer owns (a view into its flat buffer); `_has_grad` says whether it
        # holds a gradient since the last zero_grad, which is what `.grad is None` means in torch.
        self._grad: np.ndarray | None = None
        self._has_grad = False
        self.requires_grad = requires_grad
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Callable | None = None

    # ----------------------------------------------------------------------------------------------- basics
    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def size(self, dim: int | None = None):
        return self._data.shape if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    def numpy(self) -> np.ndarray:
        return self._data

    def item(self) -> float:
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def detach(self) -> Tensor:
        return Tensor(self._data)

    def float(self) -> Tensor:
        return Tensor(self._data.astype(np.float32))

    def long(self) -> Tensor:
        return Tensor(self._data.astype(np.int64))

    def requires_grad_(self, flag: bool = True) -> Tensor:
        self.requires_grad = flag
        return self

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    @property
    def data(self) -> Tensor:
        """A no-grad Tensor sharing storage: in-place ops on it change this tensor without recording."""
        return Tensor(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        # Copy rather than rebind: a parameter's storage may be a view into an optimizer's flat buffer.
        self._data[...] = _as_array(value)

    @property
    def grad(self) -> Tensor | None:
        return Tensor(self._grad) if self._has_grad else None

    @grad.setter
    def grad(self, value: Any) -> None:
        # Write into existing storage rather than rebinding: an optimizer may own it.
        if value is None:
            if self._grad is not None:
                self._grad.fill(0.0)
            self._has_grad = False
            return
        value = _as_array(value)
        if self._grad is not None and value.shape == self._grad.shape:
            self._grad[...] = value
        else:
            self._grad = np.array(value, dtype=self._data.dtype)
        self._has_grad = True

    def __deepcopy__(self, memo: dict) -> Tensor:
        """An independent copy: own storage, same gradient, no link to any optimizer's buffer."""
        twin = type(self).__new__(type(self))
        twin._data = self._data.copy()
        twin._grad = None if self._grad is None else self._grad.copy()
        twin._has_grad = self._has_grad
        twin.requires_grad = self.requires_grad
        twin._parents = ()
        twin._backward = None
        memo[id(self)] = twin
        return twin

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self._data, precision=4, threshold=20)}{grad})"

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __float__(self) -> float:
        return float(self._data.item())

    def __int__(self) -> int:
        return int(self._data.item())

    def __bool__(self) -> bool:
        return bool(self._data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)

    __hash__ = object.__hash__

    # --------------------------------------------------------------------------------- in-place (no graph)
    def copy_(self, other: Any) -> Tensor:
        np.copyto(self._data, _as_array(other), casting="unsafe")
        return self

    def mul_(self, other: Any) -> Tensor:
        np.multiply(self._data, _as_array(other), out=self._data, casting="unsafe")
        return self

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        other = _as_array(other)
        np.add(self._data, other if alpha == 1.0 else alpha * other, out=self._data, casting="unsafe")
        return self

    def fill_(self, value: float) -> Tensor:
        self._data.fill(value)
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0.0)

    # --------------------------------------------------------------------------------------- backward pass
    def backward(self, gradient: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf that requires a gradient."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError("backward() without a gradient needs a one-element tensor")
            grad = np.ones_like(self._data)
        else:
            grad = np.broadcast_to(_as_array(gradient, self._data.dtype), self._data.shape)

        if self._backward is None:
            _accumulate_leaf(self, grad)
            return
        pending = {id(self): grad}
        for node in reversed(_topological_order(self)):
            grad = pending.pop(id(node), None)
            if grad is None:
                continue
            for parent, parent_grad in zip(node._parents, node._backward(grad)):
                if parent_grad is None or not parent.requires_grad:
                    continue
                if isinstance(
                    parent_grad, Product
                ):  # a deferred weight gradient: maybe straight into storage
                    if parent._backward is None and parent_grad.compute_into(parent):
                        continue
                    parent_grad = parent_grad.compute()
                if parent_grad.shape != parent._data.shape:
                    parent_grad = _unbroadcast(parent_grad, parent._data.shape)
                if parent._backward is None:
                    _accumulate_leaf(parent, parent_grad)
                else:
                    key = id(parent)
                    previous = pending.get(key)
                    pending[key] = parent_grad if previous is None else previous + parent_grad

    # ---------------------------------------------------------------------------------------- arithmetic
    def __add__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return from_op(self._data + other._data, (self, other), lambda g: (g, g))
        return from_op(self._data + _constant(other), (self,), lambda g: (g,))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return from_op(self._data - other._data, (self, other), lambda g: (g, -g))
        return from_op(self._data - _constant(other), (self,), lambda g: (g,))

    def __rsub__(self, other: Any) -> Tensor:
        return from_op(_constant(other) - self._data, (self,), lambda g: (-g,))

    def __mul__(self, other: Any) -> Tensor:
        a = self._data
        if isinstance(other, Tensor):
            b = other._data
            return from_op(a * b, (self, other), lambda g: (g * b, g * a))
        b = _constant(other)
        return from_op(a * b, (self,), lambda g: (g * b,))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        a = self._data
        if isinstance(other, Tensor):
            b = other._data
            return from_op(a / b, (self, other), lambda g: (g / b, -g * a / (b * b)))
        b = _constant(other)
        return from_op(a / b, (self,), lambda g: (g / b,))

    def __rtruediv__(self, other: Any) -> Tensor:
        a = _constant(other)
        b = self._data
        return from_op(a / b, (self,), lambda g: (-g * a / (b * b),))

    def __pow__(self, exponent: Any) -> Tensor:
        a = self._data
        if isinstance(exponent, Tensor):
            e = exponent._data
            out = a**e

            def backward(g):
                return g * e * a ** (e - 1), g * out * np.log(np.where(a > 0, a, 1))

            return from_op(out, (self, exponent), backward)
        e = _constant(exponent)
        if isinstance(e, (int, float)) and e == 2:
            return from_op(a * a, (self,), lambda g: (2 * g * a,))
        return from_op(a**e, (self,), lambda g: (g * e * a ** (e - 1),))

    def __rpow__(self, base: Any) -> Tensor:
        b = _constant(base)
        out = b**self._data
        return from_op(out, (self,), lambda g: (g * out * np.log(b),))

    def __neg__(self) -> Tensor:
        return from_op(-self._data, (self,), lambda g: (-g,))

    def __matmul__(self, other: Any) -> Tensor:
        return self.matmul(other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return Tensor(other).matmul(self)

    def matmul(self, other: Any) -> Tensor:
        other = other if isinstance(other, Tensor) else Tensor(other)
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
                grad_a = _unbroadcast(grad_a, a2.shape).reshape(a.shape)
            if b.ndim == 1:
                grad_b = _unbroadcast(grad_b, b2.shape).reshape(b.shape)
            return grad_a, grad_b

        return from_op(a @ b, (self, other), backward)

    # ------------------------------------------------------------------------------------ elementwise math
    def exp(self) -> Tensor:
        out = np.exp(self._data)
        return from_op(out, (self,), lambda g: (g * out,))

    def log(self) -> Tensor:
        a = self._data
        return from_op(np.log(a), (self,), lambda g: (g / a,))

    def tanh(self) -> Tensor:
        out = np.tanh(self._data)
        return from_op(out, (self,), lambda g: (g * (1 - out * out),))

    def relu(self) -> Tensor:
        out = np.maximum(self._data, 0)
        return from_op(out, (self,), lambda g: (g * (out > 0),))

    def sigmoid(self) -> Tensor:
        out = _sigmoid(self._data)
        return from_op(out, (self,), lambda g: (g * out * (1 - out),))

    def softplus(self) -> Tensor:
        a = self._data
        # log(1 + e^a) = max(a, 0) + log1p(e^-|a|): finite for any a.
        out = np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))
        return from_op(out, (self,), lambda g: (g * _sigmoid(a),))

    def abs(self) -> Tensor:
        a = self._data
        return from_op(np.abs(a), (self,), lambda g: (g * np.sign(a),))

    def sqrt(self) -> Tensor:
        out = np.sqrt(self._data)
        return from_op(out, (self,), lambda g: (g * 0.5 / out,))

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        a = self._data
        out = np.clip(a, min, max)
        inside = np.ones(a.shape, dtype=bool)
        if min is not None:
            inside &= a >= min
        if max is not None:
            inside &= a <= max
        return from_op(out, (self,), lambda g: (g * inside,))

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        return _select(self, other, np.greater_equal)

    def minimum(self, other: Any) -> Tensor:
        return _select(self, other, np.less_equal)

    # ---------------------------------------------------------------------------------------- reductions
    def sum(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        shape = self._data.shape
        dims = _normalize_dims(dim, self._data.ndim)
        out = self._data.sum(axis=dims, keepdims=keepdim)
        return from_op(
            np.asarray(out), (self,), lambda g: (np.broadcast_to(_expand_reduced(g, dims, keepdim), shape),)
        )

    def mean(self, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
        shape = self._data.shape
        dims = _normalize_dims(dim, self._data.ndim)
        count = self._data.size if dims is None else int(np.prod([shape[d] for d in dims]))
        out = np.asarray(self._data.mean(axis=dims, keepdims=keepdim))

        def backward(g):
            return (np.broadcast_to(_expand_reduced(g, dims, keepdim) / count, shape),)

        return from_op(out, (self,), backward)

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
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return _extreme(self, dim, keepdim, np.argmax)

    def min(self, dim: Any = None, keepdim: bool = False):
        """`min()` -> scalar; `min(dim)` -> (values, indices); `min(other_tensor)` -> elementwise minimum."""
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return _extreme(self, dim, keepdim, np.argmin)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return Tensor(np.argmax(self._data, axis=dim, keepdims=keepdim))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return Tensor(np.argmin(self._data, axis=dim, keepdims=keepdim))

    # ------------------------------------------------------------------------------------ shape and index
    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        original = self._data.shape
        return from_op(self._data.reshape(shape), (self,), lambda g: (g.reshape(original),))

    view = reshape

    def flatten(self, start_dim: int = 0) -> Tensor:
        return self.reshape(*self._data.shape[:start_dim], -1)

    def unsqueeze(self, dim: int) -> Tensor:
        original = self._data.shape
        return from_op(np.expand_dims(self._data, dim), (self,), lambda g: (g.reshape(original),))

    def squeeze(self, dim: int | None = None) -> Tensor:
        original = self._data.shape
        if dim is not None and original[dim] != 1:
            return self
        return from_op(np.squeeze(self._data, axis=dim), (self,), lambda g: (g.reshape(original),))

    def transpose(self, dim0: int = 0, dim1: int = 1) -> Tensor:
        return from_op(np.swapaxes(self._data, dim0, dim1), (self,), lambda g: (np.swapaxes(g, dim0, dim1),))

    @property
    def T(self) -> Tensor:
        return from_op(self._data.T, (self,), lambda g: (g.T,))

    def expand(self, *shape: int) -> Tensor:
        return from_op(np.broadcast_to(self._data, shape), (self,), lambda g: (g,))

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

        return from_op(np.asarray(self._data[index]), (self,), backward)

    def gather(self, dim: int, index: Any) -> Tensor:
        """out[i][j] = self[i][index[i][j]] along `dim` (torch.gather)."""
        idx = (
            _as_array(index, np.intp)
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

        return from_op(np.take_along_axis(self._data[corner], idx, axis=dim), (self,), backward)

    @staticmethod
    def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
        tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
        splits = np.cumsum([t._data.shape[dim] for t in tensors])[:-1]
        out = np.concatenate([t._data for t in tensors], axis=dim)
        return from_op(out, tuple(tensors), lambda g: tuple(np.split(g, splits, axis=dim)))

    @staticmethod
    def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
        tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
        out = np.stack([t._data for t in tensors], axis=dim)

        def backward(g):
            return tuple(np.take(g, i, axis=dim) for i in range(len(tensors)))

        return from_op(out, tuple(tensors), backward)

    @staticmethod
    def where(condition: Any, a: Any, b: Any) -> Tensor:
        cond = _as_array(condition, bool)
        parents, sides = [], []
        for side, value in ((True, a), (False, b)):
            if isinstance(value, Tensor):
                parents.append(value)
                sides.append(side)
        out = np.where(cond, _value(a), _value(b))

        def backward(g):
            return tuple(np.where(cond, g, 0) if side else np.where(cond, 0, g) for side in sides)

        return from_op(out, tuple(parents), backward)

    # ------------------------------------------------------------------------------ softmax and sampling
    def softmax(self, dim: int = -1) -> Tensor:
        shifted = self._data - self._data.max(axis=dim, keepdims=True)
        exp = np.exp(shifted)
        out = exp / exp.sum(axis=dim, keepdims=True)
        return from_op(out, (self,), lambda g: (out * (g - (g * out).sum(axis=dim, keepdims=True)),))

    def log_softmax(self, dim: int = -1) -> Tensor:
        out = log_softmax_values(self._data, dim)
        return from_op(out, (self,), lambda g: (g - np.exp(out) * g.sum(axis=dim, keepdims=True),))

    def sample(self, generator: np.random.Generator | None = None) -> Tensor:
        """Draw one category per row from probabilities over the last dim (inverse-CDF sampling)."""
        rng = generator if generator is not None else _generator
        cdf = np.cumsum(self._data, axis=-1)
        u = rng.random(self._data.shape[:-1] + (1,)) * cdf[..., -1:]
        choice = (u < cdf).argmax(axis=-1)
        return Tensor(choice.astype(np.int64))

    # --------------------------------------------------------------------------------------- comparisons
    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self._data < _value(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self._data <= _value(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self._data > _value(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self._data >= _value(other))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self._data == _value(other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self._data != _value(other))

    no_grad = staticmethod(no_grad)


def _constant(value: Any) -> Any:
    """Scalars become Python scalars, which numpy treats as weakly typed: float32 stays float32 even when the
    scalar was a numpy float64. Anything else becomes an array."""
    if isinstance(value, np.generic):  # first: np.float64 is also a Python float
        return value.item()
    if isinstance(value, (int, float, bool)):
        return value
    return np.asarray(value)


def _value(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else _constant(x)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # Split by sign so that exp never overflows.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


def _select(a: Tensor, b: Any, keep_a: Callable) -> Tensor:
    """Elementwise max/min: the gradient goes to the chosen side (to `a` on ties)."""
    bv = _value(b)
    chosen = keep_a(a._data, bv)
    out = np.where(chosen, a._data, bv)
    if isinstance(b, Tensor):
        return from_op(out, (a, b), lambda g: (g * chosen, g * ~chosen))
    return from_op(out, (a,), lambda g: (g * chosen,))


def _extreme(t: Tensor, dim: int | None, keepdim: bool, arg: Callable):
    data = t._data
    if dim is None:
        flat = arg(data)
        out = np.asarray(data.reshape(-1)[flat])

        def backward(g):
            grad = np.zeros(data.size, dtype=data.dtype)
            grad[flat] = g
            return (grad.reshape(data.shape),)

        return from_op(out, (t,), backward)
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
    return MinMax(from_op(values, (t,), backward), Tensor(out_idx.astype(np.int64)))


def _plain_index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_advanced(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (np.ndarray, list)) for p in parts)


def log_softmax_values(a: np.ndarray, dim: int = -1) -> np.ndarray:
    """log softmax(a) along `dim` on a plain array, shifted by the max so that exp cannot overflow."""
    shifted = a - a.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def _topological_order(root: Tensor) -> list[Tensor]:
    """Non-leaf nodes that lead to `root`, parents before children (iterative: deep graphs do not recurse)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent._backward is not None and parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def _accumulate_leaf(leaf: Tensor, grad: np.ndarray) -> None:
    # Always into existing storage when there is some, so that optimizer-owned views stay valid.
    if leaf._grad is None:
        leaf._grad = np.array(grad, dtype=leaf._data.dtype)
    elif leaf._has_grad:
        np.add(leaf._grad, grad, out=leaf._grad, casting="unsafe")
    else:
        np.copyto(leaf._grad, grad, casting="unsafe")
    leaf._has_grad = True


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def zeros(*shape: Any, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = DEFAULT_DTYPE, requires_grad: bool = False) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=requires_grad)


where = Tensor.where
cat = Tensor.cat
stack = Tensor.stack
