"""Every registered algorithm survives a save/load round trip: the loaded agent acts and keeps training exactly
as the one that was saved."""

from __future__ import annotations

import numpy as np
import pytest

from neurenix.checkpoint import flatten_state
from neurenix.rl import make_env
from neurenix.rl.registry import get, load_agent, names

SMALL = {
    "dqn": {"hidden_dims": [16, 16], "learning_starts": 50, "batch_size": 32},
    "ddpg": {"actor_hidden_dims": [16], "critic_hidden_dims": [16], "learning_starts": 50, "batch_size": 32},
    "td3": {"actor_hidden_dims": [16], "critic_hidden_dims": [16], "learning_starts": 50, "batch_size": 32},
    "sac": {"actor_hidden_dims": [16], "critic_hidden_dims": [16], "learning_starts": 50, "batch_size": 32},
    "a2c": {"actor_hidden_dims": [16], "critic_hidden_dims": [16], "n_steps": 8},
    "ppo": {
        "actor_hidden_dims": [16],
        "critic_hidden_dims": [16],
        "n_steps": 32,
        "batch_size": 16,
        "n_epochs": 2,
        "normalize_observations": True,
    },
}
ENVS = {"dqn": "CartPole-v1", "a2c": "CartPole-v1", "ppo": "Pendulum-v1"}


def build(name: str):
    env = make_env(ENVS.get(name, "Pendulum-v1"), seed=3)
    return get(name)(env.observation_space, env.action_space, seed=3, **SMALL[name]), env


def state_arrays(agent) -> dict:
    arrays, scalars = flatten_state(agent.state_dict())
    return {**{k: np.asarray(v) for k, v in arrays.items()}, "scalars": scalars}


def assert_same_state(a, b) -> None:
    left, right = state_arrays(a), state_arrays(b)
    assert left.keys() == right.keys()
    assert left.pop("scalars") == right.pop("scalars")
    for key in left:
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)


def test_every_registered_algorithm_is_covered():
    assert sorted(SMALL) == sorted(names())


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_loaded_agent_acts_and_trains_on_exactly_as_the_saved_one(name, tmp_path):
    agent, env = build(name)
    agent.train(env, total_steps=200)
    assert agent.updates > 0
    agent.save(tmp_path / "ckpt", include_replay_buffer=True)
    loaded = load_agent(tmp_path / "ckpt")
    assert type(loaded) is type(agent)
    assert loaded.hyperparameters() == agent.hyperparameters()
    assert_same_state(agent, loaded)
    obs = np.stack([env.observation_space.sample() for _ in range(5)]).astype(np.float32)
    np.testing.assert_array_equal(
        agent.predict(obs, deterministic=True), loaded.predict(obs, deterministic=True)
    )
    updates = agent.updates
    agent.train(build(name)[1], total_steps=100)
    loaded.train(build(name)[1], total_steps=100)
    assert agent.updates > updates
    assert_same_state(agent, loaded)
