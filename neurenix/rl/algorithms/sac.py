"""Soft Actor-Critic (Haarnoja et al. 2018, "SAC: Algorithms and Applications"), with automatic temperature.

Maximises E[sum_t r_t + alpha H(pi(.|s_t))]. The policy is a tanh-squashed Gaussian whose mean and log_std come
from the state; the critics are twin Q networks with Polyak-averaged targets and no target actor. Every
`train_freq` env steps after `learning_starts`, `gradient_steps` minibatches, each with a ~ pi(.|s) drawn once:

    temperature: minimise -log_alpha (log pi(a|s) + H_target)              (auto_alpha; H_target = -|A|)
    critics:     minimise (Q_k(s, a) - y)^2,  y = r + gamma (1 - terminated) (min_k Q'_k(s', a') - alpha log pi(a'|s'))
                 with a' ~ pi(.|s')
    actor:       minimise alpha log pi(a|s) - min_k Q_k(s, a)              (reparameterised a, updated critics)
    targets:     theta' <- tau theta + (1 - tau) theta'

The order and the temperature used (this step's, before its own update) are SB3's. At evaluation the action is
tanh(mean).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from neurenix import nn
from neurenix.errors import ConfigError
from neurenix.nn import functional as F
from neurenix.nn.ensemble import QEnsemble
from neurenix.optim import Adam
from neurenix.rl.algorithms.off_policy import OffPolicyAgent, check_off_policy_arguments
from neurenix.rl.checks import check_range, input_dim
from neurenix.rl.distributions import SquashedGaussian
from neurenix.rl.returns import polyak_update, td_target
from neurenix.rl.spaces import flat_dim
from neurenix.tensor import Tensor, no_grad

# exp(-20) is a point mass for float32 purposes and exp(2) ~ 7.4 already covers [-1, 1] after the tanh; outside
# this range log_std only produces saturated tanh samples and exploding log-probabilities.
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


class GaussianActor(nn.Module):
    """pi(.|s) = tanh(N(mean(s), exp(log_std(s))^2)): a ReLU trunk and two linear heads, (B, obs) -> (B, A) each."""

    def __init__(self, obs_dim: int, hidden_dims: list[int], action_dim: int, rng: np.random.Generator):
        super().__init__()
        self.trunk = nn.mlp([obs_dim, *hidden_dims], output_activation="relu", rng=rng)
        self.mean = nn.Linear(hidden_dims[-1], action_dim, rng=rng)
        self.log_std = nn.Linear(hidden_dims[-1], action_dim, rng=rng)

    def forward(self, obs: np.ndarray) -> SquashedGaussian:
        features = self.trunk(Tensor(obs))
        return SquashedGaussian(self.mean(features), self.log_std(features).clamp(LOG_STD_MIN, LOG_STD_MAX))


class Temperature(nn.Module):
    """alpha = exp(log_alpha): learning the log keeps alpha positive and makes its steps relative."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.log_alpha = nn.Parameter(np.array([math.log(alpha)], dtype=np.float32))

    @property
    def alpha(self) -> float:
        return math.exp(self.log_alpha.item())


