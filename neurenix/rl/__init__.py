"""Reinforcement learning: spaces, environments, policies, value functions, the Agent loop and algorithms."""

from neurenix.rl.agent import Agent
from neurenix.rl.algorithms.a2c import A2C
from neurenix.rl.algorithms.ddpg import DDPG
from neurenix.rl.algorithms.dqn import DQN
from neurenix.rl.algorithms.ppo import PPO
from neurenix.rl.algorithms.sac import SAC
from neurenix.rl.algorithms.td3 import TD3
from neurenix.rl.buffers import ReplayBuffer
from neurenix.rl.callbacks import Callback
from neurenix.rl.environment import VecEnv, make_env
from neurenix.rl.policy import (
    EpsilonGreedyPolicy,
    GaussianPolicy,
    GreedyPolicy,
    Policy,
    RandomPolicy,
    SoftmaxPolicy,
)
from neurenix.rl.registry import load_agent
from neurenix.rl.value import QFunction, ValueFunction, ValueNetworkFunction

__all__ = [
    "A2C",
    "DDPG",
    "DQN",
    "PPO",
    "SAC",
    "TD3",
    "Agent",
    "Callback",
    "EpsilonGreedyPolicy",
    "GaussianPolicy",
    "GreedyPolicy",
    "Policy",
    "QFunction",
    "RandomPolicy",
    "ReplayBuffer",
    "SoftmaxPolicy",
    "ValueFunction",
    "ValueNetworkFunction",
    "VecEnv",
    "load_agent",
    "make_env",
]
