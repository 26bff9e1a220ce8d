"""Proximal Policy Optimization with the clipped surrogate (Schulman et al. 2017), on vectorized envs.

Each update: GAE over the rollout just collected, then `n_epochs` passes over it in shuffled minibatches of
`batch_size`, minimising

    L = -E[min(r A, clip(r, 1 - eps, 1 + eps) A)] + value_coef * E[(V(s) - R)^2] - entropy_coef * E[H(pi(.|s))]

with r = pi(a|s) / pi_old(a|s) computed as exp(log pi - log pi_old) (a quotient of two tiny probabilities
underflows), the minimum taken elementwise, and the passes stopped early once the policy has moved more than
1.5 * target_kl from the one that collected the data (SB3's convention).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neurenix.nn import functional as F
from neurenix.rl.algorithms.actor_critic import ActorCritic, ActorCriticHyperparameters, approx_kl
from neurenix.rl.hyperparameters import SCHEDULES, Hyperparameters, hyperparameter, redeclared
from neurenix.tensor import Tensor, from_op


def clipped_surrogate(
    log_prob: Tensor, old_log_prob: np.ndarray, advantages: np.ndarray, clip_ratio: float
) -> tuple[Tensor, float]:
    """The PPO policy loss -mean_i min(r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i) (B,) -> (), and the fraction
    of samples whose ratio lies outside [1 - eps, 1 + eps].

    The minimum is elementwise: per sample it keeps the pessimistic term, so a sample whose ratio has already
    moved past the clip in the direction its advantage favours contributes no gradient. One op with its
    gradient written out: where the unclipped term is the minimum (inside the clip range the two are equal),
    d/dlog_prob = -r A / B, elsewhere 0.
    """
    ratio = np.exp(log_prob.numpy() - old_log_prob)
    unclipped = ratio * advantages
    clipped = np.clip(ratio, 1.0 - clip_ratio, 1.0 + clip_ratio) * advantages
    active = unclipped <= clipped
    loss = np.asarray(-np.where(active, unclipped, clipped).mean(), dtype=ratio.dtype)
    clip_fraction = float(np.mean(np.abs(ratio - 1.0) > clip_ratio))
    return from_op(loss, (log_prob,), lambda g: (unclipped * active * (-g / len(ratio)),)), clip_fraction


def clipped_value_loss(
    values: Tensor, old_values: np.ndarray, returns: np.ndarray, clip_range: float
) -> Tensor:
    """mean((V_old + clip(V - V_old, -c, c) - R)^2): SB3's clip_range_vf, which regresses the clipped
    prediction alone (the original PPO code took the max of this and the plain squared error), so a value
    already moved c away from V_old gets no further gradient from this rollout."""
    old = Tensor(old_values)
    clipped = old + (values - old).clamp(-clip_range, clip_range)
    return ((clipped - Tensor(returns)) ** 2).mean()


@dataclasses.dataclass(frozen=True, kw_only=True)
class PPOHyperparameters(ActorCriticHyperparameters):
    name: str = redeclared(Hyperparameters, "name", "PPO")
    clip_ratio: float = hyperparameter(
        0.2,
        "The surrogate's clip range: ratios outside [1 - clip_ratio, 1 + clip_ratio] add no gradient.",
        low=0.0,
        high=1.0,
        low_open=True,
    )
    clip_schedule: str = hyperparameter(
        "constant",
        "clip_ratio's schedule: constant, or linear from the set value to 0 over the training budget.",
        choices=SCHEDULES,
    )
    target_kl: float | None = hyperparameter(
        0.01,
        "Stop an update's epochs once the approximate KL from the rollout's policy exceeds 1.5 * target_kl "
        "(SB3's rule); None never stops early.",
        unit="per update",
        low=0.0,
        low_open=True,
    )
    clip_range_vf: float | None = hyperparameter(
        None,
        "Clip the new value prediction to within this of the rollout's (SB3's clip_range_vf); None does not.",
        low=0.0,
        low_open=True,
    )
    batch_size: int = hyperparameter(64, "Samples per minibatch.", unit="samples", low=1)
    n_epochs: int = hyperparameter(10, "Passes over the rollout per update.", unit="per update", low=1)


class PPO(ActorCritic):
    """PPO on discrete (optionally masked), multi-discrete, multi-binary or box actions; see the module docstring, and `PPOHyperparameters` for the keyword
    arguments."""

    algorithm = "ppo"
    Hyperparameters = PPOHyperparameters

    def update(self) -> dict[str, float]:
        self.buffer.compute_returns_and_advantages(self._values(self._obs), self.gamma, self.gae_lambda)
        learning_rate = self._apply_lr_schedule()
        clip_ratio = self.clip_ratio * self._schedule(self.clip_schedule)
        history: dict[str, list[float]] = {
            key: [] for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")
        }
        epochs, kl_exceeded = 0, False
        for _ in range(self.n_epochs):
            for batch in self.buffer.minibatches(self.batch_size, self.rng):
                log_prob, entropy, values = self._evaluate(
                    batch.observations, batch.actions, batch.action_masks
                )
                kl = approx_kl(log_prob.numpy() - batch.old_log_prob)
                history["approx_kl"].append(kl)
                # Checked before stepping: this minibatch's step would push the policy further still.
                kl_exceeded = self.target_kl is not None and kl > 1.5 * self.target_kl
                if kl_exceeded:
                    break
                advantages = self._normalized(batch.advantages)
                policy_loss, clip_fraction = clipped_surrogate(
                    log_prob, batch.old_log_prob, advantages, clip_ratio
                )
                if self.clip_range_vf is None:
                    value_loss = F.mse_loss(values, batch.returns)
                else:
                    value_loss = clipped_value_loss(
                        values, batch.old_values, batch.returns, self.clip_range_vf
                    )
                mean_entropy = entropy.mean()
                self._step(self._loss(policy_loss, value_loss, mean_entropy))
                history["policy_loss"].append(policy_loss.item())
                history["value_loss"].append(value_loss.item())
                history["entropy"].append(mean_entropy.item())
                history["clip_fraction"].append(clip_fraction)
            if kl_exceeded:
                break
            epochs += 1
        return {
            **{key: float(np.mean(series)) if series else 0.0 for key, series in history.items()},
            **self._rollout_diagnostics(),
            "learning_rate": learning_rate,
            "clip_range": clip_ratio,
            "epochs": float(epochs),
        }
