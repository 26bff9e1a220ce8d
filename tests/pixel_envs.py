"""Tiny image envs for the pixels tests: `GridGoal`, a uint8 grid seen from above, where the agent must walk to a
goal (discrete actions), and `BrightnessTarget`, a bandit whose target is drawn in pixels (box actions).

`GridGoal` shows a SIZE x SIZE x 3 uint8 image, channels last as MiniGrid's ImgObsWrapper gives them: channel 0
is 255 where the agent stands, channel 1 where the goal is (channel 2 stays 0). Agent and goal start on random,
different cells; the actions move up, down, left, right (walls stop a move). Reaching the goal ends the episode
with MiniGrid's reward, 1 - 0.9 * steps / MAX_STEPS; after MAX_STEPS steps it is truncated with 0.

What scores what: walking straight to the goal averages ~0.90 (a mean distance of ~3.3 steps on 5x5); a uniform
random policy ~0.3, a constant action ~0.1 (the goal must lie straight ahead), and a policy that sees the agent
but not the goal (or the reverse) cannot beat ~0.5. The learning tests ask 0.8.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

SIZE = 5
MAX_STEPS = 30
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
BANDIT_STEPS = 4


class GridGoal(gym.Env):
    observation_space = gym.spaces.Box(0, 255, (SIZE, SIZE, 3), np.uint8)
    action_space = gym.spaces.Discrete(4)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        cells = self.np_random.choice(SIZE * SIZE, size=2, replace=False)
        self.agent, self.goal = divmod(int(cells[0]), SIZE), divmod(int(cells[1]), SIZE)
        self.t = 0
        return self._observe(), {}

    def step(self, action):
        dy, dx = MOVES[int(action)]
        self.agent = (min(max(self.agent[0] + dy, 0), SIZE - 1), min(max(self.agent[1] + dx, 0), SIZE - 1))
        self.t += 1
        if self.agent == self.goal:
            return self._observe(), 1.0 - 0.9 * self.t / MAX_STEPS, True, False, {}
        return self._observe(), 0.0, False, self.t >= MAX_STEPS, {}

    def _observe(self) -> np.ndarray:
        image = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
        image[self.agent][0] = 255
        image[self.goal][1] = 255
        return image


class BrightnessTarget(gym.Env):
    """A contextual bandit seen in pixels, for the box-action algorithms (DDPG, TD3, SAC).

    Each step draws a target t ~ U(-1, 1) and shows it as a 1 x 8 x 8 uint8 image (channels first): the top half
    has brightness b = round(255 (1 + t) / 2), the bottom half 255 - b, so the mean brightness is the same for
    every t and only the pattern tells t. The action is one number in [-1, 1] and the reward -|a - t|; an
    episode is BANDIT_STEPS steps, then terminates.

    What scores what, per step: reading t exactly 0; the best constant action (0) -E|t| = -0.5; uniform random
    actions -2/3.
    """

    observation_space = gym.spaces.Box(0, 255, (1, 8, 8), np.uint8)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action):
        reward = -abs(float(np.asarray(action).reshape(-1)[0]) - self.target)
        self.t += 1
        return self._draw(), reward, self.t >= BANDIT_STEPS, False, {}

    def _draw(self) -> np.ndarray:
        self.target = float(self.np_random.uniform(-1.0, 1.0))
        bright = int(round(255 * (1.0 + self.target) / 2))
        image = np.empty((1, 8, 8), dtype=np.uint8)
        image[:, :4], image[:, 4:] = bright, 255 - bright
        return image
