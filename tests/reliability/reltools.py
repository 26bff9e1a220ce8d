"""Helpers for the reliability tests: starting the real `neurenix` as a process, and checking a run directory
the way a script reading it after a crash would (strict CSV parsing, loadable checkpoints, no temporaries).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from neurenix.rl import load_agent
from neurenix_cli import runs

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
_SCRIPT = Path(sys.executable).with_name("neurenix")
NEURENIX = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "neurenix_cli"]
CSV_FIELDS = {
    "metrics.csv": ["step", "episode", "return", "length", "wall_s"],
    "evals.csv": ["step", "mean_reward", "std_reward", "episodes"],
}


def sets(**overrides: object) -> list[str]:
    """`--set` arguments from keyword arguments: sets(train__total_steps=10) -> --set train.total_steps=10."""
    out = []
    for key, value in overrides.items():
        text = json.dumps(value) if isinstance(value, (list, bool)) or value is None else str(value)
        out += ["--set", f"{key.replace('__', '.')}={text}"]
    return out


def small_dqn(total_steps: int, checkpoint_every: int, **extra: object) -> list[str]:
    """configs/dqn_cartpole.yaml shrunk to a few seconds, with an update every step so that signals land
    inside updates as often as between them."""
    settings = {
        "agent__hidden_dims": [32, 32],
        "agent__learning_starts": 200,
        "agent__train_freq": 1,
        "agent__gradient_steps": 1,
        "agent__buffer_size": 20000,
        "train__total_steps": total_steps,
        "train__checkpoint_every": checkpoint_every,
        "train__eval_every": 2000,
        "train__eval_episodes": 2,
        "train__max_steps": 200,
        "train__log_every": 200,
        **extra,
    }
    return [str(CONFIGS / "dqn_cartpole.yaml"), *sets(**settings)]


class Proc:
    """A `neurenix` process whose stdout/stderr go to files in `logs` (so a kill never blocks on a pipe)."""

    def __init__(self, args: list[str], logs: Path):
        logs.mkdir(parents=True, exist_ok=True)
        n = len(list(logs.glob("*.out")))
        self.stdout_path, self.stderr_path = logs / f"{n}.out", logs / f"{n}.err"
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.popen = subprocess.Popen(
                [*NEURENIX, *map(str, args)],
                stdout=out,
                stderr=err,
                env={**os.environ, "TERM": "dumb", "PYTHONUNBUFFERED": "1"},
            )
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait(self, timeout: float = 60) -> int:
        return self.popen.wait(timeout=timeout)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_until(self, predicate, timeout: float = 60) -> None:
        """Poll until `predicate()`; fail if the process ends first (it would have nothing left to interrupt)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            code = self.popen.poll()
            assert code is None, f"the process ended (exit {code}) before the test could act:\n{self.stderr}"
            assert time.monotonic() < deadline, "timed out waiting for the run to make progress"
            time.sleep(0.01)


def progress(run: Path) -> int:
    """The latest step any CSV of the run has recorded (0 before the first row)."""
    latest = 0
    for name in ("metrics.csv", "updates.csv"):
        rows = runs.read_csv(run / name)
        if rows:
            latest = max(latest, int(rows[-1]["step"]))
    return latest


def read_strict(path: Path, torn_tail_ok: bool) -> list[dict[str, str]]:
    """Every row of a CSV, each with exactly the header's fields; only a SIGKILL may leave a torn last line."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if not text:
        return []
    if not text.endswith("\n"):
        assert torn_tail_ok, f"{path.name} ends in an incomplete line after a graceful stop"
        text = text[: text.rfind("\n") + 1]
    lines = list(csv.reader(text.splitlines()))
    header, body = lines[0], lines[1:]
    if path.name in CSV_FIELDS:
        assert header == CSV_FIELDS[path.name], (path.name, header)
    assert all(len(row) == len(header) for row in body), f"{path.name} has a malformed row"
    rows = [dict(zip(header, row)) for row in body]
    for row in rows:
        assert all(np.isfinite(float(v)) for k, v in row.items() if v != ""), (path.name, row)
    return rows


def check_csvs(run: Path, n_envs: int, torn_tail_ok: bool = False) -> list[dict[str, str]]:
    """The CSV contract after any stop: parseable, steps monotone, episodes numbered 1..N without gaps or
    repeats. Returns the metrics rows."""
    metrics = read_strict(run / "metrics.csv", torn_tail_ok)
    steps = [int(r["step"]) for r in metrics]
    # With one env at most one episode ends per step; with several, two may end on the same step.
    assert all(b > a if n_envs == 1 else b >= a for a, b in zip(steps, steps[1:])), (
        "metrics steps not monotone"
    )
    assert [int(r["episode"]) for r in metrics] == list(range(1, len(metrics) + 1)), (
        "episodes lost or repeated"
    )
    for name in ("updates.csv", "evals.csv"):
        logged = [int(r["step"]) for r in read_strict(run / name, torn_tail_ok)]
        assert all(b > a for a, b in zip(logged, logged[1:])), f"{name} steps not strictly increasing"
    return metrics


def load_last(run: Path):
    """The agent in checkpoints/last (or the copy a crash mid-swap left), or None if none was written yet."""
    found = runs.resolve_checkpoint(run / "checkpoints" / "last")
    return None if found is None else load_agent(found)


def temporaries(run: Path) -> list[str]:
    """Files and directories a writer leaves only while it is writing (temporary names, swap leftovers)."""
    names = [p.relative_to(run).as_posix() for p in run.rglob("*")]
    return [n for n in names if ".tmp" in n or n.endswith(".old") or n.endswith(".previous")]


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())
