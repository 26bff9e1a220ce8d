"""Process-wide settings that decide how fast the engine runs on a small CPU machine.

BLAS threads: one by default, and every core for the training runs whose gradient steps multiply large enough
matrices (`training_blas_threads`); NEURENIX_BLAS_THREADS fixes the number for everything. Measured on the 2-core
machine we target, one gradient step:

    SAC 256-256 at batch 256   8.6 ms with one thread, 6.1-6.6 ms with two
    TD3 400-300 at batch 256  10.3 ms                  6.6 ms
    DQN 256-256 at batch 64    0.82 ms                 1.02-1.15 ms (the second thread costs more than it does)

A (64, 256) @ (256, 256) product gains ~40% from a second thread alone, yet a DQN step built of them loses: its
operands are small enough that the handing over between cores costs more than half the arithmetic saves. Acting
(batch 1) never benefits. OpenBLAS computes each output element on one thread in the same order whatever the
thread count, so the choice does not change any number a run produces. Two threads stall when another process
holds the second core (a 256-wide step took 5,000-47,000 µs instead of 550-1,170 µs), so parallel sweeps give
each run its share of the cores through NEURENIX_BLAS_THREADS.

Allocator: glibc serves arrays above 128 KiB with mmap and returns them to the OS on free, so every 0.5-1 MB
activation or gradient of a 256-wide network at batch 256 is page-faulted in again on each gradient step.
Raising the mmap and trim thresholds keeps that memory in the heap for reuse: a SAC update went from ~11.3 ms
to ~8 ms here. Only glibc has mallopt; elsewhere this is skipped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from threadpoolctl import threadpool_limits

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 256 * 1024 * 1024  # glibc's maximum for this setting on 64-bit
_TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024

# Multiply-adds of the largest matmul in a gradient step from which a training run uses every core: a batch of
# 256 through a 256-wide layer (SAC, TD3, DDPG as RL Zoo runs them) is above it; DQN's batch of 64 is not.
PARALLEL_MATMUL_MACS = 256 * 256 * 256


def configured_blas_threads() -> int | None:
    """NEURENIX_BLAS_THREADS as a positive int, or None when unset or not a number."""
    try:
        return max(1, int(os.environ["NEURENIX_BLAS_THREADS"]))
    except (KeyError, ValueError):
        return None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure_blas_threads() -> int:
    """The process default: NEURENIX_BLAS_THREADS, else one thread."""
    threads = configured_blas_threads() or 1
    threadpool_limits(limits=threads, user_api="blas")
    return threads


def training_blas_threads(largest_matmul_macs: int) -> int:
    """BLAS threads for a training run whose largest matmul per gradient step has this many multiply-adds."""
    configured = configured_blas_threads()
    if configured is not None:
        return configured
    return available_cores() if largest_matmul_macs >= PARALLEL_MATMUL_MACS else 1


def blas_threads(threads: int) -> threadpool_limits:
    """A context manager that runs its body with `threads` BLAS threads and restores the previous number."""
    return threadpool_limits(limits=threads, user_api="blas")


def configure_allocator() -> bool:
    """Keep freed large blocks for reuse (glibc only); NEURENIX_KEEP_MALLOC=1 leaves the allocator alone."""
    if os.environ.get("NEURENIX_KEEP_MALLOC") == "1":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
    )
