"""Learning through the observation front-end: Discrete observations one-hot encoded (FrozenLake without slip,
Taxi) and a Dict of a box and a goal id.

Each threshold is out of reach of a broken encoding. FrozenLake pays 1 only at the goal, which a policy that
cannot tell states apart (one constant action) never reaches; on the goal line a policy blind to the goal id
averages 0 at best; Taxi's mean is positive only if nearly every passenger is delivered within ~20 steps (an
episode that is not costs about -200). The goal-line and PPO FrozenLake settings cleared their thresholds on
seeds 0-5 each, in a few seconds per run. Since the first update comes after `learning_starts` (SB3's cadence),
DQN FrozenLake needs 4,000 steps: at 3,000 seed 1 missed the goal, at 4,000 seeds 0-9 all reach it. Taxi (60,000
steps, the longest run here) with lr 3e-3 and batch 128 delivered all 20 passengers (mean 8.05) on seeds 0-5; with
the earlier lr 1e-3 and batch 64 only one seed in four did. The test pins seed 0: it guards the encoding.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from test_observations import GoalLine

from neurenix.rl import DQN, PPO, make_env
from neurenix.rl.environment import VecEnv

SMALL_PPO = {
    "n_steps": 64,
    "batch_size": 64,
    "n_epochs": 4,
    "actor_learning_rate": 3e-3,
    "critic_learning_rate": 3e-3,
    "gamma": 0.95,
    "actor_hidden_dims": [32],
    "critic_hidden_dims": [32],
}


def taxi(seed: int | None = None):
    return make_env("Taxi-v4" if "Taxi-v4" in gym.registry else "Taxi-v3", seed=seed)


def frozen_lake(n_envs: int = 1, seed: int | None = None):
    return make_env("FrozenLake-v1", n_envs=n_envs, seed=seed, is_slippery=False)


@pytest.mark.learning
@pytest.mark.parametrize("seed", [0, 1])
def test_dqn_solves_frozen_lake(seed):
    env = frozen_lake(seed=seed)
    agent = DQN(
        env.observation_space,
        env.action_space,
        seed=seed,
        hidden_dims=[32],
        learning_rate=3e-3,
        buffer_size=5000,
        batch_size=32,
        learning_starts=500,
        exploration_fraction=0.5,
        update_target_every=100,
        gamma=0.95,
    )
    agent.train(env, total_steps=4000)
    assert agent.evaluate(frozen_lake(), episodes=3) == [1.0, 1.0, 1.0]


@pytest.mark.learning
@pytest.mark.parametrize("seed", [0, 1])
def test_ppo_solves_frozen_lake(seed):
    env = frozen_lake(n_envs=4, seed=seed)
    agent = PPO(env.observation_space, env.action_space, seed=seed, n_envs=4, **SMALL_PPO)
    agent.train(env, total_steps=10_000)
    assert agent.evaluate(frozen_lake(), episodes=3) == [1.0, 1.0, 1.0]


@pytest.mark.learning
@pytest.mark.parametrize("seed", [0, 1])
def test_ppo_reads_the_goal_id_of_a_dict_observation(seed):
    env = VecEnv([GoalLine() for _ in range(4)], seed=seed)
    agent = PPO(env.observation_space, env.action_space, seed=seed, n_envs=4, **{**SMALL_PPO, "n_steps": 32})
    agent.train(env, total_steps=6000)
    returns = agent.evaluate(VecEnv([GoalLine()]), episodes=20, seed=100)
    assert np.mean(returns) >= 0.9


@pytest.mark.learning
def test_dqn_solves_taxi():
    env = taxi(seed=0)
    agent = DQN(
        env.observation_space,
        env.action_space,
        seed=0,
        hidden_dims=[64],
        learning_rate=3e-3,
        buffer_size=60_000,
        batch_size=128,
        learning_starts=1000,
        update_target_every=250,
        exploration_fraction=0.5,
        epsilon_end=0.05,
        gamma=0.99,
    )
    # Episodes cut at 50 steps while training (truncations, which bootstrap) start from more of the 500 states.
    agent.train(env, total_steps=60_000, max_steps=50)
    assert np.mean(agent.evaluate(taxi(), episodes=20, seed=100)) >= 0.0
