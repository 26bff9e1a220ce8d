"""Several processes on one study: `tune --workers K`, the surplus rule that keeps them to N trials, what a
Ctrl-C or a kill -9 of the command does to its workers, and the CMA-ES sampler and halving pruner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from clitools import NEURENIX, load_json
from test_tune import trials_of, tune_config

from neurenix_cli import runs, tuning

optuna = pytest.importorskip("optuna")

NUMERIC = {  # CMA-ES draws numbers only
    "agent.learning_rate": {"log_uniform": [1.0e-4, 1.0e-2]},
    "agent.gamma": {"one_minus_log_uniform": [1.0e-3, 1.0e-1]},
}


def test_two_workers_share_the_study_and_run_exactly_n_trials(cli, tmp_path):
    # Trials of a few seconds: the second process needs ~1-2 s to start, and must find trials left to claim.
    config = tune_config(tmp_path, total_steps=10000, eval_every=5000, checkpoint_every=5000)
    result = cli("tune", config, "--trials", 6, "--workers", 2, "--runs-root", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    trials = trials_of(tmp_path / "runs" / "tune-study")
    counted = [t for t in trials if tuning.counted(t)]
    assert len(counted) == 6 and not [t for t in trials if t.state.name == "RUNNING"]
    assert len({t.user_attrs["pid"] for t in counted}) == 2, "both processes ran trials"
    assert len({json.dumps(t.user_attrs["values"], sort_keys=True) for t in counted}) == 6, "no draw repeated"
    dirs = [d for t in counted for d in t.user_attrs["run_dirs"]]
    assert len(dirs) == len(set(dirs)) == 6
    data = json.loads(result.stdout)
    assert data["counted"] == 6 and data["best_config"], (
        "the command that started the workers writes best.yaml"
    )
    assert all(row["outcome"] != tuning.SURPLUS for row in data["trials"])


def _study(tmp_path):
    plan = tuning.plan(tune_config(tmp_path), runs_root=tmp_path / "runs")
    return plan, tuning.open_study(plan)


def test_a_trial_asked_for_beyond_n_by_a_second_process_is_surplus_and_never_runs(tmp_path):
    plan, study = _study(tmp_path)
    study.tell(study.ask(), 1.0)
    other = study.ask()  # another process's trial, running
    other.set_user_attr("pid", os.getppid())
    other.set_user_attr("host", "elsewhere")
    assert tuning.claim(study, 2) is None
    surplus = study.get_trials(deepcopy=False)[-1]
    assert surplus.state.name == "FAIL" and surplus.user_attrs["outcome"] == tuning.SURPLUS
    assert not tuning.counted(surplus) and surplus.number not in [
        r["number"] for r in tuning.trials_table(study)
    ]
    claimed = tuning.claim(study, 3)
    assert claimed is not None and claimed.user_attrs["pid"] == os.getpid()
    study.tell(claimed, 2.0)
    tuning.optimize(plan, study, 3)  # the other process's trial still runs: nothing more to ask for
    assert len(study.get_trials(deepcopy=False)) == 4


def test_a_trial_with_no_process_yet_is_abandoned_only_once_it_is_old(tmp_path, monkeypatch):
    _, study = _study(tmp_path)
    just_asked = study.ask()  # another process between Optuna's ask and its attributes
    assert tuning.mark_abandoned(study) == []
    monkeypatch.setattr(tuning, "UNCLAIMED_SECONDS", -1.0)
    assert tuning.mark_abandoned(study) == [just_asked.number]


def _wait_for_running(study_dir, proc, count):
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if (study_dir / tuning.DB_NAME).exists() and (study_dir / runs.STUDY_NAME).exists():
            running = [t for t in trials_of(study_dir) if t.state.name == "RUNNING" and "pid" in t.user_attrs]
            if len(running) >= count and all(
                (run := t.user_attrs.get("run_dirs"))
                and (os.path.exists(os.path.join(run[0], runs.SUMMARY_NAME)))
                for t in running
            ):
                return running
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    pytest.fail("the workers did not start training in time")


def _gone(pids, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(runs.pid_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_stopping_the_command_stops_its_workers(tmp_path, how):
    config = tune_config(tmp_path, total_steps=50000, eval_every=10000, checkpoint_every=10000)
    study_dir = tmp_path / "runs" / "tune-study"
    args = ["tune", config, "--trials", 4, "--workers", 2, "--runs-root", tmp_path / "runs", "--quiet"]
    proc = subprocess.Popen(
        [*NEURENIX, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        pids = [t.user_attrs["pid"] for t in _wait_for_running(study_dir, proc, 2)]
        assert proc.pid in pids and len(set(pids)) == 2
        proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _gone(pids), "a worker outlived the command"
    if how == "ctrl-c":
        assert proc.returncode == 130, err
        trials = trials_of(study_dir)
        assert [t.user_attrs.get("outcome") for t in trials] == [tuning.INTERRUPTED] * 2
        for t in trials:
            assert load_json(Path(t.user_attrs["run_dirs"][0]) / runs.SUMMARY_NAME)["status"] == "interrupted"


def test_cmaes_sampler_and_halving_pruner_run_a_study(cli, tmp_path):
    config = tune_config(tmp_path, search=NUMERIC, total_steps=1500, eval_every=500)
    result = cli(
        "tune", config, "--trials", 3, "--sampler", "cmaes", "--pruner", "halving",
        "--runs-root", tmp_path / "runs", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counted"] == 3
    plan = tuning.plan(config, runs_root=tmp_path / "runs", sampler="cmaes", pruner="halving")
    study = tuning.open_study(plan)
    assert type(study.sampler).__name__ == "CmaEsSampler"
    assert type(study.pruner).__name__ == "SuccessiveHalvingPruner" and study.pruner._min_resource == 500


def test_tune_show_of_a_directory_that_is_no_study_names_that_directory(cli, tmp_path):
    result = cli("tune", "show", tmp_path / "elsewhere" / "tune-x")
    assert (
        result.exit_code == 2
        and f"{tmp_path / 'elsewhere' / 'tune-x'} is not a study directory" in result.output
    )
