"""SAC, TD3 and DDPG learn Pendulum-v1: a deterministic mean >= -600 over 10 episodes (random play: about -1200);
SAC with normalisation learns it from badly scaled observations too.

Small-but-working settings, chosen so each run takes well under a minute on a busy 2-core machine (~7-9 s idle):
64-64 networks, batch 128 and a short budget. Measured once the first update came after learning_starts (SB3's
cadence): SAC reached -123 to -497 on seeds 0-5 (five of them -192 or better). TD3 and DDPG get 10,000 steps: at
8,000, DDPG was still near -850 on two seeds of ten, not yet off its plateau; at 10,000 both cleared -340 on
seeds 0-9. So a failure here means something broke, not bad luck.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from neurenix.rl import DDPG, SAC, TD3, make_env

SMALL_NETS = {"actor_hidden_dims": [64, 64], "critic_hidden_dims": [64, 64], "batch_size": 128}


def deterministic_mean(agent, seed):
    return float(np.mean(agent.evaluate(make_env("Pendulum-v1", seed=seed + 100), episodes=10)))


def trained_sac(total_steps, **settings):
    env = make_env("Pendulum-v1", seed=0)
    rates = {"actor_learning_rate": 1e-3, "critic_learning_rate": 1e-3, "alpha_learning_rate": 1e-3}
    agent = SAC(env.observation_space, env.action_space, seed=0, **rates, **settings)
    agent.train(env, total_steps=total_steps)
    return agent


@pytest.mark.learning
def test_sac_learns_pendulum():
    agent = trained_sac(6000, alpha=0.1, learning_starts=500, **SMALL_NETS)
    assert deterministic_mean(agent, seed=0) >= -600


@pytest.mark.learning
def test_sac_with_gsde_learns_pendulum():
    # gSDE explores through a held matrix over the actor's features: a noise or log-std matrix that does not
    # reach the actions leaves Pendulum at random play's -1200 (seeds 0-2 reach -194 to -197 here).
    agent = trained_sac(
        8000, alpha=1.0, use_sde=True, actor_hidden_dims=[64, 64], critic_hidden_dims=[64, 64]
    )
    assert deterministic_mean(agent, seed=0) >= -400


@pytest.mark.learning
@pytest.mark.parametrize("algorithm", [TD3, DDPG], ids=["TD3", "DDPG"])
def test_deterministic_policy_gradients_learn_pendulum(algorithm):
    env = make_env("Pendulum-v1", seed=0)
    agent = algorithm(
        env.observation_space,
        env.action_space,
        gamma=0.98,
        learning_starts=1000,
        seed=0,
        **SMALL_NETS,
    )
    agent.train(env, total_steps=10_000)
    assert deterministic_mean(agent, seed=0) >= -600


# Pendulum's observations moved far from zero and stretched (cos, sin at 300 +- 40 and -200 +- 40, the angular
# velocity at 100 +- 40): measured with the settings below, SAC without normalisation ends near -1300 (seed 1;
# seed 0's ReLU units all die and its gradient step fails), with both statistics on near -200 (seeds 0 and 1).
SKEW_SCALE = np.array([40.0, 40.0, 5.0], dtype=np.float32)
SKEW_OFFSET = np.array([300.0, -200.0, 100.0], dtype=np.float32)


def skewed_pendulum():
    env = gym.make("Pendulum-v1")
    space = env.observation_space
    skewed = gym.spaces.Box(space.low * SKEW_SCALE + SKEW_OFFSET, space.high * SKEW_SCALE + SKEW_OFFSET)
    return gym.wrappers.TransformObservation(
        env, lambda o: (o * SKEW_SCALE + SKEW_OFFSET).astype(np.float32), skewed
    )


@pytest.mark.learning
def test_sac_with_normalisation_learns_pendulum_from_badly_scaled_observations():
    env = skewed_pendulum()
    agent = SAC(
        env.observation_space,
        env.action_space,
        actor_learning_rate=1e-3,
        critic_learning_rate=1e-3,
        alpha_learning_rate=1e-3,
        alpha=0.1,
        learning_starts=500,
        seed=0,
        normalize_observations=True,
        normalize_rewards=True,
        **SMALL_NETS,
    )
    agent.train(env, total_steps=6000)
    assert float(np.mean(agent.evaluate(skewed_pendulum(), episodes=10, seed=100))) >= -600
