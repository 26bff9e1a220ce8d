"""Learning from pixels: PPO and DQN with the small CNN encoder walk to a goal they only see in a 5x5x3 uint8
image (`tests/pixel_envs.GridGoal`, channels last, so the front-end's transpose and the network's 1/255 are both
on the path).

The threshold, a mean return of 0.8 over 50 evaluation episodes, needs nearly every episode to end at the goal in
about 1.7 times the shortest walk or better (walking straight there averages ~0.90). A policy that cannot read
the image is far below it: uniform actions ~0.3, a constant action ~0.1, and one that sees where it stands but
not the goal (or the reverse) cannot beat ~0.5. With these settings PPO reached 0.90 on seeds 0-2 after 50,000
steps (~5 s each on this machine) and 0.79-0.85 after 30,000; DQN reached 0.90 on seeds 0-2 after 30,000 steps
(~20 s each, 2 cores under load), and 0.74-0.85 after 20,000 with gamma 0.95. Two broken PPOs, tried at seed 0
with these settings, stay far below: the encoder left out of the optimizer (heads over fixed random features)
0.14, pixels fed to the first convolution unscaled 0.46.

SAC, TD3 and DDPG (box actions) read a target t in [-1, 1] off a 1x8x8 uint8 image (`tests/pixel_envs.BrightnessTarget`,
top half brightness (1 + t) / 2, bottom half its complement, so the mean brightness says nothing) and are paid
-|a - t|. The threshold, a mean reward per step of -0.15 over 50 evaluation episodes, is far above the best a
policy blind to the image can do (the constant 0: -0.5). With these settings (1,500 steps, ~10 s each on this
machine under load) SAC reached -0.044 and -0.025 on seeds 0 and 1, TD3 -0.040 and -0.015. Broken variants at
the same settings stay below it: the critic's encoder untrained (left out of the critic's optimizer, or its
features computed without a graph: its Q-networks over fixed random features) SAC -0.38 and -0.42 (seeds 0, 1),
TD3 -0.43 and -0.46; the actor's encoder fed zeros (actions that do not depend on the image) SAC -0.48. DDPG
needs a slower actor (1e-4): at 3e-4 its tanh actor saturated on seed 0 (-0.48; seeds 1, 2 -0.006, -0.013); at
1e-4 seeds 0-2 reached -0.021, -0.048, -0.035, and with its critic's encoder left out of the critic's optimizer
-0.41 and -0.48 (seeds 0, 1).

The same two learn a real MiniGrid task from its image: MiniGrid-Empty-Random-5x5-v0 under MiniGrid's own
ImgObsWrapper (the agent's 7x7x3 uint8 view: object, colour and state codes, not pixel intensities), where the
agent starts on a random cell facing a random way and must reach the corner goal. Walking straight there scores
~0.96; the threshold is 0.9 over 50 deterministic evaluation episodes. Measured (2 cores shared with a benchmark):
PPO 0.959 and 0.968 on seeds 0 and 1 after 30,000 steps (12-21 s), DQN 0.969 and 0.970 after 15,000 (19-46 s);
on seeds 2 and 3 (20 episodes) PPO 0.968 and 0.965, DQN 0.969 and 0.922 (one episode lost); the same runs with
the view replaced by zeros (a blind policy) 0.246 for both, and uniform random actions ~0.18.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid ids)
import numpy as np
import pytest
from minigrid.wrappers import ImgObsWrapper

from neurenix.rl import DDPG, DQN, PPO, SAC, TD3
from neurenix.rl.environment import VecEnv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pixel_envs import BANDIT_STEPS, BrightnessTarget, GridGoal  # noqa: E402

THRESHOLD = 0.8
MINIGRID = "MiniGrid-Empty-Random-5x5-v0"
MINIGRID_THRESHOLD = 0.9
BANDIT_THRESHOLD = -0.15  # mean reward per step


def minigrid_view() -> gym.Env:
    return ImgObsWrapper(gym.make(MINIGRID))


# (env maker, PPO's steps, DQN's steps, threshold on the mean return over 50 evaluation episodes)
TASKS = {
    "grid_goal": (GridGoal, 50_000, 30_000, THRESHOLD),
    "minigrid": (minigrid_view, 30_000, 15_000, MINIGRID_THRESHOLD),
}


def evaluation(agent, make) -> float:
    return float(np.mean(agent.evaluate(VecEnv([make()]), episodes=50, seed=100)))


@pytest.mark.learning
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("seed", [0, 1])
def test_ppo_with_small_cnn_walks_to_a_goal_it_sees_only_in_an_image(task, seed):
    make, steps, _, threshold = TASKS[task]
    env = VecEnv([make() for _ in range(8)], seed=seed)
    agent = PPO(
        env.observation_space,
        env.action_space,
        seed=seed,
        n_envs=8,
        encoder="small_cnn",
        encoder_features=64,
        n_steps=64,
        batch_size=128,
        n_epochs=4,
        actor_learning_rate=1e-3,
        critic_learning_rate=1e-3,
        actor_hidden_dims=[64],
        critic_hidden_dims=[64],
        gamma=0.95,
    )
    agent.train(env, total_steps=steps)
    assert evaluation(agent, make) >= threshold


@pytest.mark.learning
@pytest.mark.parametrize("task", TASKS)
def test_dqn_with_small_cnn_walks_to_a_goal_it_sees_only_in_an_image(task):
    make, _, steps, threshold = TASKS[task]
    env = VecEnv([make()], seed=0)
    agent = DQN(
        env.observation_space,
        env.action_space,
        seed=0,
        encoder="small_cnn",
        encoder_features=64,
        hidden_dims=[64],
        learning_rate=1e-3,
        buffer_size=10_000,
        batch_size=64,
        learning_starts=500,
        train_freq=4,
        exploration_fraction=0.3,
        update_target_every=500,
        gamma=0.9,
    )
    agent.train(env, total_steps=steps)
    assert evaluation(agent, make) >= threshold


@pytest.mark.learning
@pytest.mark.parametrize(
    ("cls", "actor_learning_rate"), [(SAC, 1e-3), (TD3, 3e-4), (DDPG, 1e-4)], ids=["sac", "td3", "ddpg"]
)
def test_box_action_agents_with_small_cnn_read_a_target_off_pixels(cls, actor_learning_rate):
    env = VecEnv([BrightnessTarget()], seed=0)
    agent = cls(
        env.observation_space,
        env.action_space,
        seed=0,
        encoder="small_cnn",
        encoder_features=8,
        actor_hidden_dims=[64],
        critic_hidden_dims=[64],
        actor_learning_rate=actor_learning_rate,  # TD3's tanh actor saturates at 1e-3 here, DDPG's at 3e-4
        critic_learning_rate=1e-3,
        buffer_size=2_000,
        batch_size=64,
        learning_starts=200,
        gamma=0.5,
    )
    agent.train(env, total_steps=1_500)
    returns = agent.evaluate(VecEnv([BrightnessTarget()]), episodes=50, seed=100)
    assert float(np.mean(returns)) / BANDIT_STEPS >= BANDIT_THRESHOLD
