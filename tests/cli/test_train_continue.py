"""`neurenix train --resume RUN --set train.total_steps=N`: a completed run continued to a larger budget, and the
changes a resume refuses, which leave the run exactly as it was."""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from clitools import assert_metrics_continuous, load_json

from neurenix.rl import load_agent
from neurenix_cli import runs

CSVS = ("metrics.csv", "updates.csv", "evals.csv")


@pytest.fixture
def completed_copy(trained_run, tmp_path) -> Path:
    """The shared finished run (600 steps), to continue or to refuse to."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    return run


def files_of(run: Path) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_a_completed_run_continues_its_counters_and_files_to_the_new_budget(cli, completed_copy):
    first = {name: runs.read_csv(completed_copy / name) for name in CSVS}
    finished = load_agent(completed_copy / "checkpoints" / "last")
    assert finished.total_steps == 600

    result = cli("train", "--resume", completed_copy, "--set", "train.total_steps=900", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["total_steps"] == 900
    assert load_json(completed_copy / "summary.json")["total_steps"] == 900
    agent = load_agent(completed_copy / "checkpoints" / "last")
    assert agent.total_steps == 900 and agent.episodes == summary["episodes"] > finished.episodes
    assert agent.updates > finished.updates, "the updates counter goes on"
    assert yaml.safe_load((completed_copy / "config.yaml").read_text())["train"]["total_steps"] == 900

    assert_metrics_continuous(completed_copy)
    for name, rows in first.items():
        rows_now = runs.read_csv(completed_copy / name)
        assert rows_now[: len(rows)] == rows, f"{name}: the first 600 steps' rows are kept as they were"
        added = [int(r["step"]) for r in rows_now[len(rows) :]]
        assert added and all(600 < step <= 900 for step in added), name
    assert int(runs.read_csv(completed_copy / "metrics.csv")[-1]["episode"]) == agent.episodes
    assert int(runs.read_csv(completed_copy / "evals.csv")[-1]["step"]) == 900


def test_a_resume_of_a_checkpoint_inside_a_run_gives_the_command_that_works(cli, completed_copy):
    before = files_of(completed_copy)
    checkpoint = completed_copy / "checkpoints" / "last"
    result = cli("train", "--resume", checkpoint, "--set", "train.total_steps=900", "--json")
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.output
    assert f"{checkpoint} is a checkpoint inside run {completed_copy}" in result.stderr
    command = f"neurenix train --resume {completed_copy} --set train.total_steps=900"
    assert f"`{command}`" in result.stderr
    assert files_of(completed_copy) == before, "nothing of the run was changed"
    suggested = cli(*shlex.split(command)[1:], "--json")
    assert suggested.exit_code == 0, suggested.output
    assert json.loads(suggested.stdout)["total_steps"] == 900


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["agent.learning_rate=0.01"], "--init-from"),
        (["seed=1"], "only its budget"),
        (["train.total_steps=900", "train.max_steps=50"], "train.max_steps"),
        (["train.total_steps=600"], "the run has done 600 steps already"),
        (["train.total_steps=300"], "Give a value above 600"),
        (["train.total_steps=900", "train.episodes=3"], "episodes already"),
        (["train.total_steps=lots"], "train.total_steps"),
    ],
)
def test_a_resume_refuses_other_settings_and_a_used_up_budget_leaving_the_run_as_it_was(
    cli, completed_copy, overrides, expected
):
    before = files_of(completed_copy)
    args = ["train", "--resume", completed_copy, *[arg for text in overrides for arg in ("--set", text)]]
    check = cli(*args, "--check")
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and "Traceback" not in result.output
    assert result.stdout == ""
    assert (check.exit_code, check.stdout, check.stderr) == (2, "", result.stderr), "--check refuses alike"
    assert files_of(completed_copy) == before, "nothing of the run was changed"


def test_resume_check_passes_what_then_resumes_and_writes_nothing(cli, completed_copy):
    before = files_of(completed_copy)
    args = ["train", "--resume", completed_copy, "--set", "train.total_steps=900"]
    check = cli(*args, "--check")
    assert check.exit_code == 0, check.output
    assert yaml.safe_load(check.stdout)["train"]["total_steps"] == 900, "the config it would continue with"
    last = completed_copy / "checkpoints" / "last"
    assert f"can continue, from step 600 of {last}" in check.stderr
    assert files_of(completed_copy) == before and not (completed_copy / ".lock").exists()
    resumed = cli(*args, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["total_steps"] == 900


def test_resume_check_refuses_a_completed_run_without_a_new_budget_as_the_resume_does(cli, completed_copy):
    summary = json.loads((completed_copy / "summary.json").read_text())
    (completed_copy / "summary.json").write_text(json.dumps({**summary, "total_steps": 12345}))
    check, real = (
        cli("train", "--resume", completed_copy, "--check"),
        cli("train", "--resume", completed_copy),
    )
    assert check.exit_code == real.exit_code == 2 and check.stderr == real.stderr
    assert "already completed (12,345 steps)" in check.stderr and check.stdout == ""
    assert "with N above 12,345;" in check.stderr, "one format for step counts"


def test_resume_check_refuses_a_run_another_process_holds(cli, completed_copy):
    args = ["train", "--resume", completed_copy, "--set", "train.total_steps=900"]
    with runs.RunLock(completed_copy):
        before = files_of(completed_copy)
        check, real = cli(*args, "--check"), cli(*args)
        assert files_of(completed_copy) == before
    assert check.exit_code == real.exit_code == 2 and check.stderr == real.stderr
    assert f"locked by process {os.getpid()}" in check.stderr
    assert cli(*args, "--check").exit_code == 0, "free again once the holder lets go"


def test_resume_check_refuses_a_run_it_could_not_write_in(cli, completed_copy, monkeypatch):
    real_open, real_access = os.open, os.access
    inside = completed_copy.resolve()

    def read_only_open(path, flags, *args, **kwargs):  # a read-only mount, which blocks root too
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and Path(
            os.fsdecode(path)
        ).resolve().is_relative_to(inside):
            raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    def read_only_access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(os.fsdecode(path)).resolve().is_relative_to(inside):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    monkeypatch.setattr(os, "access", read_only_access)
    monkeypatch.setattr(os, "statvfs", lambda path: type("Stat", (), {"f_flag": os.ST_RDONLY})())
    args = ["train", "--resume", completed_copy, "--set", "train.total_steps=900"]
    check, real = cli(*args, "--check"), cli(*args)
    assert check.exit_code == real.exit_code == 2 and check.stderr == real.stderr
    assert f"cannot write in {completed_copy}: Read-only file system" in check.stderr
    assert "Resume a writable copy" in check.stderr
