"""Twin tests: our SAC, TD3 and DDPG updates against an independent float64 reference (`tests/rl/reference`),
update by update, on HalfCheetah's shapes (17-D observations, 6-D actions, batches of 256).

Both sides start from our initial weights and see the same minibatches and the same noise draws: `buffer.sample`
returns pre-drawn batches and `agent.rng` is replaced by a script of standard normal draws (any other draw fails).
After every update each intermediate and every parameter is compared, in the order the update computes them, so
a failure names the first quantity (and update) where our update leaves the papers' and SB3's equations.

Tolerances: ours computes in float32 (eps ~ 1.2e-7), the reference in float64. Over 20 updates the largest
differences seen were 5e-7 in a parameter (Adam's steps are ~lr = 3e-4 to 1e-3, so a real change of the update
moves a parameter by orders of magnitude more) and 2e-6 in a log-probability (a sum over 6 dimensions of O(1-10)
terms). Parameters: atol 2e-6, rtol 1e-5; log-probabilities, targets, losses and alpha: atol 1e-5, rtol 1e-5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference import mlp
from reference.sac import Actor, SACState, policy_sample, sac_step
from reference.td3 import TD3State, td3_step

from neurenix.rl import DDPG, SAC, TD3
from neurenix.rl.algorithms import ddpg as ddpg_module
from neurenix.rl.algorithms import sac as sac_module
from neurenix.rl.algorithms import td3 as td3_module
from neurenix.rl.buffers import ReplayBatch
from neurenix.rl.distributions import SquashedGaussian

OBS_DIM, ACTION_DIM, BATCH = 17, 6, 256
OBS = {"type": "box", "shape": (OBS_DIM,), "low": -10.0, "high": 10.0}
ACTIONS = {"type": "box", "shape": (ACTION_DIM,), "low": -1.0, "high": 1.0}
# Parameters get a wider tolerance than losses: Adam's eps (1e-8) turns a gradient's float32 rounding into a step
# difference of lr * rounding / 1e-8 where the gradient is near zero. Seen: an actor weight whose gradient is
# -2.92e-9 here and -3.06e-9 in float64 moves 2.5e-6 apart in the first update (lr 3e-4), while every gradient
# agrees to 4e-8. A wrong update moves parameters by ~lr, two orders above this.
RTOL, ATOL, PARAM_ATOL = 1e-5, 1e-5, 5e-6


class ScriptedNormals:
    """Stands in for `agent.rng` during an update: hands out the queued standard normal draws, in order."""

    def __init__(self) -> None:
        self.queue: list[np.ndarray] = []

    def standard_normal(self, size, dtype=np.float64):
        assert self.queue, "our update drew more normals than the reference uses"
        draw = self.queue.pop(0)
        assert tuple(np.atleast_1d(size)) == draw.shape, f"drew shape {size}, the reference uses {draw.shape}"
        return draw.astype(dtype)


def make_agent(cls, hidden, **kwargs):
    """An agent with a replay buffer of random transitions whose minibatches and noise the test controls."""
    agent = cls(
        OBS,
        ACTIONS,
        seed=0,
        actor_hidden_dims=hidden,
        critic_hidden_dims=hidden,
        batch_size=BATCH,
        buffer_size=2048,
        learning_starts=0,
        **kwargs,
    )
    rng = np.random.default_rng(1)
    n = agent.buffer_size
    agent.buffer.add(
        rng.normal(size=(n, OBS_DIM)).astype(np.float32),
        rng.uniform(-1, 1, (n, ACTION_DIM)).astype(np.float32),
        rng.normal(size=n).astype(np.float32),
        rng.normal(size=(n, OBS_DIM)).astype(np.float32),
        (rng.random(n) < 0.1).astype(np.float32),
    )
    return agent, rng


def draw_batch(agent, rng) -> ReplayBatch:
    b, idx = agent.buffer, rng.integers(0, agent.buffer.size, BATCH)
    return ReplayBatch(
        b.observations[idx], b.actions[idx], b.rewards[idx], b.next_observations[idx], b.terminated[idx]
    )


def normals(rng) -> np.ndarray:
    return rng.standard_normal((BATCH, ACTION_DIM)).astype(np.float32)


def layers_of(module) -> list:
    """[W (in, out), b] per linear layer of our Linear-based module, in float64."""
    arrays = [p.numpy().astype(np.float64) for p in module.parameters()]
    return [[w.T.copy(), b.copy()] for w, b in zip(arrays[::2], arrays[1::2])]


def critics_of(ensemble) -> list:
    """One reference layer list per member of our QEnsemble."""
    arrays = [p.numpy().astype(np.float64) for p in ensemble.parameters()]
    pairs = list(zip(arrays[::2], arrays[1::2]))
    return [[[w[k].copy(), b[k, 0].copy()] for w, b in pairs] for k in range(len(arrays[0]))]


def in_our_layout(module, ref_arrays: list) -> dict:
    """The reference's arrays under our parameter names and shapes."""
    out = {}
    for (name, p), r in zip(module.named_parameters(), ref_arrays):
        out[name] = r.T if p.numpy().ndim == 2 else r
    return out


