"""Action distributions over Tensors: log-probabilities and entropies carry gradients, samples do not.

Shapes: a batch of B states gives logits (B, n) or means (B, d); `log_prob` and `entropy` return (B,).
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from neurenix.tensor import Tensor, from_op, log_softmax_values

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
TANH_EPSILON = 1e-6  # inside SquashedGaussian's log(1 - tanh(u)^2 + epsilon), as SB3's


class Categorical:
    """pi(a|s) = softmax(logits)_a.

    `log_prob` and `entropy` are one graph node each on the logits, with their gradients written out: through
    log_softmax, gather and the entropy's products they took eight nodes, whose bookkeeping cost more than
    their arithmetic at PPO's batch of 256.
    """

    def __init__(self, logits: Tensor) -> None:
        self.logits = logits
        self._log_p = log_softmax_values(logits.numpy())

    @cached_property
    def _p(self) -> np.ndarray:
        """pi itself, computed once for sampling, log_prob's gradient and the entropy alike."""
        return np.exp(self._log_p)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        probs = self._p
        u = rng.random(probs.shape[:-1] + (1,))
        return (u < np.cumsum(probs, axis=-1)).argmax(axis=-1).astype(np.int64)

    def log_prob(self, actions: np.ndarray) -> Tensor:
        """log pi(a|s), (B,); d/dlogits = onehot(a) - pi."""
        rows = np.arange(len(self._log_p))
        index = np.asarray(actions, dtype=np.int64).reshape(-1)
        log_p = self._log_p

        def backward(g):
            grad = self._p * -g[:, None]
            grad[rows, index] += g
            return (grad,)

        return from_op(log_p[rows, index], (self.logits,), backward)

    def entropy(self) -> Tensor:
        """H = -sum_a pi_a log pi_a, (B,); dH/dlogits_j = -pi_j (log pi_j + H)."""
        log_p, p = self._log_p, self._p
        h = -(p * log_p).sum(axis=-1)
        return from_op(h, (self.logits,), lambda g: (p * (log_p + h[:, None]) * -g[:, None],))

    def mode(self) -> np.ndarray:
        return self.logits.numpy().argmax(axis=-1)


class DiagGaussian:
    """N(mean, diag(exp(log_std)^2)); log_std may be a learned vector broadcast over the batch, or fixed."""

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.mean = mean
        self.log_std = log_std

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        mean = self.mean.numpy()
        std = np.exp(self.log_std.numpy())
        return (mean + std * rng.standard_normal(mean.shape)).astype(np.float32)

    def log_prob(self, actions: np.ndarray) -> Tensor:
        """sum_i [-(a_i - mu_i)^2 / (2 sigma_i^2) - log sigma_i - log sqrt(2 pi)]."""
        z = (Tensor(np.asarray(actions, dtype=np.float32)) - self.mean) * (-self.log_std).exp()
        return (z * z * -0.5 - self.log_std - _LOG_SQRT_2PI).sum(dim=-1)

    def entropy(self) -> Tensor:
        """sum_i [log sigma_i + 0.5 (1 + log 2 pi)], one value per row of the batch."""
        per_row = (self.log_std + (0.5 + _LOG_SQRT_2PI)).sum(dim=-1)
        if per_row.ndim == 0:  # a state-independent log_std: the same entropy for every row
            per_row = per_row * Tensor(np.ones(self.mean.shape[:-1], dtype=np.float32))
        return per_row

    def mode(self) -> np.ndarray:
        return self.mean.numpy()


class SquashedGaussian:
    """a = tanh(u), u ~ N(mean, std^2): bounded actions in (-1, 1) for SAC (Haarnoja et al. 2018, app. C).

    log pi(a|s) = log N(u; mean, std) - sum_i log(1 - tanh(u_i)^2 + TANH_EPSILON), SB3's (and CleanRL's) form.
    The exact log(1 - tanh^2) pulls a saturated mean back with a constant force 2 alpha per dimension, where SB3's
    epsilon caps the penalty at 13.8 nats and lets it fade: with 6-D actions (HalfCheetah, where good gaits
    saturate) the exact form learned less than SB3 (final returns of seeds 0-3 at 3e4 steps 987/87/837/833
    exact, 1073/776/1693/755 with the epsilon), and with it our update is SB3's to float32 rounding
    (benchmarks/twin_sb3.py).
    """

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.mean = mean
        self.log_std = log_std

    def rsample(self, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        """A reparameterised sample (gradients flow to mean and log_std) and its log-probability, both (B, d)/(B,)."""
        noise = rng.standard_normal(self.mean.shape).astype(np.float32)
        u = self.mean + self.log_std.exp() * Tensor(noise)
        actions = u.tanh()
        normal_log_prob = (-0.5 * noise * noise - _LOG_SQRT_2PI) - self.log_std
        return actions, (normal_log_prob - _tanh_log_jacobian(u, actions.numpy())).sum(dim=-1)

    def mode(self) -> np.ndarray:
        return np.tanh(self.mean.numpy())


def _tanh_log_jacobian(u: Tensor, actions: np.ndarray) -> Tensor:
    """log(1 - tanh(u)^2 + TANH_EPSILON) as one node, with 1 - tanh^2 written sech^2(u) = 4 e / (1 + e)^2,
    e = exp(-2|u|): float32's 1 - a*a loses its digits where tanh saturates (a rounds to 1 within 6e-8)."""
    e = np.exp(-2.0 * np.abs(u.numpy()))
    sech2 = 4.0 * e / ((1.0 + e) * (1.0 + e))
    inner = sech2 + TANH_EPSILON
    slope = -2.0 * actions * sech2 / inner  # d/du: (d sech^2/du = -2 tanh sech^2) / inner
    return from_op(np.log(inner), (u,), lambda g: (g * slope,))
