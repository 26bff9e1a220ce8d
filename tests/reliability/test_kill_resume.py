"""Kill a real `neurenix train` process again and again (SIGINT, SIGTERM, SIGKILL at seeded random moments),
resume it each time, and check what a script would find on disk after every stop.

Each chain interrupts one run several times: every session after the first is itself a `train --resume` that
gets killed, so resuming a resumed run, a kill during a resume's start-up and a kill during a checkpoint write
are all exercised. Checkpoints are frequent (and for DQN include the replay buffer) so that a good share of the
kills land while a checkpoint is being written.
"""

from __future__ import annotations

import json
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from reltools import (
    CONFIGS,
    Proc,
    check_csvs,
    load_json,
    load_last,
    progress,
    sets,
    small_dqn,
    temporaries,
)

from neurenix_cli import runs

EXPECTED_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}


@dataclass
class Chain:
    args: list[str]
    budget: int
    n_envs: int
    checkpoint_every: int
    kills: list[signal.Signals]


def dqn_chain() -> Chain:
    budget, every = 6000, 250
    return Chain(
        small_dqn(budget, every, train__save_replay_buffer=True),
        budget,
        1,
        every,
        [signal.SIGINT, signal.SIGTERM, signal.SIGKILL, signal.SIGKILL, signal.SIGINT, signal.SIGTERM],
    )


def ppo_chain() -> Chain:
    config = CONFIGS / "ppo_cartpole.yaml"
    if not config.exists():
        pytest.skip("configs/ppo_cartpole.yaml is not there (PPO not merged)")
    budget, every, n_envs = 16384, 1024, 8
    overrides = sets(
        train__total_steps=budget,
        train__checkpoint_every=every,
        train__eval_every=8192,
        train__eval_episodes=2,
        train__max_steps=100,
        train__log_every=512,
        env__n_envs=n_envs,
    )
    return Chain(
        [str(config), *overrides], budget, n_envs, every, [signal.SIGTERM, signal.SIGKILL, signal.SIGINT]
    )


def kill_points(rng: random.Random, chain: Chain) -> list[int]:
    """Sorted steps to interrupt at, far enough apart that each session makes progress past its checkpoint."""
    gap = chain.checkpoint_every + 200
    low, high = 300, int(chain.budget * 0.7)  # the last resume needs work left for its own kill
    while True:
        points = sorted(rng.randint(low, high) for _ in chain.kills)
        if all(b - a >= gap for a, b in zip(points, points[1:])):
            return points


def wait_for_checkpoint_write(run: Path, proc: Proc) -> None:
    """Spin until a checkpoint's temporary directory appears (a write lasts a few milliseconds)."""
    checkpoints = run / "checkpoints"
    deadline = time.monotonic() + 20
    while not any(p.name.startswith(".last.") for p in checkpoints.iterdir()):
        assert proc.popen.poll() is None and time.monotonic() < deadline, "no checkpoint write seen"
        time.sleep(0.0005)


def check_after_kill(run: Path, proc: Proc, signum: signal.Signals, n_envs: int) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    summary = load_json(run / "summary.json")
    agent = load_last(run)
    if signum == signal.SIGKILL:
        # Nobody could update the summary: it says what the last writer wrote (a killed resume may not have
        # written yet), and `list` shows a `running` run whose process is gone as `dead`.
        assert summary["status"] in ("running", "interrupted")
        if summary["status"] == "running":
            assert runs.run_status(run) == "dead"
        assert proc.stdout == ""
        rows = check_csvs(run, n_envs, torn_tail_ok=True)
        if agent is not None:
            assert sum(int(r["step"]) <= agent.total_steps for r in rows) == agent.episodes
        return
    assert summary["status"] == "interrupted" and summary["stop_reason"] == signum.name
    assert json.loads(proc.stdout)["status"] == "interrupted", "--json still reports the stop"
    assert f"--resume {run}" in proc.stderr
    assert agent is not None, "a graceful stop always saves checkpoints/last"
    assert agent.total_steps == summary["total_steps"] and agent.episodes == summary["episodes"]
    rows = check_csvs(run, n_envs)
    assert len(rows) == agent.episodes, "every episode up to the checkpoint has its row, and none after it"
    assert temporaries(run) == [], "a graceful stop leaves no temporary files"
    assert not (run / ".lock").exists()


