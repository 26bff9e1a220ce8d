"""Environments: construction from ids, a lightweight vectorized env, and the legacy-API adapter.

`VecEnv` steps n environments in lockstep and resets a finished one in the same step (gymnasium's vector envs
reset on the *next* step by default, which would pair one episode's last observation with the next episode's
first). It returns the true final observation of a finished episode separately, so a time-limit truncation can
bootstrap from it while a termination does not.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from neurenix.errors import EnvironmentNotFoundError
from neurenix.rl.observations import batch_observations


@dataclass(frozen=True)
class EpisodeEnd:
    env_index: int
    reward: float
    length: int
    terminated: bool


@dataclass
class StepResult:
    """One vectorized step. `final_obs` equals `next_obs` except in rows where an episode just ended.

    Observations are batches as `batch_observations` makes them: an array, or a dict or tuple of arrays for Dict
    and Tuple spaces.
    """

    next_obs: Any
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: Any
    episodes: list[EpisodeEnd]


class VecEnv:
    """n environments stepped in lockstep with same-step autoreset; accepts gymnasium and legacy (4-tuple) envs."""

    def __init__(
        self,
        envs: list[Any],
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        max_episode_steps: int | None = None,
        seed: int | None = None,
    ) -> None:
        if not envs:
            raise ValueError("VecEnv needs at least one environment")
        self.envs = envs
        self.num_envs = len(envs)
        self.observation_space = observation_space or getattr(envs[0], "observation_space", None)
        self.action_space = action_space or getattr(envs[0], "action_space", None)
        self.max_episode_steps = max_episode_steps
        self.seed = seed  # the first reset's seed when an agent trains on this env
        self._discrete_actions = isinstance(self.action_space, gym.spaces.Discrete)
        self._returns = np.zeros(self.num_envs, dtype=np.float64)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)

    def reset(self, seed: int | None = None) -> Any:
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return batch_observations(
            self.observation_space,
            [_reset(env, None if seed is None else seed + i) for i, env in enumerate(self.envs)],
        )

    def step(self, actions: np.ndarray) -> StepResult:
        n = self.num_envs
        rewards = np.empty(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        observations = []
        finals = None
        episodes: list[EpisodeEnd] = []
        returns, lengths, cap = self._returns, self._lengths, self.max_episode_steps
        for i, env in enumerate(self.envs):
            obs, reward, term, trunc = _step(env, int(actions[i]) if self._discrete_actions else actions[i])
            rewards[i] = reward
            returns[i] += reward
            lengths[i] += 1
            if not term and cap is not None and lengths[i] >= cap:
                trunc = True
            if term or trunc:
                terminated[i], truncated[i] = term, trunc and not term
                if finals is None:
                    finals = {}
                finals[i] = obs
                episodes.append(EpisodeEnd(i, float(returns[i]), int(lengths[i]), bool(term)))
                returns[i] = 0.0
                lengths[i] = 0
                obs = _reset(env, None)
            observations.append(obs)
        next_obs = batch_observations(self.observation_space, observations)
        final_obs = next_obs
        if finals:
            final_obs = batch_observations(
                self.observation_space, [finals.get(i, obs) for i, obs in enumerate(observations)]
            )
        return StepResult(next_obs, rewards, terminated, truncated, final_obs, episodes)

    def close(self) -> None:
        for env in self.envs:
            close = getattr(env, "close", None)
            if close is not None:
                close()


def _reset(env: Any, seed: int | None) -> Any:
    try:
        out = env.reset(seed=seed) if seed is not None else env.reset()
    except TypeError:  # a legacy env whose reset takes no seed
        out = env.reset()
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        out = out[0]
    return out


def _step(env: Any, action: Any) -> tuple[Any, float, bool, bool]:
    out = env.step(action)
    if len(out) == 5:
        obs, reward, terminated, truncated, _ = out
        return obs, float(reward), bool(terminated), bool(truncated)
    # Legacy API: one `done`; a time limit announces itself in info, and is then a truncation.
    obs, reward, done, info = out
    truncated = bool(done and isinstance(info, dict) and info.get("TimeLimit.truncated", False))
    return obs, float(reward), bool(done) and not truncated, truncated


def make_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    max_episode_steps: int | None = None,
    wrappers: Sequence[Callable[[gym.Env], gym.Env]] = (),
    **kwargs: Any,
) -> VecEnv:
    """`n_envs` copies of a registered gymnasium env (checker wrappers off: they cost time on every step), each
    wrapped by `wrappers` in order (callables env -> env, e.g. `functools.partial(Wrapper, **kwargs)`).

    `max_episode_steps` also replaces the limit the env was registered with (gymnasium's TimeLimit), which
    would otherwise cut episodes off first when it is the lower one."""
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    envs = [_wrapped(_make_one(env_id, **kwargs), wrappers) for _ in range(n_envs)]
    return VecEnv(envs, max_episode_steps=max_episode_steps, seed=seed)


def _wrapped(env: gym.Env, wrappers: Sequence[Callable[[gym.Env], gym.Env]]) -> gym.Env:
    for wrap in wrappers:
        env = wrap(env)
    return env


def _make_one(env_id: str, **kwargs: Any) -> gym.Env:
    try:
        return gym.make(env_id, disable_env_checker=True, **kwargs)
    except gym.error.Error as error:
        known = sorted(gym.registry.keys())
        close = difflib.get_close_matches(env_id, known, n=3)
        hint = (
            f" Did you mean {', '.join(close)}?"
            if close
            else " `python -c 'import gymnasium; print(list(gymnasium.registry))'` lists them."
        )
        raise EnvironmentNotFoundError(f"Unknown environment id {env_id!r} ({error}).{hint}") from None


def as_vec_env(env: Any, seed: int | None = None, n_envs: int = 1) -> VecEnv:
    """A VecEnv from a VecEnv, an env id (`n_envs` copies of it), a gymnasium env or a legacy env."""
    if isinstance(env, VecEnv):
        return env
    if isinstance(env, str):
        return make_env(env, n_envs=n_envs, seed=seed)
    if hasattr(env, "step") and hasattr(env, "reset"):
        return VecEnv([env], seed=seed)
    raise TypeError(f"expected an env id, a gymnasium env or a VecEnv, got {type(env).__name__}")
