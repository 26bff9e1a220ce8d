"""Importing neurenix leaves the process's settings alone; `configure_runtime` and training make them.

Each case runs in a fresh interpreter, since the settings are process-wide and the suite's own process has them
made (tests/conftest.py). The BLAS is first set to 3 threads, a count neither the library nor OpenBLAS picks by
itself. The allocator is probed by its behaviour: glibc serves a 64 MiB block with mmap unless its mmap threshold
was raised (by `mallopt`), and its own dynamic threshold never rises that high.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, json, sys
import numpy
from threadpoolctl import threadpool_info, threadpool_limits

threadpool_limits(3, user_api="blas")


class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"
    )]


libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]


def mapped():
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(64 << 20)
    grew = libc.mallinfo2().hblkhd - before
    libc.free(block)
    return grew >= 64 << 20


import neurenix
import neurenix.rl

how = sys.argv[1]
if how == "configure":
    neurenix.configure_runtime()
elif how in ("train", "train-opted-out"):
    agent = neurenix.rl.DQN(
        {"type": "box", "low": -5.0, "high": 5.0, "shape": [4]}, {"type": "discrete", "n": 2},
        batch_size=8, learning_starts=8, seed=0,
    )
    agent.train("CartPole-v1", total_steps=16, configure_runtime=how == "train")
threads = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
print(json.dumps({"threads": threads, "mapped": mapped()}))
"""

needs_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="the allocator settings are glibc's",
)


def _settings_after(how: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NEURENIX_BLAS_THREADS", "NEURENIX_KEEP_MALLOC")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, how], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@needs_glibc
@pytest.mark.parametrize("how", ["import", "train-opted-out"])
def test_importing_neurenix_or_training_opted_out_leaves_the_threads_and_the_allocator_alone(how):
    assert _settings_after(how) == {"threads": [3], "mapped": True}


@needs_glibc
@pytest.mark.parametrize("how", ["configure", "train"])
def test_configure_runtime_and_training_set_one_thread_and_keep_freed_blocks(how):
    assert _settings_after(how) == {"threads": [1], "mapped": False}
