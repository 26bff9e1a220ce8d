"""The process settings in neurenix/_runtime.py: how many BLAS threads a training run uses, and when."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from neurenix import _runtime
from neurenix.rl import A2C, DQN, SAC, Callback

PENDULUM_OBS = {"type": "box", "low": -8.0, "high": 8.0, "shape": [3]}
PENDULUM_ACTIONS = {"type": "box", "low": -2.0, "high": 2.0, "shape": [1]}
CARTPOLE_OBS = {"type": "box", "low": -5.0, "high": 5.0, "shape": [4]}
TWO_ACTIONS = {"type": "discrete", "n": 2}


def blas_threads_now() -> int:
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.delenv("NEURENIX_BLAS_THREADS", raising=False)
    monkeypatch.delenv("NEURENIX_MAX_BLAS_THREADS", raising=False)
    monkeypatch.setattr(_runtime.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})


def test_training_threads_follow_the_size_of_the_largest_matmul(four_cores):
    assert _runtime.training_blas_threads(_runtime.PARALLEL_MATMUL_MACS) == (1, 4)
    assert _runtime.training_blas_threads(_runtime.PARALLEL_MATMUL_MACS - 1) == (1,)


@pytest.mark.parametrize(("value", "expected"), [("3", 3), ("0", 1), ("many", None)])
def test_neurenix_blas_threads_fixes_the_number_when_it_is_one(four_cores, monkeypatch, value, expected):
    monkeypatch.setenv("NEURENIX_BLAS_THREADS", value)
    assert _runtime.configured_blas_threads() == expected
    small, large = _runtime.training_blas_threads(1), _runtime.training_blas_threads(10**9)
    assert (small, large) == (((expected,), (expected,)) if expected else ((1,), (1, 4)))


def test_a_sweep_share_caps_every_core(four_cores, monkeypatch):
    monkeypatch.setenv("NEURENIX_MAX_BLAS_THREADS", "2")
    assert _runtime.available_cores() == 2
    assert _runtime.training_blas_threads(10**9) == (1, 2)
    monkeypatch.setenv("NEURENIX_MAX_BLAS_THREADS", "1")
    assert _runtime.training_blas_threads(10**9) == (1,)


def test_only_openblas_is_timed_against_one_thread(four_cores, monkeypatch):
    monkeypatch.setattr(_runtime, "_only_openblas", lambda: False)
    assert _runtime.training_blas_threads(10**9) == (1,)


def test_largest_matmul_is_minibatch_rows_times_the_largest_weight():
    sac = SAC(PENDULUM_OBS, PENDULUM_ACTIONS, actor_hidden_dims=[256, 256], critic_hidden_dims=[400, 300])
    sac.batch_size = 256
    assert sac._largest_matmul() == 256 * 400 * 300  # a critic ensemble's (2, 400, 300) weight, per member
    dqn = DQN(CARTPOLE_OBS, TWO_ACTIONS, hidden_dims=[256, 256], batch_size=64)
    assert dqn._largest_matmul() == 64 * 256 * 256
    a2c = A2C(CARTPOLE_OBS, TWO_ACTIONS, n_envs=8, n_steps=5)
    assert a2c._largest_matmul() == 40 * 64 * 64


class RecordActingThreads(Callback):
    def __init__(self) -> None:
        self.seen: set[int] = set()

    def on_step(self, total_steps: int) -> bool:
        self.seen.add(blas_threads_now())
        return False


@pytest.mark.parametrize("large", [True, False])
def test_gradient_steps_run_with_the_chosen_threads_and_acting_with_one(monkeypatch, large):
    monkeypatch.delenv("NEURENIX_BLAS_THREADS", raising=False)
    monkeypatch.delenv("NEURENIX_MAX_BLAS_THREADS", raising=False)
    monkeypatch.setattr(_runtime.os, "sched_getaffinity", lambda pid: {0, 1})
    before = blas_threads_now()
    agent = SAC(PENDULUM_OBS, PENDULUM_ACTIONS, batch_size=16, learning_starts=10, seed=0)
    monkeypatch.setattr(agent, "_largest_matmul", lambda: _runtime.PARALLEL_MATMUL_MACS if large else 1)
    updating: set[int] = set()
    update = agent.update

    def recorded_update():
        updating.add(blas_threads_now())
        return update()

    monkeypatch.setattr(agent, "update", recorded_update)
    acting = RecordActingThreads()
    agent.train("Pendulum-v1", total_steps=20, callback=acting)
    assert updating == ({1, 2} if large else {1})  # large: both are timed before the faster is kept
    assert acting.seen == {before}
    assert blas_threads_now() == before
    assert np.isfinite(agent._last_losses["critic_loss"])


def test_blas_threads_restores_the_previous_number_after_an_error():
    before = blas_threads_now()
    with pytest.raises(RuntimeError), _runtime.blas_threads(before + 1):
        assert blas_threads_now() == before + 1
        raise RuntimeError
    assert blas_threads_now() == before


class FakeClock:
    """Stands in for time.perf_counter in neurenix._runtime: fake updates advance it, so no test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def run_updates(
    tuner: _runtime.UpdateThreads, clock: FakeClock, count: int, cost: dict[int, float]
) -> list[int]:
    """`count` fake updates whose duration depends on the BLAS threads they run with; the threads used."""
    used = []
    for _ in range(count):
        with tuner.run():
            threads = blas_threads_now()
            used.append(threads)
            clock.now += cost[threads]
    return used