@pytest.mark.parametrize("make_chain", [dqn_chain, ppo_chain], ids=["dqn", "ppo"])
def test_a_run_killed_at_random_moments_resumes_to_its_budget(tmp_path, make_chain):
    chain = make_chain()
    rng = random.Random(f"kill-resume-{make_chain.__name__}")
    kills = rng.sample(chain.kills, len(chain.kills))
    points = kill_points(rng, chain)
    run, logs = tmp_path / "run", tmp_path / "logs"
    proc = Proc(["train", *chain.args, "--run-dir", run, "--json"], logs)
    killed_mid_write = False
    for signum, point in zip(kills, points):
        proc.wait_until(lambda: progress(run) >= point)  # noqa: B023 - used before the loop moves on
        if signum == signal.SIGKILL and not killed_mid_write:
            # The first kill -9 waits for a checkpoint being written (its temporary directory exists).
            wait_for_checkpoint_write(run, proc)
            killed_mid_write = True
        else:
            time.sleep(rng.uniform(0, 0.05))
        proc.popen.send_signal(signum)
        assert proc.wait() == EXPECTED_EXIT[signum], proc.stderr
        check_after_kill(run, proc, signum, chain.n_envs)
        proc = Proc(["train", "--resume", run, "--json"], logs)

    # The last resume is killed once more at a random moment of its start-up (imports, loading the checkpoint,
    # truncating the CSVs, the first steps), then completes.
    time.sleep(rng.uniform(0.2, 0.9))
    if proc.popen.poll() is None:  # a fast machine may have finished the run already
        proc.popen.kill()
        proc.wait()
        check_csvs(run, chain.n_envs, torn_tail_ok=True)
        proc = Proc(["train", "--resume", run, "--json"], logs)
    assert proc.wait(timeout=120) == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "completed" and result["total_steps"] == chain.budget
    assert load_json(run / "summary.json")["status"] == "completed"
    agent = load_last(run)
    assert agent.total_steps == chain.budget
    assert len(check_csvs(run, chain.n_envs)) == agent.episodes
    assert temporaries(run) == [], "leftovers of killed writers are cleaned up"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best", "last"]
    assert not (run / ".lock").exists()


def test_a_second_resume_or_a_second_writer_of_a_running_run_is_refused_and_a_dead_lock_taken_over(
    tmp_path,
):
    run, logs = tmp_path / "run", tmp_path / "logs"
    args = small_dqn(6000, 500, agent__gradient_steps=2)
    owner = Proc(["train", *args, "--run-dir", run, "--quiet"], logs)
    owner.wait_until(lambda: (run / "checkpoints" / "last").is_dir())

    # Both at once, so that the owner is surely still training while they try.
    second = Proc(["train", "--resume", run], logs)
    cron_job = Proc(["train", *args, "--run-dir", run, "--quiet"], logs)
    assert second.wait() == 2 and cron_job.wait() == 2
    assert owner.popen.poll() is None, "the owner finished too early for this test to mean anything"
    for refused in (second, cron_job):
        assert f"locked by process {owner.pid}" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr

    owner.popen.kill()
    owner.wait()
    assert (run / ".lock").read_text().strip() == str(owner.pid), "a killed owner leaves its lock file"
    resumed = Proc(["train", "--resume", run, "--json"], logs)
    assert resumed.wait() == 0, resumed.stderr
    assert json.loads(resumed.stdout)["total_steps"] == 6000
    assert not (run / ".lock").exists()


def test_a_second_ctrl_c_during_the_shutdown_stops_at_once_and_leaves_a_consistent_run(tmp_path):
    """The second SIGINT lands at a random moment of the shutdown: during the final save, while the summary
    is written, while the process exits. Whatever it hits, the exit code stays 130, nothing is torn, and the
    run resumes."""
    rng = random.Random("second-ctrl-c")
    logs = tmp_path / "logs"
    for attempt in range(4):
        run = tmp_path / f"run{attempt}"
        proc = Proc(["train", *small_dqn(2000, 250, train__save_replay_buffer=True), "--run-dir", run], logs)
        proc.wait_until(lambda: progress(run) >= 1000)  # noqa: B023
        proc.popen.send_signal(signal.SIGINT)
        time.sleep(rng.uniform(0, 0.03))
        sent = time.monotonic()
        proc.popen.send_signal(signal.SIGINT)
        assert proc.wait() == 130, proc.stderr
        assert time.monotonic() - sent < 5, "a second Ctrl-C does not wait for anything"
        assert "Traceback" not in proc.stderr and "Aborted" not in proc.stderr, proc.stderr
        summary = load_json(run / "summary.json")
        assert summary["status"] == "interrupted" and summary["stop_reason"] == "SIGINT"
        agent = load_last(run)
        rows = check_csvs(run, 1)
        assert sum(int(r["step"]) <= agent.total_steps for r in rows) == agent.episodes
        assert not (run / ".lock").exists()
        resumed = Proc(["train", "--resume", run, "--json"], logs)
        assert resumed.wait() == 0, resumed.stderr
        assert json.loads(resumed.stdout)["total_steps"] == 2000
