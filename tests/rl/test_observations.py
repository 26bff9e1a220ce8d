"""The observation front-end: specs, encoders, batching, per-key storage, normalisation, every algorithm on
multi-dimensional, discrete and Dict observations, and checkpoints of such agents."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import FrameStackObservation

from neurenix.errors import ConfigError
from neurenix.rl import registry
from neurenix.rl.buffers import ReplayBuffer, RolloutBuffer
from neurenix.rl.environment import VecEnv, batch_observations
from neurenix.rl.normalize import BoxObservationNormalizer
from neurenix.rl.observations import ObservationFrontEnd
from neurenix.rl.registry import load_agent
from neurenix.rl.spaces import compatible, to_gym_space, to_spec

Box, Discrete, Dict = gym.spaces.Box, gym.spaces.Discrete, gym.spaces.Dict
GOAL_SPACE = Dict({"position": Box(-1.0, 1.0, (1,), np.float32), "goal": Discrete(2)})


class GoalLine(gym.Env):
    """A walk on [-1, 1] from 0 in steps of 0.25: reaching the end the Discrete goal id names pays +1, the other
    end -1. A policy blind to the goal id averages 0 at best; one that reads it gets +1 in 4 steps."""

    observation_space = GOAL_SPACE
    action_space = Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.goal, self.t = 0.0, int(self.np_random.integers(2)), 0
        return self._obs(), {}

    def _obs(self):
        return {"position": np.array([self.position], np.float32), "goal": self.goal}

    def step(self, action):
        self.position += 0.25 if action == 1 else -0.25
        self.t += 1
        if abs(self.position) >= 1.0:
            return self._obs(), 1.0 if (self.position > 0) == (self.goal == 1) else -1.0, True, False, {}
        return self._obs(), 0.0, False, self.t >= 20, {}


class SquareObservation(gym.ObservationWrapper):
    """An env's first four observation features (zero-padded) as a (2, 2) box."""

    def __init__(self, env):
        super().__init__(env)
        self.observation_space = Box(-np.inf, np.inf, (2, 2), np.float32)

    def observation(self, obs):
        return np.resize(np.concatenate([obs, np.zeros(4, np.float32)])[:4], (2, 2)).astype(np.float32)


# ------------------------------------------------------------------------------------------------------ specs
@pytest.mark.parametrize(
    "space",
    [
        Box(0, 255, (4,), np.uint8),
        Box(-1.0, 1.0, (2, 3), np.float32),
        Discrete(5, start=2),
        gym.spaces.MultiDiscrete([3, 2]),
        gym.spaces.MultiBinary(4),
        Dict({"b": Discrete(3), "a": Box(-1.0, 1.0, (2,), np.float32)}),
        gym.spaces.Tuple([Discrete(3), gym.spaces.MultiBinary(2)]),
    ],
    ids=str,
)
def test_every_observation_space_has_a_json_spec_that_rebuilds_it(space):
    import json

    spec = json.loads(json.dumps(to_spec(space), sort_keys=True))  # as a checkpoint's meta.json keeps it
    rebuilt = to_gym_space(spec)
    assert to_spec(rebuilt) == to_spec(space) and compatible(rebuilt, space, check_bounds=True)
    assert ObservationFrontEnd(rebuilt).dim == ObservationFrontEnd(space).dim


def test_old_specs_read_as_before():
    assert to_spec(Box(-1.0, 1.0, (3,), np.float64)) == {
        "type": "box",
        "shape": [3],
        "low": -1.0,
        "high": 1.0,
    }
    assert to_spec(Discrete(4)) == {"type": "discrete", "n": 4}
    assert to_gym_space({"type": "box", "shape": [2, 2]}).dtype == np.float32


