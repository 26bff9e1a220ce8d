"""A convolutional network's large products, copies, ReLUs and col2im scatters, cut into fixed blocks that one
thread or several compute.

OpenBLAS's own threads are not offered to a convolution's products: whether they give one thread's bits depends
on shapes that the image size sets (`runtime.update_threads`). Blocks can be: a product is cut into `BLOCKS`
blocks of its output's longer side, each block one single-threaded BLAS call that writes its own part of the
output, and the cut depends on the shapes alone. One thread computing the blocks in turn and several computing
them at once give the same bits; only the wall time differs. numpy releases the GIL in BLAS calls and in copies, so
Python threads suffice.

How many threads compute them is `block_threads`' setting: one by default, and for a convolutional network's
gradient steps whichever of one and every core `runtime.UpdateThreads` finds faster, as it does BLAS threads for
dense networks.

What they give, measured on SB3's NatureCNN step (4x84x84 frames, batch 32; Intel Xeon, 2 vCPUs, quiet,
2026-12-03, two rounds of 30 steps): blocks on two threads 22.7-24.5 ms, on one thread 27.6-32.4 ms, no blocks
with OpenBLAS's own two threads 26.7-27.5 ms (bits that depend on the thread count), one thread 28.4-28.8 ms.
torch on its two threads took 11.9 ms in the same sitting (benchmarks/engine.py --torch-python). Since then
(the dense 3136-512 layer cut by columns, the caller computing a block, the fused conv + ReLU in blocks):
15.0-15.4 ms on two threads, torch 10.4-12.9 ms in those sittings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from neurenix._accel import loops

BLOCKS = 2  # per product, whatever the threads (the bits must not depend on them): the cores we target
BLOCK_MACS = 1 << 22  # multiply-adds from which a product is cut (~1 ms): a block's dispatch costs ~20-50 µs
BLOCK_BYTES = 1 << 20  # bytes from which a copy or a col2im is cut (~0.2 ms of copying)

_threads = 1
_engaged = False  # inside block_threads: a blocked gradient step, whose dense products are cut too
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


@contextmanager
def block_threads(threads: int) -> Iterator[None]:
    """Compute the blocks on `threads` threads in the body (a convolutional network's gradient step), then go back
    to the previous setting. Inside it, the dense layers' large products are cut too (`dense_matmul`)."""
    global _threads, _engaged, _pool, _pool_size
    previous = _threads, _engaged
    helpers = threads - 1  # the calling thread computes a block itself
    if helpers > _pool_size:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="neurenix-blocks")
        _pool_size = helpers
    _threads, _engaged = threads, True
    try:
        yield
    finally:
        _threads, _engaged = previous


def _run(tasks: list[Callable[[], object]]) -> None:
    """Run the tasks: the pool takes all but the last, which the calling thread computes meanwhile."""
    if _threads == 1 or len(tasks) == 1:
        for task in tasks:
            task()
        return
    futures = [_pool.submit(task) for task in tasks[:-1]]
    tasks[-1]()
    for future in futures:
        future.result()


