"""A convolution's large products, copies and col2im scatters, cut into fixed blocks that one thread or several compute.

OpenBLAS's own threads are not offered to a convolution's products: whether they give one thread's bits depends
on shapes that the image size sets (`runtime.update_threads`). Blocks can be: a product is cut into `BLOCKS` row
blocks of its left operand, each block one single-threaded BLAS call that writes its own part of the output,
and the cut depends on the shapes alone. One thread computing the blocks in turn and several computing them at
once give the same bits; only the wall time differs. numpy releases the GIL in BLAS calls and in copies, so
Python threads suffice.

How many threads compute them is `block_threads`' setting: one by default, and for a convolutional network's
gradient steps whichever of one and every core `runtime.UpdateThreads` finds faster, as it does BLAS threads for
dense networks.

What they give, measured on SB3's NatureCNN step (4x84x84 frames, batch 32; Intel Xeon, 2 vCPUs, quiet,
2026-12-03, two rounds of 30 steps): blocks on two threads 22.7-24.5 ms, on one thread 27.6-32.4 ms, no blocks
with OpenBLAS's own two threads 26.7-27.5 ms (bits that depend on the thread count), one thread 28.4-28.8 ms.
torch on its two threads took 11.9 ms in the same sitting (benchmarks/engine.py --torch-python).
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
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


@contextmanager
def block_threads(threads: int) -> Iterator[None]:
    """Compute the blocks on `threads` threads in the body, then go back to the previous number."""
    global _threads, _pool, _pool_size
    previous = _threads
    if threads > _pool_size and threads > 1:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="neurenix-blocks")
        _pool_size = threads
    _threads = threads
    try:
        yield
    finally:
        _threads = previous


def _run(tasks: list[Callable[[], object]]) -> None:
    if _threads == 1 or len(tasks) == 1:
        for task in tasks:
            task()
        return
    for future in [_pool.submit(task) for task in tasks]:
        future.result()


def _edges(length: int) -> list[tuple[int, int]]:
    cuts = [length * i // BLOCKS for i in range(BLOCKS + 1)]
    return [(start, stop) for start, stop in zip(cuts[:-1], cuts[1:]) if stop > start]


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b of 2-D arrays, in row blocks of `a`: for products with many rows (one per window), and for a
    weight gradient cols.T @ g, whose rows are the windows' columns."""
    (m, k), n = a.shape, b.shape[1]
    if m * k * n < BLOCK_MACS:
        return a @ b
    out = np.empty((m, n), np.result_type(a, b))
    _run([lambda s=s, e=e: np.matmul(a[s:e], b, out=out[s:e]) for s, e in _edges(m)])
    return out


def col2im(windows: np.ndarray, padded_shape: tuple[int, ...], stride: tuple[int, int]) -> np.ndarray:
    """`loops.col2im` in blocks of images: each image's sum is its own, so the blocks write disjoint parts of
    the result with the bits of one call."""
    if windows.nbytes < BLOCK_BYTES or len(windows) < 2:
        return loops.col2im(windows, padded_shape, stride)
    grad = np.zeros(padded_shape, dtype=windows.dtype)
    _run(
        [lambda s=s, e=e: loops.add_windows(windows[s:e], grad[s:e], stride) for s, e in _edges(len(windows))]
    )
    return grad


def contiguous(view: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of `view` (im2col's windows), copied in blocks along its first axis."""
    if view.nbytes < BLOCK_BYTES or len(view) < 2:
        return np.ascontiguousarray(view)
    out = np.empty(view.shape, view.dtype)
    _run([lambda s=s, e=e: np.copyto(out[s:e], view[s:e]) for s, e in _edges(len(view))])
    return out
