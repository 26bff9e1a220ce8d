"""Image observations for DDPG, TD3 and SAC, as SB3's CnnPolicy with share_features_extractor=False: the actor
has its own encoder, trained by the actor loss; the critic has one encoder read by all its Q-networks, trained by
the critic loss only; the targets are whole copies, encoders included, Polyak-averaged. Pixels stay uint8 up to
each encoder's ScaleImage, and a checkpoint round trip acts and trains on identically."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from neurenix import nn
from neurenix.checkpoint import flatten_state
from neurenix.nn import functional as F
from neurenix.rl import DDPG, SAC, TD3
from neurenix.rl.encoders import CNNEncoder, EncodedNetwork
from neurenix.rl.environment import VecEnv
from neurenix.rl.registry import load_agent
from neurenix.tensor import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pixel_envs import BrightnessTarget  # noqa: E402
from test_pixels import _record_first_conv  # noqa: E402

Box = gym.spaces.Box
IMAGE = Box(0, 255, (3, 6, 6), np.uint8)
ACTIONS = Box(-2.0, 2.0, (2,), np.float32)
SMALL = {
    "encoder": "small_cnn",
    "encoder_features": 8,
    "actor_hidden_dims": [8],
    "critic_hidden_dims": [8],
    "learning_starts": 16,
    "batch_size": 8,
}
ALGORITHMS = [DDPG, TD3, SAC]


def build(cls, **overrides):
    kwargs = {**SMALL, **({"policy_delay": 1} if cls is TD3 else {}), **overrides}
    return cls(IMAGE, ACTIONS, seed=0, **kwargs)


def pixels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *IMAGE.shape)).astype(np.uint8)


def encoders(agent) -> dict[str, CNNEncoder]:
    names = ("actor", "actor_target", "critic", "critic_target")
    return {name: getattr(agent, name).encoder for name in names if hasattr(agent, name)}


def ids(module: nn.Module) -> set[int]:
    return {id(p) for p in module.parameters()}


def snapshot(module: nn.Module) -> dict[str, np.ndarray]:
    return {name: p.numpy().copy() for name, p in module.named_parameters()}


def fill(agent, n: int = 32) -> None:
    """n random transitions of raw uint8 images in the replay buffer."""
    rng = np.random.default_rng(1)
    obs = pixels(n + 1, seed=2)
    for i in range(n):
        agent.buffer.add(
            obs[i : i + 1],
            rng.uniform(-1.0, 1.0, (1, 2)).astype(np.float32),
            rng.standard_normal(1).astype(np.float32),
            obs[i + 1 : i + 2],
            np.zeros(1, bool),
            None,
        )


def actor_loss(agent, obs: np.ndarray) -> Tensor:
    """The algorithm's actor loss on a batch, through the critic as its update computes it."""
    if isinstance(agent, SAC):
        actions, log_prob = agent.actor(obs).rsample(agent.rng)
        q = agent.critic(obs, actions, frozen=True).min(dim=0).values
        return (log_prob * agent.temperature.alpha - q).mean()
    return -agent.critic(obs, agent.actor(Tensor(obs)), frozen=True).mean()


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_actor_critic_and_targets_each_have_their_own_encoder(cls):
    agent = build(cls)
    found = encoders(agent)
    assert len(found) == (3 if cls is SAC else 4)  # SAC has no target actor
    assert all(isinstance(encoder, CNNEncoder) for encoder in found.values())
    for a in found:
        for b in found:
            if a < b:
                assert not ids(found[a]) & ids(found[b]), f"{a} and {b} share encoder parameters"
    if cls is not SAC:
        assert isinstance(agent.actor, EncodedNetwork) and isinstance(agent.actor_target, EncodedNetwork)
    # Each target starts as an exact copy of its online network, encoder included.
    pairs = [("critic", "critic_target")] + ([] if cls is SAC else [("actor", "actor_target")])
    for online, target in pairs:
        left, right = snapshot(getattr(agent, online)), snapshot(getattr(agent, target))
        assert left.keys() == right.keys() and any(key.startswith("encoder.") for key in left)
        for key in left:
            np.testing.assert_array_equal(left[key], right[key], err_msg=key)


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_each_optimizer_steps_its_own_encoder_only(cls):
    agent = build(cls)
    actor_side = {id(p) for p in agent.actor_optimizer.params}
    critic_side = {id(p) for p in agent.critic_optimizer.params}
    assert ids(agent.actor.encoder) <= actor_side and not ids(agent.actor.encoder) & critic_side
    assert ids(agent.critic.encoder) <= critic_side and not ids(agent.critic.encoder) & actor_side


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_the_actor_loss_reaches_the_actor_encoder_and_not_the_critic_encoder(cls):
    agent = build(cls)
    actor_loss(agent, pixels(6)).backward()
    grads = [p.grad for p in agent.actor.encoder.parameters()]
    assert all(g is not None for g in grads) and sum(np.abs(g.numpy()).sum() for g in grads) > 0
    assert all(p.grad is None for p in agent.critic.parameters()), "the actor loss leaves the critic alone"


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_the_critic_loss_reaches_the_critic_encoder_and_not_the_actor(cls):
    agent = build(cls)
    obs = pixels(6)
    actions = np.random.default_rng(3).uniform(-1.0, 1.0, (6, 2)).astype(np.float32)
    F.mse_loss(agent.critic(obs, actions), np.ones(6, np.float32)).backward()
    grads = [p.grad for p in agent.critic.encoder.parameters()]
    assert all(g is not None for g in grads) and sum(np.abs(g.numpy()).sum() for g in grads) > 0
    assert all(p.grad is None for p in agent.actor.parameters())


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_an_actor_step_leaves_the_critic_encoder_and_a_critic_step_the_actor_encoder(cls, monkeypatch):
    """A whole update with one optimizer's step disabled: the other's network moves, and the disabled one's
    encoder stays bit for bit (nothing else writes it: not the other optimizer, not the Polyak update)."""
    for frozen, moving in (("critic", "actor"), ("actor", "critic")):
        agent = build(cls)
        fill(agent)
        monkeypatch.setattr(getattr(agent, f"{frozen}_optimizer"), "step", lambda: None)
        before = {name: snapshot(getattr(agent, name).encoder) for name in (frozen, moving)}
        agent.update()
        after = {name: snapshot(getattr(agent, name).encoder) for name in (frozen, moving)}
        for key in before[frozen]:
            np.testing.assert_array_equal(before[frozen][key], after[frozen][key], err_msg=f"{frozen}.{key}")
        assert any(not np.array_equal(before[moving][k], after[moving][k]) for k in before[moving]), moving


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_the_polyak_update_moves_the_target_encoders(cls):
    agent = build(cls, tau=0.5)
    fill(agent)
    agent.update()
    for online, target in [("critic", "critic_target")] + ([] if cls is SAC else [("actor", "actor_target")]):
        mine, theirs = snapshot(getattr(agent, online).encoder), snapshot(getattr(agent, target).encoder)
        assert any(not np.array_equal(mine[key], theirs[key]) for key in mine), "a target lags its network"
    # tau = 1 copies: the targets' encoders are then their networks' own values.
    agent = build(cls, tau=1.0)
    fill(agent)
    agent.update()
    mine, theirs = snapshot(agent.critic.encoder), snapshot(agent.critic_target.encoder)
    for key in mine:
        np.testing.assert_array_equal(mine[key], theirs[key], err_msg=key)


