"""How each algorithm's speed grows with the work: env steps per second as the networks widen and as the number
of env copies grows, ours against SB3 (and SBX) with the same settings.

    python benchmarks/scaling.py [--sb3-python PATH] [--sbx-python PATH] [--algos ppo,dqn,...]
                                 [--widths 64,256,1024] [--n-envs 1,4,16,64] [--steps N] [--json PATH]
                                 [--plot PNG]

Two sweeps per algorithm: the widths of both hidden layers (actor and critic alike) at one env copy (eight for
A2C and PPO, which collect in rollouts), and the env copies at width 64. Discrete-action algorithms (A2C, PPO,
DQN) run CartPole-v1, box-action ones (SAC, TD3, DDPG) Pendulum-v1. Every point is its own child process, so
start-up is left out by timing `train`/`learn` alone: steps per second of training, not of the whole process (speed.py
times whole processes). The settings are the same on every side and chosen so that updates are part of each
point: off-policy updates from step 100, one gradient step of a batch of 256 per env step (per vectorized step
with several copies, as SB3's train_freq=1 does), PPO rollouts of 128 steps per copy, 4 epochs of minibatches of
256, A2C rollouts of 8 steps per copy. Points run one at a time; never beside another benchmark.

With `--plot` (matplotlib, the `plot` extra) the two sweeps are drawn on log axes, one panel each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALGOS = ("ppo", "a2c", "dqn", "sac", "td3", "ddpg")
ON_POLICY = ("ppo", "a2c")
LEARNING_STARTS = 100
BATCH = 256


def env_id(algo: str) -> str:
    return "CartPole-v1" if algo in ("ppo", "a2c", "dqn") else "Pendulum-v1"


def our_steps_per_s(algo: str, width: int, n_envs: int, steps: int) -> float:
    """The child's side for Neurenix: train through the Python API and time `train` alone."""
    import time

    from neurenix.rl import registry
    from neurenix.rl.environment import make_env

    env = make_env(env_id(algo), n_envs=n_envs, seed=0)
    if algo in ON_POLICY:
        widths = {"actor_hidden_dims": [width, width], "critic_hidden_dims": [width, width]}
        rollout = {"n_steps": 128, "n_epochs": 4, "batch_size": BATCH} if algo == "ppo" else {"n_steps": 8}
        settings = {**widths, **rollout, "n_envs": n_envs}
    else:
        widths = (
            {"hidden_dims": [width, width]}
            if algo == "dqn"
            else {"actor_hidden_dims": [width, width], "critic_hidden_dims": [width, width]}
        )
        settings = {**widths, "learning_starts": LEARNING_STARTS, "batch_size": BATCH, "train_freq": 1}
        settings.update(gradient_steps=1, buffer_size=max(10_000, steps))
        if algo == "dqn":  # SB3's exploration schedule and a target copy every 1000 steps on both sides
            settings.update(
                exploration_fraction=0.1, epsilon_start=1.0, epsilon_end=0.05, update_target_every=1000
            )
    cls = registry.get(algo)
    agent = cls(env.observation_space, env.action_space, seed=0, **settings)
    start = time.perf_counter()
    agent.train(env, total_steps=steps)
    return steps / (time.perf_counter() - start)


def peer_steps_per_s(library: str, algo: str, width: int, n_envs: int, steps: int) -> float:
    """The child's side for SB3 or SBX, with the settings `our_steps_per_s` gives ours."""
    import importlib
    import time

    from stable_baselines3.common.env_util import make_vec_env

    peer = importlib.import_module("stable_baselines3" if library == "sb3" else "sbx")
    name = algo.upper()
    if not hasattr(peer, name):
        raise SystemExit(f"{library} has no {name}")
    env = make_vec_env(env_id(algo), n_envs=n_envs, seed=0)
    device = {"device": "cpu"} if library == "sb3" else {}
    if algo in ON_POLICY:
        kwargs = {"policy_kwargs": {"net_arch": {"pi": [width, width], "vf": [width, width]}}}
        kwargs.update(
            {"n_steps": 128, "n_epochs": 4, "batch_size": BATCH} if algo == "ppo" else {"n_steps": 8}
        )
    else:
        kwargs = {"policy_kwargs": {"net_arch": [width, width]}, "learning_starts": LEARNING_STARTS}
        kwargs.update(batch_size=BATCH, train_freq=1, gradient_steps=1, buffer_size=max(10_000, steps))
        if algo == "dqn":
            kwargs.update(exploration_fraction=0.1, exploration_final_eps=0.05, target_update_interval=1000)
    model = getattr(peer, name)("MlpPolicy", env, seed=0, **device, **kwargs)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    return steps / (time.perf_counter() - start)


