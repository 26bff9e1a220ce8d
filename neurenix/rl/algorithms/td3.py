"""Twin Delayed DDPG (Fujimoto et al. 2018): DDPG plus three changes against the critic's overestimation.

1. Clipped double Q: twin critics, both regressed on y = r + gamma (1 - terminated) min_k Q'_k(s', a~').
2. Target policy smoothing: a~' = clip(mu'(s') + clip(N(0, target_policy_noise^2), -c, c), -1, 1) with
   c = target_noise_clip, so the target cannot exploit a narrow peak of the critic.
3. Delayed policy updates: the actor (which follows Q_1 alone) and all target networks change once every
   `policy_delay` critic steps.

Everything else (networks, replay, exploration, cadence, save/load) is DDPG's, hence the subclass.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neurenix.nn import functional as F
from neurenix.rl.algorithms.ddpg import DDPG, DDPGHyperparameters
from neurenix.rl.hyperparameters import Hyperparameters, hyperparameter, redeclared
from neurenix.rl.returns import polyak_update, td_target
from neurenix.tensor import Tensor, no_grad


@dataclasses.dataclass(frozen=True, kw_only=True)
class TD3Hyperparameters(DDPGHyperparameters):
    name: str = redeclared(Hyperparameters, "name", "TD3")
    tau: float = redeclared(
        DDPGHyperparameters, "tau", 0.005, unit="per actor step (every policy_delay gradient steps)"
    )
    policy_delay: int = hyperparameter(
        2, "Critic gradient steps per actor step (and per target update).", unit="gradient steps", low=1
    )
    target_policy_noise: float = hyperparameter(
        0.2, "Std of the Gaussian noise added to the target action, in the unit action box.", low=0.0
    )
    target_noise_clip: float = hyperparameter(
        0.5, "The target noise is clipped to [-target_noise_clip, target_noise_clip].", low=0.0
    )


class TD3(DDPG):
    """TD3 on box actions; see the module docstring, and `TD3Hyperparameters` for the keyword arguments."""

    algorithm = "td3"
    Hyperparameters = TD3Hyperparameters
    n_critics = 2

    def update(self) -> dict[str, float]:
        self._apply_lr_schedule()
        critic_loss_sum, actor_losses = 0.0, []
        for _ in range(self.steps_per_update):
            batch = self.buffer.sample(self.batch_size)
            with no_grad():
                smoothing = self.rng.standard_normal(batch.actions.shape, dtype=np.float32)
                smoothing *= self.target_policy_noise
                np.clip(smoothing, -self.target_noise_clip, self.target_noise_clip, out=smoothing)
                next_actions = self.actor_target(Tensor(batch.next_observations)).numpy() + smoothing
                np.clip(next_actions, -1.0, 1.0, out=next_actions)
                next_q = self.critic_target(batch.next_observations, next_actions).numpy().min(axis=0)
            targets = td_target(batch.rewards, batch.terminated, next_q, self.gamma)

            # Both critics regress on the one target: the mean over (critic, sample) of the squared errors.
            critic_loss = F.mse_loss(self.critic(batch.observations, batch.actions), targets)
            self.critic_optimizer.zero_grad()
            critic_loss.backward()
            self.critic_optimizer.step()
            critic_loss_sum += critic_loss.item()

            # The critic optimizer's step count is the number of gradient steps so far (saved with it).
            if self.critic_optimizer.step_count % self.policy_delay == 0:
                actions = self.actor(Tensor(batch.observations))
                actor_loss = -self.critic(batch.observations, actions, frozen=True, members=1).mean()
                self.actor_optimizer.zero_grad()
                actor_loss.backward()
                self.actor_optimizer.step()
                polyak_update(self.critic_target.parameters(), self.critic.parameters(), self.tau)
                polyak_update(self.actor_target.parameters(), self.actor.parameters(), self.tau)
                actor_losses.append(actor_loss.item())
        losses = {"critic_loss": critic_loss_sum / self.steps_per_update}
        if actor_losses:  # absent from the updates where the delay skipped the actor
            losses["actor_loss"] = float(np.mean(actor_losses))
        return losses
