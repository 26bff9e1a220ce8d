"""The peers' side of benchmarks/speed.py and learning.py: one RL-Zoo task with Stable-Baselines3 or SBX, timed.

    PEER_PYTHON benchmarks/sb3_baseline.py TASK SEED [TOTAL_STEPS] [--learning-starts N] [--library sb3|sbx]
        ->  one JSON line: learn_s, mean_reward, total_steps, library
    PEER_PYTHON benchmarks/sb3_baseline.py TASK,TASK,... SEED --check [--library sb3|sbx]
        ->  builds each task's model and resets its env, nothing learned: whether this interpreter has all the
            tasks need (ale-py and OpenCV for the Atari ones, Box2D, MuJoCo), asked before any timing starts

Run as its own process (so the whole process can be timed too) in an interpreter that has SB3 (with torch), or
SBX (SB3's JAX port, `pip install sbx-rl`, which brings SB3 too); never imported by Neurenix, and neither is ever
a dependency of the project. The hyperparameters are RL Zoo's for these tasks, the same as the configs in
configs/; SBX takes SB3's names, so one table serves both. `--learning-starts` moves the first update of an
off-policy task (the gradient-bound rows of speed.py update from step 100).
"""

from __future__ import annotations

import argparse
import importlib
import json
import time

# RL Zoo's DQN entries: env id, budget, and the settings that differ between them (both use 256-256 networks).
DQN_TASKS = {
    "dqn_cartpole": (
        "CartPole-v1",
        50_000,
        dict(
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
        ),
    ),
    "dqn_acrobot": (
        "Acrobot-v1",
        100_000,
        dict(
            learning_rate=6.3e-4,
            batch_size=128,
            buffer_size=50_000,
            learning_starts=0,
            gamma=0.99,
            target_update_interval=250,
            train_freq=4,
            gradient_steps=-1,
            exploration_fraction=0.12,
            exploration_final_eps=0.1,
        ),
    ),
}
DQN_TASKS["dqn_lunarlander"] = ("LunarLander-v3", 100_000, DQN_TASKS["dqn_acrobot"][2])  # Zoo's, the same


# RL Zoo's `atari` entries, on the game each shipped config plays: SB3's AtariWrapper (make_atari_env) and
# VecFrameStack of 4, CnnPolicy. Evaluated over 5 games, as the configs' final evaluation (train.eval_episodes).
ATARI_TASKS = {
    "ppo_breakout": ("BreakoutNoFrameskip-v4", 8),
    "dqn_pong": ("PongNoFrameskip-v4", 1),
}
ATARI_EVAL_EPISODES = 5


def atari_env(env_id: str, n_envs: int, seed: int):
    import ale_py
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    return VecFrameStack(make_atari_env(env_id, n_envs=n_envs, seed=seed), n_stack=4)


def linear(start: float):
    return lambda progress_remaining: progress_remaining * start


