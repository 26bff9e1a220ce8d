"""Advantage Actor-Critic: the synchronous, batched form of A3C (Mnih et al. 2016), on vectorized envs.

After every rollout of `n_steps` steps from each env, one gradient step on

    L = -E[log pi(a|s) A] + value_coef * E[(V(s) - R)^2] - entropy_coef * E[H(pi(.|s))]

with A from GAE (`gae_lambda=1` gives the n-step returns of the original A2C) and R = A + V_old. The advantage
is a constant in the policy term (the documentation's `advantage.detach()`). RMSprop is the default optimizer,
as in the paper and SB3; `optimizer="adam"` is available.
"""

from __future__ import annotations

from typing import Any

from neurenix.nn import functional as F
from neurenix.rl.algorithms.actor_critic import ActorCritic, approx_kl
from neurenix.tensor import Tensor, no_grad


class A2C(ActorCritic):
    algorithm = "a2c"

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        actor_hidden_dims: list[int] = (64, 64),
        critic_hidden_dims: list[int] = (64, 64),
        actor_learning_rate: float = 0.0003,
        critic_learning_rate: float = 0.001,
        gamma: float = 0.99,
        entropy_coef: float = 0.01,
        value_coef: float = 0.5,
        max_grad_norm: float | None = 0.5,
        name: str = "A2C",
        gae_lambda: float = 1.0,
        n_envs: int = 1,
        n_steps: int = 5,
        normalize_advantage: bool = False,
        lr_schedule: str = "constant",
        optimizer: str = "rmsprop",
        ortho_init: bool = True,
        activation: str = "tanh",
        log_std_init: float = 0.0,
        std: float | None = None,
        normalize_observations: bool = False,
        normalize_rewards: bool = False,
        seed: int | None = None,
    ) -> None:
        """See the module docstring. For box actions, `std` fixes the Gaussian's standard deviation (in the unit
        box) instead of learning a state-independent log-std starting at `log_std_init`. `n_envs` applies when
        `train` is given an env id."""
        super().__init__(
            observation_space,
            action_space,
            actor_hidden_dims=actor_hidden_dims,
            critic_hidden_dims=critic_hidden_dims,
            actor_learning_rate=actor_learning_rate,
            critic_learning_rate=critic_learning_rate,
            gamma=gamma,
            gae_lambda=gae_lambda,
            value_coef=value_coef,
            entropy_coef=entropy_coef,
            max_grad_norm=max_grad_norm,
            name=name,
            n_envs=n_envs,
            n_steps=n_steps,
            normalize_advantage=normalize_advantage,
            lr_schedule=lr_schedule,
            optimizer=optimizer,
            ortho_init=ortho_init,
            activation=activation,
            log_std_init=log_std_init,
            std=std,
            normalize_observations=normalize_observations,
            normalize_rewards=normalize_rewards,
            seed=seed,
        )

    def _minibatch_rows(self) -> int:
        """A2C's one gradient step per rollout takes all of it."""
        return self.n_steps * self.n_envs

    def update(self) -> dict[str, float]:
        self.buffer.compute_returns_and_advantages(self._values(self._obs), self.gamma, self.gae_lambda)
        learning_rate = self._apply_lr_schedule()
        batch = self.buffer.full_batch()
        log_prob, entropy, values = self._evaluate(batch.observations, batch.actions)
        policy_loss = -(log_prob * Tensor(self._normalized(batch.advantages))).mean()
        value_loss = F.mse_loss(values, batch.returns)
        mean_entropy = entropy.mean()
        self._step(self._loss(policy_loss, value_loss, mean_entropy))
        # How far the one step moved the policy on the rollout it learned from (a diagnostic only).
        with no_grad():
            new_log_prob = self._distribution(Tensor(batch.observations)).log_prob(batch.actions).numpy()
        return {
            "policy_loss": policy_loss.item(),
            "value_loss": value_loss.item(),
            "entropy": mean_entropy.item(),
            "approx_kl": approx_kl(new_log_prob - batch.old_log_prob),
            **self._rollout_diagnostics(),
            "learning_rate": learning_rate,
        }
