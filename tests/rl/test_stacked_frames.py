"""frame_stack: a frame-stacked env's replay keeps each frame once (`neurenix.rl.frames`) and serves exactly the
transitions, next observations included, that the in-place buffer holding whole stacks serves."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from neurenix.checkpoint import flatten_state
from neurenix.errors import ConfigError
from neurenix.rl import DQN, SAC, load_agent
from neurenix.rl.buffers import ReplayBuffer
from neurenix.rl.environment import VecEnv
from neurenix.rl.frames import StackedFrames
from neurenix.rl.observations import ObservationFrontEnd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pixel_envs import GridGoal  # noqa: E402

N_ENVS = 3
STACK = 4
FRAME = (5, 6)


def front_end(stack: int = STACK) -> ObservationFrontEnd:
    return ObservationFrontEnd(gym.spaces.Box(0, 255, (stack, *FRAME), np.uint8), images=True)


def _stream(steps: int, rng: np.random.Generator, end_rate: float = 0.2):
    """N_ENVS frame-stacked envs as FrameStackObservation steps them: each step shifts in one new frame; an
    episode that ends restarts from a stack of its first frame, repeated (the wrapper's "reset" padding)."""

    def frame():
        return rng.integers(0, 256, size=(N_ENVS, *FRAME), dtype=np.uint8)

    obs = np.repeat(frame()[:, None], STACK, axis=1)
    for t in range(steps):
        next_obs = np.concatenate([obs[:, 1:], frame()[:, None]], axis=1)
        ended = rng.random(N_ENVS) < end_rate
        terminated = (ended & (rng.random(N_ENVS) < 0.5)).astype(np.float32)
        yield obs, np.full(N_ENVS, t), np.arange(N_ENVS) + 10.0 * t, next_obs, terminated
        obs = np.where(ended[:, None, None, None], np.repeat(frame()[:, None], STACK, axis=1), next_obs)


def _fill(buffers, steps, seed=1, **stream):
    for transition in _stream(steps, np.random.default_rng(seed), **stream):
        for buffer in buffers:
            buffer.add(*transition)


# Below, at and past full, wrapped many times; 7 rows: a stack's chain reaches around the whole ring.
@pytest.mark.parametrize("steps", [1, 2, 5, 33, 34, 35, 200, 1000])
@pytest.mark.parametrize("end_rate", [0.0, 0.2, 0.9])
@pytest.mark.parametrize("capacity", [100, 7])
def test_frames_stored_once_serve_the_same_batches_as_whole_stacks(steps, end_rate, capacity):
    stacks = ReplayBuffer(capacity, front_end(), rng=np.random.default_rng(0), optimize_memory_usage=True)
    frames = ReplayBuffer(capacity, front_end(), rng=np.random.default_rng(0), frame_stack=STACK)
    _fill([stacks, frames], steps, end_rate=end_rate)
    assert isinstance(frames.observations, StackedFrames)
    for expected, served in zip(stacks.sample(500), frames.sample(500), strict=True):
        np.testing.assert_array_equal(served, expected)


def test_each_frame_is_stored_once_and_each_episode_start_once_more():
    space = gym.spaces.Box(0, 255, (STACK, 84, 84), np.uint8)
    buffer = ReplayBuffer(1000, ObservationFrontEnd(space, images=True), frame_stack=STACK)
    assert buffer.next_observations is None
    assert buffer.observations.frames.nbytes == 1000 * 84 * 84
    stream = ReplayBuffer(100, front_end(), frame_stack=STACK)
    _fill([stream], 30, end_rate=0.0)
    assert len(stream.observations.heads) == N_ENVS, "one head per env: the first stack each one wrote"


def test_stacks_that_do_not_continue_are_kept_whole_and_read_back_exactly():
    """Observations that are not frame stacks (every row a head) cost memory, never a wrong observation."""
    rng = np.random.default_rng(3)
    store = StackedFrames(20, (STACK, *FRAME), np.uint8)
    written = {}
    for step in range(12):
        rows = np.arange(step * 2, step * 2 + 2) % 20
        stacks = rng.integers(0, 256, size=(2, STACK, *FRAME), dtype=np.uint8)
        store.write(rows, stacks)
        written |= dict(zip(rows.tolist(), stacks, strict=True))
    rows = np.asarray(sorted(written))
    np.testing.assert_array_equal(store.read(rows), np.stack([written[r] for r in rows.tolist()]))
    assert len(store.heads) == 20


def test_the_frame_store_round_trips_through_the_buffers_state():
    a = ReplayBuffer(60, front_end(), rng=np.random.default_rng(0), frame_stack=STACK)
    _fill([a], 45)
    b = ReplayBuffer(60, front_end(), rng=np.random.default_rng(0), frame_stack=STACK)
    b.load_state_dict(a.state_dict())
    _fill([a, b], 9, seed=2)  # the next adds, wrapping, find what they expect in either
    for x, y in zip(a.sample(400), b.sample(400), strict=True):
        np.testing.assert_array_equal(x, y)
    whole = ReplayBuffer(60, front_end(), optimize_memory_usage=True)
    with pytest.raises(ValueError, match="frame_stack"):
        whole.load_state_dict(a.state_dict())


@pytest.mark.parametrize(
    "space",
    [gym.spaces.Box(0, 255, (3, *FRAME), np.uint8), gym.spaces.Box(-1, 1, (8,)), gym.spaces.Box(-1, 1, (4,))],
    ids=["3 frames", "a vector", "a vector of 4 values, not 4 frames"],
)
def test_a_frame_stack_the_observations_do_not_have_is_refused(space):
    with pytest.raises(ConfigError, match="frame_stack=4 needs one Box observation whose first axis holds 4"):
        ReplayBuffer(10, ObservationFrontEnd(space, images=True), frame_stack=STACK)


def _stacked_grid(n_envs: int = 2) -> VecEnv:
    """GridGoal in gray, 4 frames stacked: (4, 5, 5) uint8 observations, as Atari's preprocessing gives them."""
    copies = [
        gym.wrappers.FrameStackObservation(gym.wrappers.GrayscaleObservation(GridGoal()), stack_size=STACK)
        for _ in range(n_envs)
    ]
    return VecEnv(copies, seed=0)


def test_dqn_trains_to_the_same_bits_with_frames_stored_once(tmp_path):
    """Both buffers draw the same rows, so any difference is a wrong stack: GridGoal's episodes end at the goal
    and at its 30-step cap, so heads and chains cut by wrapping (buffer 300 < 1200 steps) are all on the path."""
    settings = dict(
        encoder="small_cnn", encoder_features=16, hidden_dims=[16], buffer_size=300, batch_size=16,
        learning_starts=100, train_freq=2,
    )  # fmt: skip
    results, weights = [], []
    for options in ({"optimize_memory_usage": True}, {"frame_stack": STACK}):
        env = _stacked_grid()
        agent = DQN(env.observation_space, env.action_space, seed=0, **settings, **options)
        results.append(agent.train(env, total_steps=1200, configure_runtime=False))
        agent.save(tmp_path / str(len(results)), include_replay_buffer=True)
        weights.append(flatten_state(agent.state_dict())[0])
    assert results[0]["episode_rewards"] == results[1]["episode_rewards"]
    for name in weights[0]:
        np.testing.assert_array_equal(weights[0][name], weights[1][name], err_msg=name)
    resumed = load_agent(tmp_path / "2")
    assert isinstance(resumed.buffer.observations, StackedFrames) and len(resumed.buffer) == 300


def test_an_agent_refuses_a_frame_stack_its_observations_do_not_have():
    space = gym.spaces.Box(-1, 1, (3,))
    with pytest.raises(ConfigError, match="frame_stack=4 needs") as error:
        SAC(space, gym.spaces.Box(-1, 1, (1,)), frame_stack=STACK)
    assert error.value.key == "frame_stack"
