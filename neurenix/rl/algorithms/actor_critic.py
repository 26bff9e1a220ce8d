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

Images: actor and critic are heads over ONE shared CNN encoder (`rl.encoders`, `agent.encoder`), as SB3's
CnnPolicy shares its features extractor: each forward computes the features once, both heads read them, and the
total loss's gradient reaches the encoder from the policy and the value terms. The encoder's parameters are
stepped by the actor's optimizer (at `actor_learning_rate`) and clipped with the rest. The heads' hidden layers
(`actor_hidden_dims`, `critic_hidden_dims`) sit on top of the features; empty lists make each head one linear
layer over them, SB3's CnnPolicy.

Continuous actions: the Gaussian lives in the unit box [-1, 1]^d; the env gets the sample clipped and mapped to
[low, high] (`BoxScaler`), while the buffer keeps the *unclipped* sample, whose log-probability is the one the
policy gradient needs (a clipped action has no density under the Gaussian). With `use_sde` (gSDE) the Gaussian's
log-std is a matrix over the actor's last hidden features and the noise z(s) W a held matrix per env, redrawn at
each rollout's start and every `sde_sample_freq` steps (`StateDependentGaussian`, `noise.ExplorationMatrices`);
rollouts, and so the held matrices, start afresh whenever training does, so they are not saved.

Action spaces and their distributions: Discrete -> Categorical (n logits), MultiDiscrete -> MultiCategorical (one
head of sum(nvec) logits, split per component), MultiBinary -> Bernoulli (n logits), Box -> DiagGaussian. With
an env that masks invalid actions (Discrete and MultiDiscrete), the masks of each observation are stored with
the rollout and every log-probability and entropy, when acting and in each epoch, is the masked distribution's.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from neurenix import nn
from neurenix.errors import ConfigError
from neurenix.optim import Adam, RMSprop, RMSpropTFLike, clip_grad_norm_
from neurenix.rl.base import BaseAgent
from neurenix.rl.buffers import RolloutBuffer
from neurenix.rl.distributions import (
    Bernoulli,
    Categorical,
    DiagGaussian,
    MultiCategorical,
    StateDependentGaussian,
    sde_std,
)
from neurenix.rl.encoders import build_encoder, encoder_features_field, encoder_field
from neurenix.rl.environment import StepResult, VecEnv
from neurenix.rl.hyperparameters import hyperparameter, lr_schedule_field, step_size
from neurenix.rl.noise import ExplorationMatrices, sde_sample_freq_field, use_expln_field, use_sde_field
from neurenix.rl.normalize import NormalizationHyperparameters
from neurenix.rl.observations import ObservationFrontEnd, take
from neurenix.rl.spaces import BoxScaler, flat_dim, space_type
from neurenix.tensor import Tensor, no_grad

