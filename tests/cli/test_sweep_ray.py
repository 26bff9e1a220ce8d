"""`neurenix sweep --ray` on a local Ray instance ([ray] is in the [dev] extra, so this runs wherever `make test`
does)."""

from __future__ import annotations

import json
from pathlib import Path

from clitools import only_run_dir

from neurenix_cli import runs


def test_ray_sweep_brings_the_runs_back_into_the_local_runs_root(cli, tiny_config, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a new local instance, whatever the machine has
    result = cli(
        "sweep",
        tiny_config,
        "--seeds",
        "0-1",
        "--set",
        "train.total_steps=300",
        "--runs-root",
        tmp_path,
        "--ray",
        "--json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    sweep_dir = only_run_dir(tmp_path)
    run_dirs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(run_dirs) == 2
    for run in run_dirs:
        summary = runs.read_summary(run)
        assert summary["status"] == "completed" and summary["total_steps"] == 300
        assert Path(summary["run_dir"]) == run, "the summary names the local copy, not the task's scratch dir"
        for name in ("config.yaml", "metrics.csv", "evals.csv", "train.log", "checkpoints/last/arrays.npz"):
            assert (run / name).is_file(), name
        assert not (run / runs.LOCK_NAME).exists()
    [point] = out["points"]
    assert point["completed"] == 2 and point["final_eval_mean"] is not None