# --------------------------------------------------------------------------------------------------- encoders
def test_encoders_one_hot_discrete_parts_and_flatten_boxes():
    space = Dict(
        {
            "pos": Box(-1.0, 1.0, (2, 2), np.float32),
            "id": Discrete(3, start=1),
            "multi": gym.spaces.MultiDiscrete([2, 3]),
            "bits": gym.spaces.MultiBinary(2),
        }
    )
    front = ObservationFrontEnd(space)
    assert front.dim == 2 + 3 + 5 + 4  # sorted keys: bits, id, multi, pos
    batch = batch_observations(
        space,
        [
            {"pos": np.arange(4.0).reshape(2, 2), "id": 3, "multi": [1, 0], "bits": [1, 0]},
            {"pos": -np.ones((2, 2)), "id": 1, "multi": [0, 2], "bits": [0, 1]},
        ],
    )
    assert (
        batch["id"].dtype == np.int64 and batch["bits"].dtype == np.int8 and batch["pos"].dtype == np.float32
    )
    np.testing.assert_array_equal(
        front.encode(batch),
        [
            [1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 2, 3],
            [0, 1, 1, 0, 0, 1, 0, 0, 0, 1, -1, -1, -1, -1],
        ],
    )
    # Leading axes (a replay sample of several minibatches) are kept.
    stacked = {key: np.stack([value, value]) for key, value in batch.items()}
    assert front.encode(stacked).shape == (2, 2, front.dim)


def test_a_flat_float32_box_passes_through_untouched():
    front = ObservationFrontEnd(Box(-1.0, 1.0, (4,), np.float32))
    batch = np.ones((3, 4), np.float32)
    assert front.passthrough and front.encode(batch) is batch


@pytest.mark.parametrize(
    "space",
    [
        Box(0, 255, (3, 16, 16), np.uint8),
        Box(0.0, 255.0, (16, 16, 3), np.float32),
        Dict({"camera": Box(0, 255, (8, 8, 1), np.uint8), "speed": Box(-1.0, 1.0, (1,), np.float32)}),
    ],
    ids=["uint8 channels first", "float 0-255 channels last", "an image inside a dict"],
)
def test_images_are_refused_without_a_cnn_encoder_naming_the_algorithms_that_have_one(space):
    with pytest.raises(ConfigError, match=r"looks like an image.*not yet supported.*CNN encoder"):
        ObservationFrontEnd(space)


def test_what_no_front_end_takes_is_refused_in_one_paragraph():
    ObservationFrontEnd(Box(-1.0, 1.0, (3, 16, 16), np.float32))  # 3-D but not an image's bounds: flattened
    with pytest.raises(ConfigError, match="nested Dict and Tuple observations are not supported"):
        ObservationFrontEnd(Dict({"inner": Dict({"a": Discrete(2)})}))
    with pytest.raises(ConfigError, match="Text, which no network front-end takes"):
        ObservationFrontEnd(gym.spaces.Text(5))


# ---------------------------------------------------------------------------------------- env and buffers
def test_vec_env_batches_dict_observations_and_keeps_the_final_one():
    env = VecEnv([GoalLine(), GoalLine()])
    obs = env.reset(seed=0)
    assert set(obs) == {"goal", "position"} and obs["goal"].dtype == np.int64 and obs["goal"].shape == (2,)
    for _ in range(4):
        step = env.step(np.array([1, 1]))
    assert step.terminated.all()
    np.testing.assert_array_equal(step.final_obs["position"], [[1.0], [1.0]])
    np.testing.assert_array_equal(step.next_obs["position"], [[0.0], [0.0]])


def test_replay_buffer_stores_each_key_in_its_own_dtype_and_round_trips():
    front = ObservationFrontEnd(GOAL_SPACE)
    buffer = ReplayBuffer(8, front, rng=np.random.default_rng(0))
    assert buffer.observations["goal"].dtype == np.int64 and buffer.observations["goal"].shape == (8,)
    assert buffer.observations["position"].dtype == np.float32
    env = VecEnv([GoalLine()])
    obs = env.reset(seed=1)
    for _ in range(10):
        step = env.step(np.array([0]))
        buffer.add(obs, np.array([0]), step.rewards, step.final_obs, step.terminated)
        obs = step.next_obs
    batch = buffer.sample(5)
    assert batch.observations.shape == (5, 3) and batch.observations.dtype == np.float32
    restored = ReplayBuffer(8, front, rng=np.random.default_rng(0))
    restored.load_state_dict(buffer.state_dict())
    for key in ("goal", "position"):
        np.testing.assert_array_equal(restored.observations[key], buffer.observations[key])


