"""Running observation normalisation and reward scaling, for every algorithm (what SB3's VecNormalize does).

`NormalizationHyperparameters` declares the two switches once; the on- and off-policy records extend it, and
`BaseAgent` builds, updates and saves what they ask for. Both keep their statistics in float64 and expose them
through `state_dict()`, so a checkpoint restores the exact input scaling the networks were trained on. The
statistics change only through `update`, which the training loop calls with each batch of observations it acts
on and each step's rewards; acting, evaluation and a loaded agent only read them, so they stay frozen there.

Where the scaling is applied differs by family, as in SB3: a rollout stores what the policy saw (normalised
observations, scaled rewards), while a replay buffer stores raw observations and rewards and scales each batch
it serves with the statistics of that moment, so old transitions are read on the current scale.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurenix.errors import ConfigError
from neurenix.rl.hyperparameters import Hyperparameters, hyperparameter
from neurenix.rl.observations import ObservationFrontEnd


@dataclasses.dataclass(frozen=True, kw_only=True)
class NormalizationHyperparameters(Hyperparameters):
    """The normalisation switches every algorithm with networks has (A2C, PPO, DQN, DDPG, TD3, SAC)."""

    normalize_observations: bool = hyperparameter(
        False, "Standardise observations with running statistics (SB3's VecNormalize), saved with the agent."
    )
    normalize_rewards: bool = hyperparameter(
        False, "Scale rewards by the running std of the discounted return (VecNormalize's reward scaling)."
    )


class RunningMeanStd:
    """Mean and variance of everything seen so far, updated a batch at a time (Chan et al. 1979).

    Merging a batch (mean m_b, variance v_b, count n_b) into (m, v, n):
        delta = m_b - m,  n' = n + n_b,  m' = m + delta * n_b / n'
        v' = (v n + v_b n_b + delta^2 n n_b / n') / n'
    The count starts at a small epsilon so that the first merge is well defined.
    """

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = float(epsilon)

    def update(self, batch: np.ndarray) -> None:
        """Merge a batch whose first axis indexes samples."""
        batch_mean, batch_var, batch_count = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * (batch_count / total)
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta * delta * (self.count * batch_count / total)
        )
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> dict:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        mean, var = np.asarray(state["mean"], dtype=np.float64), np.asarray(state["var"], dtype=np.float64)
        if mean.shape != self.mean.shape or var.shape != self.var.shape:
            raise ValueError(f"normalisation statistics have shape {mean.shape}, expected {self.mean.shape}")
        self.mean, self.var, self.count = mean, var, float(state["count"])


class ObservationNormalizer:
    """obs -> clip((obs - mean) / sqrt(var + eps), -clip, clip), as float32, per observation feature."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.stats = RunningMeanStd(shape)
        self.clip, self.epsilon = clip, epsilon

    def update(self, obs: np.ndarray) -> None:
        """Add a batch (n, *shape) of observations to the statistics (training only)."""
        self.stats.update(obs)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        scaled = (obs - self.stats.mean) / np.sqrt(self.stats.var + self.epsilon)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict:
        return self.stats.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stats.load_state_dict(state)


class BoxObservationNormalizer:
    """An `ObservationNormalizer` per box part of an observation batch (the whole batch for a box space), each
    over the box's flattened features; Discrete, MultiDiscrete and MultiBinary parts pass untouched, since
    centring a one-hot code would only blur it. A space without any box is refused.

    The state of a box space is its one normaliser's (what checkpoints held before Dict spaces); a Dict's or
    Tuple's is one entry per box part, named by its key (a Tuple's by position).
    """

    def __init__(self, front_end: ObservationFrontEnd) -> None:
        boxes = front_end.boxes()
        if not boxes:
            raise ConfigError(
                f"normalize_observations scales box observations, and the observation space {front_end.space} "
                "has none: its discrete parts are one-hot encoded, on a fixed scale already. Set "
                "normalize_observations: false.",
                key="normalize_observations",
            )
        self.plain = not front_end.composite
        self.normalizers = {key: ObservationNormalizer((dim,)) for key, dim in boxes}

    def update(self, batch: Any) -> None:
        """Add a batch (n, ...) of observations to the statistics (training only)."""
        for key, normalizer in self.normalizers.items():
            part = np.asarray(batch if self.plain else batch[key], dtype=np.float32)
            normalizer.update(part.reshape(len(part), -1))

    def __call__(self, batch: Any) -> Any:
        """A new batch with any leading axes (a replay buffer serves (gradient_steps, batch, ...)), box parts
        normalised to float32, the others the same arrays."""
        if self.plain:
            return self._scaled(None, batch)
        scaled = dict(enumerate(batch)) if isinstance(batch, tuple) else dict(batch)
        for key in self.normalizers:
            scaled[key] = self._scaled(key, batch[key])
        return tuple(scaled[i] for i in range(len(batch))) if isinstance(batch, tuple) else scaled

    def _scaled(self, key: Any, part: Any) -> np.ndarray:
        part = np.asarray(part, dtype=np.float32)
        normalizer = self.normalizers[key]
        return normalizer(part.reshape(-1, len(normalizer.stats.mean))).reshape(part.shape)

    def state_dict(self) -> dict:
        if self.plain:
            return self.normalizers[None].state_dict()
        return {str(key): normalizer.state_dict() for key, normalizer in self.normalizers.items()}

    def load_state_dict(self, state: dict) -> None:
        if self.plain:
            self.normalizers[None].load_state_dict(state)
            return
        for key, normalizer in self.normalizers.items():
            normalizer.load_state_dict(state[str(key)])


class RewardScaler:
    """r -> clip(r / sqrt(Var[G] + eps), -clip, clip), where G_t = gamma G_{t-1} + r_t is each env's running
    discounted return, reset at episode ends.

    Dividing by the spread of the discounted return (not of the reward, and without centring, which would change
    the optimal policy) keeps value targets near unit scale whatever the env's reward units (Engstrom et al. 2020,
    "Implementation Matters in Deep Policy Gradients"). The training loop calls `update` with every step's
    rewards; a rollout stores them scaled at once, a replay buffer scales raw rewards when it serves them
    (SB3's `VecNormalize.normalize_reward`, which reads `ret_rms` as it is then).
    """

    def __init__(self, gamma: float, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.stats = RunningMeanStd(())
        self.gamma, self.clip, self.epsilon = gamma, clip, epsilon
        self.returns = np.zeros(0, dtype=np.float64)

    def reset(self, n_envs: int) -> None:
        """Start new episodes in `n_envs` envs (the training loop resets its env when it starts)."""
        self.returns = np.zeros(n_envs, dtype=np.float64)

    def update(self, rewards: np.ndarray, episode_ends: np.ndarray) -> None:
        """Add this step's rewards (n_envs,) to the running returns and their statistics (training only)."""
        self.returns = self.returns * self.gamma + rewards
        self.stats.update(self.returns)
        self.returns[episode_ends] = 0.0

    def __call__(self, rewards: np.ndarray) -> np.ndarray:
        """Rewards of any shape scaled by the current statistics, as float32."""
        return np.clip(rewards / np.sqrt(self.stats.var + self.epsilon), -self.clip, self.clip).astype(
            np.float32
        )

    def state_dict(self) -> dict:
        return self.stats.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stats.load_state_dict(state)
