"""A numpy MLP with its backward written out, torch-semantics Adam and RMSprop, global grad-norm clipping, and the
comparison that names the first quantity a twin test finds different. Everything computes in float64.

Parameters are flat lists [W0, b0, W1, b1, ...] with W of shape (out, in), the order of our `parameters()`.
"""

from __future__ import annotations

import numpy as np

from .mlp import Adam

__all__ = ["Adam", "RMSprop", "assert_twins", "clip_global_norm", "f64", "mlp_backward", "mlp_forward"]

_ACTIVATIONS = {
    # f(x) and f'(x) written from the output y = f(x); torch's ReLU takes 0 as its derivative at 0.
    "tanh": (np.tanh, lambda y: 1.0 - y * y),
    "relu": (lambda x: np.maximum(x, 0.0), lambda y: (y > 0.0).astype(np.float64)),
}


def f64(arrays) -> list[np.ndarray]:
    return [np.array(a, dtype=np.float64) for a in arrays]


def mlp_forward(
    params: list[np.ndarray], x: np.ndarray, activation: str
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The output (B, out) and each layer's input, which the backward needs."""
    act = _ACTIVATIONS[activation][0]
    h, inputs = np.asarray(x, dtype=np.float64), []
    n_layers = len(params) // 2
    for i in range(n_layers):
        inputs.append(h)
        h = h @ params[2 * i].T + params[2 * i + 1]
        if i < n_layers - 1:
            h = act(h)
    return h, inputs


def mlp_backward(params: list[np.ndarray], inputs: list[np.ndarray], grad_out: np.ndarray, activation: str):
    """dLoss/dparams (same layout as params) from dLoss/doutput (B, out)."""
    derivative = _ACTIVATIONS[activation][1]
    grads: list[np.ndarray] = [np.empty(0)] * len(params)
    g = grad_out
    for i in reversed(range(len(params) // 2)):
        grads[2 * i], grads[2 * i + 1] = g.T @ inputs[i], g.sum(axis=0)
        if i > 0:  # inputs[i] is the previous layer's activation output
            g = (g @ params[2 * i]) * derivative(inputs[i])
    return grads


def clip_global_norm(grads: list[np.ndarray], max_norm: float | None) -> float:
    """torch.nn.utils.clip_grad_norm_: scale by min(1, max_norm / (norm + 1e-6)); returns the norm before."""
    total = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
    if max_norm is not None:
        scale = min(1.0, max_norm / (total + 1e-6))
        for g in grads:
            g *= scale
    return total


class RMSprop:
    """torch.optim.RMSprop without momentum: v = alpha v + (1-alpha) g^2, p -= lr g / (sqrt(v) + eps), eps outside
    the square root (TensorFlow puts it inside)."""

    def __init__(self, params: list[np.ndarray], lr: float, alpha: float = 0.99, eps: float = 1e-5) -> None:
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for p, g, v in zip(params, grads, self.v):
            v[...] = self.alpha * v + (1.0 - self.alpha) * g * g
            p -= self.lr * g / (np.sqrt(v) + self.eps)


class RMSpropTFLike(RMSprop):
    """SB3's RMSpropTFLike, from its docstring: RMSprop with v starting at 1 and p -= lr g / sqrt(v + eps)."""

    def __init__(self, params: list[np.ndarray], lr: float, alpha: float = 0.99, eps: float = 1e-5) -> None:
        super().__init__(params, lr, alpha, eps)
        self.v = [np.ones_like(p) for p in params]

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for p, g, v in zip(params, grads, self.v):
            v[...] = self.alpha * v + (1.0 - self.alpha) * g * g
            p -= self.lr * g / np.sqrt(v + self.eps)


def assert_twins(update: int, quantities, rtol: float, atol: float) -> None:
    """Compare (name, ours, reference) in the order given; fail on the first that differs, naming it and the
    update, so a broken update reads as the first wrong quantity rather than a cascade of parameters."""
    for name, ours, reference in quantities:
        ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
        if ours.shape != reference.shape:
            raise AssertionError(
                f"update {update}: {name} has shape {ours.shape}, reference {reference.shape}"
            )
        if not np.allclose(ours, reference, rtol=rtol, atol=atol):
            error = np.abs(ours - reference)
            where = tuple(int(i) for i in np.unravel_index(int(np.argmax(error)), error.shape))
            raise AssertionError(
                f"update {update}: {name} is the first quantity to differ: max |ours - reference| = "
                f"{error.max():.3g} at {where} (ours {ours[where]:.6g}, reference {reference[where]:.6g})"
            )
