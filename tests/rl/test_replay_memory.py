"""optimize_memory_usage: each observation stored once, next observations read from the next row of the same env,
episodes' last observations kept aside; the same transitions, half the memory, the same training bits."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from neurenix.checkpoint import flatten_state
from neurenix.errors import ConfigError
from neurenix.rl import DQN, SAC, load_agent, make_env
from neurenix.rl.buffers import ReplayBuffer
from neurenix.rl.observations import ObservationFrontEnd

N_ENVS = 3


def _fill(buffers, steps, rng, shape=(4,), end_rate=0.25):
    """The same stream of N_ENVS-wide transitions into every buffer: episodes that end (by termination or by
    truncation) restart from a fresh observation, as a vector env's same-step reset does."""
    obs = rng.normal(size=(N_ENVS, *shape)).astype(np.float32)
    for t in range(steps):
        next_obs = rng.normal(size=(N_ENVS, *shape)).astype(np.float32)
        ended = rng.random(N_ENVS) < end_rate
        terminated = (ended & (rng.random(N_ENVS) < 0.5)).astype(np.float32)  # the other ends are truncations
        for buffer in buffers:
            buffer.add(obs, np.full(N_ENVS, t), np.arange(N_ENVS) + 10.0 * t, next_obs, terminated)
        reset = rng.normal(size=(N_ENVS, *shape)).astype(np.float32)
        obs = np.where(ended[:, None], reset, next_obs)


def _pairs(batch):
    return {
        (float(r), o.tobytes(), n.tobytes())
        for r, o, n in zip(batch.rewards, batch.observations, batch.next_observations)
    }


@pytest.mark.parametrize("steps", [5, 33, 34, 35, 200])  # not full, at the edge of full, full and wrapped
def test_the_in_place_buffer_serves_exactly_the_plain_buffers_transitions_but_the_newest_overwritten(steps):
    capacity = 100
    plain = ReplayBuffer(capacity, (4,), rng=np.random.default_rng(0))
    in_place = ReplayBuffer(capacity, (4,), rng=np.random.default_rng(0), optimize_memory_usage=True)
    _fill([plain, in_place], steps, np.random.default_rng(1))
    rows = np.arange(plain.size)
    full_view = _pairs(
        plain.sample(1)._replace(
            rewards=plain.rewards[rows],
            observations=plain.observations[rows],
            next_observations=plain.next_observations[rows],
        )
    )
    served = _pairs(in_place.sample(20_000))
    assert served <= full_view, (
        "every transition served is one the plain buffer holds, next observation included"
    )
    overwritten = max(0, min(N_ENVS, plain.size + N_ENVS - capacity))
    assert len(served) == plain.size - overwritten, "all the others are served"
    newest = {float(r) for r in plain.rewards[rows]} - {r for r, _, _ in served}
    assert len(newest) == overwritten and all(r < 10.0 * (steps - capacity // N_ENVS) + 10 for r in newest)


def test_the_in_place_buffer_holds_each_observation_once():
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    plain = ReplayBuffer(1000, ObservationFrontEnd(space, images=True))
    in_place = ReplayBuffer(1000, ObservationFrontEnd(space, images=True), optimize_memory_usage=True)
    assert in_place.next_observations is None
    assert in_place.observations.nbytes == plain.observations.nbytes == 1000 * 4 * 84 * 84


def test_the_in_place_buffer_round_trips_through_its_state():
    a = ReplayBuffer(50, (4,), rng=np.random.default_rng(0), optimize_memory_usage=True)
    _fill([a], 30, np.random.default_rng(1))
    b = ReplayBuffer(50, (4,), rng=np.random.default_rng(0), optimize_memory_usage=True)
    b.load_state_dict(a.state_dict())
    assert a._last_observations.keys() == b._last_observations.keys() and a._last_observations
    _fill([a, b], 7, np.random.default_rng(2))  # the next adds find what they expect in either
    for x, y in zip(a.sample(500), b.sample(500)):
        np.testing.assert_array_equal(x, y)
    plain = ReplayBuffer(50, (4,))
    with pytest.raises(ValueError, match="optimize_memory_usage"):
        plain.load_state_dict(a.state_dict())


def test_the_in_place_buffer_needs_one_row_per_env_each_add():
    buffer = ReplayBuffer(10, (1,), optimize_memory_usage=True)
    one = np.zeros((2, 1), np.float32)
    buffer.add(one, np.zeros(2), np.zeros(2), one, np.zeros(2))
    with pytest.raises(ValueError, match="same rows per add"):
        buffer.add(one[:1], np.zeros(1), np.zeros(1), one[:1], np.zeros(1))


@pytest.mark.parametrize("cls, env_id", [(DQN, "CartPole-v1"), (SAC, "Pendulum-v1")])
def test_an_agent_trains_to_the_same_bits_with_the_option(cls, env_id, tmp_path):
    """While the buffer is not full both draw the same rows, so any difference is a wrong next observation:
    CartPole's episodes end by termination and by the 60-step cap, Pendulum's by the cap alone."""
    settings = {"buffer_size": 5000, "learning_starts": 100, "batch_size": 32}
    if cls is DQN:
        settings["hidden_dims"] = [32]
    else:
        settings |= {"actor_hidden_dims": [32], "critic_hidden_dims": [32]}
    results, weights = [], []
    for option in (False, True):
        env = make_env(env_id, seed=0, n_envs=2)
        agent = cls(env.observation_space, env.action_space, seed=0, optimize_memory_usage=option, **settings)
        results.append(agent.train(env, total_steps=1200, max_steps=60, configure_runtime=False))
        agent.save(tmp_path / str(option), include_replay_buffer=True)
        weights.append(flatten_state(agent.state_dict())[0])
    assert results[0]["episode_rewards"] == results[1]["episode_rewards"]
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        np.testing.assert_array_equal(weights[0][name], weights[1][name], err_msg=name)
    resumed = load_agent(tmp_path / "True")
    assert resumed.buffer.optimize_memory_usage and len(resumed.buffer) == 1200


def test_train_refuses_an_in_place_buffer_no_larger_than_one_row_per_env():
    env = make_env("CartPole-v1", seed=0, n_envs=4)
    agent = DQN(
        env.observation_space, env.action_space, buffer_size=4, batch_size=4, optimize_memory_usage=True
    )
    with pytest.raises(ConfigError, match=r"buffer_size \(4\) above the number of env copies \(4\)"):
        agent.train(env, total_steps=100, configure_runtime=False)
