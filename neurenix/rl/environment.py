"""Environments: construction from ids, a lightweight vectorized env, and the legacy-API adapter.

`VecEnv` steps n environments in lockstep and resets a finished one in the same step (gymnasium's vector envs
reset on the *next* step by default, which would pair one episode's last observation with the next episode's
first). It returns the true final observation of a finished episode separately, so a time-limit truncation can
bootstrap from it while a termination does not.

Invalid-action masks (Discrete and MultiDiscrete actions): an env that has an `action_masks()` method
(sb3-contrib's convention, found through gymnasium's wrappers with `get_wrapper_attr`), or whose info dicts carry
the mask under `action_mask_key`, gets its masks read after every reset and step: `VecEnv.action_masks` holds
those of the current observations (n, width) bools, True where an action is allowed; the width is n_actions,
or sum(nvec) for MultiDiscrete (each component's values side by side, as sb3-contrib lays them out). A finished episode's final
observation has its own mask, read before the reset (from the method, or the step's info).
"""

from __future__ import annotations

import difflib
import functools
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from neurenix.errors import ConfigError, EnvironmentNotFoundError
from neurenix.rl.observations import batch_observations


@dataclass(frozen=True)
class EpisodeEnd:
    env_index: int
    reward: float
    length: int
    terminated: bool


@dataclass
class StepResult:
    """One vectorized step. `final_obs` equals `next_obs` except in rows where an episode just ended; the masks
    (None unless the env masks actions) are those of `next_obs` and `final_obs`.

    Observations are batches as `batch_observations` makes them: an array, or a dict or tuple of arrays for Dict
    and Tuple spaces.
    """

    next_obs: Any
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: Any
    episodes: list[EpisodeEnd]
    action_masks: np.ndarray | None = None
    final_action_masks: np.ndarray | None = None


