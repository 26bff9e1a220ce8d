"""AsyncVecEnv: VecEnv's interface and numbers with copy 0 in the trainer and each other copy in a worker
process, and workers that never outlive their trainer or hang it."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time

import gymnasium as gym
import numpy as np
import pytest
from action_envs import PickLowestEnv, PickLowestMaskedEnv

from neurenix.errors import EnvWorkerError
from neurenix.rl.algorithms.dqn import DQN
from neurenix.rl.algorithms.ppo import PPO
from neurenix.rl.async_env import AsyncVecEnv
from neurenix.rl.environment import VecEnv, make_copy, make_env


class DictObsEnv(gym.Env):
    """A Dict observation (no shared memory: it travels pickled) and episodes of 1 to 5 steps."""

    observation_space = gym.spaces.Dict(
        {"pos": gym.spaces.Box(-1.0, 1.0, (2,), np.float32), "tag": gym.spaces.Discrete(3)}
    )
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.left = int(self.np_random.integers(1, 6))
        return self._obs(), {}

    def _obs(self):
        return {
            "pos": self.np_random.uniform(-1, 1, 2).astype(np.float32),
            "tag": int(self.np_random.integers(3)),
        }

    def step(self, action):
        self.left -= 1
        return self._obs(), float(np.sum(action)), self.left == 0, False, {}


class FailingEnv(gym.Env):
    """CartPole's spaces; its `fail_at`-th step raises."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, fail_at: int = 3) -> None:
        self.fail_at = fail_at
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.t += 1
        if self.t == self.fail_at:
            raise ValueError("the simulator lost its state")
        return np.zeros(4, np.float32), 1.0, False, False, {}


def assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif a is None:
        assert b is None
    else:
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


CASES = {
    "box obs, capped episodes": (functools.partial(make_copy, "CartPole-v1"), {"max_episode_steps": 7}),
    "dict obs, box actions": (DictObsEnv, {}),
    "masks from info": (PickLowestEnv, {"action_mask_key": "action_mask"}),
    "masks from a method": (PickLowestMaskedEnv, {}),
}


@pytest.mark.parametrize("case", CASES)
def test_every_step_equals_vecenvs(case):
    fn, options = CASES[case]
    sync = VecEnv([fn() for _ in range(3)], **options)
    asyn = AsyncVecEnv([fn] * 3, **options)
    try:
        assert (asyn.num_envs, asyn.masks_actions) == (3, sync.masks_actions)
        assert asyn.observation_space == sync.observation_space and asyn.action_space == sync.action_space
        assert_same(sync.reset(seed=5), asyn.reset(seed=5))
        assert_same(sync.action_masks, asyn.action_masks)
        rng = np.random.default_rng(0)
        ended = 0
        for _ in range(40):
            if sync.masks_actions:
                actions = np.array([rng.choice(np.flatnonzero(m)) for m in sync.action_masks])
            else:
                actions = np.array([sync.action_space.sample() for _ in range(3)])
            a, b = sync.step(actions), asyn.step(actions)
            for field in ("next_obs", "final_obs", "rewards", "terminated", "truncated"):
                assert_same(getattr(a, field), getattr(b, field))
            assert_same(a.action_masks, b.action_masks)
            assert_same(a.final_action_masks, b.final_action_masks)
            assert a.episodes == b.episodes
            ended += len(a.episodes)
        assert ended > 3, "the case must cover autoresets"
    finally:
        sync.close()
        asyn.close()


@pytest.mark.parametrize(
    ("cls", "env_id", "options"),
    [
        (DQN, "CartPole-v1", {"learning_starts": 100, "train_freq": 8, "hidden_dims": [16]}),
        (PPO, "Pendulum-v1", {"n_steps": 32, "batch_size": 32, "n_envs": 2}),
    ],
)
def test_same_seed_trains_to_the_same_parameters(cls, env_id, options):
    results = []
    for vectorization in ("sync", "async"):
        vec = make_env(env_id, n_envs=2, seed=4, vectorization=vectorization)
        assert isinstance(vec, AsyncVecEnv) == (vectorization == "async")
        agent = cls(vec.observation_space, vec.action_space, seed=4, **options)
        try:
            out = agent.train(vec, total_steps=600, max_steps=60)
        finally:
            vec.close()
        results.append((out["episode_rewards"], agent.state_dict()))
    (returns_s, state_s), (returns_a, state_a) = results
    assert returns_s == returns_a and len(returns_s) >= 10
    flat_s, flat_a = dict(flatten(state_s)), dict(flatten(state_a))
    assert flat_s.keys() == flat_a.keys() and len(flat_s) > 4
    for key in flat_s:
        assert np.array_equal(np.asarray(flat_s[key]), np.asarray(flat_a[key])), key


