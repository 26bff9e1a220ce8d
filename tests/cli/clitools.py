"""Helpers for driving the real CLI as a subprocess, and tiny configs (the fixtures are in conftest.py).

Budgets are tiny (a few hundred steps, 16-unit networks) so the whole CLI suite stays well under a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from neurenix_cli import runs

# The console script next to this interpreter (the venv's), else the module: the same entry point either way.
_SCRIPT = Path(sys.executable).with_name("neurenix")
NEURENIX = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "neurenix_cli"]

TINY = {
    "algorithm": "dqn",
    "seed": 0,
    "env": {"id": "CartPole-v1", "n_envs": 1},
    "agent": {
        "hidden_dims": [16, 16],
        "learning_rate": 0.001,
        "buffer_size": 2000,
        "batch_size": 32,
        "learning_starts": 100,
        "train_freq": 50,
        "gradient_steps": 2,
        "update_target_every": 100,
        "exploration_fraction": 0.5,
    },
    "train": {
        "total_steps": 600,
        "max_steps": 100,
        "eval_every": 300,
        "eval_episodes": 2,
        "checkpoint_every": 300,
        "log_every": 100,
    },
}


def write_config(directory: Path, data: dict | None = None, name: str = "tiny.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data if data is not None else TINY, sort_keys=False))
    return path


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 60, **kwargs
) -> subprocess.CompletedProcess:
    """Run the installed `neurenix` as a separate process, the way a shell script or cron would."""
    env = {**os.environ, "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [*NEURENIX, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def only_run_dir(root: Path) -> Path:
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def assert_metrics_continuous(run: Path) -> None:
    """The run's CSVs after any number of sessions: steps monotone, episodes numbered 1..N without gaps or
    repeats, and no step logged twice in updates.csv or evals.csv."""
    rows = runs.read_csv(run / "metrics.csv")
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(steps) and len(set(steps)) == len(steps), "steps are monotone without duplicates"
    assert [int(r["episode"]) for r in rows] == list(range(1, len(rows) + 1)), "no episode lost or repeated"
    for name in ("updates.csv", "evals.csv"):
        logged = [int(r["step"]) for r in runs.read_csv(run / name)]
        assert logged == sorted(set(logged)), name
