"""Spaces, the vectorized env (autoreset, truncation vs termination, legacy API), replay ring, policies."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurenix.errors import EnvironmentNotFoundError
from neurenix.nn import Linear, Sequential, Tanh
from neurenix.rl.buffers import ReplayBuffer
from neurenix.rl.environment import VecEnv, make_env, registering_package
from neurenix.rl.policy import EpsilonGreedyPolicy, GaussianPolicy, RandomPolicy
from neurenix.rl.spaces import BoxScaler, to_gym_space, to_spec


# ----------------------------------------------------------------------------------------------------- spaces
def test_spec_round_trip_and_docs_extra_keys():
    box = to_gym_space({"type": "box", "shape": (4,), "dim": 4, "low": -1.0, "high": 1.0})
    assert isinstance(box, gym.spaces.Box) and box.shape == (4,) and box.dtype == np.float32
    assert to_spec(box) == {"type": "box", "shape": [4], "low": -1.0, "high": 1.0}
    assert to_spec(to_gym_space({"type": "discrete", "n": 3})) == {"type": "discrete", "n": 3}
    pendulum = gym.make("Pendulum-v1").observation_space
    assert to_spec(to_gym_space(to_spec(pendulum))) == to_spec(pendulum)


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"type": "discrete", "n": 0}, "'n'"),
        ({"type": "discrete"}, "'n'"),
        ({"type": "box", "shape": (0,)}, "'shape'"),
        ({"type": "box", "shape": (2,), "low": [0, 0, 0]}, "'low'"),
        ({"type": "box", "shape": (2,), "low": 1.0, "high": 0.0}, "'low'"),
        ({"type": "graph"}, "'type'"),
        ("box", "dict"),
    ],
)
def test_malformed_spec_names_the_field(spec, field):
    with pytest.raises(ValueError, match=field):
        to_gym_space(spec)


def test_box_scaler_maps_unit_interval_to_bounds():
    scaler = BoxScaler(gym.spaces.Box(low=np.array([-2, 0], np.float32), high=np.array([2, 10], np.float32)))
    np.testing.assert_allclose(
        scaler.to_box(np.array([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]])), [[-2, 0], [2, 10], [0, 5]]
    )
    np.testing.assert_allclose(scaler.to_unit(scaler.to_box(np.array([0.3, -0.7]))), [0.3, -0.7], rtol=1e-6)


# ------------------------------------------------------------------------------------------------ environments
class CountingEnv(gym.Env):
    """obs = [episode, t]; terminates at t == end_at, truncates at t == cut_at: every boundary is visible."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, end_at: int = 3, cut_at: int = 100):
        self.end_at, self.cut_at, self.episode, self.t = end_at, cut_at, -1, 0

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return np.array([self.episode, 0], np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.array([self.episode, self.t], np.float32)
        return obs, 1.0, self.t == self.end_at, self.t == self.cut_at, {}


def test_vec_env_resets_in_the_same_step_and_returns_the_true_final_obs():
    vec = VecEnv([CountingEnv(end_at=3), CountingEnv(end_at=5)])
    obs = vec.reset(seed=0)
    transitions = []
    for _ in range(6):
        step = vec.step(np.zeros(2, dtype=np.int64))
        transitions.append((obs, step))
        obs = step.next_obs
    for prev, step in transitions:
        for i in range(2):
            # No stored transition pairs two episodes: obs and final_obs always share the episode index.
            assert prev[i][0] == step.final_obs[i][0]
    third = transitions[2][1]
    assert third.terminated.tolist() == [True, False]
    assert third.final_obs[0].tolist() == [0, 3] and third.next_obs[0].tolist() == [1, 0]
    assert [(e.env_index, e.length, e.reward) for e in third.episodes] == [(0, 3, 3.0)]


def test_max_episode_steps_is_a_truncation_not_a_termination():
    vec = VecEnv([CountingEnv(end_at=50)], max_episode_steps=4)
    vec.reset(seed=0)
    steps = [vec.step(np.zeros(1, dtype=np.int64)) for _ in range(4)]
    assert steps[-1].truncated.tolist() == [True] and steps[-1].terminated.tolist() == [False]
    assert steps[-1].final_obs[0].tolist() == [0, 4] and steps[-1].next_obs[0].tolist() == [1, 0]
    assert not any(s.truncated[0] or s.terminated[0] for s in steps[:-1])


class LegacyEnv:
    """Old gym API: reset() -> obs; step() -> (obs, reward, done, info)."""

    def __init__(self, time_limit: bool):
        self.t, self.time_limit = 0, time_limit

    def reset(self):
        self.t = 0
        return np.zeros(2)

    def step(self, action):
        self.t += 1
        done = self.t == 2
        return np.full(2, self.t), 1.0, done, {"TimeLimit.truncated": done and self.time_limit}


@pytest.mark.parametrize("time_limit", [False, True])
def test_legacy_env_done_maps_to_termination_or_truncation(time_limit):
    vec = VecEnv([LegacyEnv(time_limit)])
    vec.reset()
    vec.step(np.zeros(1))
    step = vec.step(np.zeros(1))
    assert step.terminated[0] == (not time_limit) and step.truncated[0] == time_limit


def test_make_env_seeding_is_reproducible_and_unknown_ids_suggest_names():
    a, b = make_env("CartPole-v1", n_envs=2, seed=3), make_env("CartPole-v1", n_envs=2, seed=3)
    np.testing.assert_array_equal(a.reset(seed=3), b.reset(seed=3))
    assert not np.array_equal(*a.reset(seed=3))  # each env gets its own seed
    with pytest.raises(EnvironmentNotFoundError, match="CartPole-v1"):
        make_env("CartPol-v1")


def test_an_unknown_id_of_a_registering_package_says_which_import_and_extra_bring_it(monkeypatch):
    assert registering_package("MiniGrid-Empty-5x5-v0").module == "minigrid"
    assert registering_package("BabyAI-GoToLocal-v0").module == "minigrid"
    assert registering_package("PongNoFrameskip-v4") == ("ale_py", "atari")
    assert registering_package("ALE/Pong-v5").extra == "atari"
    assert registering_package("CartPole-v1") is None and registering_package("MyMiniGrid-v0") is None
    monkeypatch.delitem(
        sys.modules, "minigrid", raising=False
    )  # not imported yet: the import is what is missing
    with pytest.raises(
        EnvironmentNotFoundError, match=r"importing minigrid.*pip install 'neurenix\[minigrid\]'"
    ):
        make_env("MiniGrid-NoSuchWorld-v0")


def test_a_typo_in_an_id_whose_package_is_imported_gets_a_did_you_mean_not_the_import():
    import minigrid  # noqa: F401

    with pytest.raises(EnvironmentNotFoundError, match="Did you mean MiniGrid-Empty-5x5-v0") as info:
        make_env("MiniGrid-Empty-5x5-v1")
    assert "env.imports" not in str(info.value)


# ---------------------------------------------------------------------------------------------------- replay
@settings(max_examples=40, deadline=None)
@given(capacity=st.integers(1, 12), batches=st.lists(st.integers(1, 5), min_size=1, max_size=12))
def test_replay_ring_keeps_the_most_recent_transitions(capacity, batches):
    buffer = ReplayBuffer(capacity, (1,))
    written = []
    for n in batches:
        ids = np.arange(len(written), len(written) + n, dtype=np.float32)
        written.extend(ids.tolist())
        buffer.add(ids[:, None], np.zeros(n, np.int64), ids, ids[:, None] + 0.5, np.zeros(n))
    expected = sorted(written[-capacity:])
    assert len(buffer) == min(capacity, len(written))
    assert sorted(buffer.rewards[: len(buffer)].tolist()) == expected
    # Each slot holds one whole transition: fields written together stay together.
    np.testing.assert_array_equal(buffer.observations[: len(buffer), 0], buffer.rewards[: len(buffer)])
    np.testing.assert_array_equal(
        buffer.next_observations[: len(buffer), 0], buffer.rewards[: len(buffer)] + 0.5
    )
    sample = buffer.sample(64)
    assert set(sample.rewards.tolist()) <= set(expected)


def test_replay_sampling_is_uniform_over_the_filled_part():
    buffer = ReplayBuffer(100, (1,), rng=np.random.default_rng(0))
    ids = np.arange(40, dtype=np.float32)
    buffer.add(ids[:, None], np.zeros(40, np.int64), ids, ids[:, None], np.zeros(40))
    counts = np.bincount(buffer.sample(40_000).rewards.astype(int), minlength=40)
    assert counts.min() > 800 and counts.max() < 1200


def test_replay_samples_several_minibatches_at_once():
    buffer = ReplayBuffer(100, (2,), rng=np.random.default_rng(0))
    ids = np.arange(30, dtype=np.float32)
    buffer.add(np.stack([ids, -ids], 1), ids.astype(np.int64), ids, np.stack([ids, -ids], 1) + 0.5, ids % 2)
    batches = buffer.sample(8, batches=5)
    assert batches.observations.shape == (5, 8, 2) and batches.rewards.shape == (5, 8)
    # Every row is one whole stored transition.
    np.testing.assert_array_equal(batches.observations[..., 0], batches.rewards)
    np.testing.assert_array_equal(batches.next_observations[..., 1], -batches.rewards + 0.5)
    np.testing.assert_array_equal(batches.actions, batches.rewards.astype(np.int64))
    np.testing.assert_array_equal(batches.terminated, batches.rewards % 2)
    assert len(np.unique(batches.rewards)) > 8  # the minibatches are not copies of one another


# -------------------------------------------------------------------------------------------------- policies
@settings(max_examples=30, deadline=None)
@given(
    start=st.floats(0.05, 1.0),
    end=st.floats(0.0, 0.05),
    decay=st.floats(0.5, 0.9999),
    steps=st.integers(0, 3000),
)
def test_epsilon_schedule_follows_the_documented_formula(start, end, decay, steps):
    policy = EpsilonGreedyPolicy(Sequential(Linear(2, 2)), {"type": "discrete", "n": 2}, start, end, decay)
    for _ in range(steps):
        policy.step()
    assert policy.epsilon == pytest.approx(max(end, start * decay**steps))
    policy.reset()
    assert policy.epsilon == start


def test_epsilon_greedy_explores_at_the_configured_rate():
    net = Sequential(Linear(3, 4))
    policy = EpsilonGreedyPolicy(net, {"type": "discrete", "n": 4}, epsilon_start=0.3, seed=0)
    states = np.random.default_rng(0).standard_normal((20_000, 3)).astype(np.float32)
    greedy = net(states).numpy().argmax(axis=1)
    differs = np.mean(policy(states) != greedy)
    assert differs == pytest.approx(0.3 * 3 / 4, abs=0.02)  # a random pick matches greedy 1/4 of the time


@pytest.mark.parametrize("epsilon", [1.0, 0.3])
def test_epsilon_greedy_random_actions_are_uniform(epsilon):
    """The draw that decides to explore also picks the action: every action must stay equally likely."""
    net = Sequential(Linear(3, 5))
    policy = EpsilonGreedyPolicy(net, {"type": "discrete", "n": 5}, epsilon_start=epsilon, seed=1)
    states = np.random.default_rng(2).standard_normal((50_000, 3)).astype(np.float32)
    greedy = net(states).numpy().argmax(axis=1)
    actions = policy(states)
    # Action a is a random pick that differs from greedy with probability epsilon / 5 wherever greedy is not a.
    counts = np.array([np.sum((actions == a) & (greedy != a)) for a in range(5)])
    expected = np.array([np.sum(greedy != a) for a in range(5)]) * epsilon / 5
    np.testing.assert_allclose(counts, expected, rtol=0.08)
    singles = [policy(state) for state in states[:5000]]
    assert all(isinstance(a, int) for a in singles)
    assert np.bincount(singles, minlength=5).min() > 0


def test_epsilon_greedy_at_zero_is_greedy():
    net = Sequential(Linear(3, 4))
    policy = EpsilonGreedyPolicy(net, {"type": "discrete", "n": 4}, epsilon_start=0.0, seed=0)
    states = np.random.default_rng(0).standard_normal((500, 3)).astype(np.float32)
    np.testing.assert_array_equal(policy(states), net(states).numpy().argmax(axis=1))
    assert policy(states[0]) == int(net(states[:1]).numpy().argmax())


@settings(max_examples=30, deadline=None)
@given(low=st.floats(-10, 0), width=st.floats(0.1, 10), std=st.floats(0, 5), seed=st.integers(0, 1000))
def test_gaussian_policy_actions_stay_in_the_box(low, width, std, seed):
    net = Sequential(Linear(3, 2, rng=np.random.default_rng(seed)), Tanh())
    space = {"type": "box", "shape": (2,), "low": low, "high": low + width}
    policy = GaussianPolicy(net, space, std=std, seed=seed)
    actions = policy(np.random.default_rng(seed).standard_normal((64, 3)))
    assert actions.shape == (64, 2) and actions.dtype == np.float32
    assert np.all(actions >= np.float32(low)) and np.all(actions <= np.float32(low + width))


def test_random_policy_covers_discrete_and_box_spaces():
    discrete = RandomPolicy({"type": "discrete", "n": 3}, seed=0)
    assert set(discrete(np.zeros((300, 2))).tolist()) == {0, 1, 2}
    box = RandomPolicy({"type": "box", "shape": (2,), "low": -2.0, "high": 3.0}, seed=0)
    samples = box(np.zeros((2000, 2)))
    assert samples.min() >= -2 and samples.max() <= 3 and samples.mean() == pytest.approx(0.5, abs=0.15)


def test_policy_save_and_load_round_trip(tmp_path):
    net = Sequential(Linear(3, 2, rng=np.random.default_rng(0)))
    policy = EpsilonGreedyPolicy(net, {"type": "discrete", "n": 2}, seed=0)
    for _ in range(7):
        policy.step()
    policy.save(tmp_path / "policy")
    other = EpsilonGreedyPolicy(
        Sequential(Linear(3, 2, rng=np.random.default_rng(9))), {"type": "discrete", "n": 2}
    )
    other.load(tmp_path / "policy")
    assert other.epsilon == policy.epsilon and other.t == 7
    states = np.random.default_rng(1).standard_normal((50, 3))
    np.testing.assert_array_equal(other(states), policy(states))
