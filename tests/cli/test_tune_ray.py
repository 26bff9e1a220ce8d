"""`neurenix tune --ray` on a local Ray instance ([ray] is in the [dev] extra): trials' seeds as Ray tasks, their
runs brought back into the study directory, exactly N trials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clitools import load_json
from test_tune import trials_of, tune_config

from neurenix_cli import runs, tuning

pytest.importorskip("optuna")


def test_ray_trials_bring_their_runs_back_and_the_study_holds_n(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a new local instance, whatever the machine has
    config = tune_config(tmp_path)
    result = cli(
        "tune", config, "--trials", 4, "--seeds-per-trial", 2, "--workers", 2, "--ray",
        "--runs-root", tmp_path / "runs", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    study_dir = tmp_path / "runs" / "tune-study"
    trials = trials_of(study_dir)
    assert len(trials) == 4 and all(t.state.name == "COMPLETE" for t in trials)
    for trial in trials:
        dirs = [Path(d) for d in trial.user_attrs["run_dirs"]]
        assert [d.name for d in dirs] == [f"trial-{trial.number:04d}-seed{s}" for s in (0, 1)]
        finals = []
        for run in dirs:
            summary = load_json(run / runs.SUMMARY_NAME)
            assert summary["status"] == "completed" and Path(summary["run_dir"]) == run
            assert (run / "checkpoints" / "last" / "arrays.npz").is_file()
            finals.append(summary["final_eval"])
        assert trial.value == pytest.approx(sum(finals) / 2)
    data = json.loads(result.stdout)
    assert data["counted"] == 4 and Path(data["best_config"]).is_file()
    assert not [t for t in trials if t.user_attrs.get("outcome") == tuning.SURPLUS]
