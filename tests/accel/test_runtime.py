"""The process settings in neurenix/_accel/runtime.py: how many BLAS threads a training run uses, and when."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from neurenix import nn
from neurenix._accel import runtime as _runtime
from neurenix.rl import A2C, DQN, SAC, Callback

PENDULUM_OBS = {"type": "box", "low": -8.0, "high": 8.0, "shape": [3]}
PENDULUM_ACTIONS = {"type": "box", "low": -2.0, "high": 2.0, "shape": [1]}
CARTPOLE_OBS = {"type": "box", "low": -5.0, "high": 5.0, "shape": [4]}
TWO_ACTIONS = {"type": "discrete", "n": 2}


def blas_threads_now() -> int:
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


LARGE = {(64, 256, 256), (256, 64, 256)}  # PARALLEL_MATMUL_MACS exactly
SMALL = {(63, 256, 256), (1, 4, 2)}
HUGE = {(10**3, 10**3, 10**3)}


@pytest.fixture
def four_cores(monkeypatch):
    """Four cores on which OpenBLAS gives the same bits with any thread count (see the tests of same_bits_on)."""
    monkeypatch.delenv("NEURENIX_BLAS_THREADS", raising=False)
    monkeypatch.delenv("NEURENIX_MAX_BLAS_THREADS", raising=False)
    monkeypatch.setattr(_runtime.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(_runtime, "same_bits_on", lambda threads, matmuls: True)


def test_training_threads_follow_the_size_of_the_largest_matmul(four_cores):
    assert _runtime.training_blas_threads(LARGE) == (1, 4)
    assert _runtime.training_blas_threads(SMALL) == (1,)
    assert _runtime.training_blas_threads(set()) == (1,)


def test_products_whose_bits_depend_on_the_thread_count_keep_one_thread(four_cores, monkeypatch):
    asked = []
    monkeypatch.setattr(_runtime, "same_bits_on", lambda threads, matmuls: asked.append((threads, matmuls)))
    assert _runtime.training_blas_threads(LARGE) == (1,)
    assert asked == [(4, LARGE)]


@pytest.mark.parametrize("inner", [400, 464, 480, 500, 1000])
def test_same_bits_on_tells_whether_every_core_computes_a_product_as_one_thread_does(inner):
    """On numpy 2.3's OpenBLAS with SkylakeX kernels, 464, 500 and 1000 disagree; other CPUs may differ."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, inner), dtype=np.float32)
    b = rng.standard_normal((inner, 256), dtype=np.float32)
    with _runtime.blas_threads(1):
        one = a @ b
    with _runtime.blas_threads(2):
        two = a @ b
    shapes = {(256, inner, 256), (16, 16, 16)}
    assert _runtime.same_bits_on(2, shapes) == np.array_equal(one, two)
    assert _runtime.same_bits_on(2, {(16, 16, 16)})


@pytest.mark.parametrize(("value", "expected"), [("3", 3), ("0", 1), ("many", None)])
def test_neurenix_blas_threads_fixes_the_number_when_it_is_one(four_cores, monkeypatch, value, expected):
    monkeypatch.setenv("NEURENIX_BLAS_THREADS", value)
    assert _runtime.configured_blas_threads() == expected
    small, large = _runtime.training_blas_threads(SMALL), _runtime.training_blas_threads(HUGE)
    assert (small, large) == (((expected,), (expected,)) if expected else ((1,), (1, 4)))


def test_a_sweep_share_caps_every_core(four_cores, monkeypatch):
    monkeypatch.setenv("NEURENIX_MAX_BLAS_THREADS", "2")
    assert _runtime.available_cores() == 2
    assert _runtime.training_blas_threads(HUGE) == (1, 2)
    monkeypatch.setenv("NEURENIX_MAX_BLAS_THREADS", "1")
    assert _runtime.training_blas_threads(HUGE) == (1,)


def test_only_openblas_is_timed_against_one_thread(four_cores, monkeypatch):
    monkeypatch.setattr(_runtime, "_only_openblas", lambda: False)
    assert _runtime.training_blas_threads(HUGE) == (1,)


