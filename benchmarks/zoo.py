"""RL Zoo benchmark: Zoo's own hyperparameter entries, imported by `neurenix zoo import` and trained as they are.

    python benchmarks/zoo.py [--zoo-dir DIR] [--only SUBSTRING] [--seeds 0,1] [--episodes 20]
                             [--sb3-python PATH] [--jobs N] [--json PATH]

For every entry of the Zoo files in DIR (default: the RL Zoo 2.9.2 entries the tests ship,
tests/cli/fixtures/zoo/: a2c, ppo, dqn, sac, td3, ddpg on CartPole, Acrobot, MountainCar,
MountainCarContinuous, Pendulum, LunarLander and LunarLanderContinuous), each seed runs `neurenix zoo import`,
`neurenix train` at the entry's budget (its own process, as a user runs it) and `neurenix eval --checkpoint last`:
the final policy, deterministic, over 20 episodes — RL Zoo's protocol — on an env seeded 10000 + seed, the same
start states for both sides. Given `--sb3-python` (an interpreter with
SB3 and torch; Box2D too for LunarLander), the same entry is trained by SB3 as RL Zoo trains it
(benchmarks/zoo_sb3.py) and scored the same way. A row passes when our median return is within 10 % of SB3's
(of its magnitude, for negative returns) and our median training time is below SB3's. The whole table is hours
on two cores; `--only` picks rows (`--only ppo/Pendulum`). `--jobs N` runs a row's trainings N at a time, every
process on one thread (NEURENIX_BLAS_THREADS=1, torch.set_num_threads(1)), SB3's seeds first, then ours: with
a number of seeds that N divides, each side's seeds train side by side, so each side has its own kind for a
neighbour. Two one-thread processes do ~1.25x the work of one two-thread process on a 400-300 step, so a
3e5-step row takes ~15 % less time with `--jobs 2`.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
NEURENIX = [sys.executable, "-m", "neurenix_cli"]
SHARE = 0.10  # a row passes within this share of SB3's median return
EVAL_SEED_OFFSET = 10_000  # both sides score seed s on one env seeded s + this: the same start states


# One thread for every BLAS a process may load: what `--jobs N` gives each of the N processes at a time.
ONE_THREAD = {
    name: "1"
    for name in ("NEURENIX_BLAS_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
}


def neurenix(*args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([*NEURENIX, *args], cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"neurenix {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return proc.stdout


def ours(
    zoo_file: Path, env_id: str, seed: int, episodes: int, work: Path, env: dict[str, str] | None
) -> dict:
    config = work / f"{zoo_file.stem}-{env_id}-{seed}.yaml"
    config.write_text(neurenix("zoo", "import", str(zoo_file), env_id), encoding="utf-8")
    run_dir = work / f"{zoo_file.stem}-{env_id}-{seed}"
    start = time.perf_counter()
    train_args = ["train", str(config), "--seed", str(seed), "--run-dir", str(run_dir), "--json"]
    train = json.loads(neurenix(*train_args, env=env))
    process_s = time.perf_counter() - start
    eval_seed = str(seed + EVAL_SEED_OFFSET)
    scoring = ["--checkpoint", "last", "--episodes", str(episodes), "--seed", eval_seed, "--json"]
    evaluated = json.loads(neurenix("eval", str(run_dir), *scoring, env=env))
    return {"mean_reward": evaluated["mean_reward"], "train_s": train["wall_s"], "process_s": process_s}


def theirs(
    sb3_python: str, zoo_file: Path, env_id: str, seed: int, episodes: int, env: dict[str, str] | None
) -> dict:
    command = [sb3_python, str(ROOT / "benchmarks" / "zoo_sb3.py"), str(zoo_file), env_id, str(seed)]
    options = ["--episodes", str(episodes), "--eval-seed", str(seed + EVAL_SEED_OFFSET)]
    if env is not None:
        options += ["--threads", "1"]
    proc = subprocess.run([*command, *options], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(
            f"zoo_sb3.py {zoo_file.stem} {env_id} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def train_row(
    args: argparse.Namespace,
    path: Path,
    env_id: str,
    seeds: list[int],
    work: Path,
    env: dict[str, str] | None,
) -> list[dict]:
    """Every seed's run of one entry, both sides, `args.jobs` trainings at a time; printed as they are read."""
    name = f"{path.stem}/{env_id}"
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        trainings = {}
        if args.sb3_python:  # SB3's first: the longer runs, so the pool's last slot waits the least
            for seed in seeds:
                trainings[seed, "sb3"] = pool.submit(
                    theirs, args.sb3_python, path, env_id, seed, args.episodes, env
                )
        for seed in seeds:
            trainings[seed, "ours"] = pool.submit(ours, path, env_id, seed, args.episodes, work, env)
        runs = []
        for seed in seeds:
            run = {"seed": seed, **trainings[seed, "ours"].result()}
            if args.sb3_python:
                run["sb3"] = trainings[seed, "sb3"].result()
            runs.append(run)
            line = f"{name + f' seed {seed}':38s} {run['mean_reward']:9.1f} {run['train_s']:8.1f}"
            if "sb3" in run:
                line += f" {run['sb3']['mean_reward']:9.1f} {run['sb3']['learn_s']:8.1f}"
            print(line, flush=True)
    except BaseException:  # a failed training: start no other (the running ones finish, unread)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return runs


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of trainings")
    return value


def within(our_median: float, sb3_median: float) -> bool:
    return our_median >= sb3_median - SHARE * abs(sb3_median)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo-dir", default=str(ROOT / "tests" / "cli" / "fixtures" / "zoo"))
    parser.add_argument(
        "--only", default=None, help="rows whose ALGO/ENV_ID contains this (case-insensitive)"
    )
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--sb3-python", default=None)
    parser.add_argument(
        "--jobs",
        type=positive,
        default=1,
        help="trainings at a time, each on one thread (default 1: every core)",
    )
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "zoo.json"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    env = {**os.environ, **ONE_THREAD} if args.jobs > 1 else None
    rows = [
        (path, env_id)
        for path in sorted(Path(args.zoo_dir).glob("*.yml"))
        for env_id in yaml.safe_load(path.read_text(encoding="utf-8"))
        # `atari` is an entry for every Atari game at 1e7 steps, not an env: speed.py and learning.py run those
        if env_id != "atari" and (args.only is None or args.only.lower() in f"{path.stem}/{env_id}".lower())
    ]
    results = []
    header = f"{'entry':38s} {'ours':>9s} {'train s':>8s}" + (
        f" {'SB3':>9s} {'learn s':>8s}" if args.sb3_python else ""
    )
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="neurenix-zoo-") as work:
        for path, env_id in rows:
            name = f"{path.stem}/{env_id}"
            runs = train_row(args, path, env_id, seeds, Path(work), env)
            row = {"entry": name, "runs": runs, "median": statistics.median(r["mean_reward"] for r in runs)}
            if args.sb3_python:
                row["sb3_median"] = statistics.median(r["sb3"]["mean_reward"] for r in runs)
                faster = statistics.median(r["train_s"] for r in runs) < statistics.median(
                    r["sb3"]["learn_s"] for r in runs
                )
                row["verdict"] = "PASS" if within(row["median"], row["sb3_median"]) and faster else "FAIL"
                print(
                    f"{'':38s} median {row['median']:.1f} vs SB3 {row['sb3_median']:.1f}, "
                    f"{'faster' if faster else 'slower'}: {row['verdict']}",
                    flush=True,
                )
            results.append(row)
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=2))  # after every row: hours each
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
