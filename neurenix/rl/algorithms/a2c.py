"""Advantage Actor-Critic: the synchronous, batched form of A3C (Mnih et al. 2016), on vectorized envs.

After every rollout of `n_steps` steps from each env, one gradient step on

    L = -E[log pi(a|s) A] + value_coef * E[(V(s) - R)^2] - entropy_coef * E[H(pi(.|s))]

with A from GAE (`gae_lambda=1` gives the n-step returns of the original A2C) and R = A + V_old. The advantage
is a constant in the policy term (the documentation's `advantage.detach()`). RMSprop is the default optimizer,
as in the paper and SB3; `optimizer="adam"` is available.
"""

from __future__ import annotations

import dataclasses

from neurenix.nn import functional as F
from neurenix.rl.algorithms.actor_critic import ActorCritic, ActorCriticHyperparameters, approx_kl
from neurenix.rl.hyperparameters import Hyperparameters, redeclared
from neurenix.tensor import Tensor, no_grad


@dataclasses.dataclass(frozen=True, kw_only=True)
class A2CHyperparameters(ActorCriticHyperparameters):
    name: str = redeclared(Hyperparameters, "name", "A2C")
    gae_lambda: float = redeclared(
        ActorCriticHyperparameters, "gae_lambda", 1.0
    )  # the original A2C's returns
    n_steps: int = redeclared(ActorCriticHyperparameters, "n_steps", 5)
    normalize_advantage: bool = redeclared(ActorCriticHyperparameters, "normalize_advantage", False)
    optimizer: str = redeclared(ActorCriticHyperparameters, "optimizer", "rmsprop")  # the paper's and SB3's


class A2C(ActorCritic):
    """A2C on discrete (optionally masked), multi-discrete, multi-binary or box actions; see the module docstring, and `A2CHyperparameters` for the keyword
    arguments."""

    algorithm = "a2c"
    Hyperparameters = A2CHyperparameters

    def _minibatch_rows(self) -> int:
        """A2C's one gradient step per rollout takes all of it."""
        return self.n_steps * self.n_envs

    def update(self) -> dict[str, float]:
        self.buffer.compute_returns_and_advantages(self._values(self._obs), self.gamma, self.gae_lambda)
        learning_rate = self._apply_lr_schedule()
        batch = self.buffer.full_batch()
        log_prob, entropy, values = self._evaluate(batch.observations, batch.actions, batch.action_masks)
        policy_loss = -(log_prob * Tensor(self._normalized(batch.advantages))).mean()
        value_loss = F.mse_loss(values, batch.returns)
        mean_entropy = entropy.mean()
        self._step(self._loss(policy_loss, value_loss, mean_entropy))
        # How far the one step moved the policy on the rollout it learned from (a diagnostic only).
        with no_grad():
            new_dist = self._distribution(Tensor(batch.observations), batch.action_masks)
            new_log_prob = new_dist.log_prob(batch.actions).numpy()
        return {
            "policy_loss": policy_loss.item(),
            "value_loss": value_loss.item(),
            "entropy": mean_entropy.item(),
            "approx_kl": approx_kl(new_log_prob - batch.old_log_prob),
            **self._rollout_diagnostics(),
            "learning_rate": learning_rate,
        }
