"""One contiguous array behind a list of parameters, so that whole-network arithmetic is one numpy call.

An optimizer re-homes the parameters it updates (data and gradients); `Module.clone` re-homes a target
network's (data only), so that a Polyak update or a hard copy of it is two passes over one array instead of two
per layer.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from neurenix.tensor import Tensor

# id(tensor) -> the FlatParameters that last re-homed it. An owner holds its tensors, so while an entry exists
# its tensor is alive and the id is not reused; the entry goes with its owner, and a tensor or an owner that
# nobody else holds is not kept alive by it. Whoever needs `flat_owner` must hold the owner (an optimizer's
# `flat`, a clone's `Module._flat_parameters`).
_owners: weakref.WeakValueDictionary[int, FlatParameters] = weakref.WeakValueDictionary()


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
            _owners[id(p)] = self
            offset += size
        self.offsets = np.cumsum([0, *sizes])

    def __deepcopy__(self, memo: dict) -> None:
        # A deep copy of a tensor owns its storage (`Tensor.__deepcopy__`): the copy of a buffer is nobody's.
        return None


def flat_owner(p: Tensor) -> FlatParameters | None:
    """The buffers holding p's storage; None for a tensor never re-homed, a deep copy of one, or one whose owner
    nobody holds any more."""
    return _owners.get(id(p))


def flat_data(params: list[Tensor]) -> np.ndarray | None:
    """The one array holding exactly `params`, in this order, or None if their storage is another."""
    owner = flat_owner(params[0]) if params else None
    if owner is None or len(owner.params) != len(params):
        return None
    # Each parameter must still live there: an optimizer may have re-homed some of a clone's since.
    if not all(mine is theirs and flat_owner(mine) is owner for mine, theirs in zip(owner.params, params)):
        return None
    return owner.data
