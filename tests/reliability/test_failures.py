"""Runs that go wrong on their own: divergence (NaN observations, an infinite loss, non-finite parameters), a
disk that fills up mid-run, an unwritable place to write runs, and a second Ctrl-C in the middle of the final
checkpoint swap. Each must end with a clear message and exit code, and leave the last good checkpoint loadable.

Driven in-process (Typer's CliRunner) so that faults can be injected exactly where they hurt most.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import signal
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from reltools import check_csvs, load_json, load_last, temporaries
from typer.testing import CliRunner

from neurenix.checkpoint import load_checkpoint
from neurenix_cli import runs
from neurenix_cli.main import app
from neurenix_cli.session.loop import Session

FAULTY_ENV = "NeurenixFaulty-v0"


class FaultyEnv(gym.Env):
    """Box(4) observations, 2 actions, 20-step episodes, reward 1; from its `fault_at`-th step on it returns
    NaN observations (`fault: nan_obs`) or rewards of 1e30, whose squared TD error overflows float32
    (`fault: huge_reward`)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, fault_at: int = 10**9, fault: str = "nan_obs"):
        self.fault_at, self.fault = fault_at, fault
        self.steps = self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, 4).astype(np.float32), {}

    def step(self, action):
        self.steps += 1
        self.t += 1
        obs, reward = self.np_random.uniform(-1, 1, 4).astype(np.float32), 1.0
        if self.steps >= self.fault_at:
            if self.fault == "nan_obs":
                obs[:] = np.nan
            else:
                reward = 1e30
        return obs, reward, False, self.t >= 20, {}


@pytest.fixture(scope="module", autouse=True)
def faulty_env():
    gym.register(FAULTY_ENV, entry_point=FaultyEnv)
    yield
    del gym.registry[FAULTY_ENV]


