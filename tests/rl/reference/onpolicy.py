"""A2C's and PPO's updates on plain arrays, with GAE (Schulman et al. 2016) and the two action distributions.

Written from Mnih et al. 2016 (A2C), Schulman et al. 2017 (PPO) and SB3's documented behaviour: time limits
bootstrap from V(final observation) folded into the reward; advantages are standardised with the sample
(n - 1) standard deviation, as torch's `std()` in SB3; PPO's early stop compares
mean((r - 1) - log r) to 1.5 * target_kl before the minibatch's step. Gradients are written out by hand.
"""

from __future__ import annotations

import math

import numpy as np

from .nets import clip_global_norm, mlp_backward, mlp_forward

LOG_2PI = math.log(2.0 * math.pi)


def gae(rewards, values, terminated, truncated, final_values, last_values, gamma, lam):
    """A_t = sum_k (gamma lam)^k delta_{t+k} within an episode, delta_t = r_t + gamma V_{t+1} - V_t, where
    V_{t+1} is 0 after a termination and V(final observation) after a truncation. Inputs (T, N); returns A."""
    rewards, values = np.asarray(rewards, dtype=np.float64), np.asarray(values, dtype=np.float64)
    n_steps, n_envs = rewards.shape
    advantages = np.zeros((n_steps, n_envs))
    for env in range(n_envs):
        following = 0.0  # A_{t+1} of the same episode
        for t in reversed(range(n_steps)):
            if terminated[t, env]:
                next_value, following = 0.0, 0.0
            elif truncated[t, env]:
                next_value, following = float(final_values[t, env]), 0.0
            else:
                next_value = float(last_values[env]) if t == n_steps - 1 else values[t + 1, env]
            delta = rewards[t, env] + gamma * next_value - values[t, env]
            following = delta + gamma * lam * following
            advantages[t, env] = following
    return advantages


