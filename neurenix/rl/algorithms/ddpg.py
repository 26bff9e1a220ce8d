"""Deep Deterministic Policy Gradient (Lillicrap et al. 2016), with the seed's arguments and SB3's cadence.

A deterministic actor mu(s) = tanh(MLP(s)) in [-1, 1]^A and a critic Q(s, a) = MLP([s, a]). Every `train_freq`
env steps after `learning_starts`, `gradient_steps` minibatches of `batch_size` transitions:

    critic:   minimise (Q(s, a) - y)^2  with  y = r + gamma (1 - terminated) Q'(s', mu'(s'))
    actor:    maximise Q(s, mu(s))       (the deterministic policy gradient, Silver et al. 2014)
    targets:  theta' <- tau theta + (1 - tau) theta'   for actor and critic (Polyak)

Exploration adds Gaussian or Ornstein-Uhlenbeck noise of scale `exploration_noise` to mu(s) in the unit action
space, then clips to [-1, 1] (SB3's convention: 0.1 is a tenth of the half-range whatever the env's bounds).

Images (`agent.encoder`, SB3's CnnPolicy with share_features_extractor=False): mu(s) = tanh(MLP(enc_mu(s))) and
Q(s, a) = MLP([enc_Q(s), a]), two encoders; enc_Q (one for all critics, TD3's twins included) learns from the
critic loss only, since the actor loss reads its features as constants (`QEnsemble`'s `frozen`). The targets
are copies of the whole networks, encoders included, and the Polyak update covers them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from neurenix import nn
from neurenix.nn import functional as F
from neurenix.nn.ensemble import QEnsemble
from neurenix.optim import Adam
from neurenix.rl.algorithms.off_policy import ContinuousHyperparameters, OffPolicyAgent
from neurenix.rl.encoders import EncodedNetwork
from neurenix.rl.hyperparameters import Hyperparameters, hyperparameter, redeclared
from neurenix.rl.noise import NOISE_TYPES, make_noise
from neurenix.rl.returns import polyak_update, td_target
from neurenix.rl.spaces import flat_dim
from neurenix.tensor import Tensor, no_grad


@dataclasses.dataclass(frozen=True, kw_only=True)
class DDPGHyperparameters(ContinuousHyperparameters):
    name: str = redeclared(Hyperparameters, "name", "DDPG")
    exploration_noise: float = hyperparameter(
        0.1,
        "Scale of the noise added to the actor's action while training, in the unit action box (0.1 is a tenth "
        "of the half-range whatever the env's bounds).",
        low=0.0,
    )
    noise_type: str = hyperparameter(
        "gaussian",
        "The exploration noise: gaussian (independent per step) or ornstein_uhlenbeck (correlated in time, "
        "restarted each episode).",
        choices=tuple(NOISE_TYPES),
    )


class DDPG(OffPolicyAgent):
    """DDPG on box actions; see the module docstring, and `DDPGHyperparameters` for the keyword arguments."""

    algorithm = "ddpg"
    action_space_types = ("box",)
    takes_images = True
    Hyperparameters = DDPGHyperparameters
    n_critics = 1  # TD3 learns two
    _parts = (
        "actor",
        "actor_target",
        "critic",
        "critic_target",
        "actor_optimizer",
        "critic_optimizer",
        "replay",
    )

    def __init__(
        self, observation_space: Any, action_space: Any, *, seed: int | None = None, **hyperparameters: Any
    ) -> None:
        super().__init__(observation_space, action_space, seed=seed, **hyperparameters)
        action_dim = flat_dim(self.action_space)
        self._continuous_replay()
        encoder, obs_dim = self._network_encoder()  # the actor's (images; None otherwise)
        self.actor = nn.mlp(
            [obs_dim, *self.actor_hidden_dims, action_dim], output_activation="tanh", rng=self.rng
        )
        if encoder is not None:
            self.actor = EncodedNetwork(encoder, self.actor)
        encoder, obs_dim = self._network_encoder()  # the critic's, shared by its Q-networks
        self.critic = QEnsemble(
            obs_dim, action_dim, self.critic_hidden_dims, self.n_critics, self.rng, encoder=encoder
        )
        # The targets are whole copies, encoders included, and Polyak averaging covers every parameter.
        self.actor_target, self.critic_target = self.actor.clone(), self.critic.clone()
        self.actor_optimizer = Adam(self.actor.parameters(), lr=self.actor_learning_rate)
        self.critic_optimizer = Adam(self.critic.parameters(), lr=self.critic_learning_rate)
        self.noise = make_noise(self.noise_type, self.exploration_noise, action_dim, self.rng)

    # ------------------------------------------------------------------------------------------- acting
    def _policy(self, obs: Any) -> np.ndarray:
        """mu(s) in [-1, 1], (n, A), without a graph."""
        with no_grad():
            return self.actor(Tensor(self._inputs(obs))).numpy()

    def _act(self, obs: np.ndarray) -> np.ndarray:
        return np.clip(self._policy(obs) + self.noise.sample(), -1.0, 1.0)

    def predict(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """mu(s) mapped to the box; stochastic predictions add fresh Gaussian noise of scale exploration_noise
        (never the training noise process, whose per-env state belongs to the training envs)."""
        unit = self._policy(obs)
        if not deterministic:
            noise = self.rng.standard_normal(unit.shape, dtype=np.float32) * self.exploration_noise
            unit = np.clip(unit + noise, -1.0, 1.0)
        return self.replay.scaler.to_box(unit)

    # ------------------------------------------------------------------------------------------ update
    def _scheduled_rates(self) -> tuple[tuple[Any, float], ...]:
        return (
            (self.actor_optimizer, self.actor_learning_rate),
            (self.critic_optimizer, self.critic_learning_rate),
        )

    def update(self) -> dict[str, float]:
        self._apply_lr_schedule()
        critic_loss_sum = actor_loss_sum = 0.0
        for _ in range(self.steps_per_update):
            batch = self.buffer.sample(self.batch_size)
            with no_grad():
                next_actions = self.actor_target(Tensor(batch.next_observations)).numpy()
                next_q = self.critic_target(batch.next_observations, next_actions).numpy()[0]
            targets = td_target(batch.rewards, batch.terminated, next_q, self.gamma)

            critic_loss = F.mse_loss(self.critic(batch.observations, batch.actions), targets)
            self.critic_optimizer.zero_grad()
            critic_loss.backward()
            self.critic_optimizer.step()

            # dQ/da at a = mu(s) flows through the just-updated critic (its weights frozen) into the actor.
            actions = self.actor(Tensor(batch.observations))
            actor_loss = -self.critic(batch.observations, actions, frozen=True).mean()
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()

            polyak_update(self.critic_target.parameters(), self.critic.parameters(), self.tau)
            polyak_update(self.actor_target.parameters(), self.actor.parameters(), self.tau)
            critic_loss_sum += critic_loss.item()
            actor_loss_sum += actor_loss.item()
        return {
            "critic_loss": critic_loss_sum / self.steps_per_update,
            "actor_loss": actor_loss_sum / self.steps_per_update,
        }
