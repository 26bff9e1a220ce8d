"""The Stable-Baselines3 side of benchmarks/speed.py: one RL-Zoo task, timed, in an interpreter that has SB3.

    SB3_PYTHON benchmarks/sb3_baseline.py TASK SEED [TOTAL_STEPS]   ->  one JSON line: learn_s, mean_reward,
                                                                     total_steps

Run by speed.py and learning.py as its own process (so the whole process can be timed too); never imported by Neurenix, and
SB3/torch are never dependencies of the project. The hyperparameters are RL Zoo's for these tasks, the same as
the configs in configs/.
"""

from __future__ import annotations

import json
import sys
import time


def linear(start: float):
    return lambda progress_remaining: progress_remaining * start


def build(task: str, seed: int):
    import numpy as np
    from stable_baselines3 import A2C, DDPG, DQN, PPO, SAC, TD3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise

    if task == "ppo_cartpole":
        env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
        model = PPO(
            "MlpPolicy",
            env,
            n_steps=32,
            batch_size=256,
            gae_lambda=0.8,
            gamma=0.98,
            n_epochs=20,
            ent_coef=0.0,
            learning_rate=linear(1e-3),
            clip_range=linear(0.2),
            seed=seed,
            device="cpu",
        )
        return model, 100_000, "CartPole-v1"
    if task == "a2c_cartpole":
        env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
        return A2C("MlpPolicy", env, ent_coef=0.0, seed=seed, device="cpu"), 500_000, "CartPole-v1"
    if task == "dqn_cartpole":
        model = DQN(
            "MlpPolicy",
            "CartPole-v1",
            learning_rate=2.3e-3,
            batch_size=64,
            buffer_size=100_000,
            learning_starts=1000,
            gamma=0.99,
            target_update_interval=10,
            train_freq=256,
            gradient_steps=128,
            exploration_fraction=0.16,
            exploration_final_eps=0.04,
            policy_kwargs={"net_arch": [256, 256]},
            seed=seed,
            device="cpu",
        )
        return model, 50_000, "CartPole-v1"
    if task == "sac_pendulum":
        return (
            SAC("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, seed=seed, device="cpu"),
            20_000,
            "Pendulum-v1",
        )
    if task in ("td3_pendulum", "ddpg_pendulum"):
        noise = NormalActionNoise(mean=np.zeros(1), sigma=0.1 * np.ones(1))
        cls = TD3 if task == "td3_pendulum" else DDPG
        model = cls(
            "MlpPolicy",
            "Pendulum-v1",
            gamma=0.98,
            buffer_size=200_000,
            learning_starts=10_000,
            action_noise=noise,
            gradient_steps=-1,
            train_freq=(1, "episode"),
            learning_rate=1e-3,
            policy_kwargs={"net_arch": [400, 300]},
            seed=seed,
            device="cpu",
        )
        return model, 20_000, "Pendulum-v1"
    if task == "sac_halfcheetah":  # RL Zoo's HalfCheetah entry: SB3's defaults and 1e4 random steps first
        return (
            SAC("MlpPolicy", "HalfCheetah-v5", learning_starts=10_000, seed=seed, device="cpu"),
            100_000,
            ("HalfCheetah-v5"),
        )
    if task == "td3_halfcheetah":
        noise = NormalActionNoise(mean=np.zeros(6), sigma=0.1 * np.ones(6))
        model = TD3(
            "MlpPolicy", "HalfCheetah-v5", learning_starts=10_000, action_noise=noise, seed=seed, device="cpu"
        )
        return model, 100_000, "HalfCheetah-v5"
    raise SystemExit(f"unknown task {task!r}")


def main() -> None:
    task, seed = sys.argv[1], int(sys.argv[2])
    import gymnasium as gym
    from stable_baselines3.common.evaluation import evaluate_policy

    model, total_steps, env_id = build(task, seed)
    if len(sys.argv) > 3:
        total_steps = int(sys.argv[3])
    start = time.perf_counter()
    model.learn(total_timesteps=total_steps)
    learn_s = time.perf_counter() - start
    mean_reward, _ = evaluate_policy(model, gym.make(env_id), n_eval_episodes=10, deterministic=True)
    print(json.dumps({"learn_s": learn_s, "mean_reward": float(mean_reward), "total_steps": total_steps}))


if __name__ == "__main__":
    main()
