"""`neurenix tune`: a real SQLite study of tiny CartPole runs, its resume after `kill -9`, pruning, and a bad
`search:` block refused before any trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from clitools import NEURENIX, TINY, load_json, run_cli, write_config

from neurenix_cli import experiment, runs, tuning
from neurenix_cli.session.pruning import Pruning

optuna = pytest.importorskip("optuna")

SEARCH = {
    "agent.learning_rate": {"log_uniform": [1.0e-4, 1.0e-2]},
    "agent.gamma": {"one_minus_log_uniform": [1.0e-3, 1.0e-1]},
    "agent.hidden_dims": {"choice": [[8], [16, 16]]},
    "agent.batch_size": {"int_log_uniform": [16, 64], "power_of_two": True},
}


def tune_config(directory: Path, search: dict | None = None, **train) -> Path:
    data = {**TINY, "train": {**TINY["train"], **train}, "search": SEARCH if search is None else search}
    return write_config(directory, data, name="study.yaml")


def trials_of(study_dir: Path) -> list:
    record = load_json(study_dir / runs.STUDY_NAME)
    storage = f"sqlite:///{study_dir / tuning.DB_NAME}"
    return optuna.load_study(study_name=record["study"], storage=storage).get_trials(deepcopy=False)


def test_a_study_of_6_trials_writes_a_best_yaml_that_train_accepts(cli, tmp_path):
    config = tune_config(tmp_path)
    result = cli("tune", config, "--trials", 6, "--runs-root", tmp_path / "runs", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    study_dir = tmp_path / "runs" / "tune-study"
    assert data["counted"] == 6 and len(data["trials"]) == 6
    assert (study_dir / "study.db").is_file(), "the default storage is a SQLite file in the study directory"
    names = sorted(p.name for p in study_dir.iterdir() if p.name.startswith("trial-"))
    assert names == [f"trial-{i:04d}-seed0" for i in range(6)]
    for row in data["trials"]:
        assert row["state"] == "COMPLETE"
        (run,) = row["run_dirs"]
        summary = load_json(Path(run) / runs.SUMMARY_NAME)
        assert summary["status"] == "completed" and summary["final_eval"] == pytest.approx(row["value"])
        resolved = yaml.safe_load((Path(run) / runs.CONFIG_NAME).read_text())
        assert resolved["agent"]["batch_size"] in (16, 32, 64) and 0.9 <= resolved["agent"]["gamma"] <= 0.999
    best = yaml.safe_load((study_dir / "best.yaml").read_text())
    assert "search" not in best and best["agent"] == {**TINY["agent"], **_values(data["best"]["values"])}
    assert data["best"]["value"] == max(row["value"] for row in data["trials"])
    check = cli("train", study_dir / "best.yaml", "--check")
    assert check.exit_code == 0, check.output
    shown = cli("tune", "show", study_dir, "--plot", tmp_path / "history.png")
    assert shown.exit_code == 0 and "6 complete" in shown.stdout and "learning_rate" in shown.stdout
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "the optimisation history"
    listed = cli("list", "runs", "--runs-root", tmp_path / "runs", "--json")
    assert len(json.loads(listed.stdout)["runs"]) == 6, "list runs finds the trials"
    again = cli("tune", config, "--trials", 6, "--runs-root", tmp_path / "runs", "--json")
    assert again.exit_code == 0 and len(trials_of(study_dir)) == 6, "a finished study runs nothing more"


def _values(values: dict) -> dict:
    return {k.removeprefix("agent."): v for k, v in values.items()}


def test_kill_9_mid_study_then_the_same_command_ends_with_exactly_n_trials(tmp_path):
    config = tune_config(tmp_path, total_steps=3000, eval_every=1000, checkpoint_every=1000)
    args = ["tune", config, "--trials", 4, "--runs-root", tmp_path / "runs", "--quiet"]
    study_dir = tmp_path / "runs" / "tune-study"
    proc = subprocess.Popen([*NEURENIX, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # one trial finished and the next one training
            if (study_dir / tuning.DB_NAME).exists() and (study_dir / runs.STUDY_NAME).exists():
                states = [t.state.name for t in trials_of(study_dir)]
                if "COMPLETE" in states and "RUNNING" in states:
                    break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
        else:
            pytest.fail("no trial finished in time")
        # At once: a trial seen running has most of its 3000 steps to go (a shorter one could end before the kill).
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    killed = [t.number for t in trials_of(study_dir) if t.state.name == "RUNNING"]
    assert killed, "the kill left a trial running"
    resumed = run_cli(*args[:-1], "--json")
    assert resumed.returncode == 0, resumed.stderr
    trials = trials_of(study_dir)
    counted = [t for t in trials if tuning.counted(t)]
    assert len(counted) == 4 and all(t.state.name == "COMPLETE" for t in counted)
    for number in killed:  # marked FAIL by the next run, not counted, its place taken by a new trial
        (trial,) = [t for t in trials if t.number == number]
        assert trial.state.name == "FAIL" and not tuning.counted(trial)
    dirs = [d for t in trials for d in t.user_attrs.get("run_dirs", [])]
    assert len(dirs) == len(set(dirs)), "no run directory shared by two trials"
    for trial in counted:
        (run,) = trial.user_attrs["run_dirs"]
        assert load_json(Path(run) / runs.SUMMARY_NAME)["status"] == "completed"
    assert json.loads(resumed.stdout)["counted"] == 4


def test_the_pruning_callback_stops_a_run_at_its_evaluation(tmp_path):
    reported = []

    def report(step: int, mean: float) -> bool:
        reported.append(step)
        return step >= 300

    config = {**TINY, "train": {**TINY["train"], "eval_every": 100}}
    summary = experiment.train(config, tmp_path / "run", callbacks=(Pruning(report),))
    assert reported == [100, 200, 300], "each evaluation reported, none after the stop"
    assert summary["status"] == "completed" and summary["stop_reason"] == "pruned"
    assert summary["total_steps"] == 300 < config["train"]["total_steps"]
    assert summary["final_eval"] is not None, "the evaluation just made is the final one"


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


def test_a_pruned_trial_is_told_pruned_and_counts(tmp_path):
    plan = tuning.plan(tune_config(tmp_path), runs_root=tmp_path / "runs")
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 's.db'}", direction="maximize", pruner=AlwaysPrune()
    )
    outcome = tuning.run_trial(plan, study, study.ask())
    (trial,) = study.get_trials()
    assert outcome["state"] == "PRUNED" and trial.state.name == "PRUNED" and tuning.counted(trial)
    summary = load_json(Path(outcome["run_dirs"][0]) / runs.SUMMARY_NAME)
    assert summary["stop_reason"] == "pruned" and summary["total_steps"] == 300


def test_a_failing_trial_is_a_failed_trial_not_a_crash(cli, tmp_path):
    # batch_size above buffer_size: every trial's config is refused, each a FAIL trial of the study.
    config = tune_config(tmp_path, search={"agent.batch_size": {"choice": [4096]}})
    result = cli("tune", config, "--trials", 2, "--runs-root", tmp_path / "runs", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [row["state"] for row in data["trials"]] == ["FAIL", "FAIL"] and data["counted"] == 2
    assert "batch_size" in data["trials"][0]["error"] and data["best"] is None
    assert "no trial of study study completed" in result.stderr


@pytest.mark.parametrize(
    ("search", "where", "words"),
    [
        ({"agent.learning_rat": {"log_uniform": [1e-5, 1e-2]}}, "search.agent.learning_rat", "learning_rate"),
        ({"agent.learning_rate": {"loguniform": [1e-5, 1e-2]}}, "search.agent.learning_rate", "log_uniform"),
        ({"agent.learning_rate": {"log_uniform": [1e-2, 1e-5]}}, "search.agent.learning_rate", "below high"),
        ({"agent.learning_rate": {"uniform": [0.1, 2.0]}}, "search.agent.learning_rate", "range"),
        ({"agent.gamma": {"one_minus_log_uniform": [1e-3, 1.5]}}, "search.agent.gamma", "below 1"),
        ({"agent.batch_size": {"uniform": [16, 64]}}, "search.agent.batch_size", "not one"),
        (
            {"agent.batch_size": {"int_uniform": [10, 64], "power_of_two": True}},
            "search.agent.batch_size",
            "powers",
        ),
        ({"agent.hidden_dims": {"choice": [[64], "wide"]}}, "search.agent.hidden_dims.choice", "expects"),
        ({"train.total_steps": {"int_uniform": [100, 200]}}, "search.train.total_steps", "hyperparameter"),
    ],
)
def test_a_bad_search_block_exits_2_before_any_trial(cli, tmp_path, search, where, words):
    config = tune_config(tmp_path, search=search)
    result = cli("tune", config, "--trials", 2, "--runs-root", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert f"{config}: {where}" in result.stderr and words in result.stderr
    assert not (tmp_path / "runs").exists(), "nothing written"


def test_resuming_with_another_search_space_is_refused(cli, tmp_path):
    root = tmp_path / "runs"
    assert cli("tune", tune_config(tmp_path), "--trials", 1, "--runs-root", root, "-q").exit_code == 0
    other = tune_config(tmp_path, search={"agent.learning_rate": {"log_uniform": [1e-5, 1e-3]}})
    result = cli("tune", other, "--trials", 2, "--runs-root", root)
    assert result.exit_code == 2 and "another search" in result.stderr and "--study NAME" in result.stderr


def test_the_default_space_is_small_and_valid_for_every_algorithm():
    from neurenix.rl import registry
    from neurenix_cli.config.messages import Checker

    for name in registry.names():
        cls = registry.get(name)
        space = tuning.default_search(cls)
        assert 2 <= len(space) <= 6, name
        tuning.parse_search(space, cls, Checker("<default>"))


def test_train_refuses_a_search_block(cli, tmp_path):
    result = cli("train", tune_config(tmp_path), "--check")
    assert result.exit_code == 2 and "search: is a search space" in result.stderr


def test_without_optuna_tune_says_which_extra_to_install(cli, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "optuna", None)
    result = cli("tune", tune_config(tmp_path), "--trials", 1, "--runs-root", tmp_path / "runs")
    assert result.exit_code == 2 and "pip install 'neurenix[tune]'" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_the_schema_describes_the_search_block(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from neurenix_cli.config import json_schema

    schema = json_schema()
    data = yaml.safe_load(tune_config(tmp_path).read_text())
    jsonschema.validate(data, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "search": {"agent.gamma": {"loguniform": [0.1, 0.2]}}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "search": {"train.total_steps": {"choice": [1, 2]}}}, schema)


def test_sweep_refuses_a_search_block_and_tune_help_names_its_extra(cli, tmp_path):
    result = cli("sweep", tune_config(tmp_path), "--runs-root", tmp_path / "runs")
    assert result.exit_code == 2 and "search: is a search space" in result.stderr
    assert not (tmp_path / "runs").exists()
    helped = cli("tune", "--help")
    assert helped.exit_code == 0 and "pip install 'neurenix[tune]'" in helped.stdout
    assert cli("tune", "run", "--help").exit_code == 0


def test_ctrl_c_stops_the_trial_in_progress_which_does_not_count(tmp_path):
    config = tune_config(tmp_path, total_steps=20000, eval_every=5000, checkpoint_every=5000)
    study_dir = tmp_path / "runs" / "tune-study"
    args = ["tune", config, "--trials", 3, "--runs-root", tmp_path / "runs", "--quiet"]
    proc = subprocess.Popen(
        [*NEURENIX, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (study_dir / "trial-0000-seed0" / runs.SUMMARY_NAME).exists():  # training has started
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    (trial,) = trials_of(study_dir)
    assert (
        trial.state.name == "FAIL"
        and trial.user_attrs["outcome"] == "interrupted"
        and not tuning.counted(trial)
    )
    assert load_json(study_dir / "trial-0000-seed0" / runs.SUMMARY_NAME)["status"] == "interrupted"
    assert "running the same command again" in err and "trial" in out, "the table of what finished"
