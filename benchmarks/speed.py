"""Speed against Stable-Baselines3: whole processes, same RL-Zoo hyperparameters, alternating ours and theirs.

    python benchmarks/speed.py [--sb3-python PATH] [--only SUBSTRING] [--seeds 0,1] [--json PATH]

For each task and seed it runs `neurenix train CONFIG --seed S` (periodic evaluation and checkpoints off; the
final evaluation and checkpoint stay, as a user's run has them) and, when `--sb3-python` names an interpreter
that can import stable_baselines3, `benchmarks/sb3_baseline.py TASK S` in it, one after the other. It prints the
median whole-process wall time of each side, SB3's median `learn()` time, the ratio SB3/ours, peak RSS, the final
returns, and a "training overhead": our wall time over the time gymnasium alone needs to step the same number of
env steps with random actions. It says whether our fused loops ran in C or, installed without a compiler, numpy.

Create the SB3 interpreter once (it is never a dependency of Neurenix):
    python3 -m venv /tmp/sb3-venv && /tmp/sb3-venv/bin/pip install torch stable-baselines3
Never run two benchmarks at once on a 2-core machine: the figures would mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Task:
    name: str
    config: str
    sb3_task: str
    env_id: str
    n_envs: int
    total_steps: int
    goal: float  # the speed-up over SB3 we promise


TASKS = [
    Task("PPO CartPole-v1", "configs/ppo_cartpole.yaml", "ppo_cartpole", "CartPole-v1", 8, 100_000, 3.0),
    Task("A2C CartPole-v1", "configs/a2c_cartpole.yaml", "a2c_cartpole", "CartPole-v1", 8, 500_000, 3.0),
    Task("DQN CartPole-v1", "configs/dqn_cartpole.yaml", "dqn_cartpole", "CartPole-v1", 1, 50_000, 3.0),
    Task("SAC Pendulum-v1", "configs/sac_pendulum.yaml", "sac_pendulum", "Pendulum-v1", 1, 20_000, 1.5),
    Task("TD3 Pendulum-v1", "configs/td3_pendulum.yaml", "td3_pendulum", "Pendulum-v1", 1, 20_000, 1.5),
    Task("DDPG Pendulum-v1", "configs/ddpg_pendulum.yaml", "ddpg_pendulum", "Pendulum-v1", 1, 20_000, 1.5),
]


def timed_process(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one child process, measured by this process.

    Trap: the peak RSS the kernel reports for a child starts at this process's RSS when it spawned the child, so
    this process imports neither numpy nor gymnasium nor neurenix: what they need runs in children too.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{err.read()[-2000:]}")
        return wall, usage.ru_maxrss / 1024.0, out.read()


def ours(task: Task, seed: int, runs_root: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "neurenix_cli",
        "train",
        task.config,
        "--seed",
        str(seed),
        "--json",
        "--runs-root",
        runs_root,
        "--set",
        "train.eval_every=0",
        "--set",
        "train.checkpoint_every=0",
    ]
    wall, rss, out = timed_process(cmd)
    result = json.loads(out)
    return {"wall_s": wall, "rss_mb": rss, "train_s": result["wall_s"], "final_eval": result["final_eval"]}


def theirs(task: Task, seed: int, sb3_python: str) -> dict:
    cmd = [sb3_python, str(ROOT / "benchmarks" / "sb3_baseline.py"), task.sb3_task, str(seed)]
    wall, rss, out = timed_process(cmd)
    result = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": wall, "rss_mb": rss, "learn_s": result["learn_s"], "final_eval": result["mean_reward"]}


def child_output(args: list[str]) -> str:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def gymnasium_floor(task: Task) -> float:
    """Seconds gymnasium needs for the task's env steps with random actions, timed in a child process."""
    return float(child_output([str(Path(__file__).resolve()), "--gymnasium-floor", task.name]))


def fused_loops() -> str:
    """Which of Neurenix's fused loops the installed package runs: "C" or, built without a compiler, "numpy"."""
    return child_output(
        ["-c", "from neurenix._accel import COMPILED; print('C' if COMPILED else 'numpy')"]
    ).strip()


