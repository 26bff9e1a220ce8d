"""`BaseAgent`: the one training loop every algorithm shares, evaluation, and safe save/load.

An algorithm subclasses BaseAgent once (through `ActorCritic` or `OffPolicyAgent`), declares its hyperparameters
as a record (`neurenix.rl.hyperparameters`; the constructor's keyword arguments, checked, and mirrored as
attributes of the agent), and supplies its networks (in `__init__`), `predict` and four small hooks: `_explore(obs)` (batched actions while training), `_store(obs,
actions, step)` (rollout or replay), `_update_due()` (after n_steps per env for on-policy, every train_freq steps
for off-policy) and `update() -> dict[str, float]`. Everything else — stepping, episode bookkeeping, termination
vs truncation, budgets, progress for schedules, callbacks, divergence checks — lives here, once.

Observation and reward normalisation (`normalize_observations`, `normalize_rewards`, declared by
`normalize.NormalizationHyperparameters`) live here too, for both families: `_set_front_end` builds the
statistics the record asks for, the loop updates them (each batch of observations before it is acted on, each
step's rewards), `_inputs` normalises before encoding when acting, and they are saved with the counters. Only
where the scaled values are kept is the family's: a rollout stores them, a replay buffer scales on serving.

Invalid-action masks: when the env masks actions (`VecEnv.action_masks`), the loop keeps the current
observations' masks in `self._action_masks` (as it keeps them in `self._obs`) for `_explore` to read, and
`evaluate` hands them to `predict(obs, deterministic, action_masks=...)`. Only an algorithm that declares
`masks_actions = True` accepts such an env.
"""

from __future__ import annotations

import inspect
import math
import time
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

import neurenix
from neurenix import _accel
from neurenix.checkpoint import flatten_state, load_checkpoint, save_checkpoint
from neurenix.errors import CheckpointError, ConfigError, TrainingDivergedError
from neurenix.nn import Module
from neurenix.rl.buffers import ReplayBuffer
from neurenix.rl.callbacks import as_callback
from neurenix.rl.environment import VecEnv, as_vec_env
from neurenix.rl.hyperparameters import Hyperparameters
from neurenix.rl.normalize import BoxObservationNormalizer, NormalizationHyperparameters, RewardScaler
from neurenix.rl.observations import ObservationFrontEnd, all_finite
from neurenix.rl.persistence import check_agent_meta, restore_state
from neurenix.rl.spaces import check_action_space, compatible, space_type, to_gym_space, to_spec


