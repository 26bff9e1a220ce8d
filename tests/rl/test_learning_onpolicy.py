"""A2C and PPO learn CartPole from the shipped configs, on a shorter budget (a few seconds each on 2 cores).

A uniformly random policy averages about 22 on CartPole-v1; the thresholds are far beyond what a wrong sign, a
missing bootstrap or a broken gradient reaches. Deterministic evaluation on 20 episodes of separately seeded envs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from neurenix.rl import make_env, registry

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def train_from_config(name: str, total_steps: int, seed: int = 0):
    config = yaml.safe_load((CONFIGS / name).read_text())
    env = make_env(config["env"]["id"], n_envs=config["env"]["n_envs"], seed=seed)
    agent = registry.get(config["algorithm"])(
        env.observation_space, env.action_space, seed=seed, **config["agent"]
    )
    agent.train(env, total_steps=total_steps)
    return agent, np.mean(agent.evaluate(make_env(config["env"]["id"], seed=1000 + seed), episodes=20))


@pytest.mark.learning
def test_ppo_learns_cartpole():
    # RL Zoo's settings; the schedules span this shorter budget (the full 1e5 steps reach 500 on every seed).
    _, mean_return = train_from_config("ppo_cartpole.yaml", total_steps=40_000)
    assert mean_return >= 195


@pytest.mark.learning
def test_a2c_learns_cartpole():
    _, mean_return = train_from_config("a2c_cartpole.yaml", total_steps=100_000)
    assert mean_return >= 150
