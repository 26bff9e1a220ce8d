"""Process-wide settings that decide how fast the engine runs on a small CPU machine.

BLAS threads: one unless NEURENIX_BLAS_THREADS says otherwise. Measured on the 2-core machine we target: a
256-wide MLP iteration (batch 64) took ~550-850 µs with one OpenBLAS thread and 12,000-47,000 µs with two while
the other core was busy (idle, two threads gain ~15% on 256-wide nets and nothing on 64-wide ones). Spinning BLAS
workers that fight other processes are the worst case for people who run several trainings at once.

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


def configure_blas_threads() -> int:
    value = os.environ.get("NEURENIX_BLAS_THREADS", "1")
    try:
        threads = max(1, int(value))
    except ValueError:
        threads = 1
    threadpool_limits(limits=threads, user_api="blas")
    return threads


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
