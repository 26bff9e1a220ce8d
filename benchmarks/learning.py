"""Learning benchmark: each shipped config trained on several seeds through the real CLI, then evaluated.

    python benchmarks/learning.py [--only SUBSTRING] [--seeds 0,1,2] [--episodes 20] [--json PATH]

Every row runs `neurenix train CONFIG --seed S --json` as its own process (start-up included, as a user runs
it), then `neurenix eval RUN --checkpoint best|last --episodes N --json`: deterministic returns on fresh episodes.
A row is judged on `best` — what `neurenix eval RUN` reports by default, the checkpoint that scored highest in
the run's periodic evaluations (RL Zoo's best_model) — and `last`, the final policy, is printed beside it: some
algorithms (DQN above all) end a run below their best, for SB3 as for us. A row passes when at least `need`
seeds reach `threshold`. Rows run one at a time: never run two benchmarks at
once on a 2-core machine, or the timings mean nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEURENIX = [sys.executable, "-m", "neurenix_cli"]


@dataclass(frozen=True)
class Row:
    name: str
    config: str
    threshold: float
    need: int | None  # seeds that must reach the threshold; None: reported, not judged
    overrides: dict = field(default_factory=dict)


ROWS = [
    Row("DQN CartPole-v1", "configs/dqn_cartpole.yaml", 475, 2),
    Row("Double DQN CartPole-v1", "configs/dqn_cartpole.yaml", 475, None, {"agent.double_q": "true"}),
    Row("Dueling DQN CartPole-v1", "configs/dqn_cartpole.yaml", 475, None, {"agent.dueling": "true"}),
    Row("PPO CartPole-v1", "configs/ppo_cartpole.yaml", 475, 3),
    Row("A2C CartPole-v1", "configs/a2c_cartpole.yaml", 475, 2),
    Row("PPO Pendulum-v1", "configs/ppo_pendulum.yaml", -250, 2),
    Row("SAC Pendulum-v1", "configs/sac_pendulum.yaml", -200, 3),
    Row("TD3 Pendulum-v1", "configs/td3_pendulum.yaml", -250, 2),
    Row("DDPG Pendulum-v1", "configs/ddpg_pendulum.yaml", -250, 2),
]


def run_json(args: list[str]) -> dict:
    proc = subprocess.run(NEURENIX + args, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"neurenix {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def run_seed(row: Row, seed: int, episodes: int, runs_root: Path) -> dict:
    sets = [arg for key, value in row.overrides.items() for arg in ("--set", f"{key}={value}")]
    start = time.perf_counter()
    train = run_json(
        ["train", row.config, "--seed", str(seed), "--runs-root", str(runs_root), "--json", *sets]
    )
    process_wall = time.perf_counter() - start
    evals = {
        checkpoint: run_json(
            ["eval", train["run_dir"], "--checkpoint", checkpoint, "--episodes", str(episodes), "--json"]
        )
        for checkpoint in ("best", "last")
    }
    return {
        "seed": seed,
        "mean_reward": evals["best"]["mean_reward"],
        "std_reward": evals["best"]["std_reward"],
        "last_mean_reward": evals["last"]["mean_reward"],
        "total_steps": train["total_steps"],
        "train_wall_s": train["wall_s"],
        "process_wall_s": process_wall,
        "steps_per_s": train["total_steps"] / train["wall_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default=None, help="run the rows whose name contains this (case-insensitive)"
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "learning.json"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [r for r in ROWS if args.only is None or args.only.lower() in r.name.lower()]
    results = []
    print(f"{'row':26s} {'seed':>4s} {'best':>9s} {'last':>9s} {'train s':>8s} {'steps/s':>8s}", flush=True)
    with tempfile.TemporaryDirectory(prefix="neurenix-bench-") as runs_root:
        for row in rows:
            if not (ROOT / row.config).exists():
                print(f"{row.name:26s} skipped: {row.config} does not exist yet", flush=True)
                continue
            per_seed = []
            for seed in seeds:
                r = run_seed(row, seed, args.episodes, Path(runs_root))
                per_seed.append(r)
                print(
                    f"{row.name:26s} {seed:4d} {r['mean_reward']:9.1f} {r['last_mean_reward']:9.1f} {r['train_wall_s']:8.1f} "
                    f"{r['steps_per_s']:8.0f}",
                    flush=True,
                )
            reached = sum(r["mean_reward"] >= row.threshold for r in per_seed)
            verdict = "report" if row.need is None else ("PASS" if reached >= row.need else "FAIL")
            print(
                f"{'':26s} {reached}/{len(per_seed)} seeds >= {row.threshold:g} (best): {verdict}", flush=True
            )
            results.append(
                {
                    "row": row.name,
                    "config": row.config,
                    "overrides": row.overrides,
                    "threshold": row.threshold,
                    "need": row.need,
                    "verdict": verdict,
                    "seeds": per_seed,
                }
            )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