def whole_rollouts(algo: str, n_envs: int, steps: int) -> int:
    """`steps` rounded up to whole rollouts for A2C and PPO, which SB3 always completes: both sides then take the
    same updates."""
    if algo not in ON_POLICY:
        return steps
    rollout = (128 if algo == "ppo" else 8) * n_envs
    return -(-steps // rollout) * rollout


def point(python: str, side: str, algo: str, width: int, n_envs: int, steps: int) -> float:
    steps = whole_rollouts(algo, n_envs, steps)
    command = [
        python,
        str(Path(__file__).resolve()),
        "--point",
        side,
        algo,
        str(width),
        str(n_envs),
        str(steps),
    ]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} {algo} width {width} x{n_envs} failed:\n{proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, sweep, label in ((axes[0], "width", "hidden width"), (axes[1], "n_envs", "env copies")):
        for colour, algo in enumerate(dict.fromkeys(row["algo"] for row in rows)):  # one colour per algorithm
            for side, style in (("ours", "-"), ("sb3", "--"), ("sbx", ":")):
                points = [r for r in rows if r["algo"] == algo and r["sweep"] == sweep and side in r]
                if points:
                    ax.plot(
                        [r[sweep] for r in points],
                        [r[side] for r in points],
                        style,
                        color=f"C{colour}",
                        marker="o",
                        label=f"{algo} {side}",
                    )
        ax.set(xscale="log", yscale="log", xlabel=label, ylabel="env steps / s of training")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sb3-python", default=None)
    parser.add_argument("--sbx-python", default=None)
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument("--widths", default="64,256,1024")
    parser.add_argument("--n-envs", default="1,4,16,64")
    parser.add_argument("--steps", type=int, default=5000, help="env steps per point (over all copies)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "scaling.json"))
    parser.add_argument("--plot", default=None, help="also draw the sweeps into this PNG")
    parser.add_argument("--point", nargs=5, default=None, help=argparse.SUPPRESS)  # a child's one point
    args = parser.parse_args()
    if args.point is not None:
        side, algo, width, n_envs, steps = args.point
        if side == "ours":
            print(our_steps_per_s(algo, int(width), int(n_envs), int(steps)))
        else:
            print(peer_steps_per_s(side, algo, int(width), int(n_envs), int(steps)))
        return
    sides = {"ours": sys.executable, "sb3": args.sb3_python, "sbx": args.sbx_python}
    sides = {side: python for side, python in sides.items() if python}
    rows = []
    print(
        f"{'algo':5s} {'sweep':7s} {'value':>6s}" + "".join(f" {s + ' steps/s':>13s}" for s in sides),
        flush=True,
    )
    for algo in args.algos.split(","):
        base_envs = 8 if algo in ON_POLICY else 1
        sweeps = [("width", int(w), int(w), base_envs) for w in args.widths.split(",")]
        sweeps += [("n_envs", int(n), 64, int(n)) for n in args.n_envs.split(",")]
        for sweep, value, width, n_envs in sweeps:
            row = {"algo": algo, "sweep": sweep, "width": width, "n_envs": n_envs}
            for side, python in sides.items():
                if side == "sbx" and algo == "a2c":
                    continue  # SBX has no A2C
                row[side] = point(python, side, algo, width, n_envs, args.steps)
            cells = "".join(f" {row[s]:13.0f}" if s in row else f" {'-':>13s}" for s in sides)
            print(f"{algo:5s} {sweep:7s} {value:6d}{cells}", flush=True)
            rows.append(row)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.json}")
    if args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
