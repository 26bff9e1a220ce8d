"""Action distributions over Tensors: log-probabilities and entropies carry gradients, samples do not.

Shapes: a batch of B states gives logits (B, n) or means (B, d); `log_prob` and `entropy` return (B,).

Invalid-action masks (B, n) of bools (True: allowed; for MultiCategorical (B, sum(nvec)), each component's
values side by side) set the logits of masked actions to MASKED_LOGIT before the softmax, as sb3-contrib's MaskableCategorical does: their probability is exactly 0, so they are never
sampled nor the mode, the log-probability and entropy are those of the masked distribution, and their logits
get no gradient.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from neurenix.tensor import Tensor, from_op, log_softmax_values

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
TANH_EPSILON = 1e-6  # inside SquashedGaussian's log(1 - tanh(u)^2 + epsilon), as SB3's
MASKED_LOGIT = -1e8  # sb3-contrib's: exp(-1e8 - max) is 0 in float32, and the value itself stays finite


def _masked(logits: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return logits if mask is None else np.where(mask, logits, np.asarray(MASKED_LOGIT, dtype=logits.dtype))


def _sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of (B, n) probabilities by inverting the cumulative sum with one uniform per row."""
    u = rng.random(probs.shape[:-1] + (1,))
    return (u < np.cumsum(probs, axis=-1)).argmax(axis=-1).astype(np.int64)


def _allowed(actions: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked draws made safe: a uniform above the rounded cumulative sum picks index 0, which may be masked;
    the last allowed action takes its place (the draw fell in that action's share of the interval)."""
    last_allowed = mask.shape[-1] - 1 - mask[:, ::-1].argmax(axis=-1)
    return np.where(mask[np.arange(len(actions)), actions], actions, last_allowed)


class Categorical:
    """pi(a|s) = softmax(logits)_a.

    `log_prob` and `entropy` are one graph node each on the logits, with their gradients written out: through
    log_softmax, gather and the entropy's products they took eight nodes, whose bookkeeping cost more than
    their arithmetic at PPO's batch of 256.
    """

    def __init__(self, logits: Tensor, mask: np.ndarray | None = None) -> None:
        self.logits = logits
        self.mask = None if mask is None else np.asarray(mask, dtype=bool)
        self._log_p = log_softmax_values(_masked(logits.numpy(), self.mask))

    @cached_property
    def _p(self) -> np.ndarray:
        """pi itself, computed once for sampling, log_prob's gradient and the entropy alike."""
        return np.exp(self._log_p)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        actions = _sample_rows(self._p, rng)
        return actions if self.mask is None else _allowed(actions, self.mask)

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
        return _masked(self.logits.numpy(), self.mask).argmax(axis=-1)


class MultiCategorical:
    """A product of independent categoricals, one per component of a MultiDiscrete space (B, K actions).

    The logits (B, sum(nvec)) hold the components side by side; log pi(a|s) = sum_k log softmax(logits_k)_{a_k}
    and H = sum_k H_k. Like Categorical, each is one graph node with its gradient written out, per component
    slice: d log pi/dlogits_k = onehot(a_k) - pi_k, dH/dlogits_k = -pi_k (log pi_k + H_k).
    """

    def __init__(self, logits: Tensor, nvec: np.ndarray, mask: np.ndarray | None = None) -> None:
        self.logits = logits
        self.nvec = np.asarray(nvec, dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self.nvec)[:-1]])
        self.mask = None if mask is None else np.asarray(mask, dtype=bool)
        values = self._values = _masked(logits.numpy(), self.mask)
        self._log_p = np.concatenate(
            [log_softmax_values(values[:, a : a + n]) for a, n in zip(self._starts, self.nvec)], axis=-1
        )

    @cached_property
    def _p(self) -> np.ndarray:
        return np.exp(self._log_p)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """(B, K) int64 actions, component by component."""
        p, mask = self._p, self.mask
        return np.stack(
            [
                _sample_rows(p[:, a : a + n], rng)
                if mask is None
                else _allowed(_sample_rows(p[:, a : a + n], rng), mask[:, a : a + n])
                for a, n in zip(self._starts, self.nvec)
            ],
            axis=-1,
        )

    def log_prob(self, actions: np.ndarray) -> Tensor:
        rows = np.arange(len(self._log_p))[:, None]
        columns = np.asarray(actions, dtype=np.int64).reshape(len(rows), -1) + self._starts
        p = self._p

        def backward(g):
            grad = p * -g[:, None]
            grad[rows, columns] += g[:, None]
            return (grad,)

        return from_op(self._log_p[rows, columns].sum(axis=-1), (self.logits,), backward)

    def entropy(self) -> Tensor:
        log_p, p = self._log_p, self._p
        per_component = -np.add.reduceat(p * log_p, self._starts, axis=-1)  # (B, K)
        spread = np.repeat(per_component, self.nvec, axis=-1)  # each H_k under its component's columns
        return from_op(
            per_component.sum(axis=-1), (self.logits,), lambda g: (p * (log_p + spread) * -g[:, None],)
        )

    def mode(self) -> np.ndarray:
        values = self._values
        return np.stack(
            [values[:, a : a + n].argmax(axis=-1) for a, n in zip(self._starts, self.nvec)], axis=-1
        )