OPTIMIZERS = {
    # eps 1e-5 rather than torch's 1e-8, and RMSprop's alpha 0.99: the settings SB3 (and RL Zoo's tuning) use.
    "adam": lambda params, lr: Adam(params, lr=lr, eps=1e-5),
    "rmsprop": lambda params, lr: RMSprop(params, lr=lr, alpha=0.99, eps=1e-5),
    # SB3's RMSpropTFLike at RL Zoo's A2C Atari settings (its policy_kwargs give eps 1e-5).
    "rmsprop_tf": lambda params, lr: RMSpropTFLike(params, lr=lr, alpha=0.99, eps=1e-5),
}
# What the rollout buffer stores each kind of action as: the space's own dtype (the unit-box sample for boxes).
ACTION_DTYPES = {"discrete": np.int64, "multi_discrete": np.int64, "multi_binary": np.int8, "box": np.float32}


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class ActorCriticHyperparameters(NormalizationHyperparameters):
    """What A2C and PPO share; each declares again the fields whose defaults differ (`n_steps`, ...)."""

    actor_hidden_dims: list[int] = hyperparameter((64, 64), "Widths of the actor's hidden layers.")
    critic_hidden_dims: list[int] = hyperparameter((64, 64), "Widths of the critic's hidden layers.")
    encoder: str = encoder_field()
    encoder_features: int | None = encoder_features_field()
    actor_learning_rate: float = step_size(0.0003, "the actor's optimizer")
    critic_learning_rate: float = step_size(0.001, "the critic's optimizer")
    gae_lambda: float = hyperparameter(
        0.95, "GAE's lambda: 1 gives n-step returns, 0 one-step TD errors.", low=0.0, high=1.0
    )
    value_coef: float = hyperparameter(0.5, "Weight of the value loss in the total loss.", low=0.0)
    entropy_coef: float = hyperparameter(0.01, "Weight of the entropy bonus in the total loss.", low=0.0)
    max_grad_norm: float | None = hyperparameter(
        0.5,
        "Clip the global L2 norm of the actor's and critic's gradients together; None does not clip.",
        unit="per gradient step",
        low=0.0,
        low_open=True,
    )
    n_envs: int = hyperparameter(1, "Envs stepped together when `train` is given an env id.", low=1)
    n_steps: int = hyperparameter(2048, "Steps collected from each env per rollout (one update).", low=1)
    normalize_advantage: bool = hyperparameter(
        True, "Standardise the advantages of each minibatch to mean 0, std 1."
    )
    lr_schedule: str = lr_schedule_field()
    optimizer: str = hyperparameter(
        "adam",
        "adam, rmsprop or rmsprop_tf (SB3's RMSpropTFLike: eps inside the square root, the square average "
        "starting at 1), with SB3's settings (eps 1e-5; RMSprop alpha 0.99).",
        choices=tuple(OPTIMIZERS),
    )
    ortho_init: bool = hyperparameter(
        True,
        "Orthogonal weights (SB3's gains) instead of uniform fan-in; the actor's last layer at gain 0.01.",
    )
    activation: str = hyperparameter("tanh", "The hidden layers' activation.", choices=tuple(nn.ACTIVATIONS))
    log_std_init: float = hyperparameter(
        0.0,
        "Initial log standard deviation of the Gaussian policy (box actions, in the unit box); with use_sde, of "
        "every weight of the exploration matrix.",
        low=-20.0,
        high=2.0,
    )
    std: float | None = hyperparameter(
        None,
        "Box actions: a fixed standard deviation (in the unit box) instead of a learned log-std.",
        low=0.0,
        low_open=True,
    )
    use_sde: bool = use_sde_field()
    sde_sample_freq: int = sde_sample_freq_field()
    use_expln: bool = use_expln_field()