class BaseAgent:
    """The shared loop: `train` runs it, `evaluate` measures, `save`/`load` persist; see the module docstring."""

    algorithm = "agent"  # the registry name; algorithms override it
    # The spec types (`neurenix.rl.spaces.SPACE_TYPES`) of the action spaces the algorithm can take.
    action_space_types: tuple[str, ...] = ("discrete", "box")
    # Whether the algorithm never chooses an action the env's invalid-action mask forbids (DQN, A2C, PPO).
    masks_actions = False
    takes_images = False  # whether the front-end takes image observations (an algorithm with a CNN encoder)
    # Whether the agent learns from whole rollouts it collects between updates (A2C, PPO): its state between two
    # updates holds a partial rollout no checkpoint keeps, so a caller stops or saves only right after an update.
    collects_rollouts = False
    Hyperparameters: ClassVar[type[Hyperparameters]] = Hyperparameters
    # How observations reach the networks; an algorithm with networks sets it (`_set_front_end`).
    front_end: ObservationFrontEnd | None = None
    # Running statistics, when the record asks for them (`_set_front_end` builds them); None otherwise.
    obs_normalizer: BoxObservationNormalizer | None = None
    reward_scaler: RewardScaler | None = None

    def first_update_step(self, n_envs: int) -> int | None:
        """The env step (summed over `n_envs` envs) after which the first update runs, or None where that
        depends on what happens in training; a step budget below it trains nothing."""
        return None

    def check_n_envs(self, n_envs: int) -> None:
        """Refuse (ConfigError) settings that cannot train on `n_envs` env copies at all; `train` and the CLI's
        `--check` call it once the copies are known."""

    def no_update_before(self, n_envs: int) -> int | None:
        """The env step before which no update can run, also where the exact first one depends on training;
        `first_update_step` where that is known. A step budget below it trains nothing (`--check` refuses it)."""
        return self.first_update_step(n_envs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A class that declares its record takes it as keyword arguments: `inspect.signature` (and `help`)
        show them with their defaults."""
        super().__init_subclass__(**kwargs)
        if "Hyperparameters" in cls.__dict__:
            positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
            cls.__signature__ = cls.Hyperparameters.signature(
                inspect.Parameter("observation_space", positional, annotation=Any),
                inspect.Parameter("action_space", positional, annotation=Any),
                inspect.Parameter(
                    "seed", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=int | None
                ),
            )

    def __init__(
        self,
        observation_space: Any = None,
        action_space: Any = None,
        *,
        seed: int | None = None,
        **hyperparameters,
    ) -> None:
        self.hparams = self.Hyperparameters.build(type(self).__name__, hyperparameters)
        for field in self.hparams.declared():
            setattr(self, field.name, getattr(self.hparams, field.name))
        self.seed = seed
        self.observation_space = to_gym_space(observation_space) if observation_space is not None else None
        self.action_space = to_gym_space(action_space) if action_space is not None else None
        if self.action_space is not None:
            check_action_space(self.action_space)
            kind = space_type(self.action_space)
            if kind not in self.action_space_types:
                raise ConfigError(
                    f"{type(self).__name__} cannot take the action space {to_spec(self.action_space)}, a {kind} "
                    f"space: it takes {' and '.join(self.action_space_types)} actions. Use an algorithm that "
                    f"takes {kind} actions (`neurenix.rl.registry.supporting({kind!r})` and `neurenix list "
                    "algorithms` name them)."
                )
        self._action_masks: np.ndarray | None = None
        self.rng = np.random.default_rng(seed)
        self.total_steps = 0
        self.episodes = 0
        self.updates = 0
        self.progress = 0.0
        self._obs: np.ndarray | None = None
        self._last_losses: dict[str, float] = {}

    # ---------------------------------------------------------------------------------------- observations
    def _set_front_end(self, front_end: ObservationFrontEnd) -> None:
        """Feed the networks through `front_end`, normalised as the record's `normalize_observations` and
        `normalize_rewards` ask (a record without them, the generic Agent's, asks for neither)."""
        self.front_end = front_end
        if isinstance(self.hparams, NormalizationHyperparameters):
            if self.hparams.normalize_observations:
                self.obs_normalizer = BoxObservationNormalizer(front_end)
            if self.hparams.normalize_rewards:
                self.reward_scaler = RewardScaler(self.gamma)

    def _observed(self, obs: Any) -> Any:
        """A raw batch as the networks see it before encoding: box parts normalised with the statistics as they
        are (updated only by the training loop, so frozen while acting, evaluating or after a load)."""
        return obs if self.obs_normalizer is None else self.obs_normalizer(obs)

    def _inputs(self, obs: Any) -> np.ndarray:
        """Network inputs (n, front_end.dim) float32 for a batch of raw observations."""
        return self.front_end.encode(self._observed(obs))

    # ------------------------------------------------------------------------------------------------ acting
    def act(self, state: Any, deterministic: bool = False, action_masks: Any = None) -> Any:
        """The action for one state (or a batch of states); explores as the policy does unless deterministic.

        `action_masks`: the state's invalid-action mask (n_actions,) (or a batch's), True where allowed.
        """
        if self.front_end is not None:
            batch, single = self.front_end.as_batch(state)
        else:
            batch = np.asarray(state, dtype=np.float32)
            single = self.observation_space is not None and batch.shape == self.observation_space.shape
            single = single or (self.observation_space is None and batch.ndim == 1)
            batch = batch[None] if single else batch
        masks = None if action_masks is None else np.asarray(action_masks, dtype=bool)
        if masks is not None and single:
            masks = masks[None]
        actions = self._predict(batch, deterministic, masks)
        if not single:
            return actions
        action = actions[0]
        return int(action) if isinstance(self.action_space, gym.spaces.Discrete) else action

    def predict(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Env actions for a batch of observations (n, *obs_shape), computed without a graph; an algorithm that
        masks actions also takes `action_masks` (n, n_actions)."""
        raise NotImplementedError

    def _predict(self, obs: np.ndarray, deterministic: bool, masks: np.ndarray | None) -> np.ndarray:
        if masks is None:
            return self.predict(obs, deterministic)
        if not self.masks_actions:
            raise ConfigError(
                f"{type(self).__name__} cannot honour invalid-action masks: only an algorithm that masks actions "
                "(`neurenix list algorithms` shows which) can play an env that masks its actions."
            )
        return self.predict(obs, deterministic, action_masks=masks)

    # -------------------------------------------------------------------------------------- the loop
    def train(
        self,
        env: Any = None,
        episodes: int | None = None,
        max_steps: int | None = None,
        verbose: bool = False,
        callback: Any = None,
        total_steps: int | None = None,
        configure_runtime: bool = True,
    ) -> dict:
        """Train until `total_steps` more env steps or `episodes` more episodes (1000 episodes if neither).

        `max_steps` caps an episode's length (a truncation: it bootstraps). `callback` is a function called with
        each episode's info dict, or a `Callback`; returning True stops training. `configure_runtime` first sets
        the process's BLAS threads and allocator as `neurenix.configure_runtime()` does; False keeps yours.
        """
        if env is None:
            raise ConfigError("train() needs an env: an env id, a gymnasium env or a VecEnv.")
        if configure_runtime:
            _accel.configure_runtime()
        vec = as_vec_env(env, seed=self.seed, n_envs=getattr(self, "n_envs", 1))
        self._check_env(vec)
        if vec.masks_actions and not self.masks_actions:
            raise ConfigError(
                f"{type(self).__name__} cannot honour the env's invalid-action masks: train an algorithm that "
                "masks actions (`neurenix list algorithms` shows which), or use an env without masks."
            )
        if episodes is None and total_steps is None:
            episodes = 1000
        for label, value in (("episodes", episodes), ("total_steps", total_steps), ("max_steps", max_steps)):
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
                raise ConfigError(f"{label} must be a positive integer, got {value!r}")
        self.check_n_envs(vec.num_envs)
        if max_steps is not None:
            vec.max_episode_steps = max_steps
        step_target = None if total_steps is None else self.total_steps + total_steps
        episode_target = None if episodes is None else self.episodes + episodes
        callbacks = as_callback(callback, verbose)

        update_threads = _accel.update_threads(self._networks(), self._minibatch_rows())
        base_seed = vec.seed if vec.seed is not None else self.seed
        obs = vec.reset(seed=None if base_seed is None else base_seed + self.total_steps)
        self._action_masks = vec.action_masks
        if self.reward_scaler is not None:
            self.reward_scaler.reset(vec.num_envs)  # fresh episodes: their returns start at zero
        self._on_train_start(vec)
        rewards: list[float] = []
        lengths: list[int] = []
        start = time.perf_counter()
        start_steps = self.total_steps
        callbacks.on_train_start(self)
        stop = False
        while not stop:
            if self.obs_normalizer is not None:
                # Statistics learn from the observations training acts on (VecNormalize's, reset ones included),
                # before acting on them; nothing else updates them.
                self.obs_normalizer.update(obs)
            stored_actions, env_actions = self._explore(obs)
            step = vec.step(env_actions)
            if not all_finite(step.next_obs):
                raise TrainingDivergedError(
                    f"The environment returned a non-finite observation at step {self.total_steps:,}."
                )
            if self.reward_scaler is not None:
                self.reward_scaler.update(step.rewards, step.terminated | step.truncated)
            self._store(obs, stored_actions, step)
            obs = self._obs = step.next_obs
            self._action_masks = step.action_masks
            self.total_steps += vec.num_envs
            self.progress = self._progress(step_target, episode_target)
            self._on_env_step(vec.num_envs)
            if self._update_due():
                # Only gradient steps multiply matrices large enough for several BLAS threads
                # (neurenix/_accel/runtime.py).
                with update_threads.run():
                    losses = self.update()
                self.updates += 1
                self._check_finite(losses)
                self._last_losses = losses
                stop = callbacks.on_update(
                    {"total_steps": self.total_steps, "updates": self.updates, **losses}
                )
            for ended in step.episodes:
                self.episodes += 1
                rewards.append(ended.reward)
                lengths.append(ended.length)
                info = {
                    "episode": self.episodes,
                    "reward": ended.reward,
                    "length": ended.length,
                    "total_steps": self.total_steps,
                    "env_index": ended.env_index,
                    "terminated": ended.terminated,
                    **self._last_losses,
                }
                stop = callbacks.on_episode_end(info) or stop
            stop = callbacks.on_step(self.total_steps) or stop
            if step_target is not None and self.total_steps >= step_target:
                stop = True
            if episode_target is not None and self.episodes >= episode_target:
                stop = True
        wall = time.perf_counter() - start
        result = {
            "episodes": self.episodes,
            "total_steps": self.total_steps,
            "updates": self.updates,
            "episode_rewards": rewards,
            "episode_lengths": lengths,
            "mean_reward": float(np.mean(rewards[-100:])) if rewards else float("nan"),
            "wall_time": wall,
            "steps_per_second": (self.total_steps - start_steps) / max(wall, 1e-9),
            **self._last_losses,
        }
        callbacks.on_train_end(result)
        return result

    def _networks(self) -> list[Module]:
        """The agent's networks: the modules among its attributes, whose gradient steps the loop runs."""
        return [value for value in vars(self).values() if isinstance(value, Module)]

    def _minibatch_rows(self) -> int:
        return int(getattr(self, "batch_size", 1))

    def _schedule(self, schedule: str) -> float:
        """The factor a scheduled quantity is multiplied by: 1, or linear from 1 down to 0 over training."""
        return 1.0 if schedule == "constant" else max(1.0 - self.progress, 0.0)

    def _scheduled_rates(self) -> tuple[tuple[Any, float], ...]:
        """(optimizer, configured learning rate) for each optimizer `lr_schedule` scales, in the algorithm's
        order; an algorithm with an `lr_schedule` hyperparameter lists them."""
        return ()

    def _apply_lr_schedule(self) -> float:
        """Set every optimizer's rate for this update from the budget's progress (SB3 does so at the start of
        each update); returns the first's (the actor's, or DQN's only one)."""
        factor = self._schedule(self.lr_schedule)
        rates = self._scheduled_rates()
        for optimizer, rate in rates:
            optimizer.lr = rate * factor
        return rates[0][0].lr

    def _progress(self, step_target: int | None, episode_target: int | None) -> float:
        """Fraction of the budget used, for schedules: by steps when a step budget is set, else by episodes."""
        if step_target is not None:
            return min(self.total_steps / step_target, 1.0)
        return min(self.episodes / episode_target, 1.0) if episode_target else 0.0

    def _check_finite(self, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if not math.isfinite(value):
                raise TrainingDivergedError(
                    f"Training diverged: {name} became {value} at step {self.total_steps:,}. Lower the learning "
                    "rate, clip gradients (max_grad_norm) or normalise observations."
                )

    def _check_env(self, env: VecEnv) -> None:
        for label, ours, theirs in (
            ("observation", self.observation_space, env.observation_space),
            ("action", self.action_space, env.action_space),
        ):
            if ours is None and theirs is not None:
                setattr(self, f"{label}_space", to_gym_space(theirs))
            elif ours is not None and theirs is not None and not compatible(ours, theirs, label == "action"):
                raise ConfigError(
                    f"The agent's {label} space {to_spec(ours)} does not match the environment's {to_spec(theirs)}."
                )

    # ------------------------------------------------------------------------------------- evaluation
    def evaluate(
        self,
        env: Any,
        episodes: int = 10,
        deterministic: bool = True,
        max_steps: int | None = None,
        seed: int | None = None,
    ) -> list[float]:
        """Returns of `episodes` complete episodes, exploration off unless `deterministic=False`.

        With several envs each gets an equal share of the episodes, so short episodes are not over-counted.
        """
        vec = as_vec_env(env, seed=seed)
        previous_cap = vec.max_episode_steps
        if max_steps is not None:
            vec.max_episode_steps = max_steps
        quotas = [(episodes + i) // vec.num_envs for i in range(vec.num_envs)]
        done = [[] for _ in range(vec.num_envs)]
        obs = vec.reset(seed=seed if seed is not None else vec.seed)
        try:
            while any(len(d) < q for d, q in zip(done, quotas)):
                step = vec.step(self._predict(obs, deterministic, vec.action_masks))
                for ended in step.episodes:
                    if len(done[ended.env_index]) < quotas[ended.env_index]:
                        done[ended.env_index].append(ended.reward)
                obs = step.next_obs
        finally:
            vec.max_episode_steps = previous_cap
        return [reward for rewards in done for reward in rewards]

    # ------------------------------------------------------------------------------------- save / load
    def hyperparameters(self) -> dict:
        """The hyperparameters the agent was built with, JSON-able (what its checkpoint stores)."""
        return self.hparams.as_dict()

    def _normalization(self) -> dict[str, BoxObservationNormalizer | RewardScaler]:
        """The normalisation statistics the agent keeps, by their checkpoint names."""
        parts = {"obs_normalizer": self.obs_normalizer, "reward_scaler": self.reward_scaler}
        return {name: part for name, part in parts.items() if part is not None}

    def _base_state(self) -> dict:
        """Counters, RNG and normalisation statistics: the state every algorithm has."""
        return {
            "counters": {"total_steps": self.total_steps, "episodes": self.episodes, "updates": self.updates},
            "rng": self.rng.bit_generator.state,
            **{name: part.state_dict() for name, part in self._normalization().items()},
        }

    def _load_base_state(self, state: dict) -> None:
        counters = state["counters"]
        for name in ("total_steps", "episodes", "updates"):
            value = counters[name]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"counter {name} must be a non-negative integer, got {value!r}")
        self.total_steps = int(counters["total_steps"])
        self.episodes = int(counters["episodes"])
        self.updates = int(counters["updates"])
        self.rng.bit_generator.state = state["rng"]
        # A missing entry is a KeyError (a CheckpointError for `load`): weights fitted to normalised inputs
        # compute another policy without their statistics.
        for name, part in self._normalization().items():
            part.load_state_dict(state[name])

    def state_dict(self) -> dict:
        """Everything needed to continue training: networks, optimizers, counters, RNG and schedule state."""
        return self._base_state()

    def learned_parts(self) -> tuple[str, ...]:
        """The entries of `state_dict()` that hold what training has taught the agent, apart from how far its
        training got: networks (targets too) and the statistics inputs are normalised with. A new run started
        from this agent's weights (`neurenix train --init-from`) takes these over; optimizer moments, counters,
        RNG, exploration and replay stay the new run's own. None for an agent without networks of its own.
        Here: the normalisation statistics, which an algorithm lists after its networks."""
        return tuple(self._normalization())

    def load_state_dict(self, state: dict) -> None:
        self._load_base_state(state)

    def save(self, path: str | Path, include_replay_buffer: bool = False) -> None:
        """Write `path/arrays.npz` and `path/meta.json` atomically; nothing in them can execute on load.

        `include_replay_buffer` adds an off-policy agent's replay buffer, so a resumed run continues exactly.
        """
        state = self.state_dict()
        buffer = getattr(self, "buffer", None)
        if include_replay_buffer and isinstance(buffer, ReplayBuffer):
            state["replay_buffer"] = buffer.state_dict()
        arrays, scalars = flatten_state(state)
        meta = {
            "kind": "agent",
            "algorithm": self.algorithm,
            "class": type(self).__name__,
            "neurenix_version": neurenix.__version__,
            "hyperparameters": self.hyperparameters(),
            "observation_space": to_spec(self.observation_space)
            if self.observation_space is not None
            else None,
            "action_space": to_spec(self.action_space) if self.action_space is not None else None,
            "state": scalars,
        }
        save_checkpoint(path, arrays, meta)

    def load(self, path: str | Path) -> None:
        """Restore this agent from a checkpoint of the same algorithm and spaces."""
        arrays, meta = load_checkpoint(path)
        check_agent_meta(meta, path, expected_class=type(self).__name__)
        for label in ("observation_space", "action_space"):
            ours, theirs = getattr(self, label), meta.get(label)
            if ours is not None and theirs is not None and to_spec(ours) != theirs:
                raise CheckpointError(
                    f"Checkpoint {path} was saved for {label} {theirs}, but this agent has {to_spec(ours)}."
                )
        restore_state(self, arrays, meta, path)