def assert_same_state(a, b) -> None:
    (left, left_scalars), (right, right_scalars) = (
        flatten_state(a.state_dict()),
        flatten_state(b.state_dict()),
    )
    assert left.keys() == right.keys() and left_scalars == right_scalars
    assert {"actor/encoder.cnn.0.weight", "critic/encoder.cnn.0.weight"} <= left.keys(), "encoders are saved"
    for key in left:
        np.testing.assert_array_equal(np.asarray(left[key]), np.asarray(right[key]), err_msg=key)


def _float64(module: nn.Module) -> None:
    for inner in module.modules():
        for name, p in list(inner._parameters.items()):
            setattr(inner, name, nn.Parameter(p.numpy().astype(np.float64)))


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_the_critic_loss_gradient_of_a_conv_weight_matches_finite_differences(cls):
    """The critic's encoder feeds every Q-network (TD3's and SAC's two): its gradient is the sum of theirs."""
    agent = build(cls)
    critic = agent.critic
    _float64(critic)
    rng = np.random.default_rng(1)
    obs, actions, targets = pixels(5), rng.uniform(-1.0, 1.0, (5, 2)), rng.standard_normal(5)

    def loss() -> Tensor:
        return F.mse_loss(critic(obs, actions), targets)

    loss().backward()
    weight = critic.encoder.cnn[0].weight
    analytic, data = weight.grad.numpy(), weight.numpy()
    assert analytic.dtype == np.float64 and np.abs(analytic).sum() > 0
    for idx in list(np.ndindex(data.shape))[::5]:
        kept = data[idx]
        data[idx] = kept + 1e-6
        hi = loss().item()
        data[idx] = kept - 1e-6
        lo = loss().item()
        data[idx] = kept
        np.testing.assert_allclose(analytic[idx], (hi - lo) / 2e-6, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_pixels_reach_every_encoder_scaled_and_nowhere_unscaled(cls):
    env = VecEnv([BrightnessTarget()], seed=0)
    agent = cls(env.observation_space, env.action_space, seed=0, **SMALL)
    seen = {name: _record_first_conv(encoder) for name, encoder in encoders(agent).items()}
    raw: list[np.dtype] = []  # what each ScaleImage is given: the stored bytes themselves

    def recording(scale):
        def forward(x):
            raw.append((x.numpy() if isinstance(x, Tensor) else np.asarray(x)).dtype)
            return scale(x)

        return forward

    for encoder in encoders(agent).values():
        encoder.scale.forward = recording(encoder.scale.forward)
    full = np.full((1, 1, 8, 8), 255, np.uint8)
    agent.predict(full, deterministic=True)
    assert seen["actor"][-1].dtype == np.float32 and np.all(seen["actor"][-1] == 1.0), "255 arrives as 1.0"
    agent.train(env, total_steps=48)
    assert agent.updates > 0
    assert agent.buffer.sample(4).observations.dtype == np.uint8, "the replay buffer serves raw bytes"
    assert raw and set(raw) == {np.dtype(np.uint8)}, "uint8 up to every encoder's ScaleImage"
    for name, inputs in seen.items():
        assert inputs, f"{name}'s encoder was used"
        assert all(x.dtype == np.float32 for x in inputs)
        assert max(float(x.max()) for x in inputs) <= 1.0, f"{name} saw unscaled pixels"
        assert max(float(x.max()) for x in inputs[1:]) > 0.5, f"{name} saw real images"


@pytest.mark.parametrize("cls", ALGORITHMS)
def test_an_image_agent_round_trips_through_a_checkpoint(cls, tmp_path):
    """The loaded agent acts as the saved one and trains on to the same bits (replay buffer included)."""

    def env():
        return VecEnv([BrightnessTarget()], seed=5)

    agent = cls(env().observation_space, env().action_space, seed=0, **SMALL)
    agent.train(env(), total_steps=40)
    assert agent.updates > 0
    agent.save(tmp_path / "ckpt", include_replay_buffer=True)
    loaded = load_agent(tmp_path / "ckpt")
    assert type(loaded) is cls and loaded.hyperparameters() == agent.hyperparameters()
    assert loaded.encoder == "small_cnn" and loaded.encoder_features == 8
    assert_same_state(agent, loaded)
    for name, encoder in encoders(loaded).items():
        assert isinstance(encoder, CNNEncoder), name
    obs = np.random.default_rng(3).integers(0, 256, (5, 1, 8, 8)).astype(np.uint8)
    np.testing.assert_array_equal(
        agent.predict(obs, deterministic=True), loaded.predict(obs, deterministic=True)
    )
    agent.train(env(), total_steps=24)
    loaded.train(env(), total_steps=24)
    assert_same_state(agent, loaded)
