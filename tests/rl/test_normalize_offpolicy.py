"""Observation and reward normalisation off-policy (SB3's VecNormalize with a replay buffer): the buffer keeps raw
transitions and serves batches scaled by the statistics of that moment; only training updates the statistics;
they are saved, restored and frozen in evaluation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from neurenix.rl import make_env
from neurenix.rl.registry import get, load_agent

SMALL = {"learning_starts": 50, "batch_size": 32, "buffer_size": 1000}
NETS = {
    "dqn": {"hidden_dims": [16]},
    "ddpg": {"actor_hidden_dims": [16], "critic_hidden_dims": [16]},
    "td3": {"actor_hidden_dims": [16], "critic_hidden_dims": [16]},
    "sac": {"actor_hidden_dims": [16], "critic_hidden_dims": [16]},
}


def env_id(name: str) -> str:
    return "CartPole-v1" if name == "dqn" else "Pendulum-v1"


def build(name: str, **overrides):
    env = make_env(env_id(name), seed=3)
    hyperparameters = {**SMALL, **NETS[name], "normalize_observations": True, "normalize_rewards": True}
    agent = get(name)(env.observation_space, env.action_space, seed=3, **{**hyperparameters, **overrides})
    return agent, env


def stats(agent) -> dict:
    return {
        "mean": agent.obs_normalizer.state_dict()["mean"].copy(),
        "var": agent.obs_normalizer.state_dict()["var"].copy(),
        "count": agent.obs_normalizer.state_dict()["count"],
        "return_var": float(agent.reward_scaler.stats.var),
    }


@pytest.mark.parametrize("name", sorted(NETS))
def test_replay_stores_raw_transitions_and_serves_them_scaled_by_the_current_statistics(name):
    agent, env = build(name)
    agent.train(env, total_steps=300)
    buffer = agent.buffer
    n = len(buffer)
    # Raw: Pendulum's angular velocity reaches several units, CartPole's positions are not centred.
    raw_obs = buffer.observations[:n]
    assert np.abs(raw_obs).max() > 1.5
    normalizer, scaler = agent.obs_normalizer, agent.reward_scaler
    state = np.random.default_rng(0).bit_generator.state
    buffer.rng.bit_generator.state = state
    batch = buffer.sample(16)
    buffer.rng.bit_generator.state = state
    idx = buffer.rng.integers(0, n, size=16)
    stats_now = normalizer.normalizers[None].stats
    stats_now = type(stats_now)(stats_now.mean.shape)
    stats_now.load_state_dict(normalizer.normalizers[None].stats.state_dict())  # a copy, as it is now
    expected = np.clip((raw_obs[idx] - stats_now.mean) / np.sqrt(stats_now.var + 1e-8), -10, 10)
    np.testing.assert_allclose(batch.observations, expected.astype(np.float32), rtol=1e-6, atol=1e-6)
    expected_next = (buffer.next_observations[idx] - stats_now.mean) / np.sqrt(stats_now.var + 1e-8)
    np.testing.assert_allclose(batch.next_observations, np.clip(expected_next, -10, 10), rtol=1e-5, atol=1e-6)
    expected_rewards = np.clip(buffer.rewards[idx] / np.sqrt(scaler.stats.var + 1e-8), -10, 10)
    np.testing.assert_allclose(batch.rewards, expected_rewards, rtol=1e-6)

    # More training moves the statistics, never the stored rows: old transitions are read on the new scale.
    stored = raw_obs.copy()
    agent.train(env, total_steps=100)
    np.testing.assert_array_equal(buffer.observations[:n], stored)
    assert not np.array_equal(normalizer.normalizers[None].stats.mean, stats_now.mean)


@pytest.mark.parametrize("name", ["dqn", "sac"])
def test_statistics_update_in_training_only_frozen_in_evaluation_and_acting(name):
    agent, env = build(name)
    fresh = stats(agent)
    agent.train(env, total_steps=200)
    trained = stats(agent)
    # One update per vectorised step (the observations acted on), and the return statistics moved.
    assert trained["count"] == pytest.approx(fresh["count"] + 200)
    assert not np.array_equal(trained["mean"], fresh["mean"])
    assert trained["return_var"] != fresh["return_var"]
    agent.evaluate(make_env(env_id(name), seed=5), episodes=2, max_steps=50)
    agent.act(env.observation_space.sample())
    after = stats(agent)
    for key in trained:
        np.testing.assert_array_equal(after[key], trained[key], err_msg=key)


@pytest.mark.parametrize("name", sorted(NETS))
def test_statistics_survive_a_checkpoint_and_a_loaded_agent_acts_as_the_saved_one(name, tmp_path):
    agent, env = build(name)
    agent.train(env, total_steps=200)
    agent.save(tmp_path / "ckpt")
    loaded = load_agent(tmp_path / "ckpt")
    assert loaded.normalize_observations and loaded.normalize_rewards
    saved, restored = stats(agent), stats(loaded)
    for key in saved:
        np.testing.assert_array_equal(restored[key], saved[key], err_msg=key)
    assert {"obs_normalizer", "reward_scaler"} <= set(loaded.learned_parts())
    obs = np.stack([env.observation_space.sample() for _ in range(5)])
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True), agent.predict(obs, deterministic=True)
    )
    # Normalisation changes what the networks see: without the statistics the same weights act otherwise.
    plain = get(name)(env.observation_space, env.action_space, seed=3, **SMALL, **NETS[name])
    state = {k: v for k, v in agent.state_dict().items() if k not in ("obs_normalizer", "reward_scaler")}
    plain.load_state_dict(state)
    assert not np.array_equal(plain._inputs(obs), agent._inputs(obs))


def test_a_checkpoint_written_without_normalisation_loads_as_before(tmp_path):
    agent, env = build("td3", normalize_observations=False, normalize_rewards=False)
    agent.train(env, total_steps=100)
    assert "obs_normalizer" not in agent.state_dict()
    agent.save(tmp_path / "ckpt")
    loaded = load_agent(tmp_path / "ckpt")
    assert loaded.obs_normalizer is None and loaded.reward_scaler is None


def test_a_dict_observation_normalises_its_box_keys_only_in_a_served_batch():
    space = gym.spaces.Dict(
        {"goal": gym.spaces.Discrete(3), "position": gym.spaces.Box(-100.0, 100.0, (2,), np.float32)}
    )
    agent = get("dqn")(space, gym.spaces.Discrete(2), seed=0, normalize_observations=True, **SMALL)
    rng = np.random.default_rng(0)
    for _ in range(40):
        obs = {
            "goal": rng.integers(0, 3, size=1),
            "position": rng.normal(50.0, 20.0, (1, 2)).astype(np.float32),
        }
        agent.obs_normalizer.update(obs)
        agent.buffer.add(obs, np.zeros(1, dtype=np.int64), np.ones(1), obs, np.zeros(1))
    batches = agent.buffer.sample(8, batches=3)  # DQN's (gradient_steps, batch) layout
    assert batches.observations.shape == (3, 8, 5)
    goals, positions = batches.observations[..., :3], batches.observations[..., 3:]
    assert set(np.unique(goals)) <= {0.0, 1.0} and np.all(goals.sum(axis=-1) == 1.0)  # one-hot, untouched
    assert np.abs(positions.mean()) < 1.5 and agent.buffer.observations["position"][:40].mean() > 20.0