def flatten(state, prefix=""):
    """(dotted key, leaf) of a nested state dict."""
    for key, value in state.items():
        if isinstance(value, dict):
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_an_env_exception_in_a_worker_is_raised_in_the_trainer_not_a_hang():
    vec = AsyncVecEnv([functools.partial(FailingEnv, 100), FailingEnv, functools.partial(FailingEnv, 100)])
    workers = [w.process for w in vec._workers]
    assert [w.index for w in vec._workers] == [1, 2]
    vec.reset(seed=0)
    vec.step(np.zeros(3, np.int64))
    vec.step(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="lost its state") as caught:
        vec.step(np.zeros(3, np.int64))
    assert any("env copy 1's worker process" in note for note in caught.value.__notes__)
    with pytest.raises(EnvWorkerError, match="stopped at an error"):
        vec.step(np.zeros(3, np.int64))
    start = time.monotonic()
    vec.close()
    assert time.monotonic() - start < 2.0, "close must not wait for a timeout: the workers were in step"
    assert all(p.exitcode is not None for p in workers)


def test_an_exception_in_the_trainers_own_copy_leaves_the_workers_in_step():
    vec = AsyncVecEnv([FailingEnv, functools.partial(FailingEnv, 100)])
    vec.reset(seed=0)
    vec.step(np.zeros(2, np.int64))
    vec.step(np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="lost its state"):
        vec.step(np.zeros(2, np.int64))
    with pytest.raises(EnvWorkerError, match="stopped at an error"):
        vec.step(np.zeros(2, np.int64))
    start = time.monotonic()
    vec.close()
    assert time.monotonic() - start < 2.0, "close must not wait for a timeout: the worker had answered"
    assert vec._workers[0].process.exitcode == 0


def test_one_copy_needs_no_worker():
    sync = VecEnv([make_copy("CartPole-v1")], max_episode_steps=9)
    asyn = AsyncVecEnv([functools.partial(make_copy, "CartPole-v1")], max_episode_steps=9)
    try:
        assert asyn._workers == []
        assert_same(sync.reset(seed=1), asyn.reset(seed=1))
        for _ in range(20):
            a, b = sync.step(np.ones(1, np.int64)), asyn.step(np.ones(1, np.int64))
            assert_same(a.next_obs, b.next_obs)
            assert a.episodes == b.episodes
    finally:
        sync.close()
        asyn.close()


def test_a_worker_that_dies_is_an_env_worker_error():
    vec = AsyncVecEnv([functools.partial(make_copy, "CartPole-v1")] * 2)
    try:
        vec.reset(seed=0)
        os.kill(vec._workers[0].process.pid, signal.SIGKILL)
        vec._workers[0].process.join(5)
        with pytest.raises(EnvWorkerError, match="copy 1's worker process .* killed by SIGKILL"):
            vec.step(np.zeros(2, np.int64))
    finally:
        vec.close()


def test_a_copy_that_cannot_be_built_is_reported_with_its_error():
    with pytest.raises(Exception, match="Unknown environment id 'NoSuchEnv-v0'"):
        AsyncVecEnv([functools.partial(make_copy, "NoSuchEnv-v0")] * 2)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has died: it waits to be reaped
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_when_their_trainer_is_killed():
    script = textwrap.dedent(
        """
        import functools, time
        from neurenix.rl.async_env import AsyncVecEnv
        from neurenix.rl.environment import make_copy
        vec = AsyncVecEnv([functools.partial(make_copy, "CartPole-v1")] * 3)
        print(*(w.process.pid for w in vec._workers), flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2 and all(alive(p) for p in pids)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in pids), "a worker outlived its killed trainer"
