"""Deep Q-Network (Mnih et al. 2015), with Double DQN (van Hasselt et al. 2016) and Dueling heads
(Wang et al. 2016).

Acting: epsilon-greedy over Q(s, ·), epsilon decaying per step (the documented default) or linearly over
`exploration_fraction` of the step budget (what RL Zoo tunes). Learning: every `train_freq` steps after
`learning_starts`, `gradient_steps` minibatches from the replay buffer regress Q(s, a) on
y = r + gamma * (1 - terminated) * max_a' Q_target(s', a'); the target network is a copy refreshed every
`update_target_every` env steps.

Invalid-action masks (an env with `action_masks()` or an info key): a masked action is never chosen, greedily,
at random (epsilon's draws are uniform over the allowed actions) or in evaluation, and the target's max over
next actions runs over the next state's allowed ones, whose mask the replay buffer keeps with the transition.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurenix import nn
from neurenix.nn import functional as F
from neurenix.optim import Adam, LinearSchedule, clip_grad_norm_
from neurenix.rl.algorithms.off_policy import OffPolicyAgent, ReplayHyperparameters
from neurenix.rl.encoders import EncodedNetwork, encoder_features_field, encoder_field
from neurenix.rl.environment import VecEnv
from neurenix.rl.hyperparameters import Hyperparameters, hyperparameter, redeclared, step_size
from neurenix.rl.policy import EpsilonGreedyPolicy, masked_argmax
from neurenix.rl.returns import polyak_update, td_target
from neurenix.rl.value import DuelingQNetwork
from neurenix.tensor import Tensor, no_grad

TARGET_CHUNK_BYTES = 2**21  # the target forward's activation size per chunk (see DQN.update)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DQNHyperparameters(ReplayHyperparameters):
    name: str = redeclared(Hyperparameters, "name", "DQN")
    hidden_dims: list[int] = hyperparameter((64, 64), "Widths of the Q-network's hidden layers.")
    encoder: str = encoder_field()
    encoder_features: int | None = encoder_features_field()
    learning_rate: float = step_size(0.001, "the Q-network's Adam")
    epsilon_start: float = hyperparameter(1.0, "Exploration rate at the first step.", low=0.0, high=1.0)
    epsilon_end: float = hyperparameter(1e-2, "The floor of the exploration rate.", low=0.0, high=1.0)
    epsilon_decay: float = hyperparameter(
        0.995,
        "Factor applied to the exploration rate: epsilon = max(epsilon_end, epsilon_start * "
        "epsilon_decay ** steps). Ignored when exploration_fraction is set.",
        unit="per env step",
        low=0.0,
        high=1.0,
        low_open=True,
    )
    exploration_fraction: float | None = hyperparameter(
        None,
        "If set, epsilon falls linearly from epsilon_start to epsilon_end over this fraction of the training "
        "budget (RL Zoo's schedule), instead of decaying by epsilon_decay.",
        low=0.0,
        high=1.0,
        low_open=True,
    )
    update_target_every: int = hyperparameter(
        100,
        "Env steps between copies of the online network into the target network.",
        unit="env steps",
        low=1,
    )
    double_q: bool = hyperparameter(
        False, "Double DQN: the online network picks the next action, the target network values it."
    )
    dueling: bool = hyperparameter(False, "Dueling heads: Q = V + A - mean(A).")
    loss: str = hyperparameter(
        "huber", "The TD regression loss: huber (SB3's smooth L1) or mse.", choices=("huber", "mse")
    )
    max_grad_norm: float | None = hyperparameter(
        10.0,
        "Clip the gradient's global L2 norm to this before each step; None does not clip.",
        unit="per gradient step",
        low=0.0,
        low_open=True,
    )


class DQN(OffPolicyAgent):
    """Deep Q-Network on discrete actions; see the module docstring, and `DQNHyperparameters` for the
    keyword arguments (`neurenix schema` prints them too)."""

    algorithm = "dqn"
    action_space_types = ("discrete",)
    masks_actions = True
    takes_images = True
    Hyperparameters = DQNHyperparameters
    _parts = ("q_network", "target_network", "optimizer")

    def __init__(
        self, observation_space: Any, action_space: Any, *, seed: int | None = None, **hyperparameters: Any
    ) -> None:
        super().__init__(observation_space, action_space, seed=seed, **hyperparameters)
        # Images: Q = MLP head over a CNN encoder (rl.encoders); the target network, a clone, has its own copy.
        encoder, obs_dim = self._network_encoder()
        n_actions = int(self.action_space.n)
        if self.dueling:
            self.q_network = DuelingQNetwork(obs_dim, n_actions, list(self.hidden_dims), rng=self.rng)
        else:
            self.q_network = nn.mlp([obs_dim, *self.hidden_dims, n_actions], rng=self.rng)
        if encoder is not None:
            self.q_network = EncodedNetwork(encoder, self.q_network)
        # Rows per target forward (see update): an image's activations fill the cache budget with a few rows, so
        # images go a minibatch at a time, as the online network's forward does.
        self._target_rows = (
            max(1, TARGET_CHUNK_BYTES // (4 * max(self.hidden_dims, default=obs_dim)))
            if self.front_end.image_shape is None
            else self.batch_size
        )
        self.target_network = self.q_network.clone()
        self.optimizer = Adam(self.q_network.parameters(), lr=self.learning_rate)
        self.policy = EpsilonGreedyPolicy(
            self.q_network,
            self.action_space,
            self.epsilon_start,
            self.epsilon_end,
            self.epsilon_decay,
            seed=int(self.rng.integers(2**63)),
        )
        self.epsilon_schedule = (
            LinearSchedule(self.epsilon_start, self.epsilon_end, self.exploration_fraction)
            if self.exploration_fraction
            else None
        )
        self.buffer = self._replay_buffer()
        self._target_synced_at = -1  # the update count at the last target copy (-1: copy at the next chance)

    def _on_train_start(self, env: VecEnv) -> None:
        super()._on_train_start(env)
        if env.masks_actions:
            self.buffer.store_action_masks(int(self.action_space.n))
        # Between two train() calls anyone may have changed q_network (loaded weights, fine-tuned it): the first
        # refresh of this call copies whatever is there.
        self._target_synced_at = -1

    def _act(self, obs: Any) -> np.ndarray:
        return self.policy.select_action(self._inputs(obs), self._action_masks)

    def _on_env_step(self, n_transitions: int) -> None:
        if self.epsilon_schedule is not None:
            self.policy.epsilon = self.epsilon_schedule(self.progress)
        else:
            for _ in range(n_transitions):
                self.policy.step()
        if (
            self.total_steps // self.update_target_every
            != (self.total_steps - n_transitions) // self.update_target_every
            and self.updates != self._target_synced_at
        ):
            # Skipped while no update has changed the online network since the last copy: with RL Zoo's
            # settings (a copy every 10 steps, updates every 256) 25 of 26 copies would copy what is there.
            polyak_update(self.target_network.parameters(), self.q_network.parameters(), tau=1.0)
            self._target_synced_at = self.updates

    def _scheduled_rates(self) -> tuple[tuple[Any, float], ...]:
        return ((self.optimizer, self.learning_rate),)

    def update(self) -> dict[str, float]:
        self._apply_lr_schedule()
        batches = self.buffer.sample(self.batch_size, batches=self.steps_per_update)
        # The target network changes only between env steps, so it is the same for every minibatch of this
        # update: a few large forwards replace `gradient_steps` small ones (RL Zoo's 128 x 64 rows). Each takes
        # the rows whose activations stay within ~2 MB, in cache: RL Zoo's 8,192 rows at once took 9.0 ms, in
        # four chunks of 2,048 7.6 ms, with 8 MB less peak memory.
        next_obs = batches.next_observations.reshape(-1, *batches.next_observations.shape[2:])
        rows = self._target_rows
        with no_grad():
            next_q = np.concatenate(
                [
                    self.target_network(Tensor(next_obs[start : start + rows])).numpy()
                    for start in range(0, len(next_obs), rows)
                ]
            )
        next_q = next_q.reshape(self.steps_per_update, self.batch_size, -1)
        next_masks = batches.next_action_masks
        total_loss = 0.0
        for i in range(self.steps_per_update):
            masks = None if next_masks is None else next_masks[i]
            if self.double_q:
                # Double DQN: the online network, as it is at this step, picks the next action; the target
                # network values it.
                with no_grad():
                    online = self.q_network(Tensor(batches.next_observations[i])).numpy()
                best = masked_argmax(online, masks)
                next_values = np.take_along_axis(next_q[i], best[:, None], axis=1)[:, 0]
            elif masks is None:
                next_values = next_q[i].max(axis=1)
            else:
                next_values = np.where(masks, next_q[i], -np.inf).max(axis=1)
            targets = td_target(batches.rewards[i], batches.terminated[i], next_values, self.gamma)
            q = self.q_network(
                Tensor(batches.observations[i])
            )  # float32 rows, or uint8 images (scaled inside)
            actions = np.asarray(batches.actions[i], dtype=np.intp).reshape(-1)
            loss = F.action_value_loss(q, actions, np.asarray(targets, dtype=np.float32), self.loss)
            self.optimizer.zero_grad()
            loss.backward()
            if self.max_grad_norm is not None:
                clip_grad_norm_(self.optimizer.params, self.max_grad_norm)  # what is stepped; no module walk
            self.optimizer.step()
            total_loss += loss.item()
        return {"loss": total_loss / self.steps_per_update, "epsilon": float(self.policy.epsilon)}

    def predict(
        self, obs: Any, deterministic: bool = False, action_masks: np.ndarray | None = None
    ) -> np.ndarray:
        x = self._inputs(obs)
        if deterministic:
            with no_grad():
                return masked_argmax(self.q_network(Tensor(x)).numpy(), action_masks)
        return self.policy.select_action(x, action_masks)

    def state_dict(self) -> dict:
        return {
            **super().state_dict(),
            "exploration": {
                "t": self.policy.t,
                "epsilon": self.policy.epsilon,
                "rng": self.policy.rng.bit_generator.state,
            },
        }

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._target_synced_at = -1
        exploration = state["exploration"]
        self.policy.t, self.policy.epsilon = int(exploration["t"]), float(exploration["epsilon"])
        self.policy.rng.bit_generator.state = exploration["rng"]
