"""The optimizer base: owns the loop over parameter storage; a subclass owns one update rule.

On construction the parameters are re-homed as views into one flat float32 buffer (and their gradients into
another), so that an update is a handful of vectorized numpy calls whatever the number of layers. A parameter
already owned by another optimizer's buffer keeps its storage, and this optimizer then updates parameter by
parameter: slower, still correct.

As in torch, a parameter that received no gradient since the last `zero_grad()` is left alone (no momentum
drift, no weight decay); the all-parameters case, the common one, stays a single vectorized update.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from neurenix._accel import FlatParameters, flat_owner
from neurenix.tensor import Tensor


class Optimizer:
    """Subclasses set `state_names` and implement `_update(data, grad, state, scratch)` for one storage slot.

    `scratch` is a parameter-sized work array for rules that compute in numpy passes (`uses_scratch`); a rule
    whose step is one fused loop gets None and the memory is not allocated.
    """

    state_names: tuple[str, ...] = ()
    uses_scratch = True

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if lr < 0:
            raise ValueError(f"invalid learning rate {lr}: must be >= 0")
        self.lr = float(lr)
        self.step_count = 0
        # Parameters in no optimizer's buffer are re-homed into this one's (a clone()d network's data-only
        # buffer belongs to no optimizer).
        unowned = all(flat_owner(p) is None or flat_owner(p).grad is None for p in self.params)
        if unowned and len({p.dtype for p in self.params}) == 1:
            self.flat: FlatParameters | None = FlatParameters(self.params)
            self._slots = [self.flat.data]
        else:
            self.flat = None
            self._slots = [p.numpy() for p in self.params]
        self.state = {name: [np.zeros_like(s) for s in self._slots] for name in self.state_names}
        self._scratch = [np.empty_like(s) if self.uses_scratch else None for s in self._slots]

    def zero_grad(self) -> None:
        if self.flat is not None:
            # No fill: the next backward copies into a gradient whose flag is down rather than adding to it, and
            # `step` reads only gradients that were written.
            for p in self.params:
                p._has_grad = False
        else:
            for p in self.params:
                p.grad = None

    def step(self) -> None:
        self.step_count += 1
        touched = [p._has_grad for p in self.params]
        if self.flat is not None and all(touched):
            state = {name: arrays[0] for name, arrays in self.state.items()}
            self._update(self.flat.data, self.flat.grad, state, self._scratch[0])
            return
        for i, p in enumerate(self.params):
            if touched[i]:
                self._update_one(i, p)

    def _update_one(self, i: int, p: Tensor) -> None:
        """Update parameter i alone: through views into the flat state when storage is flat."""
        if self.flat is None:
            state = {name: arrays[i] for name, arrays in self.state.items()}
            self._update(p.numpy(), p._grad, state, self._scratch[i])
            return
        part = slice(self.flat.offsets[i], self.flat.offsets[i + 1])
        state = {name: arrays[0][part] for name, arrays in self.state.items()}
        scratch = self._scratch[0]
        self._update(
            self.flat.data[part], self.flat.grad[part], state, None if scratch is None else scratch[part]
        )

    def _update(self, data: np.ndarray, grad: np.ndarray, state: dict, scratch: np.ndarray | None) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray | float | int]:
        """Named arrays laid out in parameter order (the same whether or not storage is flat), plus counters."""
        out: dict = {"step_count": self.step_count, "lr": self.lr}
        for name, arrays in self.state.items():
            out[name] = np.concatenate([a.reshape(-1) for a in arrays])
        return out

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
        self.lr = float(state["lr"])
        for name, arrays in self.state.items():
            flat = np.asarray(state[name])
            total = sum(a.size for a in arrays)
            if flat.shape != (total,):
                raise ValueError(f"optimizer state {name!r} has shape {flat.shape}, expected ({total},)")
            offset = 0
            for a in arrays:
                a.reshape(-1)[...] = flat[offset : offset + a.size]
                offset += a.size


def clip_grad_norm_(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale gradients in place so that their global L2 norm is at most `max_norm`; return the norm before."""
    params = [p for p in params if p._has_grad]
    grads = _whole_flat_gradients(params) or [p._grad for p in params]
    total = float(np.sqrt(sum(float(np.dot(g.reshape(-1), g.reshape(-1))) for g in grads)))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads:
            g *= scale
    return total


def _whole_flat_gradients(params: list[Tensor]) -> list[np.ndarray] | None:
    """The flat gradient buffers of the optimizers whose parameters are exactly `params` (an actor's and a
    critic's: two dot products instead of one per layer), or None."""
    owners: dict[int, FlatParameters] = {}
    for p in params:
        owner = flat_owner(p)
        if owner is None or owner.grad is None:
            return None
        owners[id(owner)] = owner
    if len({id(p) for p in params}) != len(params) or len(params) != sum(
        len(o.params) for o in owners.values()
    ):
        return None
    return [owner.grad for owner in owners.values()]