def _edges(length: int) -> list[tuple[int, int]]:
    cuts = [length * i // BLOCKS for i in range(BLOCKS + 1)]
    return [(start, stop) for start, stop in zip(cuts[:-1], cuts[1:]) if stop > start]


def _pass_edges(length: int, nbytes: int) -> list[tuple[int, int]]:
    """The blocks of an elementwise pass over `length` rows and `nbytes`: all of it at once below BLOCK_BYTES."""
    return [(0, length)] if nbytes < BLOCK_BYTES or length < 2 else _edges(length)


def in_blocks(length: int, nbytes: int, task: Callable[[int, int], object]) -> None:
    """task(start, stop) over the fixed blocks of range(length) (`_pass_edges`): for elementwise passes (copies,
    scaling, col2im by image), whose blocks write disjoint parts of their outputs and so give the bits of one
    pass."""
    edges = _pass_edges(length, nbytes)
    if len(edges) == 1:
        task(0, length)
        return
    _run([lambda s=s, e=e: task(s, e) for s, e in edges])


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a @ b of 2-D arrays (into `out` if given), in blocks of the output's longer side: row blocks of `a` for
    a convolution's products (a row per window, or per window column in a weight gradient cols.T @ g), column
    blocks of `b` for a dense layer's forward and input gradient at a minibatch's few rows. Each block then reads
    its share of the larger operand, not all of it: NatureCNN's 3136-512 forward at batch 32 took 0.83 ms on two
    threads in column blocks, 1.17 ms in row blocks, 1.34 ms whole."""
    (m, k), n = a.shape, b.shape[1]
    if m * k * n < BLOCK_MACS:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((m, n), np.result_type(a, b))
    if m >= n:
        _run([lambda s=s, e=e: np.matmul(a[s:e], b, out=out[s:e]) for s, e in _edges(m)])
    else:
        _run([lambda s=s, e=e: np.matmul(a, b[:, s:e], out=out[:, s:e]) for s, e in _edges(n)])
    return out


def col2im(windows: np.ndarray, padded_shape: tuple[int, ...], stride: tuple[int, int]) -> np.ndarray:
    """`loops.col2im` in blocks of images: each image's sum is its own, so the blocks write disjoint parts of
    the result with the bits of one call."""
    grad = np.zeros(padded_shape, dtype=windows.dtype)
    in_blocks(len(windows), windows.nbytes, lambda s, e: loops.add_windows(windows[s:e], grad[s:e], stride))
    return grad


def contiguous(view: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of `view` (im2col's windows), copied in blocks along its first axis."""
    out = np.empty(view.shape, view.dtype)
    in_blocks(len(view), view.nbytes, lambda s, e: np.copyto(out[s:e], view[s:e]))
    return out


def dense_matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a @ b of a dense layer (a 2-D `a`, or any leading axes): cut as `matmul` inside `block_threads`, where a
    convolutional network's 3136-512 layer would otherwise hold one core for ~1 ms per product. Outside (acting,
    a dense network's step, which has OpenBLAS's threads where they keep the bits) one BLAS call."""
    if _engaged and a.ndim == 2 and b.ndim == 2:
        return matmul(a, b, out)
    return np.matmul(a, b, out=out)


def divided_channels_last(x: np.ndarray, divisor: float, dtype: type) -> np.ndarray:
    """x / divisor of an (N, C, H, W) array, as `dtype` in (N, H, W, C) memory, in blocks of images: a pass per
    channel with strided writes, which on NatureCNN's 32x4x84x84 uint8 frames took 0.58 ms against 1.49 ms for
    numpy's one transposing pass (and the divisor as `dtype` keeps numpy in that type's loop: same bits)."""
    n, c, h, w = x.shape
    out = np.empty((n, h, w, c), dtype)
    divisor = dtype(divisor)

    def divide(start: int, stop: int) -> None:
        for channel in range(c):
            np.divide(x[start:stop, channel], divisor, out=out[start:stop, :, :, channel])

    in_blocks(n, out.nbytes, divide)
    return out


def add_bias_relu(rows: np.ndarray, bias: np.ndarray | None) -> None:
    """rows = relu(rows + bias) in place, `loops`' fused pass in row blocks: a convolution's (windows, channels)
    output and its ReLU, as one op."""
    cols = rows.shape[1]
    in_blocks(
        len(rows),
        rows.nbytes,
        lambda s, e: loops.loops_for(rows, bias).add_bias_relu(rows[s:e], bias, 1, cols),
    )


def relu_backward(
    grad: np.ndarray, rows: np.ndarray, with_bias: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """The gradient through `add_bias_relu` (whose output was `rows`) and the bias's, in row blocks: each block
    sums its rows, and the blocks' sums are added in order (fixed by the shape, whatever the threads)."""
    grad = np.ascontiguousarray(grad)
    grad_in = np.empty_like(grad)
    cols = rows.shape[1]
    edges = _pass_edges(len(rows), rows.nbytes)
    sums = np.empty((len(edges), 1, cols), grad.dtype) if with_bias else None
    module = loops.relu_loops(grad, rows, grad_in, sums)

    def block(i: int) -> None:
        (s, e), part = edges[i], None if sums is None else sums[i]
        module.relu_backward(grad[s:e], rows[s:e], grad_in[s:e], part, None, 1, cols)

    _run([lambda i=i: block(i) for i in range(len(edges))])
    if sums is None:
        return grad_in, None
    total = sums[0, 0]
    for part in sums[1:, 0]:
        total = total + part
    return grad_in, total
