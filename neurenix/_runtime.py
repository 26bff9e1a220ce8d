"""BLAS threading: one thread unless NEURENIX_BLAS_THREADS says otherwise.

Measured on the 2-core machine we target: a 256-wide MLP iteration (batch 64) took ~550-850 µs with one OpenBLAS
thread and 12,000-47,000 µs with two while the other core was busy (idle, two threads gain ~15% on 256-wide
nets and nothing on 64-wide ones). Spinning BLAS workers that fight other processes is the worst case for
people who run several trainings at once, so one thread is the default.
"""

from __future__ import annotations

import os

from threadpoolctl import threadpool_limits


def configure_blas_threads() -> int:
    value = os.environ.get("NEURENIX_BLAS_THREADS", "1")
    try:
        threads = max(1, int(value))
    except ValueError:
        threads = 1
    threadpool_limits(limits=threads, user_api="blas")
    return threads