def build(task: str, seed: int, library: str):
    import numpy as np
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise

    peer = importlib.import_module("stable_baselines3" if library == "sb3" else "sbx")

    def cls(name: str):
        """The peer's class of that name (SBX has no A2C)."""
        if not hasattr(peer, name):
            raise SystemExit(f"{library} has no {name}")
        return getattr(peer, name)

    # SBX runs on JAX's CPU device by itself and takes no torch device.
    common = {"seed": seed, **({"device": "cpu"} if library == "sb3" else {})}

    if task == "ppo_cartpole":
        env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
        model = cls("PPO")(
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
            **common,
        )
        return model, 100_000, "CartPole-v1"
    if task == "a2c_cartpole":
        env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
        return cls("A2C")("MlpPolicy", env, ent_coef=0.0, **common), 500_000, "CartPole-v1"
    if task in DQN_TASKS:
        env_id, total_steps, settings = DQN_TASKS[task]
        model = cls("DQN")("MlpPolicy", env_id, policy_kwargs={"net_arch": [256, 256]}, **settings, **common)
        return model, total_steps, env_id
    if task == "sac_pendulum":
        return (
            cls("SAC")("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, **common),
            20_000,
            "Pendulum-v1",
        )
    if task in ("td3_pendulum", "ddpg_pendulum"):
        noise = NormalActionNoise(mean=np.zeros(1), sigma=0.1 * np.ones(1))
        model = cls("TD3" if task == "td3_pendulum" else "DDPG")(
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
            **common,
        )
        return model, 20_000, "Pendulum-v1"
    if task == "ppo_breakout":
        env_id, n_envs = ATARI_TASKS[task]
        model = cls("PPO")(
            "CnnPolicy",
            atari_env(env_id, n_envs, seed),
            n_steps=128,
            n_epochs=4,
            batch_size=256,
            learning_rate=linear(2.5e-4),
            clip_range=linear(0.1),
            vf_coef=0.5,
            ent_coef=0.01,
            **common,
        )
        return model, 10_000_000, env_id
    if task == "dqn_pong":
        env_id, n_envs = ATARI_TASKS[task]
        model = cls("DQN")(
            "CnnPolicy",
            atari_env(env_id, n_envs, seed),
            buffer_size=100_000,
            learning_rate=1e-4,
            batch_size=32,
            learning_starts=100_000,
            target_update_interval=1000,
            train_freq=4,
            gradient_steps=1,
            exploration_fraction=0.1,
            exploration_final_eps=0.01,
            optimize_memory_usage=False,
            **common,
        )
        return model, 10_000_000, env_id
    if task == "sac_halfcheetah":  # RL Zoo's HalfCheetah entry: SB3's defaults and 1e4 random steps first
        return (
            cls("SAC")("MlpPolicy", "HalfCheetah-v5", learning_starts=10_000, **common),
            100_000,
            ("HalfCheetah-v5"),
        )
    if task == "td3_halfcheetah":
        noise = NormalActionNoise(mean=np.zeros(6), sigma=0.1 * np.ones(6))
        model = cls("TD3")(
            "MlpPolicy", "HalfCheetah-v5", learning_starts=10_000, action_noise=noise, **common
        )
        return model, 100_000, "HalfCheetah-v5"
    raise SystemExit(f"unknown task {task!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("seed", type=int)
    parser.add_argument("total_steps", type=int, nargs="?", default=None, help="default: the task's budget")
    parser.add_argument("--learning-starts", type=int, default=None)
    parser.add_argument("--library", choices=("sb3", "sbx"), default="sb3")
    parser.add_argument("--check", action="store_true", help="build and reset each task, learn nothing")
    args = parser.parse_args()
    if args.check:
        for task in args.task.split(","):
            build(task, args.seed, args.library)[0].env.reset()  # SB3's AtariWrapper needs OpenCV only here
        return
    import gymnasium as gym
    from stable_baselines3.common.evaluation import evaluate_policy

    model, total_steps, env_id = build(args.task, args.seed, args.library)
    if args.learning_starts is not None:
        if not hasattr(model, "learning_starts"):
            raise SystemExit(f"{args.task} is on-policy: it has no learning_starts")
        model.learning_starts = args.learning_starts
    total_steps = args.total_steps or total_steps
    start = time.perf_counter()
    model.learn(total_timesteps=total_steps)
    learn_s = time.perf_counter() - start
    if args.task in ATARI_TASKS:  # the wrapped game; its Monitor gives whole games' returns, not lives'
        eval_env, episodes = atari_env(env_id, 1, args.seed + 10_000), ATARI_EVAL_EPISODES
    else:
        eval_env, episodes = gym.make(env_id), 10
    mean_reward, _ = evaluate_policy(model, eval_env, n_eval_episodes=episodes, deterministic=True)
    result = {"learn_s": learn_s, "mean_reward": float(mean_reward), "total_steps": total_steps}
    print(json.dumps({**result, "library": args.library}))


if __name__ == "__main__":
    main()
