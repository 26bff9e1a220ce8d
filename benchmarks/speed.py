"""Speed against Stable-Baselines3 and SBX: whole processes, same RL-Zoo hyperparameters, the sides alternating.

    python benchmarks/speed.py [--sb3-python PATH] [--sbx-python PATH] [--only SUBSTRING] [--seeds 0,1]
                               [--json PATH]

For each task and seed it runs `neurenix train CONFIG --seed S` (periodic evaluation and checkpoints off; the
final evaluation and checkpoint stay, as a user's run has them) and, for each peer whose interpreter is given,
`benchmarks/sb3_baseline.py TASK S --library sb3|sbx` in it, one after the other. It prints the median
whole-process wall time of each side, the ratios peer/ours, peak RSS, the final returns, and a "training
overhead": our wall time over the time gymnasium alone needs to step the same number of env steps with random
actions. It says whether our fused loops ran in C or, installed without a compiler, numpy. The rows marked
"from 100" start updating at env step 100 (the shipped configs wait 10,000 steps for TD3 and DDPG, half of their
run): every env step then pays a gradient step, which is where the gradient engine's speed shows.

Create the peers' interpreters once (never dependencies of Neurenix), torch's CPU build first, or pip takes a
CUDA build of several GB:
    python3 -m venv /tmp/sb3-venv && /tmp/sb3-venv/bin/pip install torch==2.13.0 && /tmp/sb3-venv/bin/pip install \
        stable-baselines3 pyyaml 'gymnasium[box2d,mujoco]' ale-py opencv-python-headless
    python3 -m venv /tmp/sbx-venv && /tmp/sbx-venv/bin/pip install torch==2.13.0 && /tmp/sbx-venv/bin/pip install sbx-rl 'gymnasium[box2d]'
Before anything is timed, each peer's interpreter builds every selected task (`sb3_baseline.py --check`): a
package missing there (ale-py and OpenCV for the Atari rows, Box2D) stops the run at once. Never run two
benchmarks at once on a 2-core machine: the figures would mean nothing.
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
SB3_BASELINE = ROOT / "benchmarks" / "sb3_baseline.py"  # the peers' side, run in their interpreters


@dataclass(frozen=True)
class Task:
    name: str
    config: str
    sb3_task: str  # benchmarks/sb3_baseline.py's task
    env_id: str
    n_envs: int
    total_steps: int
    goal: float  # the speed-up over SB3 we promise
    sbx_goal: float | None = None  # over SBX; None where SBX has no such algorithm (A2C)
    learning_starts: int | None = None  # the config's unless set, on every side
    atari: bool = False  # the env is an ALE game behind the configs' preprocessing and frame stack

    @property
    def goals(self) -> dict[str, float | None]:
        return {"sb3": self.goal, "sbx": self.sbx_goal}


TASKS = [
    Task("PPO CartPole-v1", "configs/ppo_cartpole.yaml", "ppo_cartpole", "CartPole-v1", 8, 100_000, 3.0, 2.0),
    Task("A2C CartPole-v1", "configs/a2c_cartpole.yaml", "a2c_cartpole", "CartPole-v1", 8, 500_000, 3.0),
    Task("DQN CartPole-v1", "configs/dqn_cartpole.yaml", "dqn_cartpole", "CartPole-v1", 1, 50_000, 3.0, 1.5),
    Task("SAC Pendulum-v1", "configs/sac_pendulum.yaml", "sac_pendulum", "Pendulum-v1", 1, 20_000, 1.5, 1.5),
    Task("TD3 Pendulum-v1", "configs/td3_pendulum.yaml", "td3_pendulum", "Pendulum-v1", 1, 20_000, 1.5, 1.5),
    Task(
        "DDPG Pendulum-v1", "configs/ddpg_pendulum.yaml", "ddpg_pendulum", "Pendulum-v1", 1, 20_000, 1.5, 1.5
    ),
    Task("DQN Acrobot-v1", "configs/dqn_acrobot.yaml", "dqn_acrobot", "Acrobot-v1", 1, 30_000, 2.5, 1.5),
    Task(
        "DQN LunarLander-v3",
        "configs/dqn_lunarlander.yaml",
        "dqn_lunarlander",
        "LunarLander-v3",
        1,
        30_000,
        2.5,
        1.5,
    ),
    *(
        Task(
            f"{algo} Pendulum-v1 from 100",
            f"configs/{algo.lower()}_pendulum.yaml",
            f"{algo.lower()}_pendulum",
            "Pendulum-v1",
            1,
            10_000,
            2.5,
            1.5,
            learning_starts=100,
        )
        for algo in ("SAC", "TD3", "DDPG")
    ),
    # Pixels: RL Zoo's atari entries with NatureCNN, 5e4 steps. DQN updates from step 1000 (its config waits 1e5
    # steps, this whole budget, before the first); SBX is left out (its CNN policies are not SB3's).
    Task(
        "PPO Breakout 5e4",
        "configs/ppo_breakout.yaml",
        "ppo_breakout",
        "BreakoutNoFrameskip-v4",
        8,
        50_000,
        1.5,
        atari=True,
    ),
    Task(
        "DQN Pong 5e4 updates at 1000",  # not "from 1000": `--only "from 100"` picks the Pendulum rows
        "configs/dqn_pong.yaml",
        "dqn_pong",
        "PongNoFrameskip-v4",
        1,
        50_000,
        1.5,
        learning_starts=1000,
        atari=True,
    ),
]
PEERS = ("sb3", "sbx")


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
    settings = {"train.eval_every": 0, "train.checkpoint_every": 0, "train.total_steps": task.total_steps}
    if task.learning_starts is not None:
        settings["agent.learning_starts"] = task.learning_starts
    sets = [arg for key, value in settings.items() for arg in ("--set", f"{key}={value}")]
    cmd = [sys.executable, "-m", "neurenix_cli", "train", task.config, "--seed", str(seed), "--json"]
    wall, rss, out = timed_process([*cmd, "--runs-root", runs_root, *sets])
    result = json.loads(out)
    return {"wall_s": wall, "rss_mb": rss, "train_s": result["wall_s"], "final_eval": result["final_eval"]}


def theirs(task: Task, seed: int, library: str, python: str) -> dict:
    cmd = [
        python,
        str(SB3_BASELINE),
        task.sb3_task,
        str(seed),
        str(task.total_steps),
    ]
    if task.learning_starts is not None:
        cmd += ["--learning-starts", str(task.learning_starts)]
    wall, rss, out = timed_process([*cmd, "--library", library])
    result = json.loads(out.strip().splitlines()[-1])
    return {"wall_s": wall, "rss_mb": rss, "learn_s": result["learn_s"], "final_eval": result["mean_reward"]}


def peers_of(task: Task, pythons: dict[str, str | None]) -> list[str]:
    """The peers that run this task: those whose interpreter is given and that have the algorithm."""
    return [peer for peer in PEERS if pythons[peer] and task.goals[peer] is not None]


def check_peers(tasks: list[Task], pythons: dict[str, str | None]) -> None:
    """Build every selected task in each peer's interpreter before anything is timed, so that a missing package
    there (ale-py, OpenCV, Box2D) stops the run at once, not after our side of a row has trained for minutes."""
    for peer in PEERS:
        names = [t.sb3_task for t in tasks if peer in peers_of(t, pythons)]
        if not names:
            continue
        cmd = [pythons[peer], str(SB3_BASELINE), ",".join(names), "0", "--check"]
        proc = subprocess.run([*cmd, "--library", peer], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(
                f"{pythons[peer]} cannot build every task for {peer.upper()} (install what the error below"
                f" names into it, or leave those rows out with --only):\n{proc.stderr[-2000:]}"
            )


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

    def make(env_id: str):
        env = gym.make(env_id, disable_env_checker=True)
        if not task.atari:
            return env
        env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, terminal_on_life_loss=False)
        return gym.wrappers.FrameStackObservation(env, 4)

    if task.atari:
        import ale_py

        gym.register_envs(ale_py)
    envs = [make(task.env_id) for _ in range(task.n_envs)]
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
        "--sbx-python", default=None, help="an interpreter that can import sbx (SB3's JAX port)"
    )
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
    pythons = {"sb3": args.sb3_python, "sbx": args.sbx_python}
    report = []
    header = f"{'task':26s} {'ours s':>7s}" + "".join(
        f" {peer.upper() + ' s':>7s} {'vs ' + peer.upper():>7s} {'goal':>5s}" for peer in PEERS
    )
    header += f" {'ours MB':>7s} {'overhead':>8s} {'ours ret':>8s}" + "".join(
        f" {peer.upper() + ' ret':>8s}" for peer in PEERS
    )
    check_peers(tasks, pythons)
    loops = fused_loops()
    print(f"Neurenix's fused loops: {loops}" + ("" if loops == "C" else " (installed without a C compiler)"))
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="neurenix-speed-") as runs_root:
        for task in tasks:
            peers = peers_of(task, pythons)
            our_rows, their_rows = [], {peer: [] for peer in peers}
            for seed in seeds:  # alternate, so that drift in machine load hits every side alike
                our_rows.append(ours(task, seed, runs_root))
                for peer in peers:
                    their_rows[peer].append(theirs(task, seed, peer, pythons[peer]))
            floor = gymnasium_floor(task)
            row = {
                "task": task.name,
                "seeds": seeds,
                "ours": our_rows,
                "gymnasium_s": floor,
                "ours_median_s": median(our_rows, "wall_s"),
                "ours_peak_rss_mb": max(r["rss_mb"] for r in our_rows),
                "overhead": median(our_rows, "wall_s") / floor,
                "fused_loops": loops,
            }
            peer_cells, return_cells = "", ""
            for peer in PEERS:
                goal = task.goals[peer]
                if peer in peers:
                    rows = their_rows[peer]
                    row[peer] = {
                        "runs": rows,
                        "median_s": median(rows, "wall_s"),
                        "median_learn_s": median(rows, "learn_s"),
                        "speedup": median(rows, "wall_s") / row["ours_median_s"],
                        "goal": goal,
                        "peak_rss_mb": max(r["rss_mb"] for r in rows),
                    }
                    peer_cells += f" {row[peer]['median_s']:7.1f} {row[peer]['speedup']:6.2f}x {goal:4.1f}x"
                    return_cells += f" {median(rows, 'final_eval'):8.1f}"
                else:
                    goal_cell = f"{goal:4.1f}x" if goal is not None else f"{'-':>5s}"
                    peer_cells += f" {'-':>7s} {'-':>7s} {goal_cell}"
                    return_cells += f" {'-':>8s}"
            print(
                f"{task.name:26s} {row['ours_median_s']:7.1f}{peer_cells} {row['ours_peak_rss_mb']:7.0f} "
                f"{row['overhead']:7.1f}x {median(our_rows, 'final_eval'):8.1f}{return_cells}",
                flush=True,
            )
            report.append(row)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