def test_gradient_matmuls_cover_every_weight_over_a_minibatch():
    sac = SAC(PENDULUM_OBS, PENDULUM_ACTIONS, actor_hidden_dims=[256, 256], critic_hidden_dims=[400, 300])
    sac.batch_size = 256
    shapes = _runtime.gradient_matmuls(sac._networks(), sac.batch_size)
    # A critic ensemble's (2, 400, 300) weight, per member: forward, input gradient, weight gradient.
    assert {(256, 400, 300), (256, 300, 400), (400, 256, 300)} <= shapes
    assert {(256, 3, 256), (256, 256, 256), (256, 4, 400)} <= shapes  # the actor's, the critics' first layer
    assert max(r * i * c for r, i, c in shapes) == 256 * 400 * 300
    dqn = DQN(CARTPOLE_OBS, TWO_ACTIONS, hidden_dims=[256, 256], batch_size=64)
    assert (
        max(r * i * c for r, i, c in _runtime.gradient_matmuls(dqn._networks(), dqn.batch_size))
        == 64 * 256 * 256
    )
    a2c = A2C(CARTPOLE_OBS, TWO_ACTIONS, n_envs=8, n_steps=5)
    assert (
        max(r * i * c for r, i, c in _runtime.gradient_matmuls(a2c._networks(), a2c._minibatch_rows()))
        == 40 * 64 * 64
    )


def test_networks_with_a_convolution_keep_one_blas_thread_and_share_blocks_instead(four_cores, monkeypatch):
    """A convolution's products have a row per window, which its kernel's shape does not tell: no check of them
    can offer every core to BLAS, however large the kernel's own shape would look to `gradient_matmuls`; the
    choice is between one and every core for its fixed blocks."""
    cnn = nn.Sequential(nn.Conv2d(64, 256, 16), nn.Flatten(), nn.Linear(256, 256))
    mlp = nn.mlp([256, 256, 256])
    dense = _runtime.update_threads([mlp], 64)
    assert (dense.choices, dense.switch) == ((1, 4), _runtime.blas_threads)
    convolutional = _runtime.update_threads([mlp, cnn], 64)
    assert (convolutional.choices, convolutional.switch) == ((1, 4), _runtime.block_threads)
    monkeypatch.setenv("NEURENIX_BLAS_THREADS", "2")
    fixed = _runtime.update_threads([mlp, cnn], 64)
    assert (fixed.choices, fixed.switch) == ((2,), _runtime.blas_threads)


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
    monkeypatch.setattr(_runtime, "same_bits_on", lambda threads, matmuls: True)
    monkeypatch.setattr(_runtime, "gradient_matmuls", lambda modules, rows: LARGE if large else SMALL)
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
    """Stands in for time.perf_counter in neurenix._accel.runtime: fake updates advance it, so no test sleeps."""

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


def _dqn_after_one_update(batch_size: int, threads: int) -> list[np.ndarray]:
    agent = DQN(CARTPOLE_OBS, TWO_ACTIONS, hidden_dims=[256, 256], batch_size=batch_size, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(batch_size):
        obs = rng.standard_normal((1, 4)).astype(np.float32)
        agent.buffer.add(obs, rng.integers(0, 2, (1,)), np.ones(1, np.float32), obs, np.zeros(1, bool))
    with _runtime.blas_threads(threads):
        agent.update()
    return [p.numpy().copy() for p in agent.q_network.parameters()]


@pytest.mark.parametrize("batch_size", [64, 500])
def test_every_thread_count_a_run_may_choose_gives_its_numbers(monkeypatch, batch_size):
    """The thread count is chosen by timing, so each choice offered must compute the same parameters."""
    monkeypatch.delenv("NEURENIX_BLAS_THREADS", raising=False)
    monkeypatch.delenv("NEURENIX_MAX_BLAS_THREADS", raising=False)
    monkeypatch.setattr(_runtime.os, "sched_getaffinity", lambda pid: {0, 1})
    dqn = DQN(CARTPOLE_OBS, TWO_ACTIONS, hidden_dims=[256, 256], batch_size=batch_size)
    shapes = _runtime.gradient_matmuls(dqn._networks(), batch_size)
    choices = _runtime.training_blas_threads(shapes)
    results = [_dqn_after_one_update(batch_size, threads) for threads in choices]
    for other in results[1:]:
        assert all(np.array_equal(x, y) for x, y in zip(results[0], other))
