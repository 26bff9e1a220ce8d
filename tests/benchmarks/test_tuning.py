"""`benchmarks/tuning.py` end to end at a tiny budget: it drives `train`, `tune`, `tune show` and `eval` as a user
would, so a change to their JSON that the script reads breaks here rather than in a 10-minute benchmark run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")

TUNING_PY = Path(__file__).resolve().parents[2] / "benchmarks" / "tuning.py"


def test_the_tuning_benchmark_runs_two_trials_and_writes_its_json(tmp_path):
    out = tmp_path / "tuning.json"
    # 2048 steps: one rollout at the largest n_steps the search draws (256 x 8 envs).
    args = [
        "--trials",
        "2",
        "--seeds-per-trial",
        "1",
        "--seeds",
        "10",
        "--episodes",
        "1",
        "--total-steps",
        "2048",
    ]
    proc = subprocess.run(
        [sys.executable, str(TUNING_PY), *args, "--json", str(out), "--runs-root", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert {"start", "tuned", "tuned_values", "study", "verdict", "search", "best_yaml"} <= set(data)
    for side in ("start", "tuned"):
        assert [r["seed"] for r in data[side]["seeds"]] == [10]
        assert data[side]["median_last"] == data[side]["seeds"][0]["last_mean_reward"]
    assert data["study"]["states"] == {"COMPLETE": 2}
    assert set(data["tuned_values"]) == set(data["search"])
    assert (tmp_path / "runs" / "tune-ppo-acrobot-poor" / "best.yaml").is_file(), (
        "--runs-root keeps the study"
    )