class SAC(OffPolicyAgent):
    algorithm = "sac"
    action_space_types = ("box",)

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        actor_hidden_dims: list[int] = (64, 64),
        critic_hidden_dims: list[int] = (64, 64),
        actor_learning_rate: float = 0.0003,
        critic_learning_rate: float = 0.0003,
        alpha_learning_rate: float = 0.0003,
        gamma: float = 0.99,
        tau: float = 0.005,
        alpha: float = 0.2,
        auto_alpha: bool = True,
        buffer_size: int = 10000,
        batch_size: int = 64,
        name: str = "SAC",
        learning_starts: int = 100,
        train_freq: int = 1,
        gradient_steps: int = 1,
        target_entropy: float | str = "auto",
        seed: int | None = None,
    ) -> None:
        super().__init__(
            gamma=gamma, observation_space=observation_space, action_space=action_space, seed=seed, name=name
        )
        check_off_policy_arguments(
            actor_hidden_dims,
            critic_hidden_dims,
            actor_learning_rate,
            critic_learning_rate,
            tau,
            buffer_size,
            batch_size,
            learning_starts,
            train_freq,
            gradient_steps,
        )
        check_range("alpha_learning_rate", alpha_learning_rate, 0.0, 1.0, low_open=True)
        check_range("alpha", alpha, 0.0, float("inf"), low_open=True)
        if not isinstance(auto_alpha, bool):
            raise ConfigError(f"auto_alpha must be true or false, got {auto_alpha!r}")
        if target_entropy != "auto":
            check_range("target_entropy", target_entropy, -float("inf"), float("inf"))
        self.actor_hidden_dims, self.critic_hidden_dims = list(actor_hidden_dims), list(critic_hidden_dims)
        self.actor_learning_rate, self.critic_learning_rate = actor_learning_rate, critic_learning_rate
        self.alpha_learning_rate, self.tau = alpha_learning_rate, tau
        self.alpha, self.auto_alpha = alpha, auto_alpha  # alpha stays the initial value; see `temperature`
        self.buffer_size, self.batch_size = buffer_size, batch_size
        self.learning_starts, self.train_freq, self.gradient_steps = (
            learning_starts,
            train_freq,
            gradient_steps,
        )
        self.target_entropy = target_entropy

        obs_dim, action_dim = input_dim(self.observation_space), flat_dim(self.action_space)
        # Haarnoja et al.'s heuristic: one nat less per action dimension than a unit Gaussian's ~1.4.
        self.entropy_target = -float(action_dim) if target_entropy == "auto" else float(target_entropy)
        self._continuous_replay(buffer_size)
        self.actor = GaussianActor(obs_dim, self.actor_hidden_dims, action_dim, self.rng)
        self.critic = QEnsemble(obs_dim, action_dim, self.critic_hidden_dims, 2, self.rng)
        self.critic_target = self.critic.clone()
        self.temperature = Temperature(alpha)
        self.actor_optimizer = Adam(self.actor.parameters(), lr=actor_learning_rate)
        self.critic_optimizer = Adam(self.critic.parameters(), lr=critic_learning_rate)
        parts = [
            "actor",
            "critic",
            "critic_target",
            "temperature",
            "actor_optimizer",
            "critic_optimizer",
            "replay",
        ]
        if auto_alpha:
            self.alpha_optimizer = Adam(self.temperature.parameters(), lr=alpha_learning_rate)
            parts.append("alpha_optimizer")
        self._parts = tuple(parts)

    # ------------------------------------------------------------------------------------------- acting
    def _act(self, obs: np.ndarray) -> np.ndarray:
        with no_grad():
            return self.actor(obs).rsample(self.rng)[0].numpy()

    def predict(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """tanh(mean) when deterministic, else a ~ pi(.|s); mapped to the box."""
        if deterministic:
            with no_grad():
                unit = self.actor(obs).mode()
        else:
            unit = self._act(obs)
        return self.replay.scaler.to_box(unit)

    # ------------------------------------------------------------------------------------------ update
    def update(self) -> dict[str, float]:
        sums = dict.fromkeys(("critic_loss", "actor_loss", "entropy"), 0.0)
        for _ in range(self.gradient_steps):
            batch = self.buffer.sample(self.batch_size)
            # a ~ pi(.|s) with its graph, drawn once: its log-probability tunes the temperature now and drives
            # the actor loss after the critic step (the actor's weights do not change in between).
            actions_pi, log_prob_pi = self.actor(batch.observations).rsample(self.rng)
            mean_log_prob = float(log_prob_pi.numpy().mean())
            alpha = self.temperature.alpha
            if self.auto_alpha:
                # d/d(log_alpha) = -(E[log pi] + H_target): alpha rises while the entropy -E[log pi] is below
                # the target and falls while it is above.
                alpha_loss = -(self.temperature.log_alpha * (mean_log_prob + self.entropy_target)).sum()
                self.alpha_optimizer.zero_grad()
                alpha_loss.backward()
                self.alpha_optimizer.step()

            with no_grad():
                next_actions, next_log_prob = self.actor(batch.next_observations).rsample(self.rng)
                next_q = self.critic_target(batch.next_observations, next_actions.numpy()).numpy().min(axis=0)
            # The soft value of s' includes its entropy bonus: V(s') = min_k Q'_k(s', a') - alpha log pi(a'|s').
            targets = td_target(
                batch.rewards, batch.terminated, next_q - alpha * next_log_prob.numpy(), self.gamma
            )

            critic_loss = F.mse_loss(self.critic(batch.observations, batch.actions), targets)
            self.critic_optimizer.zero_grad()
            critic_loss.backward()
            self.critic_optimizer.step()

            q_pi = self.critic(batch.observations, actions_pi, frozen=True).min(dim=0).values
            actor_loss = (log_prob_pi * alpha - q_pi).mean()
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()

            polyak_update(self.critic_target.parameters(), self.critic.parameters(), self.tau)
            sums["critic_loss"] += critic_loss.item()
            sums["actor_loss"] += actor_loss.item()
            sums["entropy"] -= mean_log_prob
        losses = {key: value / self.gradient_steps for key, value in sums.items()}
        losses["alpha"] = self.temperature.alpha
        return losses
