"""The two Atari conventions of SB3's AtariWrapper that gymnasium's `AtariPreprocessing` lacks, as wrappers a
config names (`env.wrappers`, `env.training_wrappers`); `AtariPreprocessing` gives the others (no-op reset, frame
skip with max-pooling, 84x84 grayscale).

- `EpisodicLife`, for training only: a lost life ends the episode (`terminated`, so the value of the states
  before it is not bootstrapped from the next life), and the reset that follows continues the game instead of
  starting a new one. Evaluations run without it and score whole games. Training episodes are then lives, and
  the run's training returns are per life.
- `FireReset`: games whose ball or round starts only on FIRE (Breakout) get it pressed at each game's start and
  after each lost life, in training and evaluation alike, so that neither the agent in its first steps nor a
  policy that never learned to press it stalls until the time limit. SB3 presses it after each reset, which its
  life-loss episodes make after each lost life too.

Both read lives from the ALE (`env.unwrapped.ale`), whatever wraps it: put them after `AtariPreprocessing` and
the frame stack.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

NOOP, FIRE = 0, 1
# After FIRE, SB3 (after the Nature DQN code) presses action 2 once more: some games need a second input.
SECOND_PRESS = 2


def _lives(env: gym.Env) -> int:
    ale = getattr(env.unwrapped, "ale", None)
    if ale is None:
        raise ValueError(
            f"{env.unwrapped} is not an Atari game (it has no `ale` to count lives with); use this wrapper only "
            "on ALE environments"
        )
    return int(ale.lives())


class EpisodicLife(gym.Wrapper):
    """A lost life is a terminal step; reset() starts a new game only once the real one is over."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = _lives(env)
        self.game_over = True

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = _lives(self.env)
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any):
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            # The game goes on: one no-op step gives the first observation of the next life.
            obs, _, terminated, truncated, info = self.env.step(NOOP)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.game_over = False
        self.lives = _lives(self.env)
        return obs, info


class FireReset(gym.Wrapper):
    """FIRE (then action 2) at each game's start and after each lost life; refuses a game without FIRE."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = _lives(env)  # first: an env that is no Atari game is told so
        meanings = env.unwrapped.get_action_meanings()
        if len(meanings) <= SECOND_PRESS or meanings[FIRE] != "FIRE":
            raise ValueError(
                f"FireReset presses FIRE, and this game's actions are {meanings}; leave it out for games "
                "that start without FIRE"
            )

    def reset(self, **kwargs: Any):
        self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self._press(0.0)
        if terminated or truncated:
            obs, info = self.env.reset(**kwargs)
        self.lives = _lives(self.env)
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if _lives(self.env) < self.lives and not (terminated or truncated):
            obs, reward, terminated, truncated, info = self._press(float(reward))
        self.lives = _lives(self.env)
        return obs, reward, terminated, truncated, info

    def _press(self, reward: float):
        """FIRE then action 2 as one step, their rewards added to `reward`; the second is skipped if the first
        ends the game."""
        for action in (FIRE, SECOND_PRESS):
            obs, step_reward, terminated, truncated, info = self.env.step(action)
            reward += float(step_reward)
            if terminated or truncated:
                break
        return obs, reward, terminated, truncated, info