def config(
    tmp_path: Path,
    env_id: str = "CartPole-v1",
    total_steps: int = 1000,
    checkpoint_every: int = 100,
    **env_kwargs: object,
) -> Path:
    data = {
        "algorithm": "dqn",
        "seed": 0,
        "env": {"id": env_id, "kwargs": env_kwargs},
        "agent": {
            "hidden_dims": [16, 16],
            "learning_starts": 100,
            "train_freq": 1,
            "batch_size": 32,
            "buffer_size": 5000,
            "loss": "mse",
        },
        "train": {
            "total_steps": total_steps,
            "checkpoint_every": checkpoint_every,
            "eval_every": 0,
            "eval_episodes": 0,
            "log_every": 50,
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_failed_at(result, run: Path, quantity: str, fault_step: int) -> None:
    """Exit 1, a message naming the quantity and a step at or before the fault, the run marked failed, and a
    finite checkpoint from before the fault."""
    assert result.exit_code == 1, result.output
    message = result.stderr
    assert "Traceback" not in message and quantity in message, message
    step = int(re.search(r"step (\d+)", message).group(1))
    assert fault_step - 100 <= step <= fault_step + 50, message
    summary = load_json(run / "summary.json")
    assert summary["status"] == "failed" and quantity in summary["error"]
    agent = load_last(run)
    assert agent is not None and agent.total_steps <= step
    arrays, _ = load_checkpoint(run / "checkpoints" / "last")
    assert all(np.isfinite(a).all() for a in arrays.values()), "the last checkpoint is the last good one"
    check_csvs(run, n_envs=1)
    assert not (run / ".lock").exists()


# ----------------------------------------------------------------------------------------------------- divergence
def test_nan_observations_stop_the_run_naming_the_step(tmp_path):
    run = tmp_path / "run"
    cfg = config(tmp_path, FAULTY_ENV, fault_at=450, fault="nan_obs")
    result = invoke("train", cfg, "--run-dir", run, "--quiet")
    assert_failed_at(result, run, "observation", 450)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_an_infinite_loss_stops_the_run_naming_the_loss_and_step(tmp_path):
    run = tmp_path / "run"
    cfg = config(tmp_path, FAULTY_ENV, fault_at=450, fault="huge_reward")
    result = invoke("train", cfg, "--run-dir", run, "--quiet")
    assert_failed_at(result, run, "loss", 450)


def test_parameters_gone_non_finite_never_replace_the_last_good_checkpoint(tmp_path, monkeypatch):
    """An update that reports a finite loss but leaves NaN in the weights (the next update would notice):
    the checkpoint due in between must not be written."""
    from neurenix.rl.algorithms.dqn import DQN

    original = DQN.update

    def update(self):
        losses = original(self)
        if self.total_steps == 450:
            self.q_network.parameters()[0].numpy()[0, 0] = np.nan
        return losses

    monkeypatch.setattr(DQN, "update", update)
    run = tmp_path / "run"
    result = invoke("train", config(tmp_path, checkpoint_every=50), "--run-dir", run, "--quiet")
    assert_failed_at(result, run, "parameters", 450)
    assert "q_network" in result.stderr


# ----------------------------------------------------------------------------------------------------- disk
def test_a_disk_that_fills_up_at_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    real_savez = np.savez
    calls = []

    def savez(file, *args, **kwargs):
        calls.append(file)
        if len(calls) == 4:
            file.write(b"PK\x03\x04 half a zip")  # the disk fills up part way through the file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_savez(file, *args, **kwargs)

    monkeypatch.setattr(np, "savez", savez)
    run = tmp_path / "run"
    result = invoke("train", config(tmp_path), "--run-dir", run, "--quiet")
    assert result.exit_code == 1, result.output
    assert "No space left on device" in result.stderr and "disk space" in result.stderr
    assert str(run / "checkpoints" / "last") in result.stderr, "the message says what could not be written"
    assert "Traceback" not in result.stderr
    assert load_json(run / "summary.json")["status"] == "failed"
    assert load_last(run).total_steps == 300, "the third checkpoint (step 300) survives the fourth's failure"
    assert temporaries(run) == [], "no half-written checkpoint is left, under any name"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last"]

    monkeypatch.setattr(np, "savez", real_savez)  # space freed: the run continues where it stopped
    resumed = invoke("train", "--resume", run, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["total_steps"] == 1000
    check_csvs(run, n_envs=1)


def test_a_disk_that_fills_up_while_appending_metrics_fails_clearly_and_resumes(tmp_path, monkeypatch):
    real_writerow = csv.DictWriter.writerow
    rows = []

    def writerow(self, row):
        rows.append(row)
        if len(rows) == 60:
            raise OSError(errno.ENOSPC, "No space left on device")  # as a buffered write reports it: no name
        return real_writerow(self, row)

    monkeypatch.setattr(csv.DictWriter, "writerow", writerow)
    run = tmp_path / "run"
    result = invoke("train", config(tmp_path), "--run-dir", run, "--quiet")
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert f"{run}/" in result.stderr and ".csv" in result.stderr, "the message names the file"
    assert "Traceback" not in result.stderr
    check_csvs(run, n_envs=1)
    monkeypatch.setattr(csv.DictWriter, "writerow", real_writerow)
    resumed = invoke("train", "--resume", run, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert len(check_csvs(run, n_envs=1)) == load_last(run).episodes


def test_a_summary_write_on_a_full_disk_keeps_the_previous_summary(tmp_path, monkeypatch):
    real_fsync = os.fsync
    run = tmp_path / "run"
    invoke("train", config(tmp_path, total_steps=300), "--run-dir", run, "--quiet")
    before = (run / "summary.json").read_text()

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError) as error:
        runs.atomic_write_json(run / "summary.json", {"status": "half"})
    assert error.value.filename == str(run / "summary.json")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert (run / "summary.json").read_text() == before
    assert temporaries(run) == []


# ----------------------------------------------------------------------------------------------------- unwritable
def read_only(monkeypatch, root: Path, functions=("mkdir", "open")) -> None:
    """Make creating anything under `root` fail with EROFS (the tests run as root, where chmod blocks
    nothing)."""
    for name in functions:
        real = getattr(os, name)

        def refuse(path, *args, _real=real, **kwargs):
            if Path(os.fsdecode(path)).resolve().is_relative_to(root.resolve()):
                raise OSError(errno.EROFS, "Read-only file system", os.fsdecode(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, refuse)


def test_a_read_only_runs_root_is_a_usage_error_before_anything_runs(tmp_path, monkeypatch):
    cfg = config(tmp_path)
    root = tmp_path / "runs"
    read_only(monkeypatch, root)
    result = invoke("train", cfg, "--runs-root", root, "--quiet")
    assert result.exit_code == 2, result.output
    assert "Read-only file system" in result.stderr and "--runs-root" in result.stderr
    assert "Traceback" not in result.stderr and not root.exists()


def test_a_read_only_run_dir_is_a_usage_error_before_anything_runs(tmp_path, monkeypatch):
    cfg = config(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    read_only(monkeypatch, run)
    result = invoke("train", cfg, "--run-dir", run, "--quiet")
    assert result.exit_code == 2, result.output
    assert "Read-only file system" in result.stderr and str(run) in result.stderr
    assert "Traceback" not in result.stderr and list(run.iterdir()) == []


def test_a_file_where_the_runs_root_should_be_is_a_usage_error(tmp_path):
    blocker = tmp_path / "runs"
    blocker.write_text("a file, not a directory")
    result = invoke("train", config(tmp_path), "--runs-root", blocker / "sub", "--quiet")
    assert result.exit_code == 2 and "cannot create" in result.stderr
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------------------------------- signals
def second_ctrl_c_during_the_shutdown_save(monkeypatch, module, name: str) -> dict:
    """Patch Session.on_step to send the first Ctrl-C at step 420, and `module.name` to send the second while
    the shutdown save writes checkpoints/last; returns the state the test reads."""
    real_on_step, real = Session.on_step, getattr(module, name)
    state = {"stopping": False, "second": False}

    def on_step(self, total_steps):
        if total_steps == 420 and not state["stopping"]:
            state["stopping"] = True
            signal.raise_signal(signal.SIGINT)  # the first Ctrl-C: the graceful handler takes it
        return real_on_step(self, total_steps)

    def patched(*args):
        if state["stopping"] and not state["second"] and (name != "replace" or Path(args[0]).name == "last"):
            state["second"] = True
            if name == "replace":
                real(*args)  # the second Ctrl-C comes with only last.previous on disk
                signal.raise_signal(signal.SIGINT)
                return None
            signal.raise_signal(signal.SIGINT)  # inside zipfile, before the member is closed
        return real(*args)

    monkeypatch.setattr(Session, "on_step", on_step)
    monkeypatch.setattr(module, name, patched)
    return state


@pytest.mark.parametrize(
    ("module", "name"), [(zipfile._ZipWriteFile, "close"), (os, "replace")], ids=["in-zipfile", "mid-swap"]
)
def test_a_second_ctrl_c_during_the_shutdown_save_stops_once_the_checkpoint_is_written(
    tmp_path, monkeypatch, module, name
):
    """A KeyboardInterrupt inside zipfile leaves the archive half closed and zipfile raises errors of its own
    (and prints one at exit); between the two renames of the swap only last.previous is on disk. Either way
    the stop waits for the save: exit 130, no traceback, and checkpoints/last holds the state at the stop."""
    state = second_ctrl_c_during_the_shutdown_save(monkeypatch, module, name)
    run = tmp_path / "run"
    result = invoke("train", config(tmp_path), "--run-dir", run, "--quiet")
    monkeypatch.undo()
    assert state["second"], "the second Ctrl-C was sent"
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.stderr and "bug in neurenix" not in result.stderr
    assert "Exception ignored" not in result.stderr
    assert load_json(run / "summary.json")["status"] == "interrupted"
    assert "stopping once checkpoints/last is written" in (run / "train.log").read_text()
    assert load_last(run).total_steps == 420
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last"]
    assert temporaries(run) == []
    check_csvs(run, n_envs=1)
    evaluated = invoke("eval", run, "--checkpoint", "last", "--episodes", "1", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["checkpoint_steps"] == 420
    resumed = invoke("train", "--resume", run, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["total_steps"] == 1000
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last"]
    assert temporaries(run) == []
