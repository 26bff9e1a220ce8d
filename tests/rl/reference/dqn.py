"""DQN's gradient step (Mnih et al. 2015), with Double DQN's target (van Hasselt et al. 2016) and Dueling heads
(Wang et al. 2016), on plain arrays.

y = r + gamma (1 - terminated) Q_target(s', a*), a* = argmax_a Q_target(s', a) (DQN) or argmax_a Q(s', a)
(Double DQN); loss = mean over the batch of huber(Q(s, a) - y) (smooth L1, delta 1, as SB3) or (Q(s, a) - y)^2;
then global grad-norm clipping and one Adam step. The target network is a constant of the step.
"""

from __future__ import annotations

import numpy as np

from .nets import Adam, clip_global_norm, mlp_backward, mlp_forward


def q_values(params: list[np.ndarray], x: np.ndarray, dueling: bool):
    """Q(s, .) (B, n) and its backward dL/dQ -> dL/dparams. Plain: a ReLU MLP. Dueling: a ReLU trunk (ReLU on its
    last layer too) feeding Q = V + A - mean_a A; params = [*trunk, W_V, b_V, W_A, b_A]."""
    if not dueling:
        q, inputs = mlp_forward(params, x, "relu")
        return q, lambda g: mlp_backward(params, inputs, g, "relu")
    trunk, (w_v, b_v, w_a, b_a) = params[:-4], params[-4:]
    pre, inputs = mlp_forward(trunk, x, "relu")
    features = np.maximum(pre, 0.0)
    a = features @ w_a.T + b_a
    q = features @ w_v.T + b_v + a - a.mean(axis=1, keepdims=True)

    def backward(g):
        g_v, g_a = g.sum(axis=1, keepdims=True), g - g.mean(axis=1, keepdims=True)
        g_features = (g_v @ w_v + g_a @ w_a) * (pre > 0.0)
        trunk_grads = mlp_backward(trunk, inputs, g_features, "relu")
        return [*trunk_grads, g_v.T @ features, g_v.sum(axis=0), g_a.T @ features, g_a.sum(axis=0)]

    return q, backward


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
    dueling: bool = False,
) -> float:
    """One step on `params` in place from a batch (obs, actions, rewards, next_obs, terminated); returns the loss."""
    obs, actions, rewards, next_obs, terminated = (np.asarray(a, dtype=np.float64) for a in batch)
    actions = actions.astype(np.int64).reshape(-1)
    rows = np.arange(len(actions))
    next_q_target = q_values(target_params, next_obs, dueling)[0]
    if double_q:
        best = q_values(params, next_obs, dueling)[0].argmax(axis=1)
    else:
        best = next_q_target.argmax(axis=1)
    y = rewards + gamma * (1.0 - terminated) * next_q_target[rows, best]
    q, backward = q_values(params, obs, dueling)
    d = q[rows, actions] - y
    if loss == "huber":
        values, slopes = np.where(np.abs(d) <= 1.0, 0.5 * d * d, np.abs(d) - 0.5), np.clip(d, -1.0, 1.0)
    else:
        values, slopes = d * d, 2.0 * d
    grad_q = np.zeros_like(q)
    grad_q[rows, actions] = slopes / len(d)
    grads = backward(grad_q)
    clip_global_norm(grads, max_grad_norm)
    optimizer.step(params, grads)
    return float(values.mean())