class Bernoulli:
    """Independent Bernoullis, one per component of a MultiBinary space: P(a_i = 1) = sigmoid(logits_i).

    log pi(a|s) = sum_i a_i x_i - softplus(x_i), d/dx = a - sigmoid(x); H = sum_i softplus(x_i) - x_i sigmoid(x_i),
    dH/dx = -x sigmoid(x) (1 - sigmoid(x)). One graph node each, softplus computed as logaddexp(0, x) so that
    neither overflows for large logits.
    """

    def __init__(self, logits: Tensor) -> None:
        self.logits = logits

    @cached_property
    def _sigmoid(self) -> np.ndarray:
        values = self.logits.numpy()
        return np.exp(-np.logaddexp(0.0, -values)).astype(values.dtype)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """(B, n) int8 actions, the MultiBinary space's own dtype."""
        return (rng.random(self._sigmoid.shape) < self._sigmoid).astype(np.int8)

    def log_prob(self, actions: np.ndarray) -> Tensor:
        x = self.logits.numpy()
        a = np.asarray(actions).reshape(x.shape).astype(x.dtype)
        s = self._sigmoid
        value = (a * x - np.logaddexp(0.0, x)).sum(axis=-1)
        return from_op(value.astype(x.dtype), (self.logits,), lambda g: ((a - s) * g[:, None],))

    def entropy(self) -> Tensor:
        x, s = self.logits.numpy(), self._sigmoid
        value = (np.logaddexp(0.0, x) - x * s).sum(axis=-1)
        return from_op(value.astype(x.dtype), (self.logits,), lambda g: (-x * s * (1.0 - s) * g[:, None],))

    def mode(self) -> np.ndarray:
        return (self.logits.numpy() > 0).astype(np.int8)


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


SDE_EPSILON = 1e-6  # inside gSDE's sqrt(variance + epsilon), as SB3's


def expln(x: Tensor) -> Tensor:
    """exp(x) for x <= 0, log(1 + x) + 1 above (gSDE's `use_expln`): a positive std that grows only
    logarithmically, so a log-std that drifts up cannot blow the exploration up; value and slope are continuous
    at 0."""
    values = x.numpy()
    below = values <= 0
    above = np.where(below, 0.0, values)  # log1p only where it is used, and never of a value <= -1
    result = np.where(below, np.exp(np.minimum(values, 0.0)), np.log1p(above) + 1.0).astype(values.dtype)
    slope = np.where(below, result, 1.0 / (1.0 + above)).astype(values.dtype)
    return from_op(result, (x,), lambda g: (g * slope,))


def sde_std(log_std: Tensor, use_expln: bool) -> Tensor:
    """gSDE's std matrix from its learned log: expln (use_expln) or exp."""
    return expln(log_std) if use_expln else log_std.exp()


class StateDependentGaussian:
    """generalised State-Dependent Exploration (gSDE, Raffin et al. 2021): u = mean(s) + z(s) W.

    z (B, L) are the actor's last hidden features, detached (the noise does not train them), and W (L, A) a
    weight matrix drawn elementwise from N(0, std^2), held for several steps so that exploration is smooth in
    time; the caller holds unit normals eps and W = std * eps. Given s, u is Gaussian with variance
    z^2 @ std^2 per action dimension (plus SDE_EPSILON), which is the density `log_prob` and `entropy` use.
    With `squash` (SAC) the action is tanh(u) and the log-probability carries SquashedGaussian's Jacobian term.
    """

    def __init__(self, mean: Tensor, features: np.ndarray, std: Tensor, squash: bool) -> None:
        self.mean, self.features, self.std, self.squash = mean, features, std, squash
        variance = Tensor(features * features) @ (std * std)
        self._sigma = (variance + SDE_EPSILON).sqrt()

    def _normal_log_prob(self, u: Tensor) -> Tensor:
        """log N(u; mean, sigma^2) per dimension, (B, A)."""
        z = (u - self.mean) / self._sigma
        return z * z * -0.5 - self._sigma.log() - _LOG_SQRT_2PI

    def _unsquashed_sample(self, eps: np.ndarray) -> np.ndarray:
        """mean + z W without a graph; eps (L, A) serves every row, (B, L, A) one matrix per row (per env)."""
        weights = self.std.numpy() * eps
        if eps.ndim == 2:
            noise = self.features @ weights
        else:
            noise = np.einsum("bl,bla->ba", self.features, weights)
        return (self.mean.numpy() + noise).astype(np.float32)

    def sample(self, eps: np.ndarray) -> np.ndarray:
        """Actions for acting: tanh(u) when squashed, u itself otherwise (A2C/PPO store it unclipped)."""
        u = self._unsquashed_sample(eps)
        return np.tanh(u) if self.squash else u

    def rsample(self, eps: np.ndarray) -> tuple[Tensor, Tensor]:
        """A reparameterised squashed sample for one matrix eps (L, A), and its log-probability: gradients flow to
        mean and, through W = std * eps and the density's variance, to the log-std."""
        u = self.mean + Tensor(self.features) @ (self.std * Tensor(eps))
        actions = u.tanh()
        return actions, (self._normal_log_prob(u) - _tanh_log_jacobian(u, actions.numpy())).sum(dim=-1)

    def log_prob(self, actions: np.ndarray) -> Tensor:
        """log pi(u|s) of stored unsquashed actions (A2C/PPO), (B,)."""
        return self._normal_log_prob(Tensor(np.asarray(actions, dtype=np.float32))).sum(dim=-1)

    def entropy(self) -> Tensor:
        """The Gaussian's: sum_i log sigma_i + 0.5 (1 + log 2 pi), (B,)."""
        return (self._sigma.log() + (0.5 + _LOG_SQRT_2PI)).sum(dim=-1)

    def mode(self) -> np.ndarray:
        mean = self.mean.numpy()
        return np.tanh(mean) if self.squash else mean
