"""`OffPolicyAgent`: what DQN, DDPG, TD3 and SAC share — replay, warm-up, the `train_freq` cadence, exploration
noise and saved state. An algorithm adds its networks, how it acts (`_act`) and its whole `update()`.

The cadence is SB3's: training collects in chunks of `train_freq` vectorized steps, or (`train_freq_unit:
episode`) until `train_freq` episodes have ended over all envs, and an update closes each chunk once
more than `learning_starts` env steps are taken and a batch can be sampled; chunks closed before then pass without
one.

Normalisation (`normalize_observations`, `normalize_rewards`) follows SB3's VecNormalize with a replay buffer:
the buffer stores raw observations and rewards, and each batch it serves is normalised with the statistics as
they are then; the loop updates them from the observations it acts on and every step's rewards (warm-up
included), and acting normalises before encoding (`BaseAgent`).

Continuous actions live in two spaces. Networks produce and the replay buffer stores *unit* actions in [-1, 1]^A
(a tanh actor's range, and the scale at which exploration noise and target smoothing are specified, as in SB3 and
the TD3 paper); the env receives them mapped to its box by `BoxScaler`. Trap: storing env-scale actions would
feed the critic inputs of another scale than the actor's output at update time.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurenix.errors import ConfigError
from neurenix.nn import Module
from neurenix.rl.base import BaseAgent
from neurenix.rl.buffers import ReplayBuffer, replay_update_due
from neurenix.rl.encoders import build_encoder, encoder_features_field, encoder_field
from neurenix.rl.environment import StepResult, VecEnv
from neurenix.rl.hyperparameters import hyperparameter, lr_schedule_field, step_size
from neurenix.rl.normalize import NormalizationHyperparameters
from neurenix.rl.observations import ObservationFrontEnd
from neurenix.rl.spaces import BoxScaler


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplayHyperparameters(NormalizationHyperparameters):
    """The replay buffer and the update cadence, which every off-policy agent has."""

    buffer_size: int = hyperparameter(
        10000, "Transitions the replay buffer holds; the oldest are overwritten.", unit="transitions", low=1
    )
    batch_size: int = hyperparameter(64, "Transitions per minibatch.", unit="transitions", low=1)
    optimize_memory_usage: bool = hyperparameter(
        False,
        "Store each observation once: a transition's next observation is read from the row of the same env's "
        "next step (SB3's option; half the memory, for image replay). Episodes' last observations are kept "
        "aside, so truncations still bootstrap from them.",
    )
    frame_stack: int = hyperparameter(
        1,
        "Observations are this many frames stacked on their first axis (gymnasium's FrameStackObservation; a "
        "config's env.frame_stack sets it): the replay keeps each frame once, in place as optimize_memory_usage "
        "does, a quarter of that option's memory for Atari's 4 frames.",
        unit="frames",
        low=1,
    )
    learning_starts: int = hyperparameter(
        100,
        "Env steps (over all envs) of warm-up: box-action agents act uniformly at random for these steps, and the "
        "first update comes at the first train_freq boundary after them (SB3's num_timesteps > learning_starts).",
        unit="env steps",
        low=0,
    )
    train_freq: int = hyperparameter(
        1,
        "Updates come every train_freq units of train_freq_unit: vectorized env steps (each is one step of "
        "every env), or episodes ended (over all envs).",
        unit="env steps or episodes",
        low=1,
    )
    train_freq_unit: str = hyperparameter(
        "step",
        "What train_freq counts: step (vectorized env steps) or episode (episodes ended over all envs, SB3's "
        "train_freq=(n, 'episode')).",
        choices=("step", "episode"),
    )
    gradient_steps: int = hyperparameter(
        1,
        "Minibatches, each one gradient step, per update; -1: one per env step (over all envs) of the chunk the "
        "update closes (train_freq x n_envs with steps, the steps of those episodes with episodes), as SB3's -1.",
        low=-1,
    )
    lr_schedule: str = lr_schedule_field()

    def check(self) -> None:
        super().check()
        if self.gradient_steps == 0:
            raise ConfigError(
                "gradient_steps is 0, so no update would take a gradient step; give a positive count, or -1 for "
                "one per env step",
                key="gradient_steps",
            )
        # An update waits for a full minibatch in the buffer: one larger than the buffer never comes, and the
        # run would "complete" without a single gradient step.
        if self.batch_size > self.buffer_size:
            raise ConfigError(
                f"batch_size ({self.batch_size}) is larger than buffer_size ({self.buffer_size}), so no "
                "minibatch can ever be sampled and training would take no gradient step; lower batch_size or "
                "raise buffer_size",
                key="batch_size",
            )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ContinuousHyperparameters(ReplayHyperparameters):
    """The actor, the critic and their targets, which DDPG, TD3 and SAC share."""

    actor_hidden_dims: list[int] = hyperparameter((64, 64), "Widths of the actor's hidden layers.")
    critic_hidden_dims: list[int] = hyperparameter(
        (64, 64), "Widths of each critic's hidden layers (its input is the observation and the action)."
    )
    # Images: the actor and the critic each read their own encoder (SB3's share_features_extractor=False).
    encoder: str = encoder_field()
    encoder_features: int | None = encoder_features_field()
    actor_learning_rate: float = step_size(0.001, "the actor's Adam")
    critic_learning_rate: float = step_size(0.001, "the critics' Adam")
    tau: float = hyperparameter(
        0.005,
        "Polyak rate of the target networks: target <- tau * online + (1 - tau) * target.",
        unit="per gradient step",
        low=0.0,
        high=1.0,
        low_open=True,
    )


class WarmupActions:
    """The uniform unit actions taken before `learning_starts` env steps, and the box they are mapped to.

    They are drawn for the whole warm-up in one call (gymnasium's `Box.sample()` costs ~14 µs a step). The ones
    not yet used are part of the state: a run resumed mid-warm-up must take the actions the uninterrupted run
    would have, and must not draw them again from the (restored) rng, whose stream the uninterrupted run spends
    on replay sampling and noise instead.
    """

    def __init__(self, action_space: Any, learning_starts: int, rng: np.random.Generator) -> None:
        if len(action_space.shape) != 1:
            raise ConfigError(f"continuous actions must be a 1-D box, got shape {action_space.shape}")
        try:
            self.scaler = BoxScaler(action_space)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        self.action_dim = action_space.shape[0]
        self.learning_starts, self.rng = learning_starts, rng
        self.actions = np.empty((0, self.action_dim), dtype=np.float32)  # unused, in order of use

    def start(self, n_envs: int, total_steps: int) -> None:
        """Draw the unit actions for the rest of the warm-up from the agent's rng, unless they are at hand."""
        rows = -(-max(self.learning_starts - total_steps, 0) // n_envs) * n_envs
        if len(self.actions) != rows:
            self.actions = self.rng.uniform(-1.0, 1.0, (rows, self.action_dim)).astype(np.float32)

    def take(self, n_envs: int) -> np.ndarray:
        unit, self.actions = np.split(self.actions, [n_envs])
        return unit

    def state_dict(self) -> dict:
        return {"warmup_actions": self.actions.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.actions = np.asarray(state["warmup_actions"], dtype=np.float32).reshape(-1, self.action_dim)


class OffPolicyAgent(BaseAgent):
    """Base of DQN, DDPG, TD3 and SAC; see the module docstring.

    A subclass's record extends `ReplayHyperparameters`; its `__init__` sets `buffer` (`_replay_buffer`, or
    `_continuous_replay` for box actions), lists in `_parts` the attributes whose `state_dict()` make up its
    saved state, and implements `_act(obs)` and `update()`.
    """

    _parts: tuple[str, ...] = ()
    # The warm-up, saved under this name; None for DQN, which explores with its policy throughout.
    replay: WarmupActions | None = None
    noise: Any = None  # an exploration noise process (`neurenix.rl.noise`), restarted with each episode
    _n_envs = 1
    # The collection chunk in progress with train_freq_unit "episode" (the step unit reads its chunk off
    # total_steps): env steps over all envs and episodes ended since it began. It ends at the step that ends its
    # train_freq-th episode; the next step opens a new one, whether or not an update ran (before learning_starts
    # none does), as SB3's collect_rollouts restarts its counts on every call.
    _chunk_steps = 0
    _chunk_episodes = 0

    def __init__(
        self, observation_space: Any, action_space: Any, *, seed: int | None = None, **hyperparameters: Any
    ) -> None:
        super().__init__(observation_space, action_space, seed=seed, **hyperparameters)
        # Replay keeps raw observations, each key in its own dtype (images uint8): no float_boxes, unlike a
        # rollout.
        self._set_front_end(ObservationFrontEnd(self.observation_space, images=self.takes_images))

    def _replay_buffer(
        self, action_shape: tuple[int, ...] = (), discrete_actions: bool = True
    ) -> ReplayBuffer:
        """The replay buffer: raw transitions in, batches served normalised with the current statistics."""
        return ReplayBuffer(
            self.buffer_size,
            self.front_end,
            action_shape=action_shape,
            discrete_actions=discrete_actions,
            rng=self.rng,
            obs_normalizer=self.obs_normalizer,
            reward_scaler=self.reward_scaler,
            optimize_memory_usage=self.optimize_memory_usage,
            frame_stack=self.frame_stack,
        )

    def _network_encoder(self) -> tuple[Module | None, int]:
        """A new encoder for one network and its output width (`rl.encoders.build_encoder`): None and the
        front-end's width without images. DQN calls it for its Q-network; DDPG, TD3 and SAC once for the actor
        and once for the critic: SB3's CnnPolicy with share_features_extractor=False, each encoder trained by its
        own network's loss."""
        return build_encoder(self.front_end, self.encoder, self.encoder_features, rng=self.rng)

    def _continuous_replay(self) -> None:
        """Unit-action replay (observations through `front_end`) and its warm-up, for box action spaces."""
        self.replay = WarmupActions(self.action_space, self.learning_starts, self.rng)
        self.buffer = self._replay_buffer((self.replay.action_dim,), discrete_actions=False)

    @property
    def steps_per_update(self) -> int:
        """Gradient steps of each update: `gradient_steps`, or with -1 the env steps of the chunk it closes
        (SB3's rollout.episode_timesteps)."""
        if self.gradient_steps > 0:
            return self.gradient_steps
        return self.train_freq * self._n_envs if self.train_freq_unit == "step" else self._chunk_steps

    def _chunk_closed(self) -> bool:
        """Episode unit: the last step ended the chunk's train_freq-th episode."""
        return self._chunk_episodes >= self.train_freq

    def _step_in_chunk(self) -> int:
        """The coming vectorized step's index within its collection chunk (0 opens one; gSDE redraws there)."""
        if self.train_freq_unit == "step":
            return (self.total_steps // self._n_envs) % self.train_freq
        return 0 if self._chunk_closed() else self._chunk_steps // self._n_envs

    def _act(self, obs: np.ndarray) -> np.ndarray:
        """The exploring actions to store for a batch of observations (unit actions for boxes)."""
        raise NotImplementedError

    def _to_env(self, actions: np.ndarray) -> np.ndarray:
        return actions if self.replay is None else self.replay.scaler.to_box(actions)

    def check_n_envs(self, n_envs: int) -> None:
        # The in-place replay reads a transition's next observation n_envs rows on: the ring must hold more.
        if (self.optimize_memory_usage or self.frame_stack > 1) and self.buffer_size <= n_envs:
            option = "optimize_memory_usage" if self.optimize_memory_usage else "frame_stack"
            raise ConfigError(
                f"{option} needs buffer_size ({self.buffer_size}) above the number of env copies "
                f"({n_envs}), which each write a row per step; raise buffer_size or switch the option off",
                key="buffer_size",
            )

    # -------------------------------------------------------------------------------------- loop hooks
    def _on_train_start(self, env: VecEnv) -> None:
        self._n_envs = env.num_envs
        if self.replay is not None:
            self.replay.start(env.num_envs, self.total_steps)
        if self.noise is not None:
            self.noise.start(env.num_envs)

    def _explore(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(actions to store, actions for the env): warm-up draws until `learning_starts`, then `_act`."""
        if self.replay is not None and self.total_steps < self.learning_starts:
            actions = self.replay.take(self._n_envs)
        else:
            actions = self._act(obs)
        return actions, self._to_env(actions)

    def _store(self, obs: np.ndarray, actions: np.ndarray, step: StepResult) -> None:
        # Trap: final_obs, not next_obs. Where an episode ended, next_obs is already the next episode's reset
        # observation; final_obs is the true s'. Only `terminated` stops the bootstrap: a time-limit
        # truncation (Pendulum's 200 steps) still bootstraps from final_obs, whose action mask (if the env masks
        # actions) the buffer keeps for the target's max over next actions.
        self.buffer.add(obs, actions, step.rewards, step.final_obs, step.terminated, step.final_action_masks)
        ended = step.terminated | step.truncated
        if self.noise is not None:
            self.noise.reset(ended)
        if self.train_freq_unit == "episode":
            if self._chunk_closed():  # this step opens the next chunk
                self._chunk_steps = self._chunk_episodes = 0
            self._chunk_steps += len(ended)
            self._chunk_episodes += int(np.count_nonzero(ended))

    def _on_env_step(self, n_transitions: int) -> None:
        """No per-step schedule unless the algorithm has one (DQN's epsilon and target copies)."""

    def _update_due(self) -> bool:
        if self.train_freq_unit == "step":
            chunk_closed = (self.total_steps // self._n_envs) % self.train_freq == 0
        else:
            chunk_closed = self._chunk_closed()
        return replay_update_due(
            self.buffer, self.total_steps, self.learning_starts, self.batch_size, chunk_closed
        )

    def first_update_step(self, n_envs: int) -> int | None:
        """The first multiple of train_freq vectorized steps at which `replay_update_due` holds: learning_starts
        passed and a whole batch in the buffer (one transition per env step). None with episodes: that
        depends on how long they last."""
        if self.train_freq_unit == "episode":
            return None
        period = n_envs * self.train_freq
        return -(-self._first_update_floor() // period) * period

    def no_update_before(self, n_envs: int) -> int:
        """With train_freq in episodes, the first update comes at the first chunk's end after learning_starts
        and a whole batch: never before the first vectorized step that reaches both."""
        if self.train_freq_unit == "step":
            return self.first_update_step(n_envs)
        return n_envs * -(-self._first_update_floor() // n_envs)

    def _first_update_floor(self) -> int:
        """The fewest env steps `replay_update_due` takes: more than learning_starts, and a batch."""
        return max(self.learning_starts + 1, self.batch_size)

    # ---------------------------------------------------------------------------------------- save/load
    def state_dict(self) -> dict:
        state = self._base_state()
        if self.train_freq_unit == "episode":
            # The chunk in progress, beside the other counters: a run resumed mid-chunk updates where the
            # uninterrupted one would, with as many gradient steps (gradient_steps -1). The step unit reads its
            # chunk off total_steps and saves nothing more, so its checkpoints stay as they were.
            state["counters"] = {
                **state["counters"],
                "chunk_steps": self._chunk_steps,
                "chunk_episodes": self._chunk_episodes,
            }
        return {**state, **{name: getattr(self, name).state_dict() for name in self._parts}}

    def learned_parts(self) -> tuple[str, ...]:
        """The saved parts that are networks (online and target networks, without optimizers or warm-up), and
        the normalisation statistics they were fitted with."""
        networks = (name for name in self._parts if isinstance(getattr(self, name), Module))
        return (*networks, *super().learned_parts())

    def load_state_dict(self, state: dict) -> None:
        """A missing part is a KeyError (a CheckpointError for `BaseAgent.load`). A checkpoint from before
        off-policy normalisation has no statistics and was built without them: it loads as it was saved."""
        self._load_base_state(state)
        # Step-unit checkpoints (all those from before train_freq_unit) have no chunk counters: their chunk is
        # read off total_steps, so zeros load them as they were saved.
        counters = state["counters"]
        for name in ("chunk_steps", "chunk_episodes"):
            value = counters.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"counter {name} must be a non-negative integer, got {value!r}")
        self._chunk_steps = int(counters.get("chunk_steps", 0))
        self._chunk_episodes = int(counters.get("chunk_episodes", 0))
        for name in self._parts:
            getattr(self, name).load_state_dict(state[name])
