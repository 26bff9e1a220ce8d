"""TD3's gradient step (Fujimoto et al. 2018) and DDPG's (Lillicrap et al. 2016) as its special case: one
critic, no target smoothing (`noise=None`) and `policy_delay=1`."""

from __future__ import annotations

import dataclasses

import numpy as np

from . import mlp


@dataclasses.dataclass
class TD3State:
    actor: list  # tanh-output MLP
    actor_target: list
    critics: list  # one for DDPG, two for TD3
    targets: list
    actor_adam: mlp.Adam
    critic_adam: mlp.Adam
    steps: int = 0  # critic steps so far


def td3_step(state: TD3State, batch, noise, *, gamma, tau, policy_delay, sigma=0.2, clip=0.5):
    """One gradient step on `state` (in place). `noise` (B, A) is the standard normal draw of the target policy
    smoothing, or None (DDPG). Returns what a twin test compares; actor_loss is None on a delayed step."""
    obs, actions, rewards, next_obs, terminated = (np.asarray(x, dtype=np.float64) for x in batch[:5])
    a_next, _ = mlp.forward(state.actor_target, next_obs, out_tanh=True)
    if noise is not None:
        a_next = np.clip(a_next + np.clip(sigma * noise, -clip, clip), -1.0, 1.0)
    q_next, _ = mlp.critics_forward(state.targets, next_obs, a_next)
    y = rewards + gamma * (1.0 - terminated) * q_next.min(axis=0)  # clipped double Q (K = 2)
    critic_loss = mlp.regress_critics(state.critics, state.critic_adam, obs, actions, y)

    state.steps += 1
    actor_loss = None
    if state.steps % policy_delay == 0:
        # Deterministic policy gradient through Q_1 alone, at the updated critic.
        a, cache = mlp.forward(state.actor, obs, out_tanh=True)
        q1, g_a = mlp.grad_wrt_actions(state.critics[:1], obs, a)
        actor_loss = float(-q1.mean())
        grads, _ = mlp.backward(state.actor, cache, -g_a / len(obs))
        state.actor_adam.step(mlp.flat(state.actor), mlp.flat(grads))
        mlp.polyak(state.targets, state.critics, tau)
        mlp.polyak(state.actor_target, state.actor, tau)
    return {"targets": y, "next_actions": a_next, "critic_loss": critic_loss, "actor_loss": actor_loss}
