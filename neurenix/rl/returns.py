"""Return and target math as pure numpy functions; termination is folded into the discount."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from neurenix._accel import flat_data, loops_for
from neurenix.tensor import Tensor


def td_target(r_t: np.ndarray, terminated_t: np.ndarray, v_t: np.ndarray, gamma: float) -> np.ndarray:
    """One-step TD target  y = r_t + gamma * (1 - terminated_t) * v_t.

    `v_t` is the bootstrap value of the *next* state (max_a Q, Q(s', a*), or V(s')); a truncated transition has
    terminated_t = 0 and bootstraps from its real next state. All arrays (B,), float32.
    """
    return r_t + (gamma * (1.0 - terminated_t)) * v_t


def polyak_update(target: Iterable[Tensor], online: Iterable[Tensor], tau: float) -> None:
    """target <- tau * online + (1 - tau) * target, in place; tau = 1 is a hard copy.

    When each side is one array (a `clone()`d target, an optimizer's parameters) the update runs on those: one
    fused pass for the network instead of one per parameter.
    """
    target, online = list(target), list(online)
    target_flat, online_flat = flat_data(target), flat_data(online)
    if target_flat is not None and online_flat is not None:
        pairs = [(target_flat, online_flat)]
    else:
        pairs = [(t.numpy(), p.numpy()) for t, p in zip(target, online)]
    for t_data, p_data in pairs:
        if tau == 1.0:
            np.copyto(t_data, p_data)
        else:
            loops_for(t_data, p_data).lerp(t_data, p_data, 1.0 - tau, tau)


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    final_values: np.ndarray,
    last_values: np.ndarray,
    gamma: float,
    gae_lambda: float,
) -> np.ndarray:
    """Generalized Advantage Estimation (Schulman et al. 2016) over a rollout of T steps from N envs.

    Inputs are time-major, (T, N): r_t, v_t = V(s_t), terminated_t, truncated_t (flags as 0/1 or bool), and
    final_values_t = V(s_final) of the true last observation where an episode was truncated at step t (ignored
    elsewhere); last_values (N,) = V(s_T), the observation after the rollout. With done_t = terminated_t or
    truncated_t and v_{T} = last_values:

        r'_t     = r_t + gamma * truncated_t * final_values_t
        delta_t  = r'_t + gamma * (1 - done_t) * v_{t+1} - v_t
        A_t      = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}

    Trap: after a done, s_{t+1} (and so v_{t+1}) belongs to the *next* episode, so the trace is cut at every
    episode end. A truncated episode still bootstraps, from its true final observation folded into r'_t (the
    way SB3 handles time limits); a terminated one never does. The deltas are vectorized; one backward loop
    over time carries the recursion for all envs at once. Returns A (T, N) float32; the value targets are
    A + values.
    """
    not_done = 1.0 - np.logical_or(terminated, truncated).astype(np.float32)
    next_values = np.concatenate([values[1:], np.asarray(last_values, dtype=np.float32)[None]], axis=0)
    bootstrap = np.where(truncated, final_values, not_done * next_values)
    deltas = rewards + gamma * bootstrap - values
    decay = (gamma * gae_lambda) * not_done
    advantages = np.empty_like(deltas, dtype=np.float32)
    running = np.zeros(deltas.shape[1:], dtype=np.float32)
    for t in range(len(deltas) - 1, -1, -1):
        running = deltas[t] + decay[t] * running
        advantages[t] = running
    return advantages
