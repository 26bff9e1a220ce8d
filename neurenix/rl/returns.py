"""Return and target math as pure numpy functions; termination is folded into the discount."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from neurenix.tensor import Tensor


def td_target(r_t: np.ndarray, terminated_t: np.ndarray, v_t: np.ndarray, gamma: float) -> np.ndarray:
    """One-step TD target  y = r_t + gamma * (1 - terminated_t) * v_t.

    `v_t` is the bootstrap value of the *next* state (max_a Q, Q(s', a*), or V(s')); a truncated transition has
    terminated_t = 0 and bootstraps from its real next state. All arrays (B,), float32.
    """
    return r_t + (gamma * (1.0 - terminated_t)) * v_t


def polyak_update(target: Iterable[Tensor], online: Iterable[Tensor], tau: float) -> None:
    """target <- tau * online + (1 - tau) * target, in place; tau = 1 is a hard copy."""
    for t, p in zip(target, online):
        t_data, p_data = t.numpy(), p.numpy()
        if tau == 1.0:
            np.copyto(t_data, p_data)
        else:
            t_data *= 1.0 - tau
            t_data += tau * p_data
