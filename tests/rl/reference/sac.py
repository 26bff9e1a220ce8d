"""SAC's gradient step (Haarnoja et al. 2018, "SAC: Algorithms and Applications", automatic temperature), in
SB3's order, with every gradient written by hand.

The actor is a ReLU trunk and two linear heads: mean and log_std (clamped to [-20, 2]). With noise eps ~ N(0, I):
u = mean + exp(log_std) eps, a = tanh(u) and
log pi(a|s) = sum_i [log N(u_i; mean_i, std_i) - log(1 - tanh(u_i)^2 + 1e-6)] (SB3's form; the exact one without
the 1e-6 is kept to show what the epsilon changes).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import mlp

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def tanh_log_jacobian(u: np.ndarray, sb3_epsilon: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(log(1 - tanh(u)^2), its derivative in u), elementwise.

    Exact: 2 (log 2 - u - softplus(-2u)), derivative -2 tanh(u). SB3's form log(1 - tanh(u)^2 + 1e-6) caps
    the penalty at -log(1e-6) ~ 13.8 nats per dimension and its derivative vanishes where tanh saturates.
    """
    a = np.tanh(u)
    if sb3_epsilon:
        inner = 1.0 - a * a + 1e-6
        return np.log(inner), -2.0 * a * (1.0 - a * a) / inner
    return 2.0 * (math.log(2.0) - u - np.logaddexp(0.0, -2.0 * u)), -2.0 * a


@dataclasses.dataclass
class Actor:
    trunk: list  # [(W, b), ...] ReLU layers
    mean: list  # [W, b]
    log_std: list  # [W, b]

    def arrays(self) -> list[np.ndarray]:
        return [*mlp.flat(self.trunk), *self.mean, *self.log_std]


def policy_sample(actor: Actor, obs: np.ndarray, noise: np.ndarray, sb3_epsilon: bool = True) -> tuple:
    """(a, log pi(a|s), u, backward) for a = tanh(mean + std * noise); backward(dL/da, dL/dlog_pi) returns the
    gradients of L for `actor.arrays()`, reparameterised (noise is a constant)."""
    h, trunk_cache = mlp.forward(actor.trunk, obs, relu_last=True)
    mean = h @ actor.mean[0] + actor.mean[1]
    raw = h @ actor.log_std[0] + actor.log_std[1]
    log_std = np.clip(raw, LOG_STD_MIN, LOG_STD_MAX)
    inside = (raw >= LOG_STD_MIN) & (raw <= LOG_STD_MAX)
    std = np.exp(log_std)
    u = mean + std * noise
    a = np.tanh(u)
    jacobian, d_jacobian = tanh_log_jacobian(u, sb3_epsilon)
    log_prob = np.sum(-0.5 * noise**2 - _LOG_SQRT_2PI - log_std - jacobian, axis=1)

    def backward(g_a: np.ndarray, g_log_prob: np.ndarray) -> list[np.ndarray]:
        g_lp = np.asarray(g_log_prob, dtype=np.float64)[:, None]
        g_u = g_a * (1.0 - a * a) - g_lp * d_jacobian
        g_log_std = (g_u * std * noise - g_lp) * inside
        g_h = g_u @ actor.mean[0].T + g_log_std @ actor.log_std[0].T
        trunk_grads, _ = mlp.backward(actor.trunk, trunk_cache, g_h)
        heads = [h.T @ g_u, g_u.sum(axis=0), h.T @ g_log_std, g_log_std.sum(axis=0)]
        return [*mlp.flat(trunk_grads), *heads]

    return a, log_prob, u, backward


@dataclasses.dataclass
class SACState:
    actor: Actor
    critics: list
    targets: list
    log_alpha: np.ndarray  # (1,)
    actor_adam: mlp.Adam
    critic_adam: mlp.Adam
    alpha_adam: mlp.Adam | None


def sac_step(state: SACState, batch, noise_pi, noise_next, *, gamma, tau, target_entropy, sb3_epsilon=True):
    """One gradient step on `state` (in place); returns every intermediate a twin test compares."""
    obs, actions, rewards, next_obs, terminated = (np.asarray(x, dtype=np.float64) for x in batch[:5])
    batch_size = len(obs)
    a_pi, log_pi, _, actor_backward = policy_sample(state.actor, obs, noise_pi, sb3_epsilon)

    # Temperature: loss -log_alpha (E[log pi] + H_target); this step uses alpha from before its update.
    alpha = math.exp(state.log_alpha[0])
    if state.alpha_adam is not None:  # None: a fixed alpha
        state.alpha_adam.step([state.log_alpha], [np.array([-(log_pi.mean() + target_entropy)])])

    # Soft target with a' ~ pi(.|s') from the current actor and fresh noise.
    a_next, log_next, _, _ = policy_sample(state.actor, next_obs, noise_next, sb3_epsilon)
    q_next, _ = mlp.critics_forward(state.targets, next_obs, a_next)
    y = rewards + gamma * (1.0 - terminated) * (q_next.min(axis=0) - alpha * log_next)
    critic_loss = mlp.regress_critics(state.critics, state.critic_adam, obs, actions, y)

    # Actor: mean(alpha log pi(a|s) - min_k Q_k(s, a)) through the updated critics, whose weights stay fixed.
    q_pi, g_q_pi = mlp.grad_wrt_actions(state.critics, obs, a_pi)
    actor_loss = float(np.mean(alpha * log_pi - q_pi))
    grads = actor_backward(-g_q_pi / batch_size, np.full(batch_size, alpha / batch_size))
    state.actor_adam.step(state.actor.arrays(), grads)

    mlp.polyak(state.targets, state.critics, tau)
    return {
        "log_prob": log_pi,
        "next_log_prob": log_next,
        "targets": y,
        "critic_loss": critic_loss,
        "actor_loss": actor_loss,
        "entropy": float(-log_pi.mean()),
        "alpha": math.exp(state.log_alpha[0]),
    }
