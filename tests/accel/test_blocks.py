"""Blocks: a convolution's large products and copies give the same bits on one thread or several."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from neurenix import _accel, nn
from neurenix._accel import blocks


def random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    ("op", "a", "b"),
    [
        (blocks.matmul, random(12800, 256), random(256, 32, seed=1)),
        (blocks.matmul, random(12800, 256).T, random(12800, 32, seed=1)),  # a weight gradient's cols.T @ g
        (blocks.matmul, random(32, 3136), random(512, 3136, seed=1).T),  # a dense forward: column blocks
        (blocks.matmul, random(32, 512), random(512, 3136, seed=1)),  # its input gradient
    ],
)
def test_a_cut_product_has_the_same_bits_on_any_number_of_threads(op, a, b):
    with _accel.block_threads(1):
        one = op(a, b)
    with _accel.block_threads(3):
        three = op(a, b)
    assert np.array_equal(one, three)
    np.testing.assert_allclose(one, a @ b, rtol=1e-4, atol=1e-3)


def test_a_cut_col2im_is_the_one_call_sum_on_any_number_of_threads():
    """NatureCNN's second layer's input gradient: (32, 9, 9, 4, 4, 32) windows onto (32, 20, 20, 32)."""
    windows = random(32, 9, 9, 4, 4, 32)
    whole = _accel.loops.col2im(windows, (32, 20, 20, 32), (2, 2))
    for threads in (1, 2):
        with _accel.block_threads(threads):
            assert np.array_equal(blocks.col2im(windows, (32, 20, 20, 32), (2, 2)), whole)


def test_small_products_and_copies_are_not_cut(monkeypatch):
    calls = []
    monkeypatch.setattr(blocks, "_run", lambda tasks: calls.append(len(tasks)))
    small = random(8, 8)
    assert np.array_equal(blocks.matmul(small, small), small @ small)
    assert np.array_equal(blocks.contiguous(small.T), np.ascontiguousarray(small.T))
    assert calls == []
    big = random(4096, 1024)
    blocks.contiguous(big.T)
    assert calls == [blocks.BLOCKS]


def test_blocks_run_on_the_pool_threads_when_several_are_set(monkeypatch):
    names = set()
    real = np.matmul

    def recording(*args, **kwargs):
        names.add(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(blocks.np, "matmul", recording)
    a, b = random(12800, 256), random(256, 32, seed=1)
    with _accel.block_threads(2):
        blocks.matmul(a, b)
    # one block on the pool's thread, the other on the caller's, which would otherwise only wait
    assert len(names) == 2 and any(name.startswith("neurenix-blocks") for name in names)
    assert threading.current_thread().name in names
    names.clear()
    blocks.matmul(a, b)  # back to one thread: this one
    assert names == {threading.current_thread().name}


def test_a_convolutional_step_has_the_same_bits_on_one_thread_and_two():
    frames = np.random.default_rng(3).uniform(0, 1, (32, 4, 84, 84)).astype(np.float32)
    results = []
    for threads in (1, 2):
        rng = np.random.default_rng(0)
        net = nn.Sequential(
            nn.Conv2d(4, 32, 8, stride=4, rng=rng),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1, rng=rng),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * 10 * 10, 16, rng=rng),
        )
        with _accel.block_threads(threads):
            out = net(frames)
            (out * out).mean().backward()
        results.append([out.numpy().copy()] + [p.grad.numpy().copy() for p in net.parameters()])
    for one, two in zip(*results):
        assert np.array_equal(one, two)


def test_the_longer_side_of_a_product_is_cut(monkeypatch):
    """Row blocks for a convolution's many windows, column blocks for a dense layer at a minibatch's few rows:
    each block reads a share of the larger operand."""
    seen = []
    real = np.matmul

    def recording(a, b, out=None):
        seen.append((a.shape, b.shape))
        return real(a, b, out=out)

    monkeypatch.setattr(blocks.np, "matmul", recording)
    blocks.matmul(random(12800, 256), random(256, 32))
    assert seen == [((6400, 256), (256, 32))] * 2
    seen.clear()
    blocks.matmul(random(32, 3136), random(3136, 512))
    assert seen == [((32, 3136), (3136, 256))] * 2


def test_dense_products_are_cut_only_inside_a_blocked_step(monkeypatch):
    calls = []
    monkeypatch.setattr(blocks, "_run", lambda tasks: calls.append(len(tasks)) or [t() for t in tasks])
    x, w = random(32, 3136), random(3136, 512, seed=1)
    whole = blocks.dense_matmul(x, w)
    assert calls == []
    with _accel.block_threads(1):
        cut = blocks.dense_matmul(x, w)
    assert calls == [blocks.BLOCKS] and np.array_equal(cut, whole)


@pytest.mark.parametrize("threads", [1, 2])
def test_pixels_divided_into_channels_last_memory_are_numpys_quotients(threads):
    pixels = np.random.default_rng(0).integers(0, 256, (32, 4, 84, 84), dtype=np.uint8)
    with _accel.block_threads(threads):
        scaled = blocks.divided_channels_last(pixels, 255.0, np.float32)
    assert scaled.dtype == np.float32 and scaled.shape == (32, 84, 84, 4)
    assert np.array_equal(scaled, np.divide(pixels, 255.0).astype(np.float32).transpose(0, 2, 3, 1))
