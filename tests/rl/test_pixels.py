"""Image observations: the front-end keeps pixels uint8 and channels-first, the CNN encoders (`rl.encoders`)
scale them as their first op and pass gradients, DQN and A2C/PPO build on them (PPO's heads sharing one
encoder), buffers store raw bytes, and a CNN agent survives a checkpoint round trip. DDPG, TD3 and SAC's own
encoders (actor's and critic's apart) are tested in test_pixels_offpolicy.py."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from neurenix import nn
from neurenix.errors import ConfigError
from neurenix.rl import A2C, DQN, PPO, SAC
from neurenix.rl.buffers import ReplayBuffer, RolloutBuffer
from neurenix.rl.encoders import CNNEncoder, EncodedNetwork, FlatImage, ScaleImage, build_encoder
from neurenix.rl.environment import VecEnv
from neurenix.rl.observations import ObservationFrontEnd
from neurenix.rl.registry import load_agent
from neurenix.tensor import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pixel_envs import BrightnessTarget, GridGoal  # noqa: E402

Box, Discrete = gym.spaces.Box, gym.spaces.Discrete
GRID = Box(0, 255, (5, 5, 3), np.uint8)  # channels last, as MiniGrid's ImgObsWrapper
ATARI = Box(0, 255, (4, 84, 84), np.uint8)  # channels first, a frame stack


def test_the_front_end_keeps_pixels_uint8_and_transposes_channels_last_once():
    front = ObservationFrontEnd(GRID, images=True)
    assert front.image_shape == (3, 5, 5)
    batch = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 5, 3)).astype(np.uint8)  # (T, N, H, W, C)
    encoded = front.encode(batch)
    assert encoded.dtype == np.uint8 and encoded.shape == (2, 4, 3, 5, 5)
    np.testing.assert_array_equal(encoded, batch.transpose(0, 1, 4, 2, 3))
    assert np.shares_memory(encoded, batch), "the transpose is a view, not a copy"
    first = ObservationFrontEnd(ATARI, images=True)
    frames = np.zeros((3, 4, 84, 84), np.uint8)
    assert first.image_shape == (4, 84, 84) and first.encode(frames) is frames


def test_an_image_is_refused_where_no_encoder_reads_it():
    class NoImages(SAC):  # every built-in algorithm reads images; one that declares it does not is refused
        takes_images = False

    with pytest.raises(ConfigError, match="looks like an image.*not yet supported.*DQN, A2C, PPO, DDPG"):
        NoImages(Box(0, 255, (3, 8, 8), np.uint8), Box(-1.0, 1.0, (2,), np.float32))
    inside = gym.spaces.Dict({"camera": GRID, "speed": Box(-1.0, 1.0, (1,), np.float32)})
    with pytest.raises(ConfigError, match="Images inside a Dict or Tuple are not yet supported"):
        ObservationFrontEnd(inside, images=True)


def test_auto_picks_nature_cnn_for_large_images_small_cnn_for_grids_and_mlp_for_vectors():
    assert isinstance(DQN(ATARI, Discrete(3)).q_network.encoder, CNNEncoder)
    assert DQN(ATARI, Discrete(3)).q_network.encoder.features == 512
    small = PPO(GRID, Discrete(4)).features_extractor
    assert isinstance(small, CNNEncoder) and small.features == 128
    assert [p.shape for n, p in small.named_parameters() if n.endswith("weight")] == [
        (16, 3, 2, 2),
        (32, 16, 2, 2),
        (64, 32, 2, 2),
        (128, 64 * 2 * 2),
    ]
    assert PPO(Box(-1.0, 1.0, (4,), np.float32), Discrete(2)).features_extractor is None
    flat = DQN(GRID, Discrete(4), encoder="mlp", hidden_dims=[8]).q_network
    assert isinstance(flat.encoder, FlatImage) and flat.head[0].weight.shape == (8, 75)
    nature = [p.shape for n, p in DQN(ATARI, Discrete(3)).q_network.encoder.named_parameters()]
    assert nature[::2] == [(32, 4, 8, 8), (64, 32, 4, 4), (64, 64, 3, 3), (512, 64 * 7 * 7)]


def test_a_cnn_asked_for_where_it_does_not_fit_is_a_config_error_at_encoder():
    with pytest.raises(ConfigError, match="at least 36x36") as info:
        DQN(GRID, Discrete(4), encoder="nature_cnn")
    assert info.value.key == "encoder"
    with pytest.raises(ConfigError, match="reads images") as info:
        PPO(Box(-1.0, 1.0, (4,), np.float32), Discrete(2), encoder="small_cnn")
    assert info.value.key == "encoder"
    with pytest.raises(ConfigError, match="encoder must be one of") as info:
        DQN(GRID, Discrete(4), encoder="bogus")
    assert info.value.key == "encoder"


def _float64(encoder: nn.Module) -> nn.Module:
    """The encoder with its parameters as float64 copies, for finite differences."""
    for module in encoder.modules():
        for name in ("weight", "bias"):
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                setattr(module, name, nn.Parameter(getattr(module, name).numpy().astype(np.float64)))
    return encoder


@pytest.mark.parametrize(
    "convolutions", [((4, 2, 1), (6, 2, 1)), ((4, 3, 2), (5, 2, 1))], ids=["small", "strided"]
)
def test_cnn_encoder_gradients_match_finite_differences(convolutions):
    rng = np.random.default_rng(0)
    encoder = _float64(CNNEncoder((3, 5, 5), convolutions, 6, rng=rng))
    pixels = rng.integers(0, 256, (2, 3, 5, 5)).astype(np.float64)
    weight = rng.standard_normal((2, 6))

    def objective() -> Tensor:
        return (encoder(pixels) * Tensor(weight)).sum()

    params = encoder.parameters()
    objective().backward()
    for p in params:
        analytic, data = p.grad.numpy(), p.numpy()
        assert np.abs(analytic).sum() > 0, "every parameter gets a gradient"
        for idx in list(np.ndindex(data.shape))[:: max(1, data.size // 40)]:
            kept = data[idx]
            data[idx] = kept + 1e-6
            hi = objective().item()
            data[idx] = kept - 1e-6
            lo = objective().item()
            data[idx] = kept
            np.testing.assert_allclose(analytic[idx], (hi - lo) / 2e-6, rtol=1e-5, atol=1e-7)


def _record_first_conv(encoder: CNNEncoder) -> list[np.ndarray]:
    """What the first convolution is given, call by call."""
    seen: list[np.ndarray] = []
    conv = encoder.cnn[0]
    original = conv.activated  # the Sequential's fused conv + ReLU step

    def activated(x, activation):
        seen.append(x.numpy().copy())
        return original(x, activation)

    conv.activated = activated
    return seen


def test_pixels_reach_the_first_convolution_scaled_and_nowhere_unscaled():
    agent = DQN(GRID, Discrete(4), seed=0, learning_starts=32, batch_size=16, hidden_dims=[8])
    seen = _record_first_conv(agent.q_network.encoder)
    full = np.full((1, 5, 5, 3), 255, np.uint8)
    agent.predict(full, deterministic=True)
    assert seen[-1].dtype == np.float32 and seen[-1].shape == (1, 3, 5, 5)
    assert np.all(seen[-1] == 1.0), "255 arrives as exactly 1.0"
    agent.train(VecEnv([GridGoal()], seed=0), total_steps=80)
    assert agent.updates > 0 and len(seen) > 10
    assert max(float(x.max()) for x in seen) <= 1.0, "acting and updates alike see only scaled pixels"
    target_seen = _record_first_conv(agent.target_network.encoder)
    agent.update()
    assert target_seen and max(float(x.max()) for x in target_seen) == 1.0


def test_a_cnn_scales_channels_first_frames_into_channels_last_memory_with_the_same_values():
    """What the first im2col reads without a transposing copy; the values are x / 255 either way."""
    frames = np.random.default_rng(0).integers(0, 256, (3, 4, 10, 12)).astype(np.uint8)
    scaled = ScaleImage(channels_last=True)(frames).numpy()
    assert scaled.shape == (3, 4, 10, 12) and scaled.transpose(0, 2, 3, 1).flags.c_contiguous
    assert np.array_equal(scaled, ScaleImage()(frames).numpy())
    assert np.array_equal(scaled, (frames / 255.0).astype(np.float32))
    assert CNNEncoder((4, 10, 12), [(8, 3, 1)], 16, rng=np.random.default_rng(0)).scale.channels_last


def test_buffers_store_raw_bytes():
    front = ObservationFrontEnd(ATARI, images=True)
    replay = ReplayBuffer(1000, front)
    assert replay.observations.dtype == np.uint8 and replay.observations.nbytes == 1000 * 4 * 84 * 84
    agent = PPO(GRID, Discrete(4), n_steps=8)
    assert agent.buffer.observations.dtype == np.uint8
    rollout = RolloutBuffer(8, 2, ObservationFrontEnd(GRID, images=True), (), np.int64)
    assert rollout.observations.shape == (8, 2, 5, 5, 3) and rollout.observations.dtype == np.uint8
    dqn = DQN(GRID, Discrete(4), buffer_size=100, learning_starts=10, batch_size=8, hidden_dims=[8])
    dqn.train(VecEnv([GridGoal()], seed=1), total_steps=20)
    batch = dqn.buffer.sample(8)
    assert batch.observations.dtype == np.uint8 and batch.observations.shape == (8, 3, 5, 5)


@pytest.mark.parametrize("cls", [A2C, PPO])
def test_actor_and_critic_share_one_encoder_and_both_losses_reach_it(cls):
    agent = cls(GRID, Discrete(4), seed=0, n_steps=8)
    encoder = agent.features_extractor
    encoder_ids = {id(p) for p in encoder.parameters()}
    assert encoder_ids <= {id(p) for p in agent.actor_optimizer.params}
    assert not encoder_ids & {id(p) for p in agent.critic.parameters()}
    obs = agent.front_end.encode(np.random.default_rng(0).integers(0, 256, (6, 5, 5, 3)).astype(np.uint8))
    actions = np.arange(6) % 4
    grads = []
    for pick in (0, 2):  # the log-probabilities alone, then the values alone
        for p in encoder.parameters():
            p.grad = None
        terms = agent._evaluate(obs, actions)
        terms[pick].sum().backward()
        grads.append(np.concatenate([p.grad.numpy().ravel() for p in encoder.parameters()]))
    assert np.abs(grads[0]).sum() > 0 and np.abs(grads[1]).sum() > 0
    assert not np.allclose(grads[0], grads[1])


@pytest.mark.parametrize("cls", [DQN, PPO, SAC])
def test_empty_hidden_layers_put_the_heads_on_the_encoder_features_as_sb3s_cnn_policy(cls):
    """SB3's CnnPolicy maps NatureCNN's features to Q-values, logits and values with one linear layer each."""
    width, replay = 16, {"learning_starts": 8, "batch_size": 8}
    if cls is DQN:
        env = GridGoal()
        agent = DQN(
            env.observation_space, env.action_space, seed=0, encoder_features=width, hidden_dims=[], **replay
        )
        assert [p.shape for p in agent.q_network.head.parameters()] == [(4, width), (4,)]
    elif cls is PPO:
        env = GridGoal()
        agent = PPO(
            env.observation_space,
            env.action_space,
            seed=0,
            encoder_features=width,
            actor_hidden_dims=[],
            critic_hidden_dims=[],
            n_steps=8,
        )
        assert [p.shape for p in agent.actor.parameters()] == [(4, width), (4,)]
        assert [p.shape for p in agent.critic.parameters()] == [(1, width), (1,)]
    else:
        env = BrightnessTarget()
        agent = SAC(
            env.observation_space,
            env.action_space,
            seed=0,
            encoder="small_cnn",
            encoder_features=width,
            actor_hidden_dims=[],
            critic_hidden_dims=[],
            **replay,
        )
        assert [p.shape for p in agent.actor.mean.parameters()] == [(1, width), (1,)]
        assert not agent.actor.trunk.parameters()
    agent.train(VecEnv([env], seed=0), total_steps=24)
    assert agent.total_steps == 24


@pytest.mark.parametrize("cls", [DQN, PPO])
def test_a_cnn_agent_round_trips_through_a_checkpoint(cls, tmp_path):
    small = {"hidden_dims": [8], "learning_starts": 16, "batch_size": 8} if cls is DQN else {"n_steps": 16}
    agent = cls(GRID, Discrete(4), seed=0, encoder_features=16, **small)
    agent.train(VecEnv([GridGoal()], seed=0), total_steps=40)
    agent.save(tmp_path / "ckpt")
    loaded = load_agent(tmp_path / "ckpt")
    assert loaded.encoder == "small_cnn" or loaded.encoder == "auto"
    obs = np.random.default_rng(3).integers(0, 256, (5, 5, 5, 3)).astype(np.uint8)
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True), agent.predict(obs, deterministic=True)
    )
    mine = agent.q_network if cls is DQN else agent.features_extractor
    theirs = loaded.q_network if cls is DQN else loaded.features_extractor
    for (name, a), (_, b) in zip(mine.named_parameters(), theirs.named_parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    if cls is DQN:
        assert isinstance(loaded.target_network, EncodedNetwork)


def test_the_flat_path_builds_no_encoder_and_draws_nothing():
    front = ObservationFrontEnd(Box(-1.0, 1.0, (4,), np.float32), images=True)
    rng = np.random.default_rng(0)
    assert build_encoder(front, "auto", None, rng=rng) == (None, 4)
    assert build_encoder(front, "mlp", None, rng=rng) == (None, 4)
    assert rng.random() == np.random.default_rng(0).random()


@pytest.mark.parametrize("cls", [DQN, PPO, SAC])
def test_a_cnn_agent_trains_to_the_same_bits_on_one_core_or_two(cls, monkeypatch):
    """Same seed, same numbers whatever the thread count: a convolution's products are never offered more BLAS
    threads, and its blocks (every product cut here) are computed by one thread or, while the update tuner
    tries and picks between them, by one and by two."""
    from neurenix._accel import blocks, runtime

    monkeypatch.delenv("NEURENIX_BLAS_THREADS", raising=False)
    monkeypatch.setattr(blocks, "BLOCK_MACS", 0)
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 0)
    states = []
    for cores in (1, 2):
        monkeypatch.setattr(runtime, "available_cores", lambda cores=cores: cores)
        env = VecEnv([BrightnessTarget() if cls is SAC else GridGoal()], seed=0)
        small = {"n_steps": 32, "batch_size": 16} if cls is PPO else {"learning_starts": 16, "batch_size": 16}
        if cls is SAC:  # its three encoders (actor, critic, target critic) at a width that keeps this quick
            small |= {"encoder_features": 16, "actor_hidden_dims": [16], "critic_hidden_dims": [16]}
        agent = cls(env.observation_space, env.action_space, seed=0, **small)
        tuner = runtime.update_threads(agent._networks(), agent._minibatch_rows())
        assert tuner.switch is runtime.block_threads and tuner.choices == ((1,) if cores == 1 else (1, 2))
        agent.train(env, total_steps=160)
        states.append(
            {
                f"{i}.{name}": p.numpy().copy()
                for i, network in enumerate(agent._networks())
                for name, p in network.named_parameters()
            }
        )
    assert states[0].keys() == states[1].keys() and states[0]
    for name in states[0]:
        np.testing.assert_array_equal(states[0][name], states[1][name], err_msg=name)


@pytest.mark.parametrize(("size", "kind"), [(3, FlatImage), (5, CNNEncoder), (40, CNNEncoder)])
def test_auto_picks_an_encoder_the_image_fits(size, kind):
    front_end = ObservationFrontEnd(gym.spaces.Box(0, 255, (3, size, size), np.uint8), images=True)
    encoder, width = build_encoder(front_end, "auto", None, rng=np.random.default_rng(0))
    assert isinstance(encoder, kind) and width > 0
    x = np.zeros((2, 3, size, size), dtype=np.uint8)
    assert encoder(x).shape == (2, width)