def categorical(logits, actions):
    """log pi(a|s), H and their gradients as functions of dL/dlog pi and dL/dH (each (B,)) -> dL/dlogits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    p, rows, actions = np.exp(log_p), np.arange(len(logits)), np.asarray(actions).astype(np.int64).reshape(-1)
    entropy = -(p * log_p).sum(axis=1)
    onehot = np.zeros_like(p)
    onehot[rows, actions] = 1.0

    def backward(g_log_prob, g_entropy):
        return g_log_prob[:, None] * (onehot - p) - g_entropy[:, None] * p * (log_p + entropy[:, None])

    return log_p[rows, actions], entropy, backward


def gaussian(mean, log_std, actions):
    """The diagonal Gaussian with a state-independent log-std; backward -> (dL/dmean, dL/dlog_std)."""
    std = np.exp(log_std)
    z = (np.asarray(actions, dtype=np.float64) - mean) / std
    log_prob = (-0.5 * z * z - log_std - 0.5 * LOG_2PI).sum(axis=1)
    entropy = np.full(len(mean), (log_std + 0.5 + 0.5 * LOG_2PI).sum())

    def backward(g_log_prob, g_entropy):
        return g_log_prob[:, None] * z / std, (g_log_prob[:, None] * (z * z - 1.0)).sum(
            axis=0
        ) + g_entropy.sum()

    return log_prob, entropy, backward


class ActorCriticNets:
    """Actor, critic and (box actions) log-std as float64 arrays, plus their optimizers and activation."""

    def __init__(self, actor, critic, log_std, activation, make_optimizer, actor_lr, critic_lr):
        self.actor, self.critic, self.activation = actor, critic, activation
        self.log_std = None if log_std is None else np.array(log_std, dtype=np.float64)
        actor_params = self.actor_params()
        self.actor_optimizer = make_optimizer(actor_params, actor_lr)
        self.critic_optimizer = make_optimizer(critic, critic_lr)

    def actor_params(self):
        return self.actor if self.log_std is None else [*self.actor, self.log_std]

    def values(self, obs):
        return mlp_forward(self.critic, obs, self.activation)[0][:, 0]

    def evaluate(self, obs, actions):
        """log pi, H, V and a backward (dL/dlog pi, dL/dH, dL/dV) -> the gradients of actor_params + critic."""
        out, actor_inputs = mlp_forward(self.actor, obs, self.activation)
        values, critic_inputs = mlp_forward(self.critic, obs, self.activation)
        if self.log_std is None:
            log_prob, entropy, dist_backward = categorical(out, actions)
        else:
            log_prob, entropy, dist_backward = gaussian(out, self.log_std, actions)

        def backward(g_log_prob, g_entropy, g_values):
            g_dist = dist_backward(g_log_prob, g_entropy)
            g_out, g_log_std = (g_dist, None) if self.log_std is None else g_dist
            grads = mlp_backward(self.actor, actor_inputs, g_out, self.activation)
            grads = grads if g_log_std is None else [*grads, g_log_std]
            return grads + mlp_backward(self.critic, critic_inputs, g_values[:, None], self.activation)

        return log_prob, entropy, values[:, 0], backward

    def step(self, grads, max_grad_norm):
        """Clip the gradient norm over actor and critic together, then step both optimizers."""
        clip_global_norm(grads, max_grad_norm)
        n_actor = len(self.actor_params())
        self.actor_optimizer.step(self.actor_params(), grads[:n_actor])
        self.critic_optimizer.step(self.critic, grads[n_actor:])


def standardised(advantages):
    return (advantages - advantages.mean()) / (advantages.std(ddof=1) + 1e-8)


def a2c_update(nets, batch, *, value_coef, entropy_coef, max_grad_norm, normalize_advantage):
    """One step on the whole rollout: -mean(log pi A) + value_coef mean((V - R)^2) - entropy_coef mean(H)."""
    obs, actions, advantages, returns = batch
    advantages = standardised(advantages) if normalize_advantage else advantages
    log_prob, entropy, values, backward = nets.evaluate(obs, actions)
    n = len(log_prob)
    grads = backward(
        -advantages / n, np.full(n, -entropy_coef / n), value_coef * 2.0 * (values - returns) / n
    )
    nets.step(grads, max_grad_norm)
    return {
        "policy_loss": -np.mean(log_prob * advantages),
        "value_loss": np.mean((values - returns) ** 2),
        "entropy": np.mean(entropy),
    }


def ppo_minibatch(
    nets,
    batch,
    *,
    clip_ratio,
    clip_range_vf,
    value_coef,
    entropy_coef,
    max_grad_norm,
    normalize_advantage,
    target_kl,
):
    """One minibatch of PPO: the KL check (None: stop before stepping), else the clipped losses and a step."""
    obs, actions, old_log_prob, old_values, advantages, returns = batch
    log_prob, entropy, values, backward = nets.evaluate(obs, actions)
    log_ratio = log_prob - old_log_prob
    kl = float(np.mean(np.exp(log_ratio) - 1.0 - log_ratio))
    if target_kl is not None and kl > 1.5 * target_kl:
        return kl, None
    if normalize_advantage and len(advantages) > 1:
        advantages = standardised(advantages)
    n, ratio = len(log_prob), np.exp(log_ratio)
    unclipped, clipped = ratio * advantages, np.clip(ratio, 1 - clip_ratio, 1 + clip_ratio) * advantages
    # d min(rA, clip(r)A)/dlog pi = rA where the unclipped term is the smaller (equal inside the range), else 0.
    g_log_prob = np.where(unclipped <= clipped, -unclipped / n, 0.0)
    if clip_range_vf is None:
        value_loss, g_values = np.mean((values - returns) ** 2), 2.0 * (values - returns) / n
    else:  # SB3's form: the clipped prediction V_old + clip(V - V_old, -c, c) alone is regressed on R
        inside = np.abs(values - old_values) < clip_range_vf
        near = old_values + np.clip(values - old_values, -clip_range_vf, clip_range_vf)
        value_loss = np.mean((near - returns) ** 2)
        g_values = 2.0 * (near - returns) * inside / n
    grads = backward(g_log_prob, np.full(n, -entropy_coef / n), value_coef * g_values)
    nets.step(grads, max_grad_norm)
    return kl, {
        "policy_loss": -np.mean(np.minimum(unclipped, clipped)),
        "value_loss": value_loss,
        "entropy": np.mean(entropy),
        "clip_fraction": np.mean(np.abs(ratio - 1.0) > clip_ratio),
    }


def ppo_update(nets, rollout, permutations, *, n_epochs, batch_size, target_kl, **minibatch_settings):
    """n_epochs passes over the flat rollout (obs, actions, old_log_prob, old_values, advantages, returns), each
    in the order `permutations()` draws, stopping every pass at the first minibatch over 1.5 * target_kl.

    Returns the means of the per-minibatch figures (kl over every minibatch checked), the full epochs, and per
    gradient step its losses and every parameter after it (so a twin test can name the first step that differs).
    """
    history = {key: [] for key in ("policy_loss", "value_loss", "entropy", "clip_fraction", "approx_kl")}
    steps, epochs = [], 0
    for _ in range(n_epochs):
        order = permutations(len(rollout[0]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            kl, figures = ppo_minibatch(
                nets, [a[idx] for a in rollout], target_kl=target_kl, **minibatch_settings
            )
            history["approx_kl"].append(kl)
            if figures is None:
                return (
                    {key: np.mean(series) if series else 0.0 for key, series in history.items()},
                    epochs,
                    steps,
                )
            for key, value in figures.items():
                history[key].append(value)
            steps.append({**figures, "parameters": [p.copy() for p in [*nets.actor_params(), *nets.critic]]})
        epochs += 1
    return {key: np.mean(series) for key, series in history.items()}, epochs, steps