class ActorCritic(BaseAgent):
    """Base of A2C and PPO; see the module docstring. Subclasses declare their record and implement `update`."""

    Hyperparameters = ActorCriticHyperparameters
    collects_rollouts = True
    action_space_types = ("discrete", "box", "multi_discrete", "multi_binary")
    masks_actions = True
    takes_images = True

    def __init__(
        self, observation_space: Any, action_space: Any, *, seed: int | None = None, **hyperparameters: Any
    ) -> None:
        super().__init__(observation_space, action_space, seed=seed, **hyperparameters)
        self.action_kind = space_type(self.action_space)
        # The rollout stores what the policy saw: normalised (float32) box parts when normalisation is on.
        self._set_front_end(
            ObservationFrontEnd(self.observation_space, float_boxes=self.normalize_observations, images=True)
        )
        # None but for images: then the one encoder both heads read (drawn first, from the same generator).
        self.features_extractor, obs_dim = build_encoder(
            self.front_end, self.encoder, self.encoder_features, self.ortho_init, self.rng
        )
        action_dim = flat_dim(self.action_space)  # the actor's outputs: logits, or the Gaussian's mean
        init = "orthogonal" if self.ortho_init else "default"
        # A near-zero last actor layer starts the policy near uniform / zero-mean (Andrychowicz et al. 2021).
        self.actor = nn.mlp(
            [obs_dim, *self.actor_hidden_dims, action_dim],
            self.activation,
            init=init,
            output_gain=0.01,
            rng=self.rng,
        )
        self.critic = nn.mlp([obs_dim, *self.critic_hidden_dims, 1], self.activation, init=init, rng=self.rng)
        actor_params = self.actor.parameters()
        if self.features_extractor is not None:
            actor_params = [*self.features_extractor.parameters(), *actor_params]
        self.log_std: Tensor | None = None
        if self.action_kind == "box":
            try:
                self.scaler = BoxScaler(self.action_space)
            except ValueError as error:
                raise ConfigError(str(error)) from None
            if self.use_sde and self.std is not None:
                raise ConfigError(
                    "use_sde learns its exploration's std, so a fixed std cannot be given with it; set one of "
                    "them",
                    key="std",
                )
            if self.use_sde:  # gSDE: one log-std per last hidden feature and action dimension
                latent_dim = [obs_dim, *self.actor_hidden_dims][-1]
                self.log_std = nn.Parameter(
                    np.full((latent_dim, action_dim), self.log_std_init, dtype=np.float32)
                )
                self.exploration = ExplorationMatrices(latent_dim, action_dim, self.sde_sample_freq, self.rng)
                actor_params = [*actor_params, self.log_std]
            elif self.std is None:  # a learned, state-independent log-std
                self.log_std = nn.Parameter(np.full(action_dim, self.log_std_init, dtype=np.float32))
                actor_params = [*actor_params, self.log_std]
            else:
                self.fixed_log_std = Tensor(np.full(action_dim, math.log(self.std), dtype=np.float32))
        elif self.use_sde:
            raise ConfigError(
                f"use_sde explores continuous actions, and this action space is {self.action_kind}; set "
                "use_sde: false",
                key="use_sde",
            )
        self.actor_optimizer = OPTIMIZERS[self.optimizer](actor_params, self.actor_learning_rate)
        self.critic_optimizer = OPTIMIZERS[self.optimizer](
            self.critic.parameters(), self.critic_learning_rate
        )
        self._parameters = [*actor_params, *self.critic.parameters()]
        action_shape = (action_dim,) if self.action_kind == "box" else self.action_space.shape
        self._rollout_layout = (self.front_end, action_shape)
        self.buffer = self._rollout_buffer(self.n_envs, masks=False)

    def _rollout_buffer(self, n_envs: int, masks: bool) -> RolloutBuffer:
        mask_dim = flat_dim(self.action_space) if masks else 0  # n, or sum(nvec) for multi-discrete
        return RolloutBuffer(
            self.n_steps, n_envs, *self._rollout_layout, ACTION_DTYPES[self.action_kind], mask_dim
        )

    # ---------------------------------------------------------------------------------------- networks
    def _features(self, x: Tensor) -> Tensor:
        """What both heads read: the shared encoder's features of images, the inputs themselves otherwise."""
        return x if self.features_extractor is None else self.features_extractor(x)

    def _distribution(
        self, x: Tensor, masks: np.ndarray | None = None
    ) -> Categorical | MultiCategorical | Bernoulli | DiagGaussian | StateDependentGaussian:
        if self.use_sde:
            features, mean = self.actor.forward_with_features(x)
            std = sde_std(self.log_std, self.use_expln)
            return StateDependentGaussian(mean, features.numpy(), std, squash=False)
        out = self.actor(x)
        if self.action_kind == "discrete":
            return Categorical(out, masks)
        if self.action_kind == "multi_discrete":
            return MultiCategorical(out, self.action_space.nvec, masks)
        if self.action_kind == "multi_binary":
            return Bernoulli(out)
        return DiagGaussian(out, self.log_std if self.log_std is not None else self.fixed_log_std)

    def _values(self, obs: Any) -> np.ndarray:
        """V(s) (n,) for raw observations, without a graph."""
        with no_grad():
            return self.critic(self._features(Tensor(self._inputs(obs)))).numpy()[:, 0]

    def _evaluate(
        self, obs: np.ndarray, actions: np.ndarray, masks: np.ndarray | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """log pi(a|s), entropy and V(s), each (B,), with a graph, for stored (already normalised) inputs and
        the masks the actions were sampled under."""
        x = self._features(Tensor(obs))  # used by both heads: their gradients add up in a shared encoder
        dist = self._distribution(x, masks)
        return dist.log_prob(actions), dist.entropy(), self.critic(x).reshape(-1)

    def _to_env(self, actions: np.ndarray) -> np.ndarray:
        if self.action_kind != "box":
            return actions
        return self.scaler.to_box(actions.reshape(len(actions), *self.action_space.shape))

    # ------------------------------------------------------------------------------------- loop hooks
    def _on_train_start(self, env: VecEnv) -> None:
        if env.num_envs != self.buffer.n_envs or env.masks_actions != (self.buffer.action_masks is not None):
            self.buffer = self._rollout_buffer(env.num_envs, env.masks_actions)
        # The loop has just reset the env: a partly collected rollout (from an earlier train call) is stale.
        self.buffer.reset()

    def _explore(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sample actions for all envs with one actor and one critic forward pass, no graph recorded (the loop
        has added `obs` to the normalisation statistics just before)."""
        observed, masks = self._observed(obs), self._action_masks
        x = self.front_end.encode(observed)
        with no_grad():
            inputs = self._features(Tensor(x))
            dist = self._distribution(inputs, masks)
            noise = (
                self.exploration.before_step(self.buffer.position % self.n_steps, len(x))
                if self.use_sde
                else self.rng
            )
            actions = dist.sample(noise)
            log_probs = dist.log_prob(actions).numpy()
            values = self.critic(inputs).numpy()[:, 0]
        self._acted = (observed, values, log_probs, masks)
        return actions, self._to_env(actions)

    def _store(self, obs: Any, actions: np.ndarray, step: StepResult) -> None:
        observed, values, log_probs, masks = self._acted
        # Scaled as they are stored, by the return statistics the loop has just updated with them.
        rewards = step.rewards if self.reward_scaler is None else self.reward_scaler(step.rewards)
        # Trap: where an episode was truncated, step.next_obs is already the *next* episode's first observation.
        # The bootstrap value must come from the true final observation, and never from a terminated one.
        final_values = np.zeros(len(rewards), dtype=np.float32)
        if step.truncated.any():
            final_obs = take(step.final_obs, step.truncated)
            final_values[step.truncated] = self._values(final_obs)
        if self.buffer.full:  # consumed by the update the loop ran as soon as it filled
            self.buffer.reset()
        self.buffer.add(
            observed,
            actions,
            rewards,
            step.terminated,
            step.truncated,
            values,
            log_probs,
            final_values,
            masks,
        )

    def _on_env_step(self, n_transitions: int) -> None:
        """Schedules are read from `self.progress` when an update runs; nothing advances per step."""

    def _update_due(self) -> bool:
        return self.buffer.full

    def first_update_step(self, n_envs: int) -> int:
        """One full rollout: n_steps steps of every env."""
        return self.n_steps * n_envs

    def predict(
        self, obs: Any, deterministic: bool = False, action_masks: np.ndarray | None = None
    ) -> np.ndarray:
        """Env actions for a batch; normalisation statistics are only read here, never updated. Masked actions
        (`action_masks` (n, n_actions), False where forbidden) are never chosen."""
        with no_grad():
            dist = self._distribution(self._features(Tensor(self._inputs(obs))), action_masks)
            if deterministic:
                actions = dist.mode()
            else:  # gSDE: one fresh matrix for the batch, the held ones left to training
                actions = dist.sample(self.exploration.one() if self.use_sde else self.rng)
        return self._to_env(actions)

    # ------------------------------------------------------------------------------ update helpers
    def _scheduled_rates(self) -> tuple[tuple[Any, float], ...]:
        return (
            (self.actor_optimizer, self.actor_learning_rate),
            (self.critic_optimizer, self.critic_learning_rate),
        )

    def _normalized(self, advantages: np.ndarray) -> np.ndarray:
        if not self.normalize_advantage or len(advantages) < 2:
            return advantages
        # The sample standard deviation (n - 1), as torch's std() in SB3 and CleanRL: numpy's default (n) scaled
        # every policy gradient by sqrt(n / (n - 1)), 0.8% at a minibatch of 64.
        return (advantages - advantages.mean()) / (advantages.std(ddof=1) + 1e-8)

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
        if self.features_extractor is not None:
            state["features_extractor"] = self.features_extractor.state_dict()
        if self.log_std is not None:
            state["log_std"] = self.log_std.numpy().copy()
        return state

    def learned_parts(self) -> tuple[str, ...]:
        """The networks, the learned log-std and the normalisation statistics: the weights were fitted to inputs
        and returns scaled by those statistics, and compute another policy without them."""
        parts = {
            "features_extractor": self.features_extractor,
            "actor": self.actor,
            "critic": self.critic,
            "log_std": self.log_std,
        }
        return (*(name for name, part in parts.items() if part is not None), *super().learned_parts())

    def load_state_dict(self, state: dict) -> None:
        self._load_base_state(state)
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        if self.features_extractor is not None:
            self.features_extractor.load_state_dict(state["features_extractor"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        if self.log_std is not None:
            log_std = np.asarray(state["log_std"])
            if log_std.shape != self.log_std.shape:
                raise ValueError(f"log_std has shape {log_std.shape}, expected {self.log_std.shape}")
            self.log_std.numpy()[...] = log_std  # in place: the optimizer holds a view of it
