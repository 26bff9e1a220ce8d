"""Exploration noise added to a deterministic actor's unit actions (DDPG, TD3)."""

from __future__ import annotations

import math

import numpy as np

from neurenix.errors import ConfigError


class GaussianNoise:
    """Independent N(0, sigma^2) per step and action dimension (what TD3 and RL Zoo's DDPG use)."""

    def __init__(self, sigma: float, action_dim: int, rng: np.random.Generator) -> None:
        self.sigma, self.action_dim, self.rng = sigma, action_dim, rng
        self.n_envs = 1

    def start(self, n_envs: int) -> None:
        self.n_envs = n_envs

    def sample(self) -> np.ndarray:
        return self.rng.standard_normal((self.n_envs, self.action_dim), dtype=np.float32) * self.sigma

    def reset(self, done: np.ndarray) -> None:
        """Stateless: nothing to reset at an episode's end."""


class OrnsteinUhlenbeckNoise:
    """Temporally correlated noise (Lillicrap et al. 2016): x += theta (mu - x) dt + sigma sqrt(dt) N(0, 1).

    theta = 0.15, dt = 0.01 and mu = 0 as in the DDPG paper and SB3; the stationary std is sigma / sqrt(2 theta)
    ~ 1.8 sigma. One process per env, restarted at 0 with each episode so that no episode inherits the last one's
    drift. Hence no state to checkpoint: `train` begins new episodes, even when it resumes a run.
    """

    theta, dt = 0.15, 1e-2

    def __init__(self, sigma: float, action_dim: int, rng: np.random.Generator) -> None:
        self.sigma, self.action_dim, self.rng = sigma, action_dim, rng
        self.x = np.zeros((0, action_dim), dtype=np.float32)

    def start(self, n_envs: int) -> None:
        self.x = np.zeros((n_envs, self.action_dim), dtype=np.float32)

    def sample(self) -> np.ndarray:
        shock = self.rng.standard_normal(self.x.shape, dtype=np.float32) * (self.sigma * math.sqrt(self.dt))
        self.x = self.x * (1.0 - self.theta * self.dt) + shock
        return self.x

    def reset(self, done: np.ndarray) -> None:
        self.x[done] = 0.0


NOISE_TYPES = {"gaussian": GaussianNoise, "ornstein_uhlenbeck": OrnsteinUhlenbeckNoise}


def make_noise(noise_type: str, sigma: float, action_dim: int, rng: np.random.Generator):
    if noise_type not in NOISE_TYPES:
        raise ConfigError(
            f"noise_type must be one of {', '.join(map(repr, NOISE_TYPES))}, got {noise_type!r}"
        )
    return NOISE_TYPES[noise_type](sigma, action_dim, rng)
