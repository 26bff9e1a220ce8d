"""Does a second BLAS thread pay on this machine now? Alternating tests of a 256x400x300 float32 product loop.

    python benchmarks/threads.py [--tests 60] [--seconds 1] [--json PATH]

Each test counts products per second three ways, one after the other: with every core in one process (OpenBLAS's
threads working together), with one thread, and in one single-threaded process per core at once, each pinned to
its core where the OS allows. On a virtual machine the first can fall while the other two hold: the cores then
compute as fast as ever alone, but not together, and that is when the gradient steps of TD3 and DDPG lose what
their second thread gave them (README, Performance). Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from neurenix._accel import available_cores, blas_threads

ROWS, INNER, COLS = 256, 400, 300  # a 400-300 layer at batch 256: the products of RL Zoo's TD3 and DDPG


def products_per_second(threads: int, seconds: float) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((ROWS, INNER), dtype=np.float32)
    b = rng.standard_normal((INNER, COLS), dtype=np.float32)
    out = np.empty((ROWS, COLS), np.float32)
    with blas_threads(threads):
        np.matmul(a, b, out=out)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(10):
                np.matmul(a, b, out=out)
            count += 10
        return count / (time.perf_counter() - start)


def one_process_per_core(cpus: list[int], seconds: float) -> list[float]:
    """Single-threaded processes, one per CPU, started together once all are ready."""
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", str(cpu), "--seconds", str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for cpu in cpus
    ]
    for process in processes:
        if process.stdout.readline().strip() != "ready":
            sys.exit("a single-threaded test process failed to start; its error is above")
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    rates = [float(process.stdout.readline()) for process in processes]
    for process in processes:
        process.wait()
    return rates


def pinned_child(cpu: int, seconds: float) -> None:
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})
    products_per_second(1, 0.05)  # page in the arrays and the library before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()
    print(products_per_second(1, seconds), flush=True)


def summary(label: str, rates: list[float]) -> str:
    return f"{label:28s} median {statistics.median(rates):7.0f}  min {min(rates):7.0f}  max {max(rates):7.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each of a test's three parts")
    parser.add_argument("--json", type=str, default=None, help="also write every test's rates to this file")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        pinned_child(args.child, args.seconds)
        return
    cores = available_cores()
    if cores < 2:
        sys.exit("one core available: there is no second thread to test")
    # Pin each single-threaded process to a CPU of its own where the OS can (-1: leave it to the scheduler).
    cpus = sorted(os.sched_getaffinity(0))[:cores] if hasattr(os, "sched_getaffinity") else [-1] * cores
    tests = []
    print(f"{ROWS}x{INNER}x{COLS} float32 products per second; {cores} cores")
    print(f"{'test':>4s} {'every core':>11s} {'one thread':>11s}   one process per core")
    for test in range(1, args.tests + 1):
        together = products_per_second(cores, args.seconds)
        alone = products_per_second(1, args.seconds)
        separate = one_process_per_core(cpus, args.seconds)
        tests.append({"every_core": together, "one_thread": alone, "one_process_per_core": separate})
        print(f"{test:4d} {together:11.0f} {alone:11.0f}   " + " ".join(f"{r:6.0f}" for r in separate))
    print(summary("every core, one process", [t["every_core"] for t in tests]))
    print(summary("one thread", [t["one_thread"] for t in tests]))
    print(summary("one process per core, each", [r for t in tests for r in t["one_process_per_core"]]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"shape": [ROWS, INNER, COLS], "cores": cores, "tests": tests}, f, indent=2)


if __name__ == "__main__":
    main()
