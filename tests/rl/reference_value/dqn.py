"""DQN's gradient step (Mnih et al. 2015), with Double DQN's target (van Hasselt et al. 2016), on plain arrays.

y = r + gamma (1 - terminated) Q_target(s', a*), a* = argmax_a Q_target(s', a) (DQN) or argmax_a Q(s', a)
(Double DQN); loss = mean over the batch of huber(Q(s, a) - y) (smooth L1, delta 1, as SB3) or (Q(s, a) - y)^2;
then global grad-norm clipping and one Adam step. The target network is a constant of the step.
"""

from __future__ import annotations

import numpy as np

from .nets import Adam, clip_global_norm, mlp_backward, mlp_forward


def dqn_step(
    params: list[np.ndarray],
    target_params: list[np.ndarray],
    batch,
    optimizer: Adam,
    *,
    gamma: float,
    double_q: bool,
    loss: str,
    max_grad_norm: float | None,
    activation: str = "relu",
) -> float:
    """One step on `params` in place from a batch (obs, actions, rewards, next_obs, terminated); returns the loss."""
    obs, actions, rewards, next_obs, terminated = (np.asarray(a, dtype=np.float64) for a in batch)
    actions = actions.astype(np.int64).reshape(-1)
    rows = np.arange(len(actions))
    next_q_target, _ = mlp_forward(target_params, next_obs, activation)
    if double_q:
        best = mlp_forward(params, next_obs, activation)[0].argmax(axis=1)
    else:
        best = next_q_target.argmax(axis=1)
    y = rewards + gamma * (1.0 - terminated) * next_q_target[rows, best]
    q, inputs = mlp_forward(params, obs, activation)
    d = q[rows, actions] - y
    if loss == "huber":
        values, slopes = np.where(np.abs(d) <= 1.0, 0.5 * d * d, np.abs(d) - 0.5), np.clip(d, -1.0, 1.0)
    else:
        values, slopes = d * d, 2.0 * d
    grad_q = np.zeros_like(q)
    grad_q[rows, actions] = slopes / len(d)
    grads = mlp_backward(params, inputs, grad_q, activation)
    clip_global_norm(grads, max_grad_norm)
    optimizer.step(params, grads)
    return float(values.mean())