def time_gymnasium(task: Task) -> float:
    """Seconds gymnasium needs for the task's env steps with random actions (drawn in bulk, not timed)."""
    import gymnasium as gym
    import numpy as np

    envs = [gym.make(task.env_id, disable_env_checker=True) for _ in range(task.n_envs)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    space = envs[0].action_space
    rng = np.random.default_rng(0)
    vector_steps = task.total_steps // task.n_envs
    if isinstance(space, gym.spaces.Discrete):
        actions = rng.integers(0, space.n, size=(vector_steps, task.n_envs))
    else:
        actions = rng.uniform(space.low, space.high, size=(vector_steps, task.n_envs, *space.shape)).astype(
            np.float32
        )
    start = time.perf_counter()
    for step_actions in actions:
        for env, action in zip(envs, step_actions):
            _, _, terminated, truncated, _ = env.step(action if action.ndim else int(action))
            if terminated or truncated:
                env.reset()
    return time.perf_counter() - start


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sb3-python", default=None, help="an interpreter that can import stable_baselines3")
    parser.add_argument(
        "--only", default=None, help="run the tasks whose name contains this (case-insensitive)"
    )
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "speed.json"))
    parser.add_argument("--gymnasium-floor", default=None, help=argparse.SUPPRESS)  # the child's side of it
    args = parser.parse_args()
    if args.gymnasium_floor is not None:
        print(time_gymnasium(next(t for t in TASKS if t.name == args.gymnasium_floor)))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    tasks = [t for t in TASKS if args.only is None or args.only.lower() in t.name.lower()]
    report = []
    header = (
        f"{'task':18s} {'ours s':>7s} {'SB3 s':>7s} {'SB3 learn':>9s} {'speed-up':>8s} {'goal':>5s} "
        f"{'ours MB':>7s} {'SB3 MB':>7s} {'overhead':>8s} {'ours ret':>8s} {'SB3 ret':>8s}"
    )
    loops = fused_loops()
    print(f"Neurenix's fused loops: {loops}" + ("" if loops == "C" else " (installed without a C compiler)"))
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="neurenix-speed-") as runs_root:
        for task in tasks:
            our_rows, their_rows = [], []
            for seed in seeds:  # alternate, so that drift in machine load hits both sides alike
                our_rows.append(ours(task, seed, runs_root))
                if args.sb3_python:
                    their_rows.append(theirs(task, seed, args.sb3_python))
            floor = gymnasium_floor(task)
            row = {
                "task": task.name,
                "seeds": seeds,
                "ours": our_rows,
                "sb3": their_rows,
                "gymnasium_s": floor,
                "ours_median_s": median(our_rows, "wall_s"),
                "ours_peak_rss_mb": max(r["rss_mb"] for r in our_rows),
                "overhead": median(our_rows, "wall_s") / floor,
                "goal": task.goal,
                "fused_loops": loops,
            }
            sb3_cells = f"{'-':>7s} {'-':>9s} {'-':>8s}"
            sb3_tail = f"{'-':>7s}"
            sb3_return = f"{'-':>8s}"
            if their_rows:
                row["sb3_median_s"] = median(their_rows, "wall_s")
                row["sb3_median_learn_s"] = median(their_rows, "learn_s")
                row["speedup"] = row["sb3_median_s"] / row["ours_median_s"]
                row["sb3_peak_rss_mb"] = max(r["rss_mb"] for r in their_rows)
                sb3_cells = (
                    f"{row['sb3_median_s']:7.1f} {row['sb3_median_learn_s']:9.1f} {row['speedup']:7.2f}x"
                )
                sb3_tail = f"{row['sb3_peak_rss_mb']:7.0f}"
                sb3_return = f"{median(their_rows, 'final_eval'):8.1f}"
            print(
                f"{task.name:18s} {row['ours_median_s']:7.1f} {sb3_cells} {task.goal:4.1f}x "
                f"{row['ours_peak_rss_mb']:7.0f} {sb3_tail} {row['overhead']:7.1f}x "
                f"{median(our_rows, 'final_eval'):8.1f} {sb3_return}",
                flush=True,
            )
            report.append(row)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
