"""Tuning benchmark (issue 26): `neurenix tune` recovers PPO on Acrobot-v1 from a deliberately poor start.

    python benchmarks/tuning.py [--trials 20] [--seeds-per-trial 2] [--seeds 10,11] [--episodes 20]
                                [--total-steps 100000] [--json PATH] [--runs-root DIR]

The starting config (`START` below, written by the script into the runs root) is PPO with Acrobot-sized networks
and budget but poor values: learning rates of 1e-6 (nothing moves in 1e5 steps), gamma 0.9 (a 10-step horizon on
a task whose episodes last up to 500) and 16-step rollouts. Its `search:` block (`SEARCH`) covers the learning
rates, gamma, n_steps and the entropy coefficient. Three phases, each the real CLI in its own processes:

1. the starting config, `neurenix train --seed S` on each of --seeds, then `neurenix eval RUN --checkpoint last|best
   --episodes N --json`;
2. `neurenix tune CONFIG --trials T --seeds-per-trial K` (trials train on seeds 0..K-1, the config's seed on), then
   `neurenix tune show STUDY --json` for the study;
3. the study's best.yaml, trained and evaluated as in 1, on the same --seeds (10,11 by default: seeds no trial saw,
   so the best trial's luck on its own seeds does not count).

A row is judged on the final policy (`last`): a trial's value is its runs' final evaluation, so that is what the
study maximised; `best` (the best periodic checkpoint, `neurenix eval`'s default) is printed beside it. The
benchmark passes when the tuned config's median reaches TARGET while the start's stays below it. Figures are
learning results only; the wall times say what the run cost, not how fast anything is.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
NEURENIX = [sys.executable, "-m", "neurenix_cli"]
STUDY = "ppo_acrobot_poor"
# Acrobot-v1: an untrained policy scores -500 (it never swings up); RL Zoo's PPO reaches about -75.
TARGET = -150.0

START = {
    "algorithm": "ppo",
    "seed": 0,
    "env": {"id": "Acrobot-v1", "n_envs": 8},
    "agent": {
        "actor_hidden_dims": [64, 64],
        "critic_hidden_dims": [64, 64],
        "actor_learning_rate": 1.0e-6,  # poor: 1e-3 is the usual PPO rate on classic control
        "critic_learning_rate": 1.0e-6,  # poor
        "gamma": 0.9,  # poor: Acrobot's reward is -1 a step until the swing-up, far beyond a 10-step horizon
        "gae_lambda": 0.94,
        "n_steps": 16,  # poor: 8 x 16 = 128 transitions a rollout
        "batch_size": 64,
        "n_epochs": 4,
        "entropy_coef": 0.0,
        "target_kl": None,
        "normalize_observations": True,
    },
    "train": {
        "total_steps": 100000,
        "max_steps": None,
        "eval_every": 10000,  # what the median pruner sees
        "eval_episodes": 10,  # a trial's value: the mean of its runs' final evaluations over these
        "checkpoint_every": 0,
    },
}
SEARCH = {
    "agent.actor_learning_rate": {"log_uniform": [1.0e-5, 1.0e-2]},
    "agent.critic_learning_rate": {"log_uniform": [1.0e-5, 1.0e-2]},
    "agent.gamma": {"one_minus_log_uniform": [1.0e-3, 1.0e-1]},  # gamma in [0.9, 0.999]
    "agent.n_steps": {"int_log_uniform": [16, 256], "power_of_two": True},
    "agent.entropy_coef": {"log_uniform": [1.0e-5, 1.0e-1]},
}


def run_cli(args: list[str], *, capture: bool = True) -> str:
    """`neurenix ARGS` in its own process; its stdout (with capture=False only stderr is shown, as it comes)."""
    proc = subprocess.run(
        NEURENIX + args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture else None,
        text=True,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or "")[-2000:] if capture else "(its output is above)"
        raise RuntimeError(f"neurenix {' '.join(args)} exited {proc.returncode}:\n{detail}")
    return proc.stdout


def run_json(args: list[str]) -> dict:
    return json.loads(run_cli(args))


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def train_and_eval(config: Path, seeds: list[int], episodes: int, runs_root: Path, label: str) -> dict:
    """Each seed trained, then its last and best checkpoints evaluated on fresh deterministic episodes."""
    per_seed = []
    for seed in seeds:
        train = run_json(["train", str(config), "--seed", str(seed), "--runs-root", str(runs_root), "--json"])
        if train["status"] != "completed":
            raise RuntimeError(f"{label} seed {seed}: the run ended {train['status']}: {train.get('error')}")
        evals = {
            checkpoint: run_json(
                ["eval", train["run_dir"], "--checkpoint", checkpoint, "--episodes", str(episodes), "--json"]
            )
            for checkpoint in ("last", "best")
        }
        per_seed.append(
            {
                "seed": seed,
                "last_mean_reward": evals["last"]["mean_reward"],
                "last_std_reward": evals["last"]["std_reward"],
                "best_mean_reward": evals["best"]["mean_reward"],
                "final_eval": train["final_eval"],
                "train_wall_s": train["wall_s"],
                "run_dir": train["run_dir"],
            }
        )
        print(
            f"{label:8s} seed {seed:3d}: last {evals['last']['mean_reward']:8.1f}  best "
            f"{evals['best']['mean_reward']:8.1f}  ({train['wall_s']:.1f} s)",
            flush=True,
        )
    return {
        "seeds": per_seed,
        "median_last": statistics.median(r["last_mean_reward"] for r in per_seed),
        "median_best": statistics.median(r["best_mean_reward"] for r in per_seed),
    }


def tune(config: Path, trials: int, seeds_per_trial: int, runs_root: Path) -> dict:
    """The study, run through `neurenix tune` (its line per trial shown as it comes), then read back as JSON."""
    run_cli(
        [
            "tune",
            str(config),
            "--trials",
            str(trials),
            "--seeds-per-trial",
            str(seeds_per_trial),
            "--runs-root",
            str(runs_root),
        ],
        capture=False,  # the table it prints at the end is dropped: `tune show --json` has the same trials
    )
    return run_json(["tune", "show", STUDY, "--runs-root", str(runs_root), "--json"])


def fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials the study runs (default 20)")
    parser.add_argument("--seeds-per-trial", type=int, default=2, help="seeds per trial (default 2)")
    parser.add_argument("--seeds", default="10,11", help="seeds the start and the tuned config train on")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes per run (default 20)")
    parser.add_argument(
        "--total-steps",
        type=int,
        default=START["train"]["total_steps"],
        help="env steps per run (default 1e5)",
    )
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "tuning.json"))
    parser.add_argument(
        "--runs-root",
        default=None,
        help="keep the configs, runs and study here (default: a temporary directory, removed at the end)",
    )
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    start_config = {**START, "train": {**START["train"], "total_steps": args.total_steps}}
    if args.total_steps < start_config["train"]["eval_every"]:
        start_config["train"]["eval_every"] = args.total_steps // 2  # a tiny budget (the test's) still prunes

    with tempfile.TemporaryDirectory(prefix="neurenix-tuning-") as scratch:
        runs_root = Path(args.runs_root or scratch).resolve()
        runs_root.mkdir(parents=True, exist_ok=True)
        if any(runs_root.glob("tune-*/study.db")):
            print(f"note: {runs_root} holds a study already; `neurenix tune` resumes it", flush=True)
        # `train` refuses a config with a search block, so the start is written twice: with it (for `tune`),
        # without it (for `train`).
        start_path = write_yaml(runs_root / "start.yaml", start_config)
        study_config = write_yaml(runs_root / f"{STUDY}.yaml", {**start_config, "search": SEARCH})

        began = time.perf_counter()
        start = train_and_eval(start_path, seeds, args.episodes, runs_root / "start-runs", "start")
        start["wall_s"] = time.perf_counter() - began

        began = time.perf_counter()
        study = tune(study_config, args.trials, args.seeds_per_trial, runs_root)
        tune_wall = time.perf_counter() - began
        if study["best_config"] is None:
            raise RuntimeError(f"no trial of the study completed: {study['trials']}")
        best_yaml = Path(study["best_config"]).read_text()

        began = time.perf_counter()
        tuned = train_and_eval(
            Path(study["best_config"]), seeds, args.episodes, runs_root / "tuned-runs", "tuned"
        )
        tuned["wall_s"] = time.perf_counter() - began

    states = [row["state"] for row in study["trials"]]
    verdict = "PASS" if tuned["median_last"] >= TARGET > start["median_last"] else "FAIL"
    best_values = study["best"]["values"]
    print()
    print(
        f"PPO Acrobot-v1, {args.total_steps} steps a run; seeds {args.seeds}, {args.episodes} episodes each"
    )
    print(f"{'config':8s} {'per seed (last)':>24s} {'median last':>12s} {'median best':>12s} {'wall s':>8s}")
    for label, row in (("start", start), ("tuned", tuned)):
        per_seed = " ".join(f"{r['last_mean_reward']:.1f}" for r in row["seeds"])
        print(
            f"{label:8s} {per_seed:>24s} {row['median_last']:12.1f} {row['median_best']:12.1f} "
            f"{row['wall_s']:8.0f}"
        )
    print(
        f"study: {len(states)} trials ({', '.join(f'{states.count(s)} {s.lower()}' for s in sorted(set(states)))})"
        f" on {args.seeds_per_trial} seeds each in {tune_wall:.0f} s; best trial {study['best']['number']}, "
        f"value {study['best']['value']:.1f}"
    )
    for key, value in best_values.items():
        print(f"  {key:28s} {fmt(START['agent'][key.removeprefix('agent.')]):>10s} -> {fmt(value)}")
    if study["importances"]:
        print("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in study["importances"].items()))
    print(
        f"median last {tuned['median_last']:.1f} vs start {start['median_last']:.1f}, target {TARGET:g}: {verdict}"
    )

    result = {
        "task": "PPO Acrobot-v1",
        "total_steps": args.total_steps,
        "seeds": seeds,
        "episodes": args.episodes,
        "target": TARGET,
        "verdict": verdict,
        "start_config": start_config,
        "search": SEARCH,
        "start": start,
        "tuned": tuned,
        "tuned_values": best_values,
        "best_yaml": best_yaml,
        "study": {
            "trials": args.trials,
            "seeds_per_trial": args.seeds_per_trial,
            "wall_s": tune_wall,
            "states": {s: states.count(s) for s in sorted(set(states))},
            "best": study["best"],
            "importances": study["importances"],
            "trials_table": study["trials"],
        },
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