def test_update_threads_keep_the_faster_choice_and_follow_a_change(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(_runtime, "time", clock)
    monkeypatch.setattr(_runtime.UpdateThreads, "RECHECK_S", 0.05)  # SAC-sized updates of a few ms
    tuner = _runtime.UpdateThreads((1, 2))
    fast_two, slow_two = {1: 0.004, 2: 0.001}, {1: 0.004, 2: 0.02}
    used = run_updates(tuner, clock, 1 + 2 * tuner.PROBES, fast_two)
    assert sorted(used[1:]) == [1] * tuner.PROBES + [2] * tuner.PROBES  # probes interleave both
    assert tuner.best == 2
    # While two threads keep their speed, one thread cannot have become faster: it is not timed again.
    assert run_updates(tuner, clock, 200, fast_two) == [2] * 200
    # The second core becomes slow (another process took it): within a few updates the run moves to one
    # thread, and two threads come back only as a recheck every RECHECK_S seconds of updating.
    used = run_updates(tuner, clock, 50, slow_two)
    assert tuner.best == 1
    assert used[:6].count(1) >= 1 and used[6:].count(1) >= 0.8 * len(used[6:])
    rechecked = [i for i, threads in enumerate(used[6:]) if threads == 2]
    assert rechecked, "two threads are timed again while one runs"
    # ... and back when the core is free again.
    run_updates(tuner, clock, 50, fast_two)
    assert tuner.best == 2


def test_a_slowdown_of_the_chosen_many_threads_rechecks_the_others(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(_runtime, "time", clock)
    tuner = _runtime.UpdateThreads((1, 2))
    run_updates(tuner, clock, 3, {1: 2.0, 2: 1.3})  # TD3-sized updates: 200 gradient steps each
    assert tuner.best == 2
    # 1.3 -> 1.5 s: still faster than one thread was, but slower than when chosen, by less than SLOWDOWN.
    assert run_updates(tuner, clock, 20, {1: 1.4, 2: 1.5}) == [2] * 20
    # 1.3 -> 1.7 s is more than SLOWDOWN: one thread is timed afresh, once (one update is a steady measure),
    # and now wins.
    used = run_updates(tuner, clock, 20, {1: 1.4, 2: 1.7})
    assert used.count(1) >= 15 and tuner.best == 1


def test_long_updates_on_fewer_threads_recheck_every_recheck_updates(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(_runtime, "time", clock)
    tuner = _runtime.UpdateThreads((1, 2))
    used = run_updates(tuner, clock, 3, {1: 1.3, 2: 2.0})  # the second core is busy: one thread wins
    assert sorted(used[1:]) == [1, 2] and tuner.best == 1
    used = run_updates(tuner, clock, 100, {1: 1.3, 2: 2.0})
    rechecks = [i for i, threads in enumerate(used) if threads == 2]
    assert len(rechecks) == 100 // (tuner.RECHECK_UPDATES + 1)  # one update of two threads each time
    # RECHECK_UPDATES chosen updates, then the recheck (one more where the sum of the times rounds below).
    assert all(
        b - a in (tuner.RECHECK_UPDATES + 1, tuner.RECHECK_UPDATES + 2)
        for a, b in zip(rechecks, rechecks[1:])
    )


def test_update_threads_without_a_choice_never_probe(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(_runtime, "time", clock)
    tuner = _runtime.UpdateThreads((1,))
    assert run_updates(tuner, clock, 5, {1: 0.0}) == [1] * 5
