"""`neurenix tune --storage postgresql://...`: a study on a real PostgreSQL server (the `postgresql_url` fixture),
one process and then two at once on one study, as two machines would share it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from clitools import NEURENIX, TINY, run_cli, write_config

from neurenix_cli import tuning

optuna = pytest.importorskip("optuna")
pytest.importorskip("psycopg", reason="needs neurenix[postgresql] (the dev extra installs it)")

SEARCH = {
    "agent.learning_rate": {"log_uniform": [1.0e-4, 1.0e-2]},
    "agent.hidden_dims": {"choice": [[8], [16, 16]]},
}


def tune_config(directory: Path) -> Path:
    return write_config(directory, {**TINY, "search": SEARCH}, name="study.yaml")


def test_the_fixture_url_holds_an_optuna_study(postgresql_url):
    study = optuna.create_study(study_name="probe", storage=postgresql_url, direction="maximize")
    study.tell(study.ask(), 1.0)
    (trial,) = optuna.load_study(study_name="probe", storage=postgresql_url).get_trials()
    assert trial.state.name == "COMPLETE" and trial.value == 1.0


def test_one_tune_process_on_postgresql_storage_runs_n_trials(postgresql_url, tmp_path):
    root = tmp_path / "runs"
    args = ["tune", tune_config(tmp_path), "--trials", 3, "--study", "solo", "--storage", postgresql_url]
    result = run_cli(*args, "--runs-root", root, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counted"] == 3
    trials = optuna.load_study(study_name="solo", storage=postgresql_url).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert sorted(p.name for p in (root / "tune-solo").glob("trial-*")) == [
        f"trial-{i:04d}-seed0" for i in range(3)
    ]
    assert (root / "tune-solo" / "best.yaml").is_file()


def test_two_tune_processes_on_one_postgresql_storage_share_the_study_and_run_exactly_n_trials(
    postgresql_url, tmp_path
):
    config = tune_config(tmp_path)
    roots = [tmp_path / "machine-a", tmp_path / "machine-b"]  # a runs root each, as on two machines
    procs = [
        subprocess.Popen(
            [*NEURENIX, "tune", str(config), "--trials", "6", "--study", "shared"]
            + ["--storage", postgresql_url, "--runs-root", str(root), "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root in roots
    ]
    try:
        outputs = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    trials = optuna.load_study(study_name="shared", storage=postgresql_url).get_trials()
    states = [t.state.name for t in trials]
    assert sum(tuning.counted(t) for t in trials) == 6, states
    assert "RUNNING" not in states, states
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    found = [p for root in roots for p in (root / "tune-shared").glob("trial-*")]
    assert all(any((root / "tune-shared").glob("trial-*")) for root in roots), "both processes ran trials"
    names = [p.name for p in found]
    assert len(names) == len(set(names)), "no trial-seed run twice, on either machine"
    recorded = [d for t in trials for d in t.user_attrs.get("run_dirs", [])]
    assert sorted(map(str, found)) == sorted(recorded), "one run directory per trial-seed, each in the study"
