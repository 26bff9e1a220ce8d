"""Replay storage: preallocated float32 arrays with a circular write position, sampled as named tuples."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ReplayBatch(NamedTuple):
    observations: np.ndarray  # (B, *obs_shape)
    actions: np.ndarray  # (B,) int64 for discrete, (B, *action_shape) float32 for boxes
    rewards: np.ndarray  # (B,)
    next_observations: np.ndarray  # (B, *obs_shape): the true next state, also at a truncation
    terminated: np.ndarray  # (B,) 1.0 where the episode truly ended: no bootstrap there


class ReplayBuffer:
    """A ring of the last `buffer_size` transitions.

    Only termination is stored: a truncated transition keeps its real next observation, so a one-step TD target
    bootstraps through it correctly and needs nothing else.
    """

    def __init__(
        self,
        buffer_size: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...] = (),
        discrete_actions: bool = True,
        rng: np.random.Generator | None = None,
    ) -> None:
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        self.buffer_size = int(buffer_size)
        self.observations = np.zeros((buffer_size, *obs_shape), dtype=np.float32)
        self.next_observations = np.zeros((buffer_size, *obs_shape), dtype=np.float32)
        self.actions = np.zeros(
            (buffer_size, *action_shape), dtype=np.int64 if discrete_actions else np.float32
        )
        self.rewards = np.zeros(buffer_size, dtype=np.float32)
        self.terminated = np.zeros(buffer_size, dtype=np.float32)
        self.position = 0
        self.size = 0
        self.rng = rng if rng is not None else np.random.default_rng()

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
    ) -> None:
        """Store a batch of transitions (one row per env), wrapping around at the end."""
        n = len(rewards)
        rows = (
            (self.position + np.arange(n)) % self.buffer_size
            if self.position + n > self.buffer_size
            else None
        )
        where = rows if rows is not None else slice(self.position, self.position + n)
        self.observations[where] = obs
        self.next_observations[where] = next_obs
        self.actions[where] = actions
        self.rewards[where] = rewards
        self.terminated[where] = terminated
        self.position = (self.position + n) % self.buffer_size
        self.size = min(self.size + n, self.buffer_size)

    def sample(self, batch_size: int) -> ReplayBatch:
        """Uniform with replacement, as SB3 does: one vectorized draw, no per-item Python."""
        idx = self.rng.integers(0, self.size, size=batch_size)
        return ReplayBatch(
            self.observations[idx],
            self.actions[idx],
            self.rewards[idx],
            self.next_observations[idx],
            self.terminated[idx],
        )

    def state_dict(self) -> dict:
        n = self.size
        return {
            "observations": self.observations[:n].copy(),
            "next_observations": self.next_observations[:n].copy(),
            "actions": self.actions[:n].copy(),
            "rewards": self.rewards[:n].copy(),
            "terminated": self.terminated[:n].copy(),
            "position": self.position,
        }

    def load_state_dict(self, state: dict) -> None:
        n = len(state["rewards"])
        if n > self.buffer_size:
            raise ValueError(
                f"saved replay buffer holds {n} transitions, more than buffer_size {self.buffer_size}"
            )
        for name in ("observations", "next_observations", "actions", "rewards", "terminated"):
            getattr(self, name)[:n] = state[name]
        self.size = n
        self.position = int(state["position"]) % self.buffer_size
