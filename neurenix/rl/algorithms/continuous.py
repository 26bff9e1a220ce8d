"""What DDPG, TD3 and SAC share: argument checks, replay with warm-up and cadence, state.

Actions live in two spaces. Networks produce and the replay buffer stores *unit* actions in [-1, 1]^A (a tanh
actor's range, and the scale at which exploration noise and target smoothing are specified, as in SB3 and the TD3
paper); the env receives them mapped to its box by `BoxScaler`. Trap: storing env-scale actions would feed the
critic inputs of another scale than the actor's output at update time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from neurenix.errors import ConfigError
from neurenix.rl.agent import check_hidden_dims, check_positive_int, check_range
from neurenix.rl.buffers import ReplayBatch, ReplayBuffer, replay_update_due
from neurenix.rl.environment import StepResult
from neurenix.rl.spaces import BoxScaler


def check_off_policy_arguments(
    actor_hidden_dims: Any,
    critic_hidden_dims: Any,
    actor_learning_rate: Any,
    critic_learning_rate: Any,
    tau: Any,
    buffer_size: Any,
    batch_size: Any,
    learning_starts: Any,
    train_freq: Any,
    gradient_steps: Any,
) -> None:
    """Raise ConfigError naming the first constructor argument the three algorithms share that is invalid."""
    check_hidden_dims("actor_hidden_dims", actor_hidden_dims)
    check_hidden_dims("critic_hidden_dims", critic_hidden_dims)
    check_range("actor_learning_rate", actor_learning_rate, 0.0, 1.0, low_open=True)
    check_range("critic_learning_rate", critic_learning_rate, 0.0, 1.0, low_open=True)
    check_range("tau", tau, 0.0, 1.0, low_open=True)
    for label, value in (
        ("buffer_size", buffer_size),
        ("batch_size", batch_size),
        ("train_freq", train_freq),
        ("gradient_steps", gradient_steps),
    ):
        check_positive_int(label, value)
    check_positive_int("learning_starts", learning_starts, allow_zero=True)


# ------------------------------------------------------------------------------------------ replay and cadence
class OffPolicyReplay:
    """The replay buffer, the warm-up before `learning_starts` and the `train_freq` cadence.

    Until `learning_starts` env steps have been taken, actions are uniform in the box, drawn for the whole
    warm-up in one call (gymnasium's `Box.sample()` costs ~14 µs a step); after that the algorithm's exploring
    policy acts. An update is due every `train_freq` vectorized steps once `learning_starts` steps are stored.

    The warm-up actions not yet used are part of the state: a run resumed mid-warm-up must take the actions the
    uninterrupted run would have, and must not draw them again from the (restored) rng, whose stream the
    uninterrupted run spends on replay sampling and noise instead.
    """

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        buffer_size: int,
        batch_size: int,
        learning_starts: int,
        train_freq: int,
        rng: np.random.Generator,
    ) -> None:
        if len(action_space.shape) != 1:
            raise ConfigError(f"continuous actions must be a 1-D box, got shape {action_space.shape}")
        try:
            self.scaler = BoxScaler(action_space)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        self.action_dim = action_space.shape[0]
        self.buffer = ReplayBuffer(
            buffer_size,
            observation_space.shape,
            action_shape=(self.action_dim,),
            discrete_actions=False,
            rng=rng,
        )
        self.batch_size, self.learning_starts, self.train_freq = batch_size, learning_starts, train_freq
        self.rng = rng
        self.n_envs = 1
        self.warmup_actions = np.empty((0, self.action_dim), dtype=np.float32)  # unused, in order of use

    def start(self, n_envs: int, total_steps: int) -> None:
        """Draw the unit actions for the rest of the warm-up from the agent's rng, unless they are at hand."""
        self.n_envs = n_envs
        rows = -(-max(self.learning_starts - total_steps, 0) // n_envs) * n_envs
        if len(self.warmup_actions) != rows:
            self.warmup_actions = self.rng.uniform(-1.0, 1.0, (rows, self.action_dim)).astype(np.float32)

    def explore(
        self, obs: np.ndarray, total_steps: int, policy: Callable[[np.ndarray], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(unit actions to store, box actions for the env): warm-up draws, then `policy(obs)` in [-1, 1]."""
        if total_steps < self.learning_starts:
            unit, self.warmup_actions = np.split(self.warmup_actions, [self.n_envs])
        else:
            unit = policy(obs)
        return unit, self.scaler.to_box(unit)

    def store(self, obs: np.ndarray, unit_actions: np.ndarray, step: StepResult) -> None:
        # Trap: final_obs, not next_obs. Where an episode ended, next_obs is already the next episode's reset
        # observation; final_obs is the true s'. Only `terminated` stops the bootstrap: a time-limit
        # truncation (Pendulum's 200 steps) still bootstraps from final_obs.
        self.buffer.add(obs, unit_actions, step.rewards, step.final_obs, step.terminated)

    def due(self, total_steps: int) -> bool:
        return replay_update_due(
            self.buffer, total_steps, self.n_envs, self.learning_starts, self.train_freq, self.batch_size
        )

    def sample(self) -> ReplayBatch:
        return self.buffer.sample(self.batch_size)

    def state_dict(self) -> dict:
        return {"warmup_actions": self.warmup_actions.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.warmup_actions = np.asarray(state["warmup_actions"], dtype=np.float32).reshape(
            -1, self.action_dim
        )


# ---------------------------------------------------------------------------------------------------- state
def parts_state(owner: Any, names: Sequence[str]) -> dict:
    """{name: owner.name.state_dict()} for networks, targets, optimizers and the replay's warm-up alike."""
    return {name: getattr(owner, name).state_dict() for name in names}


def load_parts_state(owner: Any, names: Sequence[str], state: dict) -> None:
    """The inverse of `parts_state`; a missing part is a KeyError (a CheckpointError for `Agent.load`)."""
    for name in names:
        getattr(owner, name).load_state_dict(state[name])
