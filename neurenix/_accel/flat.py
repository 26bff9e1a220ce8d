"""One contiguous array behind a list of parameters, so that whole-network arithmetic is one numpy call.

An optimizer re-homes the parameters it updates (data and gradients); `Module.clone` re-homes a target
network's (data only), so that a Polyak update or a hard copy of it is two passes over one array instead of two
per layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from neurenix.tensor import Tensor


class FlatParameters:
    """Parameters whose data (and, with `gradients`, gradients) are views into contiguous buffers."""

    def __init__(self, params: list[Tensor], gradients: bool = True) -> None:
        dtype = np.result_type(*[p.dtype for p in params])
        sizes = [p.numel() for p in params]
        self.data = np.empty(sum(sizes), dtype=dtype)
        self.grad = np.zeros(sum(sizes), dtype=dtype) if gradients else None
        self.params = params
        offset = 0
        for p, size in zip(params, sizes):
            data_view = self.data[offset : offset + size].reshape(p.shape)
            data_view[...] = p.numpy()
            p._data = data_view
            if self.grad is not None:
                grad_view = self.grad[offset : offset + size].reshape(p.shape)
                if p._has_grad:
                    grad_view[...] = p._grad
                p._grad = grad_view
            p._flat_owner = self
            offset += size
        self.offsets = np.cumsum([0, *sizes])


def flat_owner(p: Tensor) -> FlatParameters | None:
    """The buffers holding p's storage; None for a tensor never re-homed, or a deep copy of one."""
    return getattr(p, "_flat_owner", None)


def flat_data(params: list[Tensor]) -> np.ndarray | None:
    """The one array holding exactly `params`, in this order, or None if their storage is another."""
    owner = flat_owner(params[0]) if params else None
    if owner is None or len(owner.params) != len(params):
        return None
    # Each parameter must still live there: an optimizer may have re-homed some of a clone's since.
    if not all(mine is theirs and flat_owner(mine) is owner for mine, theirs in zip(owner.params, params)):
        return None
    return owner.data
