"""`neurenix train` with env.vectorization: async: its worker processes end with it, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clitools import NEURENIX, TINY, load_json, run_cli, write_config

from neurenix_cli import runs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

ASYNC = {
    **TINY,
    "env": {"id": "CartPole-v1", "n_envs": 2, "vectorization": "async"},
    "agent": {**TINY["agent"], "hidden_dims": [8]},
    "train": {**TINY["train"], "total_steps": 200_000, "eval_every": None, "checkpoint_every": 2000},
}


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # it ended while we looked
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp
            members.append(int(entry))
    return members


def start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    config = write_config(tmp_path, ASYNC)
    run = tmp_path / "run"
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen(
            [*NEURENIX, "train", str(config), "--run-dir", str(run), "--json"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "TERM": "dumb"},
            start_new_session=True,  # its own process group, as a shell gives a job: the workers join it
        )
    deadline = time.monotonic() + 60
    while not (run / "metrics.csv").exists() or len(runs.read_csv(run / "metrics.csv")) < 3:
        assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
        assert time.monotonic() < deadline, "timed out waiting for the run to make progress"
        time.sleep(0.05)
    assert len(group_members(proc.pid)) >= 3, "the trainer and its two workers"
    return proc, run


def wait_until_empty(pgid: int, timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_kill_9_of_the_trainer_leaves_no_process_behind(tmp_path):
    proc, _ = start(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert wait_until_empty(proc.pid) == [], "processes of the killed run remain"


@pytest.mark.parametrize(
    ("signum", "send", "code"),
    [
        (signal.SIGINT, os.killpg, 130),  # a terminal's Ctrl-C reaches the whole group: workers ignore it
        (signal.SIGTERM, os.kill, 143),  # `kill PID`: the trainer alone
    ],
)
def test_a_signal_stops_the_run_cleanly_and_its_workers_with_it(tmp_path, signum, send, code):
    proc, run = start(tmp_path)
    send(proc.pid, signum)
    assert proc.wait(timeout=30) == code, (tmp_path / "stderr.txt").read_text()
    summary = load_json(run / "summary.json")
    assert summary["status"] == "interrupted" and summary["stop_reason"] == signum.name
    assert (run / "checkpoints" / "last").is_dir()
    assert wait_until_empty(proc.pid) == []


def test_an_unknown_vectorization_is_a_config_error(tmp_path):
    config = write_config(tmp_path, {**ASYNC, "env": {**ASYNC["env"], "vectorization": "threads"}})
    result = run_cli("train", str(config), "--check")
    assert result.returncode == 2, result.stderr
    assert "env.vectorization" in result.stderr and "sync" in result.stderr and "async" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_only_the_training_env_runs_in_worker_processes():
    from neurenix.rl.async_env import AsyncVecEnv
    from neurenix.rl.environment import VecEnv
    from neurenix_cli import envs

    env = {"id": "CartPole-v1", "kwargs": {}, "vectorization": "async"}
    evaluation = envs.make(env, "config.yaml", n_envs=1, seed=0)
    training = envs.make(env, "config.yaml", n_envs=2, seed=0, training=True)
    try:
        assert type(evaluation) is VecEnv and isinstance(training, AsyncVecEnv)
    finally:
        evaluation.close()
        training.close()
