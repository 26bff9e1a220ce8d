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

With `use_sde` (gSDE, Raffin et al. 2021) the actor's log-std is a learned matrix over its last hidden features
instead of a head: u = mean(s) + z(s) W, W held for a collection chunk while acting and drawn once per gradient
step (for a and a' alike) in the update; the mean is clipped to [-SDE_CLIP_MEAN, SDE_CLIP_MEAN] first.

Images (`agent.encoder`, SB3's CnnPolicy with share_features_extractor=False): the actor reads its own encoder,
trained by the actor loss; the twin critics share one encoder of their own, trained by the critic loss only (the
actor loss reads its features as constants, `QEnsemble`'s `frozen`), and the target critics copy it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from neurenix import nn
from neurenix.nn import functional as F
from neurenix.nn.ensemble import QEnsemble
from neurenix.optim import Adam
from neurenix.rl.algorithms.off_policy import ContinuousHyperparameters, OffPolicyAgent
from neurenix.rl.distributions import SquashedGaussian, StateDependentGaussian, sde_std
from neurenix.rl.encoders import encoded
from neurenix.rl.hyperparameters import Hyperparameters, hyperparameter, redeclared, step_size
from neurenix.rl.noise import ExplorationMatrices, sde_sample_freq_field, use_expln_field, use_sde_field
from neurenix.rl.returns import polyak_update, td_target
from neurenix.rl.spaces import flat_dim
from neurenix.tensor import no_grad

# exp(-20) is a point mass for float32 purposes and exp(2) ~ 7.4 already covers [-1, 1] after the tanh; outside
# this range log_std only produces saturated tanh samples and exploding log-probabilities.
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
# SB3's clip_mean for gSDE: tanh(2) ~ 0.96, so the mean alone cannot drive the squash into saturation.
SDE_CLIP_MEAN = 2.0


class GaussianActor(nn.Module):
    """pi(.|s) = tanh(N(mean(s), exp(log_std(s))^2)): a ReLU trunk and two linear heads, (B, obs) -> (B, A) each."""

    def __init__(
        self,
        obs_dim: int,
        hidden_dims: list[int],
        action_dim: int,
        rng: np.random.Generator,
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        # Images: the actor's own encoder (obs_dim is its width); None reads the front-end's rows as they are.
        self.encoder = encoder
        self.trunk = nn.mlp([obs_dim, *hidden_dims], output_activation="relu", rng=rng)
        width = [obs_dim, *hidden_dims][-1]
        self.mean = nn.Linear(width, action_dim, rng=rng)
        self.log_std = nn.Linear(width, action_dim, rng=rng)

    def forward(self, obs: np.ndarray) -> SquashedGaussian:
        features = self.trunk(encoded(self.encoder, obs))
        return SquashedGaussian(self.mean(features), self.log_std(features).clamp(LOG_STD_MIN, LOG_STD_MAX))


class StateDependentActor(nn.Module):
    """gSDE's actor: GaussianActor's trunk and mean head, and a learned log-std matrix (L, A) over the trunk's L
    features in place of the log_std head."""

    def __init__(
        self,
        obs_dim: int,
        hidden_dims: list[int],
        action_dim: int,
        log_std_init: float,
        use_expln: bool,
        rng: np.random.Generator,
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.trunk = nn.mlp([obs_dim, *hidden_dims], output_activation="relu", rng=rng)
        width = [obs_dim, *hidden_dims][-1]
        self.mean = nn.Linear(width, action_dim, rng=rng)
        self.log_std = nn.Parameter(np.full((width, action_dim), log_std_init, dtype=np.float32))
        self.use_expln = use_expln

    def forward(self, obs: np.ndarray) -> StateDependentGaussian:
        features = self.trunk(encoded(self.encoder, obs))
        std = sde_std(self.log_std, self.use_expln)
        mean = self.mean(features).clamp(-SDE_CLIP_MEAN, SDE_CLIP_MEAN)
        return StateDependentGaussian(mean, features.numpy(), std, squash=True)


class Temperature(nn.Module):
    """alpha = exp(log_alpha): learning the log keeps alpha positive and makes its steps relative."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.log_alpha = nn.Parameter(np.array([math.log(alpha)], dtype=np.float32))

    @property
    def alpha(self) -> float:
        return math.exp(self.log_alpha.item())


@dataclasses.dataclass(frozen=True, kw_only=True)
class SACHyperparameters(ContinuousHyperparameters):
    name: str = redeclared(Hyperparameters, "name", "SAC")
    actor_learning_rate: float = redeclared(ContinuousHyperparameters, "actor_learning_rate", 0.0003)
    critic_learning_rate: float = redeclared(ContinuousHyperparameters, "critic_learning_rate", 0.0003)
    alpha_learning_rate: float = step_size(0.0003, "log(alpha)'s Adam, when auto_alpha")
    alpha: float = hyperparameter(
        0.2, "The entropy temperature: fixed, or the starting value when auto_alpha.", low=0.0, low_open=True
    )
    auto_alpha: bool = hyperparameter(True, "Learn alpha so that the policy's entropy tracks target_entropy.")
    target_entropy: float | str = hyperparameter(
        "auto",
        "The entropy auto_alpha aims at, in nats; auto is minus the number of action dimensions.",
        choices=("auto",),
    )
    use_sde: bool = use_sde_field()
    sde_sample_freq: int = sde_sample_freq_field()
    use_expln: bool = use_expln_field()
    log_std_init: float = hyperparameter(
        -3.0, "use_sde: the initial log-std of every weight of the exploration matrix.", low=-20.0, high=2.0
    )


class SAC(OffPolicyAgent):
    """Soft Actor-Critic on box actions; see the module docstring, and `SACHyperparameters` for the keyword
    arguments."""

    Hyperparameters = SACHyperparameters
    algorithm = "sac"
    action_space_types = ("box",)
    takes_images = True

    def __init__(
        self, observation_space: Any, action_space: Any, *, seed: int | None = None, **hyperparameters: Any
    ) -> None:
        super().__init__(observation_space, action_space, seed=seed, **hyperparameters)
        action_dim = flat_dim(self.action_space)
        # Haarnoja et al.'s heuristic: one nat less per action dimension than a unit Gaussian's ~1.4.
        auto = self.target_entropy == "auto"
        self.entropy_target = -float(action_dim) if auto else float(self.target_entropy)
        self._continuous_replay()
        encoder, obs_dim = self._network_encoder()  # the actor's (images; None otherwise)
        if self.use_sde:
            self.actor = StateDependentActor(
                obs_dim,
                self.actor_hidden_dims,
                action_dim,
                self.log_std_init,
                self.use_expln,
                self.rng,
                encoder,
            )
            self.exploration = ExplorationMatrices(
                self.actor.log_std.shape[0], action_dim, self.sde_sample_freq, self.rng
            )
        else:
            self.actor = GaussianActor(obs_dim, self.actor_hidden_dims, action_dim, self.rng, encoder)
        encoder, obs_dim = self._network_encoder()  # the critic's, shared by its Q-networks
        self.critic = QEnsemble(obs_dim, action_dim, self.critic_hidden_dims, 2, self.rng, encoder=encoder)
        self.critic_target = self.critic.clone()  # encoder included; Polyak averaging covers it
        self.temperature = Temperature(self.alpha)  # self.alpha stays the initial value; see `temperature`
        self.actor_optimizer = Adam(self.actor.parameters(), lr=self.actor_learning_rate)
        self.critic_optimizer = Adam(self.critic.parameters(), lr=self.critic_learning_rate)
        parts = [
            "actor",
            "critic",
            "critic_target",
            "temperature",
            "actor_optimizer",
            "critic_optimizer",
            "replay",
        ]
        if self.auto_alpha:
            self.alpha_optimizer = Adam(self.temperature.parameters(), lr=self.alpha_learning_rate)
            parts.append("alpha_optimizer")
        if self.use_sde:
            parts.append("exploration")
        self._parts = tuple(parts)

    # ------------------------------------------------------------------------------------------- acting
    def _act(self, obs: Any) -> np.ndarray:
        with no_grad():
            policy = self.actor(self._inputs(obs))
            if self.use_sde:
                return policy.sample(self.exploration.before_step(self._step_in_chunk(), self._n_envs))
            return policy.rsample(self.rng)[0].numpy()

    def predict(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """tanh(mean) when deterministic, else a ~ pi(.|s) (with gSDE, one fresh matrix for the batch, the held
        ones left to training); mapped to the box."""
        with no_grad():
            policy = self.actor(self._inputs(obs))
            if deterministic:
                unit = policy.mode()
            elif self.use_sde:
                unit = policy.sample(self.exploration.one())
            else:
                unit = policy.rsample(self.rng)[0].numpy()
        return self.replay.scaler.to_box(unit)

    def learned_parts(self) -> tuple[str, ...]:
        """The networks without the temperature: it is the config's `alpha` (fixed, or where auto_alpha
        starts), which a run started from these weights sets for itself."""
        return tuple(name for name in super().learned_parts() if name != "temperature")

    # ------------------------------------------------------------------------------------------ update
    def _scheduled_rates(self) -> tuple[tuple[Any, float], ...]:
        """The actor's, the critics' and (auto_alpha) the temperature's: SB3 schedules all three."""
        rates = (
            (self.actor_optimizer, self.actor_learning_rate),
            (self.critic_optimizer, self.critic_learning_rate),
        )
        return (*rates, (self.alpha_optimizer, self.alpha_learning_rate)) if self.auto_alpha else rates

    def update(self) -> dict[str, float]:
        self._apply_lr_schedule()
        sums = dict.fromkeys(("critic_loss", "actor_loss", "entropy"), 0.0)
        for _ in range(self.steps_per_update):
            batch = self.buffer.sample(self.batch_size)
            # gSDE: one exploration matrix for this step's a and a' (SB3's reset_noise before each step).
            noise = self.exploration.one() if self.use_sde else self.rng
            # a ~ pi(.|s) with its graph, drawn once: its log-probability tunes the temperature now and drives
            # the actor loss after the critic step (the actor's weights do not change in between).
            actions_pi, log_prob_pi = self.actor(batch.observations).rsample(noise)
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
                next_actions, next_log_prob = self.actor(batch.next_observations).rsample(noise)
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
        losses = {key: value / self.steps_per_update for key, value in sums.items()}
        losses["alpha"] = self.temperature.alpha
        return losses
