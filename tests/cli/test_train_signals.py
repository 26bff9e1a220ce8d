"""`neurenix train` under signals and crashes: graceful stops, exit codes 130/143, resume, and the run lock."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from clitools import NEURENIX, TINY, assert_metrics_continuous, load_json, write_config

from neurenix.rl import load_agent
from neurenix_cli import runs

LONG = {
    **TINY,
    "agent": {**TINY["agent"], "hidden_dims": [8]},
    "train": {**TINY["train"], "total_steps": 30000, "eval_every": 5000, "checkpoint_every": 1000},
}


def start(config: Path, run_dir: Path, options: tuple[str, ...] = ("--json",)) -> subprocess.Popen:
    with open(run_dir.parent / "stdout.txt", "w") as out, open(run_dir.parent / "stderr.txt", "w") as err:
        return subprocess.Popen(
            [*NEURENIX, "train", str(config), "--run-dir", str(run_dir), *options],
            stdout=out,
            stderr=err,
            env={**os.environ, "TERM": "dumb"},
        )


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, "training ended before the test could interrupt it"
        assert time.monotonic() < deadline, "timed out waiting for the run to make progress"
        time.sleep(0.02)


def metric_rows(run: Path) -> list[dict]:
    return runs.read_csv(run / "metrics.csv")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_last_marks_interrupted_and_exits_128_plus_signum(tmp_path, signum, code):
    config = write_config(tmp_path, LONG)
    run = tmp_path / "run"
    proc = start(config, run)
    wait_for(lambda: len(metric_rows(run)) >= 3, proc)
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == code
    summary = load_json(run / "summary.json")
    assert summary["status"] == "interrupted" and summary["stop_reason"] == signal.Signals(signum).name
    assert json.loads((tmp_path / "stdout.txt").read_text())["status"] == "interrupted", (
        "--json still reports"
    )
    assert "--resume" in (tmp_path / "stderr.txt").read_text()
    agent = load_agent(run / "checkpoints" / "last")
    assert agent.total_steps == summary["total_steps"] < 30000
    assert not (run / ".lock").exists()


def test_an_interruption_says_so_once_on_stderr(tmp_path):
    config = write_config(tmp_path, LONG)
    run = tmp_path / "run"
    proc = start(config, run, options=())  # the progress lines and the summary table a person sees
    wait_for(lambda: len(metric_rows(run)) >= 3, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    stdout, stderr = (tmp_path / "stdout.txt").read_text(), (tmp_path / "stderr.txt").read_text()
    assert stderr.count("interrupted by SIGINT") == 1 and f"--resume {run}" in stderr, stderr
    assert "interrupted by" not in stdout and "interrupted" in stdout  # the summary, not the message
    assert "interrupted by SIGINT" in (run / "train.log").read_text(), "the run's log keeps its record"


def test_interrupted_run_resumes_to_its_budget_without_duplicate_rows(tmp_path, cli):
    config = write_config(tmp_path, LONG)
    run = tmp_path / "run"
    proc = start(config, run)
    wait_for(lambda: len(metric_rows(run)) >= 3, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    stopped_at = load_json(run / "summary.json")["total_steps"]

    result = cli("train", "--resume", run, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["total_steps"] == 30000
    assert_metrics_continuous(run)
    assert any(int(r["step"]) > stopped_at for r in metric_rows(run))
    assert "resuming dqn on CartPole-v1" in (run / "train.log").read_text()


def test_sigkill_leaves_a_loadable_checkpoint_and_the_run_resumes(tmp_path, cli):
    config = write_config(tmp_path, LONG)
    run = tmp_path / "run"
    proc = start(config, run)
    wait_for(
        lambda: (run / "checkpoints" / "last" / "meta.json").exists() and len(metric_rows(run)) > 40, proc
    )
    proc.kill()
    proc.wait(timeout=30)
    assert load_json(run / "summary.json")["status"] == "running", "killed: nobody could update the summary"
    assert runs.run_status(run) == "dead"
    load_agent(run / "checkpoints" / "last")  # the last complete checkpoint survives a kill at any moment

    result = cli("train", "--resume", run, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total_steps"] == 30000
    assert_metrics_continuous(run)


def test_two_quick_signals_still_leave_a_consistent_run(tmp_path):
    config = write_config(tmp_path, LONG)
    run = tmp_path / "run"
    proc = start(config, run)
    wait_for(lambda: len(metric_rows(run)) >= 3, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.001)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert load_json(run / "summary.json")["status"] == "interrupted"
    assert_metrics_continuous(run)
    if (run / "checkpoints" / "last").exists():
        load_agent(run / "checkpoints" / "last")


@pytest.fixture
def interrupted_copy(trained_run, tmp_path) -> Path:
    """The shared finished run, relabelled as interrupted at its last checkpoint (so resuming is instant)."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    summary = load_json(run / "summary.json")
    (run / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    return run


def test_resume_of_a_run_another_process_holds_is_refused(cli, interrupted_copy):
    with runs.RunLock(interrupted_copy):
        result = cli("train", "--resume", interrupted_copy)
    assert result.exit_code == 2
    assert f"locked by process {os.getpid()}" in result.stderr


def test_a_stale_lock_from_a_dead_process_is_taken_over(cli, interrupted_copy):
    (interrupted_copy / ".lock").write_text("999999999\n")  # its owner is gone: nobody holds the flock
    result = cli("train", "--resume", interrupted_copy, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"
    assert not (interrupted_copy / ".lock").exists()


def test_resume_refuses_a_completed_run_and_extra_options(cli, trained_run, tiny_config):
    result = cli("train", "--resume", trained_run)
    assert result.exit_code == 2 and "already completed" in result.stderr
    assert "--set train.total_steps=N" in result.stderr, "the message says how to continue it"
    assert cli("train", tiny_config, "--resume", trained_run).exit_code == 2
    assert cli("train", "--resume", trained_run, "--set", "seed=1").exit_code == 2


def test_after_a_resume_no_rate_is_shown_until_one_is_measured(cli, interrupted_copy):
    config = yaml.safe_load((interrupted_copy / "config.yaml").read_text())
    config["train"]["total_steps"] = 1200  # 600 more steps to resume into
    (interrupted_copy / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = cli("train", "--resume", interrupted_copy, "--log-interval", "0")
    assert result.exit_code == 0, result.output
    lines = [line.split(" ", 2)[2] for line in result.stderr.splitlines() if " | " in line]  # no timestamp
    first = lines[0]
    assert first.startswith("step 601/1,200") and re.search(r"\| - steps/s \| ETA -( \||$)", first), first
    assert re.search(r"\| [\d,]+ steps/s \| ETA \d", lines[-1]), lines[-1]


def test_resume_of_a_run_that_cannot_be_written_offers_a_fix_that_works(cli, interrupted_copy, monkeypatch):
    real_open = os.open
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def read_only(path, flags, *args, **kwargs):  # a read-only mount, which blocks root too (chmod does not)
        if flags & writing and Path(os.fsdecode(path)).resolve().is_relative_to(interrupted_copy.resolve()):
            raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    before = {p: p.read_bytes() for p in interrupted_copy.rglob("*") if p.is_file()}
    result = cli("train", "--resume", interrupted_copy)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"cannot write in {interrupted_copy}: Read-only file system" in result.stderr
    assert f"`cp -r {interrupted_copy} COPY && neurenix train --resume COPY`" in result.stderr
    assert "--runs-root" not in result.stderr, "--resume refuses --runs-root: it is no fix"
    assert {p: p.read_bytes() for p in interrupted_copy.rglob("*") if p.is_file()} == before
    copy = interrupted_copy.with_name("copy")
    shutil.copytree(interrupted_copy, copy)
    resumed = cli("train", "--resume", copy, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["status"] == "completed"
