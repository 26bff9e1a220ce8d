"""A tiny image env for the pixels tests: a uint8 grid seen from above, where the agent must walk to a goal.

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
