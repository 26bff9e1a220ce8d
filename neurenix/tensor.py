"""A small reverse-mode autograd engine over numpy.

Each op computes its output and, right beside it, a local backward that maps the output's gradient to one
gradient per parent. The engine reduces a broadcast gradient back to its parent's shape ("unbroadcast") and adds
it into the parent, so ops never deal with broadcasting. `backward()` is a topological sort plus one reversed
loop. A graph is recorded only when some input requires a gradient and recording is enabled, so acting under
`no_grad()` builds nothing.

This file is the core: `Tensor`'s storage and gradients, in-place updates, `from_op` (graph recording),
`backward`, `no_grad` and the default generator. The ops live by family in `neurenix._ops`, as mixins that
`Tensor` inherits; import everything from here.

Leaves accumulate into `_grad` in place. That lets an optimizer hand every parameter a view into one flat gradient
buffer (see `neurenix.optim`) and update all parameters with a few vectorized numpy calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from neurenix._accel import gradient_array
from neurenix._ops.arithmetic import ArithmeticOps
from neurenix._ops.reductions import ReductionOps, log_softmax_values
from neurenix._ops.shapes import ShapeOps

__all__ = [
    "DEFAULT_DTYPE",
    "Tensor",
    "cat",
    "default_generator",
    "from_op",
    "is_grad_enabled",
    "log_softmax_values",
    "manual_seed",
    "no_grad",
    "ones",
    "stack",
    "tensor",
    "where",
    "zeros",
]

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


class Tensor(ArithmeticOps, ReductionOps, ShapeOps):
    """An n-dimensional array (float32 by default) that can record how it was computed.

    This class is the core: storage, gradients, in-place updates, `backward` and sampling. The ops, each with its
    local backward, come by family from `neurenix._ops` (arithmetic and elementwise math, reductions and
    softmaxes, shapes, indexing and joining), mixins without state of their own.
    """

    __slots__ = (
        "_data",
        "_grad",
        "_has_grad",
        "requires_grad",
        "_parents",
        "_backward",
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
                parent_grad = gradient_array(parent, parent_grad)
                if parent_grad is None:  # already written into the leaf's gradient storage
                    continue
                if parent_grad.shape != parent._data.shape:
                    parent_grad = _unbroadcast(parent_grad, parent._data.shape)
                if parent._backward is None:
                    _accumulate_leaf(parent, parent_grad)
                else:
                    key = id(parent)
                    previous = pending.get(key)
                    pending[key] = parent_grad if previous is None else previous + parent_grad

    # -------------------------------------------------------------------------------------------- sampling
    def sample(self, generator: np.random.Generator | None = None) -> Tensor:
        """Draw one category per row from probabilities over the last dim (inverse-CDF sampling)."""
        rng = generator if generator is not None else _generator
        cdf = np.cumsum(self._data, axis=-1)
        u = rng.random(self._data.shape[:-1] + (1,)) * cdf[..., -1:]
        choice = (u < cdf).argmax(axis=-1)
        return Tensor(choice.astype(np.int64))

    no_grad = staticmethod(no_grad)


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
