"""SB3's Atari conventions that gymnasium lacks (`neurenix.rl.atari`), on the real ALE (ale-py, the atari extra)."""

from __future__ import annotations

from pathlib import Path

import ale_py
import gymnasium as gym
import numpy as np
import pytest

from neurenix.rl.atari import EpisodicLife, FireReset

gym.register_envs(ale_py)
ROOT = Path(__file__).resolve().parents[2]


def breakout(*wrappers):
    env = gym.make("BreakoutNoFrameskip-v4")
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, terminal_on_life_loss=False)
    for wrapper in wrappers:
        env = wrapper(env)
    return env


def steps_until_done(env, action, limit=3000):
    """Steps of a constant action until the env ends its episode, or None within `limit`."""
    for step in range(1, limit + 1):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            return step
    return None


def test_fire_reset_launches_the_ball_at_the_start_and_after_each_lost_life():
    """Breakout's ball waits for FIRE: a policy that only ever does nothing loses no life without the wrapper,
    and with it loses all five (the ball is served again after each)."""
    plain = breakout()
    plain.reset(seed=0)
    for _ in range(600):
        plain.step(0)
    assert plain.unwrapped.ale.lives() == 5
    fired = breakout(FireReset)
    fired.reset(seed=0)
    assert steps_until_done(fired, 0) is not None
    assert fired.unwrapped.ale.lives() == 0


def test_episodic_life_ends_an_episode_per_life_and_resets_only_when_the_game_is_over():
    env = breakout(FireReset, EpisodicLife)
    env.reset(seed=0)
    lives_after = []
    for _ in range(5):
        assert steps_until_done(env, 0) is not None  # a life lost ends the episode, terminated
        lives_after.append(env.unwrapped.ale.lives())
        obs, _ = env.reset()
        assert obs.shape == (84, 84)
    assert lives_after == [4, 3, 2, 1, 0]
    assert env.unwrapped.ale.lives() == 5  # the fifth reset came after the game's end: a new game


def test_episodic_life_reports_a_lost_life_as_terminated_not_truncated():
    env = breakout(FireReset, EpisodicLife)
    env.reset(seed=0)
    while True:
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            break
    assert terminated and not truncated and env.unwrapped.ale.lives() == 4


def test_a_game_without_fire_and_a_non_atari_env_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="FIRE"):
        FireReset(gym.make("FreewayNoFrameskip-v4"))
    for wrapper in (EpisodicLife, FireReset):
        with pytest.raises(ValueError, match="not an Atari game"):
            wrapper(gym.make("CartPole-v1"))


def test_the_shipped_breakout_config_trains_on_lives_and_evaluates_whole_games():
    """The config's wrappers through the CLI's env builder: a training episode ends with the first lost life,
    an evaluation episode only with the game."""
    from neurenix_cli import envs
    from neurenix_cli.config.reading import load_config

    config = load_config(ROOT / "configs" / "ppo_breakout.yaml")
    for training, lives_seen in ((True, {5}), (False, {5, 4, 3, 2, 1})):
        vec = envs.make(config["env"], "ppo_breakout.yaml", n_envs=1, seed=0, training=training)
        vec.reset()
        seen = set()
        for _ in range(5000):
            seen.add(vec.envs[0].unwrapped.ale.lives())
            step = vec.step(np.zeros(1, dtype=np.int64))
            if step.terminated[0] or step.truncated[0]:
                break
        assert seen == lives_seen