def critics_in_our_layout(ensemble, critics: list) -> dict:
    out, names = {}, [name for name, _ in ensemble.named_parameters()]
    for j in range(len(critics[0])):
        out[names[2 * j]] = np.stack([c[j][0] for c in critics])
        out[names[2 * j + 1]] = np.stack([c[j][1][None] for c in critics])
    return out


def check(update: int, name: str, ours, ref, atol: float = ATOL, rtol: float = RTOL) -> None:
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"update {update}: {name} has shape {ours.shape}, reference {ref.shape}"
    bad = ~np.isclose(ours, ref, rtol=rtol, atol=atol)
    if bad.any():
        i = np.unravel_index(np.argmax(np.abs(ours - ref) * bad), ours.shape)
        raise AssertionError(
            f"update {update}: {name} differs first ({bad.sum()} of {bad.size} entries; worst at {i}: "
            f"ours {ours[i]:.8g}, reference {ref[i]:.8g}, |diff| {abs(ours[i] - ref[i]):.3g})"
        )


def check_params(update, label, module, expected: dict) -> None:
    for name, p in module.named_parameters():
        check(update, f"{label}.{name}", p.numpy(), expected[name], atol=PARAM_ATOL)


def record(monkeypatch, module, name: str) -> list:
    """Wrap `module.name` (a function or a class's method) so that every value it returns is kept in the list."""
    seen, original = [], getattr(module, name)

    def wrapper(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.append(out)
        return out

    monkeypatch.setattr(module, name, wrapper)
    return seen


def controlled(monkeypatch, agent, module):
    """Route the agent's minibatches and normals through the test; record its TD targets."""
    batches, script = [], ScriptedNormals()
    monkeypatch.setattr(agent.buffer, "sample", lambda batch_size: batches.pop(0))
    agent.rng = script
    return batches, script, record(monkeypatch, module, "td_target")


@pytest.mark.parametrize(
    "hidden, updates, auto_alpha", [([32, 32], 20, True), ([256, 256], 5, True), ([32, 32], 10, False)]
)
def test_sac_update_matches_the_reference(monkeypatch, hidden, updates, auto_alpha):
    agent, rng = make_agent(SAC, hidden, auto_alpha=auto_alpha)
    layers = layers_of(agent.actor)
    actor = Actor(layers[:-2], *layers[-2:])
    critics = critics_of(agent.critic)
    log_alpha = agent.temperature.log_alpha.numpy().astype(np.float64)
    state = SACState(
        actor,
        critics,
        critics_of(agent.critic_target),
        log_alpha,
        mlp.Adam(actor.arrays(), agent.actor_learning_rate),
        mlp.Adam(mlp.flat(critics), agent.critic_learning_rate),
        mlp.Adam([log_alpha], agent.alpha_learning_rate) if auto_alpha else None,
    )
    batches, script, targets = controlled(monkeypatch, agent, sac_module)
    samples = record(monkeypatch, SquashedGaussian, "rsample")  # (a, log pi) for s, then for s'
    for u in range(1, updates + 1):
        batch, noise_pi, noise_next = draw_batch(agent, rng), normals(rng), normals(rng)
        batches.append(batch)
        script.queue += [noise_pi, noise_next]
        samples.clear(), targets.clear()
        losses = agent.update()
        ref = sac_step(
            state,
            batch,
            noise_pi,
            noise_next,
            gamma=agent.gamma,
            tau=agent.tau,
            target_entropy=-float(ACTION_DIM),
        )
        assert not script.queue, f"update {u}: our update used fewer normals than the reference"
        check(u, "log_prob(a|s)", samples[0][1].numpy(), ref["log_prob"])
        check(u, "log_alpha", agent.temperature.log_alpha.numpy(), state.log_alpha, atol=PARAM_ATOL)
        check(u, "log_prob(a'|s')", samples[1][1].numpy(), ref["next_log_prob"])
        check(u, "td_target", targets[0], ref["targets"])
        for key in ("critic_loss", "actor_loss", "entropy", "alpha"):
            check(u, key, losses[key], ref[key])
        check_params(u, "actor", agent.actor, in_our_layout(agent.actor, state.actor.arrays()))
        check_params(u, "critic", agent.critic, critics_in_our_layout(agent.critic, state.critics))
        expected = critics_in_our_layout(agent.critic_target, state.targets)
        check_params(u, "critic_target", agent.critic_target, expected)


def td3_state(agent) -> TD3State:
    actor, critics = layers_of(agent.actor), critics_of(agent.critic)
    return TD3State(
        actor,
        layers_of(agent.actor_target),
        critics,
        critics_of(agent.critic_target),
        mlp.Adam(mlp.flat(actor), agent.actor_learning_rate),
        mlp.Adam(mlp.flat(critics), agent.critic_learning_rate),
    )


@pytest.mark.parametrize("cls, gradient_steps", [(TD3, 1), (TD3, 3), (DDPG, 1)])
def test_td3_and_ddpg_updates_match_the_reference(monkeypatch, cls, gradient_steps):
    """gradient_steps=3 with policy_delay=2 puts actor steps inside and across update() calls."""
    agent, rng = make_agent(cls, [32, 32], gradient_steps=gradient_steps)
    state = td3_state(agent)
    twin = cls is TD3
    batches, script, targets = controlled(monkeypatch, agent, td3_module if twin else ddpg_module)
    settings = dict(gamma=agent.gamma, tau=agent.tau, policy_delay=agent.policy_delay if twin else 1)
    if twin:
        settings.update(sigma=agent.target_policy_noise, clip=agent.target_noise_clip)
    for u in range(1, 18 // gradient_steps + 1):
        inputs = [(draw_batch(agent, rng), normals(rng) if twin else None) for _ in range(gradient_steps)]
        batches += [batch for batch, _ in inputs]
        script.queue += [noise for _, noise in inputs if noise is not None]
        targets.clear()
        losses = agent.update()
        refs = [td3_step(state, batch, noise, **settings) for batch, noise in inputs]
        assert not script.queue, f"update {u}: our update used fewer normals than the reference"
        for step, ref in enumerate(refs, 1):
            check(u, f"td_target of gradient step {step}", targets[step - 1], ref["targets"])
        check(u, "critic_loss", losses["critic_loss"], np.mean([ref["critic_loss"] for ref in refs]))
        actor_losses = [ref["actor_loss"] for ref in refs if ref["actor_loss"] is not None]
        assert ("actor_loss" in losses) == bool(actor_losses), (
            f"update {u}: actor step (policy_delay) differs"
        )
        if actor_losses:
            check(u, "actor_loss", losses["actor_loss"], np.mean(actor_losses))
        check_params(u, "critic", agent.critic, critics_in_our_layout(agent.critic, state.critics))
        check_params(u, "actor", agent.actor, in_our_layout(agent.actor, mlp.flat(state.actor)))
        expected = critics_in_our_layout(agent.critic_target, state.targets)
        check_params(u, "critic_target", agent.critic_target, expected)
        expected = in_our_layout(agent.actor_target, mlp.flat(state.actor_target))
        check_params(u, "actor_target", agent.actor_target, expected)


def test_saturated_tanh_correction_is_sb3s_not_the_exact_one():
    """Where tanh saturates (the mean head scaled 100x: median |u| ~ 8), our log pi and actor gradient are SB3's
    log(1 - tanh(u)^2 + 1e-6), not the exact log(1 - tanh(u)^2): the epsilon caps the penalty at 13.8 nats per
    dimension, so log pi is smaller, and its derivative in u vanishes, so the entropy term stops pulling a
    saturated mean back (why the library took SB3's form; numbers printed with -s). Seen: 51% of dimensions past the cap; mean log pi 99.4 exact vs 51.7 SB3 (largest gap 148 nats); the
    actor loss's gradient norm on the mean head 0.563 vs 0.170 (cosine 0.79), that of mean log pi 2.81 vs 0.85."""
    agent, rng = make_agent(SAC, [32, 32])
    for p in (agent.actor.mean.weight, agent.actor.mean.bias):
        p.numpy()[...] *= 100.0
    obs, noise = rng.normal(size=(BATCH, OBS_DIM)).astype(np.float32), normals(rng)
    script, alpha = ScriptedNormals(), agent.temperature.alpha
    script.queue.append(noise)
    actions, log_prob = agent.actor(obs).rsample(script)
    q_pi = agent.critic(obs, actions, frozen=True).min(dim=0).values
    (log_prob * alpha - q_pi).mean().backward()
    ours_grad = agent.actor.mean.weight.grad.numpy()

    layers = layers_of(agent.actor)
    actor, critics = Actor(layers[:-2], *layers[-2:]), critics_of(agent.critic)
    results = {}
    for form, sb3 in (("exact", False), ("sb3", True)):
        a, lp, u, backward = policy_sample(actor, obs, noise, sb3_epsilon=sb3)
        _, g_q = mlp.grad_wrt_actions(critics, obs, a)
        grads = backward(-g_q / BATCH, np.full(BATCH, alpha / BATCH))
        entropy_grads = backward(np.zeros_like(a), np.full(BATCH, 1.0 / BATCH))  # d mean(log pi)
        results[form] = lp, grads[-4].T, entropy_grads[-4]  # the mean head's weight; ours is (out, in)
    (lp_exact, g_exact, h_exact), (lp_sb3, g_sb3, h_sb3) = results["exact"], results["sb3"]
    check(0, "saturated log_prob", log_prob.numpy(), lp_sb3, rtol=0.05, atol=0.5)
    check(0, "saturated actor gradient (mean head)", ours_grad, g_sb3, rtol=0.05, atol=1e-4)

    capped = np.mean(np.abs(u) > 0.5 * math.log(4e6))  # where 1 - tanh^2 < 1e-6, roughly
    cosine = float(np.sum(g_exact * g_sb3) / (np.linalg.norm(g_exact) * np.linalg.norm(g_sb3)))
    print(
        f"\nsaturation: median |u| {np.median(np.abs(u)):.2f}, {capped:.1%} of dimensions past the cap; "
        f"mean log pi exact {lp_exact.mean():.2f} vs sb3 {lp_sb3.mean():.2f} (max gap "
        f"{np.max(lp_exact - lp_sb3):.1f} nats); |d actor_loss/d W_mean| exact {np.linalg.norm(g_exact):.4g}"
        f" vs sb3 {np.linalg.norm(g_sb3):.4g}, cosine {cosine:.3f}; |d mean log pi/d W_mean| exact "
        f"{np.linalg.norm(h_exact):.4g} vs sb3 {np.linalg.norm(h_sb3):.4g}"
    )
    assert np.all(lp_exact >= lp_sb3 - 1e-9) and np.max(lp_exact - lp_sb3) > 100.0
    assert np.linalg.norm(g_exact) > 2.0 * np.linalg.norm(g_sb3)
    assert np.linalg.norm(h_exact) > 2.0 * np.linalg.norm(h_sb3)
