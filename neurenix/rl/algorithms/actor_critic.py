"""What A2C and PPO share: separate actor and critic networks, batched acting, the rollout, the gradient step,
schedules and saved state.

`ActorCritic(BaseAgent)` is the single extra level between `BaseAgent` and the two algorithms. A base rather than a
component because what is shared is exactly the training loop's hooks (`_on_train_start`, `_explore`, `_store`,
`_update_due`, `predict`, `state_dict`): as a component, each algorithm would repeat the same delegating
methods. An algorithm adds its documented constructor (own defaults) and its `update`, nothing else.

Networks: actor = MLP(obs -> logits or Gaussian mean), critic = MLP(obs -> V), never sharing weights, each with
its own optimizer and learning rate (the documented `actor_learning_rate` / `critic_learning_rate`). Adam and
RMSprop act per parameter, so with equal rates two optimizers step exactly like one over both networks; the
gradient norm is clipped jointly over both, as SB3 does.

Continuous actions: the Gaussian lives in the unit box [-1, 1]^d; the env gets the sample clipped and mapped to
[low, high] (`BoxScaler`), while the buffer keeps the *unclipped* sample, whose log-probability is the one the
policy gradient needs (a clipped action has no density under the Gaussian).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from neurenix import nn
from neurenix.errors import ConfigError
from neurenix.optim import Adam, RMSprop, clip_grad_norm_
from neurenix.rl.base import BaseAgent
from neurenix.rl.buffers import RolloutBuffer
from neurenix.rl.checks import check_hidden_dims, check_positive_int, check_range, input_dim
from neurenix.rl.distributions import Categorical, DiagGaussian
from neurenix.rl.environment import StepResult, VecEnv
from neurenix.rl.normalize import ObservationNormalizer, RewardScaler
from neurenix.rl.spaces import BoxScaler
from neurenix.tensor import Tensor, no_grad

OPTIMIZERS = {
    # eps 1e-5 rather than torch's 1e-8, and RMSprop's alpha 0.99: the settings SB3 (and RL Zoo's tuning) use.
    "adam": lambda params, lr: Adam(params, lr=lr, eps=1e-5),
    "rmsprop": lambda params, lr: RMSprop(params, lr=lr, alpha=0.99, eps=1e-5),
}
SCHEDULES = ("constant", "linear")


def check_choice(name: str, value: Any, choices: Any) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")


def explained_variance(predicted: np.ndarray, targets: np.ndarray) -> float:
    """1 - Var[targets - predicted] / Var[targets]: 1 is a perfect critic, 0 no better than a constant.

    0.0 when the targets do not vary (the ratio is undefined there, and the loop rejects non-finite numbers).
    """
    variance = float(np.var(targets))
    return 0.0 if variance == 0.0 else 1.0 - float(np.var(targets - predicted)) / variance


def approx_kl(log_ratio: np.ndarray) -> float:
    """KL(pi_old || pi) ~ E[(r - 1) - log r] with log r = log pi - log pi_old on samples from pi_old.

    Unbiased and never negative (Schulman, "Approximating KL divergence", 2020), unlike E[-log r], whose
    minibatch estimates can be negative and hide a large policy change.
    """
    return float(np.mean(np.expm1(log_ratio) - log_ratio))


class ActorCritic(BaseAgent):
    """Base of A2C and PPO; see the module docstring. Subclasses implement `update`."""

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        actor_hidden_dims: list[int],
        critic_hidden_dims: list[int],
        actor_learning_rate: float,
        critic_learning_rate: float,
        gamma: float,
        gae_lambda: float,
        value_coef: float,
        entropy_coef: float,
        max_grad_norm: float | None,
        name: str,
        n_envs: int,
        n_steps: int,
        normalize_advantage: bool,
        lr_schedule: str,
        optimizer: str,
        ortho_init: bool,
        activation: str,
        log_std_init: float,
        std: float | None,
        normalize_observations: bool,
        normalize_rewards: bool,
        seed: int | None,
    ) -> None:
        super().__init__(
            gamma=gamma, observation_space=observation_space, action_space=action_space, seed=seed, name=name
        )
        check_hidden_dims("actor_hidden_dims", actor_hidden_dims)
        check_hidden_dims("critic_hidden_dims", critic_hidden_dims)
        check_range("actor_learning_rate", actor_learning_rate, 0.0, 1.0, low_open=True)
        check_range("critic_learning_rate", critic_learning_rate, 0.0, 1.0, low_open=True)
        check_range("gae_lambda", gae_lambda, 0.0, 1.0)
        check_range("value_coef", value_coef, 0.0, math.inf)
        check_range("entropy_coef", entropy_coef, 0.0, math.inf)
        if max_grad_norm is not None:
            check_range("max_grad_norm", max_grad_norm, 0.0, math.inf, low_open=True)
        check_positive_int("n_envs", n_envs)
        check_positive_int("n_steps", n_steps)
        check_choice("lr_schedule", lr_schedule, SCHEDULES)
        check_choice("optimizer", optimizer, tuple(OPTIMIZERS))
        check_choice("activation", activation, tuple(nn.ACTIVATIONS))
        check_range("log_std_init", log_std_init, -20.0, 2.0)
        if std is not None:
            check_range("std", std, 0.0, math.inf, low_open=True)
        self.actor_hidden_dims, self.critic_hidden_dims = list(actor_hidden_dims), list(critic_hidden_dims)
        self.actor_learning_rate, self.critic_learning_rate = actor_learning_rate, critic_learning_rate
        self.gae_lambda, self.value_coef, self.entropy_coef = gae_lambda, value_coef, entropy_coef
        self.max_grad_norm = max_grad_norm
        self.n_envs, self.n_steps = n_envs, n_steps
        self.normalize_advantage = bool(normalize_advantage)
        self.lr_schedule, self.optimizer = lr_schedule, optimizer
        self.ortho_init, self.activation = bool(ortho_init), activation
        self.log_std_init, self.std = log_std_init, std
        self.normalize_observations, self.normalize_rewards = (
            bool(normalize_observations),
            bool(normalize_rewards),
        )

        self.discrete = isinstance(self.action_space, gym.spaces.Discrete)
        obs_dim = input_dim(self.observation_space)
        action_dim = int(self.action_space.n) if self.discrete else int(np.prod(self.action_space.shape))
        init = "orthogonal" if ortho_init else "default"
        # A near-zero last actor layer starts the policy near uniform / zero-mean (Andrychowicz et al. 2021).
        self.actor = nn.mlp(
            [obs_dim, *self.actor_hidden_dims, action_dim],
            activation,
            init=init,
            output_gain=0.01,
            rng=self.rng,
        )
        self.critic = nn.mlp([obs_dim, *self.critic_hidden_dims, 1], activation, init=init, rng=self.rng)
        actor_params = self.actor.parameters()
        self.log_std: Tensor | None = None
        if not self.discrete:
            try:
                self.scaler = BoxScaler(self.action_space)
            except ValueError as error:
                raise ConfigError(str(error)) from None
            if std is None:  # a learned, state-independent log-std
                self.log_std = nn.Parameter(np.full(action_dim, log_std_init, dtype=np.float32))
                actor_params = [*actor_params, self.log_std]
            else:
                self.fixed_log_std = Tensor(np.full(action_dim, math.log(std), dtype=np.float32))
        self.actor_optimizer = OPTIMIZERS[optimizer](actor_params, actor_learning_rate)
        self.critic_optimizer = OPTIMIZERS[optimizer](self.critic.parameters(), critic_learning_rate)
        self._parameters = [*actor_params, *self.critic.parameters()]
        self.obs_normalizer = ObservationNormalizer((obs_dim,)) if normalize_observations else None
        self.reward_scaler = RewardScaler(self.gamma) if normalize_rewards else None
        self._shapes = ((obs_dim,), () if self.discrete else (action_dim,))
        self.buffer = RolloutBuffer(n_steps, n_envs, *self._shapes, self.discrete)

    # ---------------------------------------------------------------------------------------- networks
    def _inputs(self, obs: np.ndarray) -> np.ndarray:
        """Flat float32 network inputs (n, obs_dim), normalised with the current (here frozen) statistics."""
        flat = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
        return flat if self.obs_normalizer is None else self.obs_normalizer(flat)

    def _distribution(self, x: Tensor) -> Categorical | DiagGaussian:
        out = self.actor(x)
        if self.discrete:
            return Categorical(out)
        return DiagGaussian(out, self.log_std if self.log_std is not None else self.fixed_log_std)

    def _values(self, obs: np.ndarray) -> np.ndarray:
        """V(s) (n,) for raw observations, without a graph."""
        with no_grad():
            return self.critic(Tensor(self._inputs(obs))).numpy()[:, 0]

    def _evaluate(self, obs: np.ndarray, actions: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        """log pi(a|s), entropy and V(s), each (B,), with a graph, for stored (already normalised) inputs."""
        x = Tensor(obs)
        dist = self._distribution(x)
        return dist.log_prob(actions), dist.entropy(), self.critic(x).reshape(-1)

    def _to_env(self, actions: np.ndarray) -> np.ndarray:
        if self.discrete:
            return actions
        return self.scaler.to_box(actions.reshape(len(actions), *self.action_space.shape))

    # ------------------------------------------------------------------------------------- loop hooks
    def _on_train_start(self, env: VecEnv) -> None:
        if env.num_envs != self.buffer.n_envs:
            self.buffer = RolloutBuffer(self.n_steps, env.num_envs, *self._shapes, self.discrete)
        # The loop has just reset the env: a partly collected rollout (from an earlier train call) is stale.
        self.buffer.reset()
        if self.reward_scaler is not None:
            self.reward_scaler.reset(env.num_envs)

    def _explore(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sample actions for all envs with one actor and one critic forward pass, no graph recorded."""
        if self.obs_normalizer is not None:
            self.obs_normalizer.update(np.asarray(obs, dtype=np.float32).reshape(len(obs), -1))
        x = self._inputs(obs)
        with no_grad():
            inputs = Tensor(x)
            dist = self._distribution(inputs)
            actions = dist.sample(self.rng)
            log_probs = dist.log_prob(actions).numpy()
            values = self.critic(inputs).numpy()[:, 0]
        self._acted = (x, values, log_probs)
        return actions, self._to_env(actions)

    def _store(self, obs: np.ndarray, actions: np.ndarray, step: StepResult) -> None:
        x, values, log_probs = self._acted
        rewards = step.rewards
        if self.reward_scaler is not None:
            rewards = self.reward_scaler.scale(rewards, step.terminated | step.truncated)
        # Trap: where an episode was truncated, step.next_obs is already the *next* episode's first observation.
        # The bootstrap value must come from the true final observation, and never from a terminated one.
        final_values = np.zeros(len(rewards), dtype=np.float32)
        if step.truncated.any():
            final_values[step.truncated] = self._values(step.final_obs[step.truncated])
        if self.buffer.full:  # consumed by the update the loop ran as soon as it filled
            self.buffer.reset()
        self.buffer.add(x, actions, rewards, step.terminated, step.truncated, values, log_probs, final_values)

    def _on_env_step(self, n_transitions: int) -> None:
        """Schedules are read from `self.progress` when an update runs; nothing advances per step."""

    def _update_due(self) -> bool:
        return self.buffer.full

    def predict(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Env actions for a batch; normalisation statistics are only read here, never updated."""
        with no_grad():
            dist = self._distribution(Tensor(self._inputs(obs)))
            actions = dist.mode() if deterministic else dist.sample(self.rng)
        return self._to_env(actions)

    # ------------------------------------------------------------------------------ update helpers
    def _schedule(self, schedule: str) -> float:
        """The factor a scheduled quantity is multiplied by: 1, or linear from 1 down to 0 over training."""
        return 1.0 if schedule == "constant" else max(1.0 - self.progress, 0.0)

    def _apply_lr_schedule(self) -> float:
        """Set both optimizers' rates for this update; returns the actor's."""
        factor = self._schedule(self.lr_schedule)
        self.actor_optimizer.lr = self.actor_learning_rate * factor
        self.critic_optimizer.lr = self.critic_learning_rate * factor
        return self.actor_optimizer.lr

    def _normalized(self, advantages: np.ndarray) -> np.ndarray:
        if not self.normalize_advantage or len(advantages) < 2:
            return advantages
        return (advantages - advantages.mean()) / (advantages.std() + 1e-8)

    def _loss(self, policy_loss: Tensor, value_loss: Tensor, mean_entropy: Tensor) -> Tensor:
        """policy_loss + value_coef value_loss - entropy_coef mean_entropy; with entropy_coef 0 (RL Zoo's CartPole
        settings) the entropy stays out of the graph: a zero term whose backward would only add zeros."""
        loss = policy_loss + value_loss * self.value_coef
        return loss - mean_entropy * self.entropy_coef if self.entropy_coef else loss

    def _step(self, loss: Tensor) -> None:
        """One gradient step on both networks: backward, joint gradient-norm clipping, both optimizers."""
        self.actor_optimizer.zero_grad()
        self.critic_optimizer.zero_grad()
        loss.backward()
        if self.max_grad_norm is not None:
            clip_grad_norm_(self._parameters, self.max_grad_norm)
        self.actor_optimizer.step()
        self.critic_optimizer.step()

    def _rollout_diagnostics(self) -> dict[str, float]:
        batch = self.buffer.full_batch()
        return {"explained_variance": explained_variance(batch.old_values, batch.returns)}

    # ---------------------------------------------------------------------------------- saved state
    def state_dict(self) -> dict:
        """Networks, optimizers, normalisation statistics, counters and RNG. A partly collected rollout is not
        saved: training always resumes on a freshly reset env, so it would be stale anyway."""
        state = {
            **self._base_state(),
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
        }
        if self.log_std is not None:
            state["log_std"] = self.log_std.numpy().copy()
        if self.obs_normalizer is not None:
            state["obs_normalizer"] = self.obs_normalizer.state_dict()
        if self.reward_scaler is not None:
            state["reward_scaler"] = self.reward_scaler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self._load_base_state(state)
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        if self.log_std is not None:
            log_std = np.asarray(state["log_std"])
            if log_std.shape != self.log_std.shape:
                raise ValueError(f"log_std has shape {log_std.shape}, expected {self.log_std.shape}")
            self.log_std.numpy()[...] = log_std  # in place: the optimizer holds a view of it
        if self.obs_normalizer is not None:
            self.obs_normalizer.load_state_dict(state["obs_normalizer"])
        if self.reward_scaler is not None:
            self.reward_scaler.load_state_dict(state["reward_scaler"])
