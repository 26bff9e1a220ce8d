"""The peer's side of benchmarks/zoo.py: one RL Zoo entry trained by Stable-Baselines3 as RL Zoo trains it.

    SB3_PYTHON benchmarks/zoo_sb3.py ALGO.yml ENV_ID SEED [--episodes 20] [--eval-seed N] [--threads N]
        ->  one JSON line: mean_reward (final model, deterministic), learn_s, total_steps

Run in an interpreter that has SB3 and torch (never Neurenix's own venv: neither is ever a dependency). It reads
the entry's keys the way RL Zoo's ExperimentManager does for the entries benchmarks/zoo.py runs: `n_envs`,
`n_timesteps`, `policy`, `normalize` (VecNormalize, frozen for evaluation), `policy_kwargs` (a `dict(...)`
expression, read with `ast`, names such as `nn.ReLU` looked up in torch.nn), `lin_X` schedules, `train_freq`
lists, `noise_type`/`noise_std`, and passes the rest to the algorithm as they are.
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from pathlib import Path

ZOO_ONLY = ("n_envs", "n_timesteps", "policy", "normalize", "policy_kwargs", "noise_type", "noise_std")


def expression(text: str):
    """A Zoo expression string as data: literals, lists, dict(...) calls and dotted names (torch.nn's)."""
    from torch import nn

    def value(node):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            return {keyword.arg: value(keyword.value) for keyword in node.keywords}
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("nn", "th")
        ):
            return getattr(nn, node.attr)
        if isinstance(node, ast.List):
            return [value(item) for item in node.elts]
        if isinstance(node, ast.Dict):
            return {value(k): value(v) for k, v in zip(node.keys, node.values)}
        return ast.literal_eval(node)

    return value(ast.parse(text, mode="eval").body)


def schedule(value):
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[len("lin_") :])
        return lambda progress_remaining: progress_remaining * start
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zoo_file")
    parser.add_argument("env_id")
    parser.add_argument("seed", type=int)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument(
        "--eval-seed", type=int, default=None, help="the evaluation env's seed (SEED + 10000)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch's threads (default: torch's own)")
    args = parser.parse_args()

    import numpy as np
    import stable_baselines3
    import yaml
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
    from stable_baselines3.common.vec_env import VecNormalize

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    algo = Path(args.zoo_file).stem
    entry = dict(yaml.safe_load(Path(args.zoo_file).read_text())[args.env_id])
    settings = {key: value for key, value in entry.items() if key not in ZOO_ONLY}
    settings = {key: schedule(value) for key, value in settings.items()}
    if isinstance(settings.get("train_freq"), list):
        settings["train_freq"] = tuple(settings["train_freq"])
    policy_kwargs = entry.get("policy_kwargs", {})
    if isinstance(policy_kwargs, str):
        policy_kwargs = expression(policy_kwargs)
    normalize = entry.get("normalize", False)
    if isinstance(normalize, str):
        normalize = expression(normalize)

    env = make_vec_env(args.env_id, n_envs=int(entry.get("n_envs", 1)), seed=args.seed)
    if normalize:
        options = normalize if isinstance(normalize, dict) else {}
        env = VecNormalize(env, gamma=settings.get("gamma", 0.99), **options)
    if "noise_type" in entry:
        dim = env.action_space.shape[0]
        noise_class = {"normal": NormalActionNoise, "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise}
        settings["action_noise"] = noise_class[entry["noise_type"]](
            mean=np.zeros(dim), sigma=float(entry["noise_std"]) * np.ones(dim)
        )
    model = getattr(stable_baselines3, algo.upper())(
        entry.get("policy", "MlpPolicy"),
        env,
        seed=args.seed,
        device="cpu",
        policy_kwargs=policy_kwargs or None,
        **settings,
    )
    total_steps = int(float(entry["n_timesteps"]))
    start = time.perf_counter()
    model.learn(total_timesteps=total_steps)
    learn_s = time.perf_counter() - start

    eval_seed = args.seed + 10_000 if args.eval_seed is None else args.eval_seed
    eval_env = make_vec_env(args.env_id, n_envs=1, seed=eval_seed)
    if normalize:  # RL Zoo evaluates with the training statistics, frozen, on raw rewards
        eval_env = VecNormalize(eval_env, training=False, norm_reward=False)
        eval_env.obs_rms = env.obs_rms
    rewards, _ = evaluate_policy(
        model, eval_env, n_eval_episodes=args.episodes, deterministic=True, return_episode_rewards=True
    )
    print(
        json.dumps({"mean_reward": float(np.mean(rewards)), "learn_s": learn_s, "total_steps": total_steps})
    )


if __name__ == "__main__":
    main()
