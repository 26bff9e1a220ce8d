"""Running observation normalisation and reward scaling for on-policy training (what SB3's VecNormalize does).

Both keep their statistics in float64 and expose them through `state_dict()`, so a checkpoint restores the exact
input scaling the networks were trained on. The statistics change only through `update`/`scale`, which the
training loop calls; acting and evaluation only read them, so they stay frozen there.
"""

from __future__ import annotations

import numpy as np


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


class RewardScaler:
    """r -> clip(r / sqrt(Var[G] + eps), -clip, clip), where G_t = gamma G_{t-1} + r_t is each env's running
    discounted return, reset at episode ends.

    Dividing by the spread of the discounted return (not of the reward, and without centring, which would change
    the optimal policy) keeps value targets near unit scale whatever the env's reward units (Engstrom et al. 2020,
    "Implementation Matters in Deep Policy Gradients").
    """

    def __init__(self, gamma: float, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.stats = RunningMeanStd(())
        self.gamma, self.clip, self.epsilon = gamma, clip, epsilon
        self.returns = np.zeros(0, dtype=np.float64)

    def reset(self, n_envs: int) -> None:
        """Start new episodes in `n_envs` envs (the training loop resets its env when it starts)."""
        self.returns = np.zeros(n_envs, dtype=np.float64)

    def scale(self, rewards: np.ndarray, episode_ends: np.ndarray) -> np.ndarray:
        """Update the return statistics with this step's rewards (n_envs,) and return them scaled."""
        self.returns = self.returns * self.gamma + rewards
        self.stats.update(self.returns)
        self.returns[episode_ends] = 0.0
        return np.clip(rewards / np.sqrt(self.stats.var + self.epsilon), -self.clip, self.clip).astype(
            np.float32
        )

    def state_dict(self) -> dict:
        return self.stats.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.stats.load_state_dict(state)
