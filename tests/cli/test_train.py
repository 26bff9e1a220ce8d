"""`neurenix train`: the run directory contract, --set/--seed, output modes, exit codes."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from clitools import TINY, load_json, only_run_dir, run_cli, write_config

from neurenix_cli import runs
from neurenix_cli.config import load_prepared

RUN_FILES = ("config.yaml", "metrics.csv", "updates.csv", "evals.csv", "summary.json", "train.log")


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_train_writes_every_file_of_the_run_directory(cli, tiny_config, tmp_path):
    result = cli("train", tiny_config, "--runs-root", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    run = only_run_dir(tmp_path / "runs")
    assert run.name.startswith("dqn_CartPole-v1_")
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    for ckpt in ("last", "best"):
        assert {p.name for p in (run / "checkpoints" / ckpt).iterdir()} == {"arrays.npz", "meta.json"}
    assert not (run / ".lock").exists(), "the lock is released at the end"

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert set(config["versions"]) == {"neurenix", "numpy", "gymnasium", "python"}
    assert config["spaces"]["action"] == {"type": "discrete", "n": 2}, "spaces are derived from the env"
    assert config["agent"]["hidden_dims"] == [16, 16]
    assert config["agent"]["double_q"] is False, "constructor defaults are written out (fully resolved)"

    summary = load_json(run / "summary.json")
    assert summary["status"] == "completed"
    assert summary["total_steps"] == 600
    assert (summary["algorithm"], summary["env_id"], summary["seed"]) == ("dqn", "CartPole-v1", 0)
    assert summary["steps_per_s"] > 0 and summary["wall_s"] > 0
    assert summary["final_eval"] is not None and summary["best_eval"] >= summary["final_eval"]

    metrics = read_rows(run / "metrics.csv")
    assert list(metrics[0]) == ["step", "episode", "return", "length", "wall_s"]
    assert len(metrics) == summary["episodes"]
    steps = [int(r["step"]) for r in metrics]
    assert steps == sorted(steps) and [int(r["episode"]) for r in metrics] == list(range(1, len(metrics) + 1))
    assert all(float(r["return"]) == int(r["length"]) for r in metrics), "CartPole pays 1 per step"

    evals = read_rows(run / "evals.csv")
    assert [int(r["step"]) for r in evals] == [300, 600]
    assert all(int(r["episodes"]) == 2 for r in evals)
    assert max(float(r["mean_reward"]) for r in evals) == pytest.approx(summary["best_eval"])

    updates = read_rows(run / "updates.csv")
    assert updates and list(updates[0])[0] == "step"
    assert "loss" in updates[0]
    assert all(np.isfinite(float(r["loss"])) for r in updates)

    log = (run / "train.log").read_text()
    assert "training dqn on CartPole-v1" in log and "completed 600 steps" in log and "eval" in log


@pytest.mark.parametrize("resume", [False, True], ids=["train", "resume without a checkpoint"])
def test_a_command_builds_the_agent_once(cli, tiny_config, tmp_path, monkeypatch, resume):
    import functools

    from neurenix.rl.algorithms.dqn import DQN

    run = tmp_path / "run"
    if resume:  # a run killed before its first checkpoint: only its config.yaml is there
        assert cli("train", tiny_config, "--run-dir", run, "--quiet").exit_code == 0
        shutil.rmtree(run / "checkpoints")
        (run / "summary.json").unlink()
    built = []
    original = DQN.__init__

    @functools.wraps(original)
    def counted(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(DQN, "__init__", counted)
    args = ("--resume", run) if resume else (tiny_config, "--run-dir", run)
    result = cli("train", *args, "--quiet")
    assert result.exit_code == 0, result.output
    assert len(built) == 1


def test_set_and_seed_change_what_is_trained(cli, tiny_config, tmp_path):
    result = cli(
        "train",
        tiny_config,
        "--run-dir",
        tmp_path / "run",
        "--quiet",
        "--seed",
        "7",
        "--set",
        "agent.hidden_dims=[8]",
        "--set",
        "train.total_steps=200",
        "--set",
        "agent.double_q=true",
    )
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["seed"] == 7
    assert config["agent"]["hidden_dims"] == [8] and config["agent"]["double_q"] is True
    assert load_json(tmp_path / "run" / "summary.json")["total_steps"] == 200
    # The checkpoint holds the network that was actually built.
    meta = load_json(tmp_path / "run" / "checkpoints" / "last" / "meta.json")
    assert meta["hyperparameters"]["hidden_dims"] == [8] and meta["hyperparameters"]["double_q"] is True


def test_same_seed_same_run_different_seed_different_run(cli, tiny_config, tmp_path):
    def returns(name, *extra):
        result = cli(
            "train",
            tiny_config,
            "--run-dir",
            tmp_path / name,
            "--quiet",
            "--set",
            "train.total_steps=300",
            *extra,
        )
        assert result.exit_code == 0, result.output
        return [r["return"] for r in read_rows(tmp_path / name / "metrics.csv")]

    first = returns("a")
    assert first == returns("b")
    assert first != returns("c", "--seed", "1")


def test_json_output_is_exactly_one_object_from_a_real_process(tiny_config, tmp_path):
    proc = run_cli(
        "train", tiny_config, "--runs-root", tmp_path / "runs", "--json", "--set", "train.total_steps=300"
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # the whole of stdout parses: nothing else was printed there
    assert {"run_dir", "status", "total_steps", "wall_s", "best_eval", "final_eval"} <= set(data)
    assert data["status"] == "completed" and data["total_steps"] == 300
    assert (
        Path(data["run_dir"]).parent == tmp_path / "runs" and Path(data["run_dir"], "summary.json").is_file()
    )
    assert proc.stderr == "", "--json is silent apart from the result"


def test_plain_progress_lines_off_a_terminal(tiny_config, tmp_path):
    proc = run_cli("train", tiny_config, "--runs-root", tmp_path / "runs", "--log-interval", "0")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stderr + proc.stdout, "no control codes when not on a terminal"
    lines = proc.stderr.splitlines()
    assert any("training dqn on CartPole-v1" in line for line in lines)
    assert any("steps/s" in line and "ETA" in line and "return(100)" in line for line in lines)
    assert "run summary" in proc.stdout and "completed" in proc.stdout


# A count in a line for people: `step 1,000`, `1,000 steps`, `12 episodes` (not `total_steps: 1000` of a YAML).
COUNT = re.compile(r"\b(?:step|steps|episodes) +([\d,]+)|([\d,]+) (?:steps|episodes)\b")


def test_step_counts_read_one_way_in_every_human_line(cli, tmp_path):
    budget = {**TINY["train"], "total_steps": "1e3", "eval_every": 500, "checkpoint_every": 500}
    config = write_config(tmp_path, {**TINY, "train": budget})  # `1e3`: YAML 1.1 reads a string
    run = tmp_path / "run"
    listed = cli("list", "configs", "--configs-dir", tmp_path)
    trained = cli("train", config, "--run-dir", run, "--log-interval", "0")
    assert trained.exit_code == 0, trained.output
    evaluated = cli("eval", run, "--episodes", "1", "--checkpoint", "last", "--no-save")
    shown = cli("show", run)
    log = (run / "train.log").read_text()
    assert "1,000 steps" in listed.stdout and "1e3" not in listed.stdout
    assert "step 1,000/1,000" in trained.stderr and "completed 1,000 steps" in log
    assert "1,000 in" in shown.stdout and "(step 1,000)" in evaluated.stdout
    text = "\n".join([listed.stdout, trained.stdout, trained.stderr, log, evaluated.stdout, shown.stdout])
    counts = [a or b for a, b in COUNT.findall(text)]
    assert counts and all(c == f"{int(c.replace(',', '')):,}" for c in counts), sorted(set(counts))


def test_json_and_summary_floats_keep_six_significant_digits(cli, tiny_config, tmp_path, monkeypatch):
    from neurenix.rl.base import BaseAgent

    noisy = [-4.999999999999998, 0.30000000000000004]  # as float arithmetic leaves returns
    monkeypatch.setattr(BaseAgent, "evaluate", lambda self, env, episodes, **kw: noisy[:episodes])
    result = cli("train", tiny_config, "--run-dir", tmp_path / "run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["best_eval"] == data["final_eval"] == -2.35
    floats = [v for v in data.values() if isinstance(v, float)]
    assert all(v == float(f"{v:.6g}") for v in floats), data
    assert {k: load_json(tmp_path / "run" / "summary.json")[k] for k in data} == data


def test_quiet_prints_only_the_final_summary(cli, tiny_config, tmp_path):
    result = cli("train", tiny_config, "--runs-root", tmp_path / "runs", "--quiet")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.startswith("run summary") and "best eval" in result.stdout


def test_target_reward_stops_at_the_first_evaluation_that_reaches_it(cli, tiny_config, tmp_path):
    result = cli(
        "train",
        tiny_config,
        "--run-dir",
        tmp_path / "run",
        "--json",
        "--set",
        "train.target_reward=1",
        "--set",
        "train.total_steps=100000",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total_steps"] == 300 and "target_reward" in data["stop_reason"]


def test_episode_budget(cli, tiny_config, tmp_path):
    result = cli(
        "train",
        tiny_config,
        "--run-dir",
        tmp_path / "run",
        "--json",
        "--set",
        "train.total_steps=null",
        "--set",
        "train.episodes=4",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["episodes"] == 4
    assert len(read_rows(tmp_path / "run" / "metrics.csv")) == 4


def check_and_train(cli, *args):
    """`train ARGS --check` and `train ARGS`: what the check answers and what training then does."""
    return cli("train", *args, "--check"), cli("train", *args, "--quiet")


def test_run_dir_that_holds_a_run_is_refused_by_check_as_by_training(cli, tiny_config, trained_run):
    check, real = check_and_train(cli, tiny_config, "--run-dir", trained_run)
    assert check.exit_code == real.exit_code == 2 and check.stdout == ""
    assert check.stderr == real.stderr
    assert "already holds a run (status completed)" in real.stderr
    assert f"`neurenix eval {trained_run}`" in real.stderr and "--resume" not in real.stderr, (
        "a completed run cannot be resumed: the fix offered must work"
    )


def test_run_dir_of_an_interrupted_run_points_at_resume(cli, tiny_config, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "summary.json").write_text(
        json.dumps({**load_json(run / "summary.json"), "status": "interrupted"})
    )
    check, real = check_and_train(cli, tiny_config, "--run-dir", run)
    assert check.exit_code == real.exit_code == 2 and check.stderr == real.stderr
    assert f"continue it with `neurenix train --resume {run}`" in real.stderr
    assert cli("train", "--resume", run, "--quiet").exit_code == 0


def test_a_folder_that_is_not_a_run_is_not_called_one(cli, tiny_config, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("train a dqn")
    check, real = check_and_train(cli, tiny_config, "--run-dir", folder)
    assert check.exit_code == real.exit_code == 2 and check.stderr == real.stderr
    assert "is not a run (no config.yaml" in real.stderr and "todo.txt" in real.stderr
    assert "--resume" not in real.stderr and "already holds a run" not in real.stderr
    fixed = cli("train", tiny_config, "--runs-root", folder, "--quiet")  # the fix the message offers
    assert fixed.exit_code == 0, fixed.output
    assert (folder / "todo.txt").read_text() == "train a dqn"


def test_runs_root_that_is_a_file_is_refused_by_check_as_by_training(cli, tiny_config, tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("not a directory")
    check, real = check_and_train(cli, tiny_config, "--runs-root", blocker)
    assert check.exit_code == real.exit_code == 2 and check.stdout == ""
    assert check.stderr == real.stderr and f"{blocker} is a file, not a directory" in real.stderr
    assert blocker.read_text() == "not a directory"


def test_check_accepts_a_new_or_empty_run_dir_and_writes_nothing(cli, tiny_config, tmp_path):
    (tmp_path / "empty").mkdir()
    for place in ("empty", "new/run"):
        result = cli("train", tiny_config, "--run-dir", tmp_path / place, "--check")
        assert result.exit_code == 0, result.output
    assert not (tmp_path / "new").exists() and not any((tmp_path / "empty").iterdir())


def test_unwritable_runs_root_is_a_clear_usage_error(cli, tiny_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = cli("train", tiny_config, "--runs-root", blocker / "runs", "--quiet")
    assert result.exit_code == 2
    assert "cannot create" in result.stderr and "Traceback" not in result.output


def test_a_diverging_run_is_marked_failed_and_exits_1(cli, tiny_config, tmp_path, monkeypatch):
    from neurenix.rl.algorithms.dqn import DQN

    monkeypatch.setattr(DQN, "update", lambda self: {"loss": float("nan")})
    result = cli("train", tiny_config, "--run-dir", tmp_path / "run", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["status"] == "failed" and "loss" in data["error"]
    assert "loss" in result.stderr and "Traceback" not in result.stderr
    assert load_json(tmp_path / "run" / "summary.json")["status"] == "failed"
    assert not (tmp_path / "run" / ".lock").exists()


def test_a_failure_says_so_once_on_stderr(cli, tiny_config, tmp_path, monkeypatch):
    from neurenix.rl.algorithms.dqn import DQN

    monkeypatch.setattr(DQN, "update", lambda self: {"loss": float("nan")})
    result = cli("train", tiny_config, "--run-dir", tmp_path / "run", "--log-interval", "0")
    assert result.exit_code == 1
    assert result.stderr.count("Training diverged") == 1, result.stderr
    assert "failed: TrainingDivergedError" in (tmp_path / "run" / "train.log").read_text()


def test_debug_shows_the_traceback(cli, tiny_config, tmp_path, monkeypatch):
    from neurenix.rl.algorithms.dqn import DQN

    monkeypatch.setattr(DQN, "update", lambda self: {"loss": float("nan")})
    result = cli("--debug", "train", tiny_config, "--run-dir", tmp_path / "run", "--quiet")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and "TrainingDivergedError" in result.stderr


def test_missing_config_is_a_usage_error(cli):
    result = cli("train")
    assert result.exit_code == 2 and "CONFIG" in result.output


def test_two_runs_created_in_the_same_second_get_their_own_directories(tmp_path):
    import datetime

    now = datetime.datetime(2026, 1, 2, 3, 4, 5)
    made = [runs.create_run_dir(tmp_path, "dqn", "CartPole-v1", now=now) for _ in range(3)]
    assert [p.name for p in made] == [
        "dqn_CartPole-v1_20260102-030405",
        "dqn_CartPole-v1_20260102-030405_1",
        "dqn_CartPole-v1_20260102-030405_2",
    ]


def test_importable_entry_point_runs_what_the_cli_runs(tmp_path):
    from neurenix_cli.config import load_config
    from neurenix_cli.experiment import train

    config = load_config(write_config(tmp_path), ["train.total_steps=300"])
    summary = train(config, tmp_path / "run")
    assert summary == load_json(tmp_path / "run" / "summary.json")
    assert summary["status"] == "completed" and summary["total_steps"] == 300
    # A plain dict (as Optuna or Ray would build) works too, and is validated the same way.
    plain = {**TINY, "train": {**TINY["train"], "total_steps": 300}}
    assert train(plain, tmp_path / "run2")["total_steps"] == 300


def test_a_runs_config_yaml_trains_again_as_a_config(cli, trained_run, tmp_path):
    result = cli("train", trained_run / "config.yaml", "--run-dir", tmp_path / "again", "--quiet")
    assert result.exit_code == 0, result.output
    first = yaml.safe_load((trained_run / "config.yaml").read_text())
    second = yaml.safe_load((tmp_path / "again" / "config.yaml").read_text())
    assert first == second, "resolving a resolved config changes nothing"
    returns = [[r["step"], r["return"]] for r in read_rows(tmp_path / "again" / "metrics.csv")]
    assert returns == [[r["step"], r["return"]] for r in read_rows(trained_run / "metrics.csv")], (
        "same run again"
    )


def test_save_replay_buffer_puts_the_buffer_in_last_only(cli, tiny_config, tmp_path):
    result = cli(
        "train",
        tiny_config,
        "--run-dir",
        tmp_path / "run",
        "--quiet",
        "--set",
        "train.save_replay_buffer=true",
    )
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "run" / "checkpoints" / "last" / "arrays.npz") as last:
        assert any(key.startswith("replay_buffer") for key in last.files)
    with np.load(tmp_path / "run" / "checkpoints" / "best" / "arrays.npz") as best:
        assert not any(key.startswith("replay_buffer") for key in best.files), (
            "best is for evaluation: kept small"
        )


@pytest.mark.parametrize(
    "config", sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_shipped_config_trains_a_short_run(cli, tmp_path, config):
    raw = yaml.safe_load(config.read_text())
    # Validation refuses a budget that ends before the first update (one rollout; learning_starts and the
    # train_freq cadence): the short run trains to that update. HalfCheetah's 10,000 random steps start at 100.
    starts = ["agent.learning_starts=100"] if "learning_starts" in (raw.get("agent") or {}) else []
    prepared = load_prepared(config, starts)
    total = max(300, prepared.agent.first_update_step(prepared.config["env"]["n_envs"]))
    short = [
        *starts,
        f"train.total_steps={total}",
        "train.episodes=null",
        "train.eval_every=0",
        "train.eval_episodes=1",
        "train.max_steps=50",
        "train.checkpoint_every=0",
    ]
    args = [a for item in short for a in ("--set", item)]
    result = cli("train", config, "--run-dir", tmp_path / "run", "--json", *args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["total_steps"] >= total
    for name in RUN_FILES:
        assert (tmp_path / "run" / name).is_file(), name
    assert (tmp_path / "run" / "checkpoints" / "last" / "meta.json").is_file()
    assert (tmp_path / "run" / "checkpoints" / "best" / "meta.json").is_file()


def test_a_full_disk_mid_run_fails_with_a_clear_message(cli, tiny_config, tmp_path, monkeypatch):
    import errno

    from neurenix_cli import experiment

    def full(agent, directory, include_replay_buffer=False):
        raise OSError(errno.ENOSPC, "No space left on device", str(directory))

    monkeypatch.setattr(experiment.runs, "save_checkpoint", full)
    result = cli("train", tiny_config, "--run-dir", tmp_path / "run", "--quiet")
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr and "disk space" in result.stderr
    assert "Traceback" not in result.stderr
    assert load_json(tmp_path / "run" / "summary.json")["status"] == "failed"