class VecEnv:
    """n environments stepped in lockstep with same-step autoreset; accepts gymnasium and legacy (4-tuple) envs."""

    def __init__(
        self,
        envs: list[Any],
        observation_space: gym.Space | None = None,
        action_space: gym.Space | None = None,
        max_episode_steps: int | None = None,
        seed: int | None = None,
        action_mask_key: str | None = None,
    ) -> None:
        if not envs:
            raise ValueError("VecEnv needs at least one environment")
        self.envs = envs
        self._configure(
            len(envs),
            observation_space or getattr(envs[0], "observation_space", None),
            action_space or getattr(envs[0], "action_space", None),
            max_episode_steps,
            seed,
            action_mask_key,
        )
        maskable = self._mask_starts is not None
        methods = _mask_methods(envs) if action_mask_key is None and maskable else None
        self._finish_masks(methods is not None)
        # One reader per copy: its mask from the method or the info (None when the env masks nothing).
        readers = [None] * self.num_envs
        if self.masks_actions:
            readers = [
                MaskReader(method, action_mask_key, self.action_space) for method in methods or readers
            ]
        self._mask_readers = readers

    def _configure(
        self,
        num_envs: int,
        observation_space: gym.Space | None,
        action_space: gym.Space | None,
        max_episode_steps: int | None,
        seed: int | None,
        action_mask_key: str | None,
    ) -> None:
        """What every vector env holds whatever runs its copies (async_env.AsyncVecEnv too)."""
        self.num_envs = num_envs
        self.observation_space = observation_space
        self.action_space = action_space
        self.max_episode_steps = max_episode_steps
        self.seed = seed  # the first reset's seed when an agent trains on this env
        self._discrete_actions = isinstance(self.action_space, gym.spaces.Discrete)
        self._returns = np.zeros(self.num_envs, dtype=np.float64)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.action_mask_key = action_mask_key
        # Each component's first column in a mask: one component for Discrete, one per entry of nvec.
        self._mask_starts = _mask_starts(self.action_space)
        if action_mask_key is not None and self._mask_starts is None:
            raise ConfigError(
                "Invalid-action masks are read for Discrete and MultiDiscrete action spaces only, and this env's "
                f"action space is {self.action_space}. Remove action_mask_key, or use an env with such actions.",
                key="action_mask_key",
            )
        self.action_masks: np.ndarray | None = None

    def _finish_masks(self, mask_methods: bool) -> None:
        """`mask_methods`: every copy has an `action_masks()` method (read only when no info key is named)."""
        self._uses_mask_methods = mask_methods
        self.masks_actions = self.action_mask_key is not None or mask_methods

    def reset(self, seed: int | None = None) -> Any:
        copies = [
            reset_copy(env, None if seed is None else seed + i, self._mask_readers[i])
            for i, env in enumerate(self.envs)
        ]
        return self._assemble_reset(copies)

    def _assemble_reset(self, copies: list[tuple[Any, np.ndarray | None]]) -> Any:
        """The batch of every copy's (first observation, its mask), episode counters zeroed."""
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self.action_masks = np.array([mask for _, mask in copies]) if self.masks_actions else None
        return batch_observations(self.observation_space, [obs for obs, _ in copies])

    def _copy_action(self, actions: np.ndarray, i: int) -> Any:
        return int(actions[i]) if self._discrete_actions else actions[i]

    def _cap_hit(self, i: int) -> bool:
        """Whether copy i's next step reaches max_episode_steps (a truncation, unless it terminates)."""
        cap = self.max_episode_steps
        return cap is not None and self._lengths[i] + 1 >= cap

    def step(self, actions: np.ndarray) -> StepResult:
        copies = [
            step_copy(env, self._copy_action(actions, i), self._cap_hit(i), self._mask_readers[i])
            for i, env in enumerate(self.envs)
        ]
        return self._assemble(copies)

    def _assemble(self, copies: list[CopyStep]) -> StepResult:
        """One StepResult from every copy's step, in copy order: episode bookkeeping and the batches."""
        n = self.num_envs
        rewards = np.empty(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        observations = []
        finals = None
        episodes: list[EpisodeEnd] = []
        returns, lengths = self._returns, self._lengths
        masks = np.empty((n, self._mask_width), dtype=bool) if self.masks_actions else None
        final_masks = {}
        for i, copy in enumerate(copies):
            rewards[i] = copy.reward
            returns[i] += copy.reward
            lengths[i] += 1
            if copy.terminated or copy.truncated:
                terminated[i], truncated[i] = copy.terminated, copy.truncated and not copy.terminated
                if finals is None:
                    finals = {}
                finals[i] = copy.final_obs
                if masks is not None:
                    final_masks[i] = copy.final_mask
                episodes.append(EpisodeEnd(i, float(returns[i]), int(lengths[i]), bool(copy.terminated)))
                returns[i] = 0.0
                lengths[i] = 0
            if masks is not None:
                masks[i] = copy.mask
            observations.append(copy.obs)
        next_obs = batch_observations(self.observation_space, observations)
        final_obs = next_obs
        if finals:
            final_obs = batch_observations(
                self.observation_space, [finals.get(i, obs) for i, obs in enumerate(observations)]
            )
        self.action_masks = masks
        if masks is None:
            return StepResult(next_obs, rewards, terminated, truncated, final_obs, episodes)
        final = masks
        if final_masks:
            final = masks.copy()
            for i, mask in final_masks.items():
                final[i] = mask
        return StepResult(next_obs, rewards, terminated, truncated, final_obs, episodes, masks, final)

    @property
    def _mask_width(self) -> int:
        return _mask_width(self.action_space)

    def close(self) -> None:
        for env in self.envs:
            close = getattr(env, "close", None)
            if close is not None:
                close()


class CopyStep(NamedTuple):
    """One copy's step: `truncated` includes the episode cap; `final_obs` and `final_mask` (the finished
    episode's last observation and its mask) mean something only when the episode ended, and then `obs` and
    `mask` are the next episode's first."""

    obs: Any
    reward: float
    terminated: bool
    truncated: bool
    final_obs: Any = None
    mask: np.ndarray | None = None
    final_mask: np.ndarray | None = None


def step_copy(env: Any, action: Any, cap_hit: bool, read_mask: MaskReader | None) -> CopyStep:
    """Step one copy and reset it in the same step when its episode ends (`cap_hit`: this step reaches
    max_episode_steps). The one definition of a copy's step, for `VecEnv` and `AsyncVecEnv`'s workers alike."""
    obs, reward, term, trunc, info = _step(env, action)
    if not term and cap_hit:
        trunc = True
    if not (term or trunc):
        return CopyStep(obs, reward, term, trunc, None, None if read_mask is None else read_mask(info))
    final_obs = obs
    final_mask = None if read_mask is None else read_mask(info)  # before the reset replaces what it describes
    obs, info = _reset(env, None)
    return CopyStep(
        obs, reward, term, trunc, final_obs, None if read_mask is None else read_mask(info), final_mask
    )


def reset_copy(env: Any, seed: int | None, read_mask: MaskReader | None) -> tuple[Any, np.ndarray | None]:
    """One copy's first observation and its mask."""
    obs, info = _reset(env, seed)
    return obs, None if read_mask is None else read_mask(info)


class MaskReader:
    """Reads one copy's mask of its current observation, checked: one bool per action, at least one allowed
    (in each component). From the copy's `action_masks` method when given, else from `info[key]`."""

    def __init__(self, method: Callable[[], Any] | None, key: str | None, action_space: gym.Space) -> None:
        self.method = method
        self.key = key
        self.width = _mask_width(action_space)
        self.starts = _mask_starts(action_space)

    def __call__(self, info: Any) -> np.ndarray:
        if self.method is not None:
            value = self.method()
            source = "its action_masks() method"
        else:
            key = self.key
            if not isinstance(info, dict) or key not in info:
                raise ConfigError(
                    f"The env's info has no {key!r} entry to read the invalid-action mask from (its keys: "
                    f"{', '.join(map(repr, info)) if isinstance(info, dict) and info else 'none'}). Set "
                    "action_mask_key to the key the env writes its mask under after every reset and step, or "
                    "remove it.",
                    key="action_mask_key",
                )
            value = info[key]
            source = f"info[{key!r}]"
        mask = np.asarray(value).reshape(-1).astype(bool)
        n = self.width
        if mask.shape != (n,) or not np.logical_or.reduceat(mask, self.starts).all():
            each = "" if len(self.starts) == 1 else " in each component"
            raise ConfigError(
                f"The env's invalid-action mask from {source} must be {n} booleans with at least one True{each} "
                f"(one per action, True where allowed), got {np.asarray(value)!r:.80}. Fix the env's mask.",
                key="action_mask_key",
            )
        return mask


def _mask_width(space: Any) -> int:
    return int(space.n if isinstance(space, gym.spaces.Discrete) else space.nvec.sum())


def _mask_starts(space: Any) -> np.ndarray | None:
    """The first mask column of each component of a maskable action space; None for spaces without masks."""
    if isinstance(space, gym.spaces.Discrete):
        return np.zeros(1, dtype=np.int64)
    if isinstance(space, gym.spaces.MultiDiscrete) and space.nvec.ndim == 1:
        return np.concatenate([[0], np.cumsum(space.nvec)[:-1]]).astype(np.int64)
    return None


def _mask_methods(envs: list[Any]) -> list[Any] | None:
    """Each env's bound `action_masks` method, or None when the envs have none."""
    methods = []
    for env in envs:
        getter = getattr(env, "get_wrapper_attr", None)
        try:
            method = getter("action_masks") if getter is not None else getattr(env, "action_masks", None)
        except AttributeError:
            method = None
        if not callable(method):
            return None
        methods.append(method)
    return methods


def _reset(env: Any, seed: int | None) -> tuple[Any, dict]:
    try:
        out = env.reset(seed=seed) if seed is not None else env.reset()
    except TypeError:  # a legacy env whose reset takes no seed
        out = env.reset()
    info: dict = {}
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
        out, info = out
    return out, info


def _step(env: Any, action: Any) -> tuple[Any, float, bool, bool, Any]:
    out = env.step(action)
    if len(out) == 5:
        obs, reward, terminated, truncated, info = out
        return obs, float(reward), bool(terminated), bool(truncated), info
    # Legacy API: one `done`; a time limit announces itself in info, and is then a truncation.
    obs, reward, done, info = out
    truncated = bool(done and isinstance(info, dict) and info.get("TimeLimit.truncated", False))
    return obs, float(reward), bool(done) and not truncated, truncated, info


VECTORIZATIONS = ("sync", "async")  # VecEnv in this process, or async_env.AsyncVecEnv in parallel


def make_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    max_episode_steps: int | None = None,
    wrappers: Sequence[Callable[[gym.Env], gym.Env]] = (),
    action_mask_key: str | None = None,
    vectorization: str = "sync",
    **kwargs: Any,
) -> VecEnv:
    """`n_envs` copies of a registered gymnasium env (checker wrappers off: they cost time on every step), each
    wrapped by `wrappers` in order (callables env -> env, e.g. `functools.partial(Wrapper, **kwargs)`);
    `action_mask_key` names the info entry holding each step's invalid-action mask (see the module docstring).
    `vectorization`: "sync" steps the copies in this process (VecEnv), "async" in parallel, copy 0 in this process
    and each other one in its own worker process (async_env.AsyncVecEnv; the id must then be registered in a fresh interpreter, and the wrappers picklable).

    `max_episode_steps` also replaces the limit the env was registered with (gymnasium's TimeLimit), which
    would otherwise cut episodes off first when it is the lower one."""
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    if vectorization not in VECTORIZATIONS:
        raise ConfigError(
            f"vectorization must be 'sync' or 'async', got {vectorization!r}.", key="vectorization"
        )
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    copy = functools.partial(make_copy, env_id, tuple(wrappers), **kwargs)
    options = dict(max_episode_steps=max_episode_steps, seed=seed, action_mask_key=action_mask_key)
    if vectorization == "async":
        from neurenix.rl.async_env import AsyncVecEnv  # imports this module: not at the top

        return AsyncVecEnv([copy] * n_envs, **options)
    return VecEnv([copy() for _ in range(n_envs)], **options)


