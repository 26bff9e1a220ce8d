"""A plain MLP (ReLU hidden layers, optional tanh output) with its backward, and torch's Adam, in float64.

A network is a list of (W, b) with W of shape (in, out): y = x @ W + b.
"""

from __future__ import annotations

import numpy as np


def forward(layers: list, x: np.ndarray, out_tanh: bool = False, relu_last: bool = False) -> tuple:
    """(output, cache). Hidden layers are ReLU; the last is linear, tanh (`out_tanh`) or ReLU (`relu_last`,
    a trunk)."""
    inputs, h = [], np.asarray(x, dtype=np.float64)
    for i, (w, b) in enumerate(layers):
        inputs.append(h)
        h = h @ w + b
        if i < len(layers) - 1 or relu_last:
            h = np.maximum(h, 0.0)
        elif out_tanh:
            h = np.tanh(h)
    return h, (inputs, h, out_tanh, relu_last)


def backward(layers: list, cache: tuple, grad_out: np.ndarray) -> tuple[list, np.ndarray]:
    """([(dW, db) per layer], d/dx) of sum(grad_out * output)."""
    inputs, out, out_tanh, relu_last = cache
    g = np.asarray(grad_out, dtype=np.float64)
    if out_tanh:
        g = g * (1.0 - out**2)
    elif relu_last:
        g = g * (out > 0)
    grads = []
    for i in reversed(range(len(layers))):
        w, _ = layers[i]
        x = inputs[i]
        grads.append((x.T @ g, g.sum(axis=0)))
        g = g @ w.T
        if i > 0:
            g = g * (x > 0)  # x is the previous layer's ReLU output
    return grads[::-1], g


class Adam:
    """torch.optim.Adam: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, p -= lr m_hat / (sqrt(v_hat) + eps)."""

    def __init__(self, params: list[np.ndarray], lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Updates `params` in place."""
        b1, b2 = self.betas
        self.t += 1
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m[...] = b1 * m + (1.0 - b1) * g
            v[...] = b2 * v + (1.0 - b2) * g * g
            m_hat, v_hat = m / (1.0 - b1**self.t), v / (1.0 - b2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def flat(nested) -> list[np.ndarray]:
    """The arrays of a network (or a list of networks), in order, for an optimizer or Polyak averaging."""
    if isinstance(nested, np.ndarray):
        return [nested]
    return [a for item in nested for a in flat(item)]


def polyak(target: list, online: list, tau: float) -> None:
    """target <- tau online + (1 - tau) target, in place."""
    for t, p in zip(flat(target), flat(online)):
        t[...] = tau * p + (1.0 - tau) * t


def critics_forward(critics: list, obs: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, list]:
    """Q_k(s, a) = MLP_k([s, a]) for each critic: (K, B) and the caches."""
    x = np.concatenate([obs, actions], axis=1)
    outs = [forward(c, x) for c in critics]
    return np.stack([q[:, 0] for q, _ in outs]), [cache for _, cache in outs]


def regress_critics(critics: list, adam: Adam, obs, actions, y) -> float:
    """One Adam step on L = mean over (critic k, sample i) of (Q_k(s_i, a_i) - y_i)^2; returns L.

    The scale is ours and SB3 SAC's (0.5 * sum_k of K=2 per-critic means); SB3's TD3 sums the per-critic means
    (twice this), which Adam sees only through eps.
    """
    q, caches = critics_forward(critics, obs, actions)
    g_q = 2.0 * (q - y) / q.size
    grads = [backward(c, cache, g_q[k][:, None])[0] for k, (c, cache) in enumerate(zip(critics, caches))]
    adam.step(flat(critics), flat(grads))
    return float(np.mean((q - y) ** 2))


def grad_wrt_actions(critics: list, obs: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(min_k Q_k(s, a), d/da of sum_i min_k Q_k(s_i, a_i)), the critics' weights held fixed."""
    q, caches = critics_forward(critics, obs, actions)
    chosen = q.argmin(axis=0)
    grad = np.zeros_like(np.asarray(actions, dtype=np.float64))
    for k, (c, cache) in enumerate(zip(critics, caches)):
        _, g_x = backward(c, cache, (chosen == k).astype(np.float64)[:, None])
        grad += g_x[:, obs.shape[1] :]
    return q.min(axis=0), grad
