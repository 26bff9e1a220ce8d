"""Proximal Policy Optimization with the clipped surrogate (Schulman et al. 2017), on vectorized envs.

Each update: GAE over the rollout just collected, then `n_epochs` passes over it in shuffled minibatches of
`batch_size`, minimising

    L = -E[min(r A, clip(r, 1 - eps, 1 + eps) A)] + value_coef * E[(V(s) - R)^2] - entropy_coef * E[H(pi(.|s))]

with r = pi(a|s) / pi_old(a|s) computed as exp(log pi - log pi_old) (a quotient of two tiny probabilities
underflows), the minimum taken elementwise, and the passes stopped early once the policy has moved more than
1.5 * target_kl from the one that collected the data (SB3's convention).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurenix.nn import functional as F
from neurenix.rl.algorithms.actor_critic import SCHEDULES, ActorCritic, approx_kl, check_choice
from neurenix.rl.checks import check_positive_int, check_range
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
    """max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2), averaged: the value step is kept near V_old
    pessimistically, as in the original PPO code (OpenAI baselines)."""
    old = Tensor(old_values)
    clipped = old + (values - old).clamp(-clip_range, clip_range)
    target = Tensor(returns)
    return ((values - target) ** 2).maximum((clipped - target) ** 2).mean()


class PPO(ActorCritic):
    algorithm = "ppo"

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        actor_hidden_dims: list[int] = (64, 64),
        critic_hidden_dims: list[int] = (64, 64),
        actor_learning_rate: float = 0.0003,
        critic_learning_rate: float = 0.001,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_ratio: float = 0.2,
        target_kl: float | None = 0.01,
        value_coef: float = 0.5,
        entropy_coef: float = 0.01,
        max_grad_norm: float | None = 0.5,
        name: str = "PPO",
        n_envs: int = 1,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        normalize_advantage: bool = True,
        clip_range_vf: float | None = None,
        lr_schedule: str = "constant",
        clip_schedule: str = "constant",
        optimizer: str = "adam",
        ortho_init: bool = True,
        activation: str = "tanh",
        log_std_init: float = 0.0,
        std: float | None = None,
        normalize_observations: bool = False,
        normalize_rewards: bool = False,
        seed: int | None = None,
    ) -> None:
        """See the module docstring. `target_kl=None` disables early stopping; `clip_range_vf=None` disables
        value clipping. For box actions, `std` fixes the Gaussian's standard deviation (in the unit box) instead
        of learning a state-independent log-std starting at `log_std_init`. `n_envs` applies when `train` is given
        an env id."""
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
        check_range("clip_ratio", clip_ratio, 0.0, 1.0, low_open=True)
        if target_kl is not None:
            check_range("target_kl", target_kl, 0.0, float("inf"), low_open=True)
        if clip_range_vf is not None:
            check_range("clip_range_vf", clip_range_vf, 0.0, float("inf"), low_open=True)
        check_positive_int("batch_size", batch_size)
        check_positive_int("n_epochs", n_epochs)
        check_choice("clip_schedule", clip_schedule, SCHEDULES)
        self.clip_ratio, self.target_kl, self.clip_range_vf = clip_ratio, target_kl, clip_range_vf
        self.batch_size, self.n_epochs, self.clip_schedule = batch_size, n_epochs, clip_schedule

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
                log_prob, entropy, values = self._evaluate(batch.observations, batch.actions)
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