def make_copy(env_id: str, wrappers: Sequence[Callable[[gym.Env], gym.Env]] = (), **kwargs: Any) -> gym.Env:
    """One copy of a registered env, wrapped by `wrappers` in order (what `make_env` makes n of)."""
    return _wrapped(_make_one(env_id, **kwargs), wrappers)


def _wrapped(env: gym.Env, wrappers: Sequence[Callable[[gym.Env], gym.Env]]) -> gym.Env:
    for wrap in wrappers:
        env = wrap(env)
    return env


class RegisteringPackage(NamedTuple):
    module: str  # importing it registers the ids
    extra: str  # the neurenix extra that installs it


# Env ids that gymnasium knows only once a package has registered them, by the id's form.
_REGISTERING_PACKAGES = (
    (re.compile(r"(MiniGrid|BabyAI)-"), RegisteringPackage("minigrid", "minigrid")),
    (re.compile(r"ALE/|.*(NoFrameskip|Deterministic)-v4$"), RegisteringPackage("ale_py", "atari")),
)


def registering_package(env_id: str) -> RegisteringPackage | None:
    """The package whose import registers `env_id` (MiniGrid's and Atari's ids), or None for any other id."""
    return next((package for form, package in _REGISTERING_PACKAGES if form.match(env_id)), None)


def extra_installing(module: str) -> str | None:
    """The neurenix extra that installs the package `module` (a top-level name), for the registering packages
    above; else None."""
    return next((package.extra for _, package in _REGISTERING_PACKAGES if package.module == module), None)


def _make_one(env_id: str, **kwargs: Any) -> gym.Env:
    try:
        return gym.make(env_id, disable_env_checker=True, **kwargs)
    except gym.error.Error as error:
        package = registering_package(env_id)
        known = sorted(gym.registry.keys())
        close = difflib.get_close_matches(env_id, known, n=3)
        if (
            package is not None and package.module not in sys.modules
        ):  # imported: a typo, not a missing import
            hint = (
                f" Ids like it are registered by importing {package.module}: list it in env.imports "
                f"(`imports: [{package.module}]`; from Python, `import {package.module}`), installed by "
                f"pip install 'neurenix[{package.extra}]'."
            )
        elif close:
            hint = f" Did you mean {', '.join(close)}?"
        else:
            hint = " `python -c 'import gymnasium; print(list(gymnasium.registry))'` lists them."
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
