"""Small envs for the action-space and masking tests: each is solved only by an agent that gets its action
space (or its masks) right, and each is quick to learn."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

EPISODE = 4  # steps per episode of the two matching envs


class _EpisodeOfSteps(gym.Env):
    """EPISODE steps per episode, each paying `_reward(action)` and showing a fresh `_observe()`."""

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._observe(), {}

    def step(self, action):
        reward = self._reward(np.asarray(action))
        self.t += 1
        return self._observe(), reward, self.t >= EPISODE, False, {}


class MatchEnv(_EpisodeOfSteps):
    """MultiDiscrete([3, 4]) actions: each component must name its target, shown one-hot in the observation.

    Each step draws new targets and pays 0.5 per component that matches: 4.0 per episode at best, 1.17 for a
    uniform policy, at most 2.67 for one that gets only one component right.
    """

    observation_space = gym.spaces.Box(0.0, 1.0, (7,), np.float32)
    action_space = gym.spaces.MultiDiscrete([3, 4])

    def _observe(self) -> np.ndarray:
        self.targets = (int(self.np_random.integers(3)), int(self.np_random.integers(4)))
        obs = np.zeros(7, dtype=np.float32)
        obs[self.targets[0]] = obs[3 + self.targets[1]] = 1.0
        return obs

    def _reward(self, action: np.ndarray) -> float:
        assert action.shape == (2,) and np.issubdtype(action.dtype, np.integer), action
        return 0.5 * float(action[0] == self.targets[0]) + 0.5 * float(action[1] == self.targets[1])


class MaskedMatchEnv(MatchEnv):
    """MatchEnv whose `action_masks()` (sum(nvec) = 7 booleans) allows every value of the first component but
    only the target of the second; each step that takes another second value is counted in `violations`."""

    violations = 0  # over every instance, as PickLowestEnv.invalid_actions

    def action_masks(self) -> np.ndarray:
        mask = np.ones(7, dtype=bool)
        mask[3:] = False
        mask[3 + self.targets[1]] = True
        return mask

    def step(self, action):
        MaskedMatchEnv.violations += int(np.asarray(action)[1] != self.targets[1])
        return super().step(action)


class BitsEnv(_EpisodeOfSteps):
    """MultiBinary(4) actions: copy the observation's bits (shown as -1/+1). Pays the fraction of bits copied:
    4.0 per episode at best, 2.0 for a uniform policy."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.MultiBinary(4)

    def _observe(self) -> np.ndarray:
        self.bits = self.np_random.integers(0, 2, 4)
        return (2.0 * self.bits - 1.0).astype(np.float32)

    def _reward(self, action: np.ndarray) -> float:
        assert action.shape == (4,) and set(np.unique(action)) <= {0, 1}, action
        return float(np.mean(action == self.bits))


class PickLowestEnv(gym.Env):
    """Discrete(4) actions of which 2, drawn at random each step, are valid; the observation never says which.

    A valid action pays 1 if it is the lower of the two, else 0; an invalid one ends the episode with -1.
    Episodes last 10 steps. Played with masks (the mask is in info["action_mask"]), the best policy prefers
    lower actions and earns 10, a uniform one 5; unmasked, every fixed action is invalid half the time, and no
    policy expects more than ~1. Every invalid action taken is counted in `PickLowestEnv.invalid_actions`.
    """

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(4)
    invalid_actions = 0  # over every instance: the tests make the envs through gymnasium's registry
    LENGTH = 10

    def _draw(self) -> dict:
        self.mask = np.zeros(4, dtype=bool)
        self.mask[self.np_random.choice(4, 2, replace=False)] = True
        return {"action_mask": self.mask.copy()}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), self._draw()

    def step(self, action):
        action = int(action)
        self.t += 1
        if not self.mask[action]:
            PickLowestEnv.invalid_actions += 1
            return np.zeros(2, dtype=np.float32), -1.0, True, False, self._draw()
        reward = 1.0 if action == int(np.flatnonzero(self.mask)[0]) else 0.0
        return np.zeros(2, dtype=np.float32), reward, False, self.t >= self.LENGTH, self._draw()


class PickLowestMaskedEnv(PickLowestEnv):
    """The same env exposing its mask through `action_masks()`, sb3-contrib's convention."""

    def action_masks(self) -> np.ndarray:
        return self.mask.copy()


IDS = {
    "NeurenixMatch-v0": MatchEnv,
    "NeurenixMaskedMatch-v0": MaskedMatchEnv,
    "NeurenixBits-v0": BitsEnv,
    "NeurenixPickLowest-v0": PickLowestEnv,
    "NeurenixPickLowestMasked-v0": PickLowestMaskedEnv,
}


def register() -> None:
    for env_id, cls in IDS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=cls)