def test_rollout_buffer_encodes_when_serving_minibatches():
    front = ObservationFrontEnd(GOAL_SPACE)
    buffer = RolloutBuffer(4, 2, front)
    assert buffer.observations["goal"].shape == (4, 2) and buffer.observations["goal"].dtype == np.int64
    zeros = np.zeros(2, np.float32)
    for t in range(4):
        obs = {"goal": np.array([t % 2, 1]), "position": np.full((2, 1), t, np.float32)}
        buffer.add(obs, np.zeros(2, np.int64), zeros, zeros > 0, zeros > 0, zeros, zeros, zeros)
    buffer.compute_returns_and_advantages(zeros, 0.99, 0.95)
    rows = np.concatenate([b.observations for b in buffer.minibatches(3, np.random.default_rng(0))])
    assert rows.shape == (8, 3)
    np.testing.assert_array_equal(rows[:, :2].sum(axis=1), 1)  # each goal id one-hot


def test_normalisation_scales_box_keys_only_and_refuses_a_space_without_boxes():
    normalizer = BoxObservationNormalizer(ObservationFrontEnd(GOAL_SPACE))
    batch = {"goal": np.array([0, 1, 1]), "position": np.array([[0.5], [-0.5], [1.0]], np.float32)}
    normalizer.update(batch)
    scaled = normalizer(batch)
    assert scaled["goal"] is batch["goal"] and abs(scaled["position"].mean()) < 0.3
    assert set(normalizer.state_dict()) == {"position"}
    with pytest.raises(ConfigError, match="normalize_observations: false") as caught:
        registry.get("ppo")(Discrete(16), Discrete(4), normalize_observations=True)
    assert caught.value.key == "normalize_observations"


# ------------------------------------------------------------------------------------------ every algorithm
@pytest.mark.parametrize("name", ["dqn", "a2c", "ppo", "sac", "td3", "ddpg"])
@pytest.mark.parametrize("shape", ["(2, 2) box", "frame stack"])
def test_multi_dimensional_boxes_train_past_warm_up(name, shape):
    env = gym.make("CartPole-v1" if name in ("dqn", "a2c", "ppo") else "Pendulum-v1")
    env = FrameStackObservation(env, 3) if shape == "frame stack" else SquareObservation(env)
    settings = {"a2c": {"n_steps": 16}, "ppo": {"n_steps": 16, "batch_size": 16}}.get(
        name, {"learning_starts": 16}
    )
    agent = registry.get(name)(env.observation_space, env.action_space, seed=0, **settings)
    result = agent.train(VecEnv([env]), total_steps=64)
    assert result["updates"] > 0
    assert agent.act(env.observation_space.sample()) in env.action_space


@pytest.mark.parametrize("name", ["dqn", "ppo", "sac"])
@pytest.mark.parametrize("observations", ["dict", "discrete"])
def test_checkpoints_of_dict_and_discrete_observation_agents_round_trip(name, observations, tmp_path):
    if observations == "dict":
        space = GOAL_SPACE
    else:
        space = Discrete(16)
    action = Discrete(2) if name != "sac" else Box(-1.0, 1.0, (1,), np.float32)
    agent = registry.get(name)(space, action, seed=0)
    agent.save(tmp_path / "ckpt", include_replay_buffer=name != "ppo")
    restored = load_agent(tmp_path / "ckpt")
    assert to_spec(restored.observation_space) == to_spec(space)
    samples = [space.sample() for _ in range(5)]
    batch = batch_observations(space, samples)
    np.testing.assert_array_equal(restored.predict(batch, True), agent.predict(batch, True))
    assert all(restored.act(sample, True) == agent.act(sample, True) for sample in samples)
