"""Action distributions over Tensors: log-probabilities and entropies carry gradients, samples do not.

Shapes: a batch of B states gives logits (B, n) or means (B, d); `log_prob` and `entropy` return (B,).
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from neurenix.tensor import Tensor, from_op, log_softmax_values

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


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

    log pi(a|s) = log N(u; mean, std) - sum_i log(1 - tanh(u_i)^2), with the correction written as
    2 (log 2 - u - softplus(-2u)) so that it stays finite where tanh saturates.
    """

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.mean = mean
        self.log_std = log_std

    def rsample(self, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        """A reparameterised sample (gradients flow to mean and log_std) and its log-probability, both (B, d)/(B,)."""
        noise = rng.standard_normal(self.mean.shape).astype(np.float32)
        u = self.mean + self.log_std.exp() * Tensor(noise)
        normal_log_prob = (-0.5 * noise * noise - _LOG_SQRT_2PI) - self.log_std
        correction = (math.log(2.0) - u - (u * -2.0).softplus()) * 2.0
        return u.tanh(), (normal_log_prob - correction).sum(dim=-1)

    def mode(self) -> np.ndarray:
        return np.tanh(self.mean.numpy())
