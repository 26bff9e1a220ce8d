"""Exploration noise: added to a deterministic actor's unit actions (DDPG, TD3), or gSDE's held weight matrices
for a stochastic actor (SAC, A2C, PPO with `use_sde`)."""

from __future__ import annotations

import math

import numpy as np

from neurenix.errors import ConfigError
from neurenix.rl.hyperparameters import hyperparameter


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


def use_sde_field() -> bool:
    """The `use_sde` hyperparameter of every algorithm that takes gSDE (one text for all)."""
    return hyperparameter(
        False,
        "Box actions: explore with gSDE (a state-dependent weight matrix held for several steps, smooth in "
        "time) instead of independent Gaussian noise at every step.",
    )


def sde_sample_freq_field() -> int:
    return hyperparameter(
        -1,
        "use_sde: vectorized env steps between new exploration matrices; -1 (or 0) draws them only at the "
        "start of each collection (a rollout, or a train_freq chunk off-policy).",
        unit="env steps",
        low=-1,
    )


def use_expln_field() -> bool:
    return hyperparameter(
        False, "use_sde: std = expln(log_std) (log(1 + x) + 1 above 0) instead of exp, so it grows slowly."
    )


class ExplorationMatrices:
    """gSDE's held noise: unit normals eps (n_envs, L, A), one weight matrix W = std * eps per env.

    They are drawn anew at the start of every collection chunk (a rollout on-policy, a `train_freq` chunk of steps
    or episodes off-policy) and every `sample_freq` steps within it, as SB3 draws them; the policy does not change
    within a chunk, so holding eps rather than W gives the same actions. SAC saves them with the agent, so a run
    resumed mid-chunk acts with the matrices the uninterrupted run would have; A2C/PPO draw them at each
    rollout's start, where a resumed run starts too.
    """

    def __init__(self, latent_dim: int, action_dim: int, sample_freq: int, rng: np.random.Generator) -> None:
        self.shape, self.sample_freq, self.rng = (latent_dim, action_dim), sample_freq, rng
        self.eps = np.zeros((0, latent_dim, action_dim), dtype=np.float32)

    def before_step(self, step_in_chunk: int, n_envs: int) -> np.ndarray:
        """The matrices for this vectorized step, the `step_in_chunk`-th of its chunk."""
        due = step_in_chunk == 0 or (self.sample_freq > 0 and step_in_chunk % self.sample_freq == 0)
        if due or len(self.eps) != n_envs:
            self.eps = self.rng.standard_normal((n_envs, *self.shape), dtype=np.float32)
        return self.eps

    def one(self) -> np.ndarray:
        """A fresh matrix (L, A) for a whole batch: a gradient step's (SB3 draws one per step), or a stochastic
        `predict`, which leaves the held matrices alone."""
        return self.rng.standard_normal(self.shape, dtype=np.float32)

    def state_dict(self) -> dict:
        return {"sde_eps": self.eps.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.eps = np.asarray(state["sde_eps"], dtype=np.float32).reshape(-1, *self.shape)
