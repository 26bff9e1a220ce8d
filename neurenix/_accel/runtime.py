"""Process-wide settings that decide how fast the engine runs on a small CPU machine.

Importing neurenix changes none of them: `configure_runtime` applies the process default (BLAS threads and the
allocator), and `Agent.train` calls it at its start unless told not to; `neurenix eval` calls it too.

BLAS threads: one by default. The gradient steps of a training run whose matmuls are large enough
(`training_blas_threads`) may use every core: `UpdateThreads` times them with one thread and with every core
and keeps the faster, since that depends on what else the machine runs. NEURENIX_BLAS_THREADS fixes the
number for everything; NEURENIX_MAX_BLAS_THREADS only caps "every core". Measured on the 2-core machine we
target, one gradient step with one and two threads:

    SAC 256-256 at batch 256   8.6 ms -> 5.7-6.2 ms
    TD3 400-300 at batch 256  10.3 ms -> 6.3-6.6 ms
    DQN 256-256 at batch 64    0.71 ms -> 0.57-0.61 ms

Acting stays on one thread: batch-1 products gain nothing from a second thread, and a DQN run with two
threads throughout took 18-26 s where two threads for its gradient steps alone gave 16-19 s. The choice must
not change any number a run produces, so every core is offered only where OpenBLAS computes each of the
step's products to the same bits on it as on one thread (`same_bits_on`; true of RL Zoo's DQN, DDPG, SAC and
TD3, whose parameters after updates hash the same either way, not of every shape). Two
threads stall when another process holds the second core (a 256-wide step took 5,000-47,000 µs instead of
550-1,170 µs), so parallel sweeps give each run its share of the cores through NEURENIX_MAX_BLAS_THREADS.

Allocator: glibc serves arrays above 128 KiB with mmap and returns them to the OS on free, so every 0.5-1 MB
activation or gradient of a 256-wide network at batch 256 is page-faulted in again on each gradient step.
Raising the mmap and trim thresholds keeps that memory in the heap for reuse: a SAC update went from ~11.3 ms
to ~8 ms here. Only glibc has mallopt; elsewhere this is skipped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import os
import statistics
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import NamedTuple

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits

from neurenix._accel.blocks import block_threads
from neurenix._accel.dead_units import skipped_widths

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 256 * 1024 * 1024  # glibc's maximum for this setting on 64-bit
_TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024

# Multiply-adds of the largest matmul in a gradient step from which its gradient steps use every core: RL Zoo's
# DQN (batch 64 through 256-256) and SAC, TD3, DDPG (batch 256) reach it; 64-wide PPO and A2C do not.
PARALLEL_MATMUL_MACS = 64 * 256 * 256


def configured_blas_threads() -> int | None:
    """NEURENIX_BLAS_THREADS as a positive int, or None when unset or not a number."""
    try:
        return max(1, int(os.environ["NEURENIX_BLAS_THREADS"]))
    except (KeyError, ValueError):
        return None


def available_cores() -> int:
    """The cores this process may use, capped by NEURENIX_MAX_BLAS_THREADS (a sweep's share per run)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        return max(1, min(cores, int(os.environ["NEURENIX_MAX_BLAS_THREADS"])))
    except (KeyError, ValueError):
        return cores


def configure_blas_threads() -> int:
    """The process default: NEURENIX_BLAS_THREADS, else one thread."""
    threads = configured_blas_threads() or 1
    threadpool_limits(limits=threads, user_api="blas")
    return threads


class Runtime(NamedTuple):
    """What `configure_runtime` set: the process's BLAS threads, and whether glibc now keeps freed large blocks."""

    blas_threads: int
    tuned_allocator: bool


def configure_runtime() -> Runtime:
    """Set the process defaults the engine's speed was measured with: NEURENIX_BLAS_THREADS BLAS threads, else
    one (gradient steps may use more, see `update_threads`), and glibc's allocator keeping freed large blocks
    for reuse (`configure_allocator`). Process-wide, so never done on import: `Agent.train` calls it at its start
    unless passed `configure_runtime=False`, and `neurenix eval` calls it before evaluating. Calling it again
    sets the same."""
    return Runtime(configure_blas_threads(), configure_allocator())


def gradient_matmuls(modules: Iterable, rows: int) -> set[tuple[int, int, int]]:
    """(rows, inner, cols) of the matmuls a gradient step of `modules` over minibatches of `rows` may run: each
    weight's forward, input gradient and weight gradient, in either orientation (a weight is stored (out, in) or
    (in, out)), also with the fewer units a ReLU layer's gradient products keep when some have no gradient."""
    shapes = set()
    for module in modules:
        for p in module.parameters():
            if p.ndim >= 2:
                a, b = p.shape[-2:]
                sizes = [
                    (a, b),
                    *((n, b) for n in skipped_widths(a)),
                    *((a, n) for n in skipped_widths(b)),
                ]
                for m, n in sizes:
                    shapes |= {(rows, m, n), (rows, n, m), (m, rows, n), (n, rows, m)}
    return shapes


def update_threads(modules: Iterable, rows: int) -> UpdateThreads:
    """The thread chooser for a training run's gradient steps of `modules` over minibatches of `rows`.

    One BLAS thread where a network has a convolution (a 4-D kernel, (out, in, kh, kw)) and NEURENIX_BLAS_THREADS
    does not fix the number: its products have a row per window, rows times the output positions, which depend
    on an image size its parameters do not tell, so `same_bits_on` cannot be asked about them, and only one
    thread is sure to repeat a run's numbers. Its products and copies are cut into fixed blocks instead
    (`blocks`), which give the same bits on any number of threads: the choice is then between one and every
    core for those.
    """
    modules = list(modules)
    convolves = any(p.ndim == 4 for module in modules for p in module.parameters())
    if convolves and configured_blas_threads() is None:
        cores = available_cores()
        return UpdateThreads((1,) if cores == 1 else (1, cores), switch=block_threads)
    return UpdateThreads(training_blas_threads(gradient_matmuls(modules, rows)))


def training_blas_threads(matmuls: Collection[tuple[int, int, int]]) -> tuple[int, ...]:
    """The BLAS thread counts a training run may use for gradient steps whose products are `matmuls`, given as
    (rows, inner, cols).

    One choice when NEURENIX_BLAS_THREADS fixes it, when the products are too small to share, when a BLAS other
    than OpenBLAS is loaded, or when OpenBLAS would compute one of the products to other bits on every core than
    on one (`same_bits_on`); otherwise one thread and every core, for `UpdateThreads` to time.
    """
    configured = configured_blas_threads()
    if configured is not None:
        return (configured,)
    cores = available_cores()
    largest = max((rows * inner * cols for rows, inner, cols in matmuls), default=0)
    if (
        largest < PARALLEL_MATMUL_MACS
        or cores == 1
        or not _only_openblas()
        or not same_bits_on(cores, matmuls)
    ):
        return (1,)
    return (1, cores)


_agreement: dict[tuple[int, frozenset], bool] = {}


def same_bits_on(threads: int, matmuls: Collection[tuple[int, int, int]]) -> bool:
    """Whether the BLAS computes each float32 product of these shapes to the same bits on one thread and on
    `threads`, tried once per process on random data.

    OpenBLAS does for most shapes, not all: its threaded driver blocks some inner dimensions differently. With
    numpy 2.3's OpenBLAS 0.3.31 on its SkylakeX kernels, an inner dimension above 448 that is not a multiple of
    32 differs (464, 500, 1000; 480 and 512 agree), so a DQN with batch_size 1000 or a 500-wide critic would
    repeat its numbers only if timing picked the same threads every run. 5 ms for RL Zoo's DQN, 50 ms for DDPG's
    400-300 networks (206 shapes, with those of `neurenix._accel.dead_units.skipped_widths`).
    """
    key = (threads, frozenset(matmuls))
    if key not in _agreement:
        largest = max((rows * inner + inner * cols for rows, inner, cols in matmuls), default=0)
        pool = np.random.default_rng(0).standard_normal(largest, dtype=np.float32)
        _agreement[key] = all(_same_product(pool, shape, threads) for shape in sorted(matmuls))
    return _agreement[key]


def _same_product(pool: np.ndarray, shape: tuple[int, int, int], threads: int) -> bool:
    """a @ b on one thread and on `threads`, with a and b cut from one pool of random numbers (drawing afresh
    for each of the ~200 shapes of a 400-300 DDPG would take most of the check's time)."""
    rows, inner, cols = shape
    a = pool[: rows * inner].reshape(rows, inner)
    b = pool[rows * inner : rows * inner + inner * cols].reshape(inner, cols)
    with blas_threads(1):
        one = a @ b
    with blas_threads(threads):
        shared = a @ b
    return np.array_equal(one, shared)


def _only_openblas() -> bool:
    return all(library.internal_api == "openblas" for library in _libraries())


_blas_libraries: list | None = None


def _libraries() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries, found once."""
    global _blas_libraries
    if _blas_libraries is None:
        _blas_libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    return _blas_libraries


@contextmanager
def blas_threads(threads: int) -> Iterator[None]:
    """Run the body with `threads` BLAS threads, then restore the previous number.

    Through threadpoolctl's per-library controllers: a switch costs ~1 µs, where entering and leaving
    `threadpool_limits` costs ~160 µs, too much around every gradient step of SAC.
    """
    libraries = _libraries()
    previous = [library.get_num_threads() for library in libraries]
    for library in libraries:
        library.set_num_threads(threads)
    try:
        yield
    finally:
        for library, number in zip(libraries, previous):
            library.set_num_threads(number)


class UpdateThreads:
    """Runs gradient steps with whichever of its thread counts is faster here, now, by timing them.

    A second thread wins on an idle machine and loses badly when the other core is taken (another training, a
    noisy neighbour of a virtual machine): measured on the 2-core machine we target, the same DQN run took 17 s
    or 23 s depending on the host. Each choice is first timed on a few updates, interleaved; then the faster
    runs. A choice is judged on PROBES updates or PROBE_S seconds of them, whichever comes first: one TD3 update
    of 200 gradient steps (1.3 s) is already a steady measure. The current choice's own timings keep coming, so
    a choice that slows down is left within a few updates.

    What the running choice's timings cannot show is that another choice has become faster, and that is what
    rechecks are for. Fewer threads can only become faster than more if the extra cores get taken, which slows
    the many-thread choice: while it runs, the others are timed afresh only once it has become SLOWDOWN slower
    than when chosen. While fewer threads run, the cores they leave idle may have come free unseen: the others
    are timed afresh after RECHECK_S seconds of it, or RECHECK_UPDATES of its updates if that is longer.
    Rechecking every few seconds regardless cost an idle-machine DQN run ~5%. Results do not depend on the
    choice (see `same_bits_on`); only the wall time does.
    """

    PROBES = 3  # fresh timed updates of a choice before it can be judged ...
    PROBE_S = 0.5  # ... or fewer, when they take this long together
    RECHECK_S = 5.0
    RECHECK_UPDATES = 15
    SLOWDOWN = 1.2

    def __init__(
        self, choices: tuple[int, ...], switch: Callable[[int], AbstractContextManager] | None = None
    ) -> None:
        """`switch(threads)` runs its body on that many threads: BLAS threads unless told otherwise."""
        self.choices = choices
        self.switch = blas_threads if switch is None else switch
        self.timings = {threads: deque(maxlen=2 * self.PROBES) for threads in choices}
        self.best = choices[-1]
        self.warm = False  # the first update allocates what the others reuse: not timed
        self.since_check = 0.0
        self.best_median = math.inf  # the running choice's fastest median since it was chosen

    @contextmanager
    def run(self) -> Iterator[None]:
        threads = self._next()
        start = time.perf_counter()
        with self.switch(threads):
            yield
        elapsed = time.perf_counter() - start
        if not self.warm:
            self.warm = True
            return
        self.timings[threads].append(elapsed)
        if all(self._judged(t) for t in self.choices):
            if threads == self.best:  # the time between rechecks counts the chosen runs only
                self.since_check += elapsed
            best = min(self.choices, key=lambda t: statistics.median(self.timings[t]))
            if best != self.best:
                self.best, self.since_check, self.best_median = best, 0.0, math.inf
            self.best_median = min(self.best_median, statistics.median(self.timings[best]))

    def _judged(self, threads: int) -> bool:
        timings = self.timings[threads]
        return len(timings) >= self.PROBES or sum(timings) >= self.PROBE_S

    def _next(self) -> int:
        if len(self.choices) == 1 or not self.warm:
            return self.best
        unjudged = [t for t in self.choices if not self._judged(t)]
        if unjudged:
            return min(unjudged, key=lambda t: len(self.timings[t]))
        typical = statistics.median(self.timings[self.best])
        if self.best == max(self.choices):
            due = typical > self.SLOWDOWN * self.best_median
        else:
            due = self.since_check >= max(self.RECHECK_S, self.RECHECK_UPDATES * typical)
        if not due:
            return self.best
        self.since_check, self.best_median = 0.0, math.inf
        other = next(t for t in self.choices if t != self.best)
        self.timings[other].clear()  # its old timings tell nothing about the machine now
        return other


@functools.cache
def _mallopt():
    """glibc's mallopt, or None. Found once: `find_library` asks ldconfig (~2 ms), and every `Agent.train`
    configures the runtime."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return None


def configure_allocator() -> bool:
    """Keep freed large blocks for reuse (glibc only); NEURENIX_KEEP_MALLOC=1 leaves the allocator alone."""
    if os.environ.get("NEURENIX_KEEP_MALLOC") == "1":
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
    )
