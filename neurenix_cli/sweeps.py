"""Sweeps: a grid of config values x seeds, each point trained as a normal run by `experiment.train`.

    from neurenix_cli.sweeps import plan, run_local, points_table
    sweep = plan("configs/dqn_cartpole.yaml", ["agent.learning_rate=0.001,0.0005"], seeds=[0, 1, 2])
    results = run_local(sweep.jobs, workers=2)
    rows = points_table(sweep, results)

Every job is validated before anything trains (a bad value exits 2 with nothing written), and each run lands in
`RUNS_ROOT/sweep-<algo>_<env>_<time>/p<i>_<values>_seed<n>/` with every file `neurenix train` writes, so
`neurenix plot`, `show`, `eval` and `train --resume` work on it as on any run.

Locally the runs train in worker processes (`concurrent.futures`), at most `workers` at a time. On Ray each run
is a Ray task that trains into a temporary directory on whichever node runs it and returns the run directory's
files; the driver writes them under the local sweep directory. The same path serves a laptop's local Ray and a
cluster without a shared filesystem.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import statistics
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurenix import available_cores
from neurenix.errors import ConfigError, PicklableError
from neurenix_cli import runs
from neurenix_cli.config import load_config
from neurenix_cli.numbers import rounded

SKIPPED = "skipped"  # a job that never started because the sweep was interrupted first


@dataclass
class Job:
    point: int
    seed: int
    config: dict
    run_dir: Path


@dataclass
class Sweep:
    directory: Path
    config_path: str
    grid: dict[str, list[str]]  # key -> the value texts given for it, in order
    seeds: list[int]
    points: list[dict[str, str]]  # each grid point: key -> value text
    jobs: list[Job] = field(default_factory=list)


class SweepInterrupted(PicklableError, KeyboardInterrupt):
    """The sweep stopped on SIGINT/SIGTERM; `results` holds what the runs returned (interrupted ones too)."""

    def __init__(self, signum: int, results: dict[str, dict]):
        super().__init__(f"sweep interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.results = results


# ----------------------------------------------------------------------------------------------------- planning
def parse_seeds(text: str) -> list[int]:
    """`0-9` (inclusive), `0,3,7`, `0-4,10`."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        try:
            values = range(int(low), int(high) + 1) if dash else [int(part)]
        except ValueError:
            raise ConfigError(
                f"--seeds {text!r}: {part!r} is not a seed or a range; write e.g. `0-9`, `0,3,7` or `0-4,10`."
            ) from None
        if not values:
            raise ConfigError(f"--seeds {text!r}: the range {part!r} is empty; write the smaller seed first.")
        seeds.extend(v for v in values if v not in seeds)
    return seeds


def split_values(text: str) -> list[str]:
    """Split a `--set` value list at its top-level commas: `0.1,0.2` -> two values, while commas inside
    brackets, braces or quotes belong to one value, so `[64,64],[128,128]` -> `[64,64]` and `[128,128]`,
    `[64,64]` stays one list, and `'a,b'` one string."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote is not None:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def parse_grid(sets: Sequence[str]) -> dict[str, list[str]]:
    """`["agent.gamma=0.9,0.99", "train.total_steps=1000"]` -> {"agent.gamma": ["0.9", "0.99"], ...}."""
    grid: dict[str, list[str]] = {}
    for text in sets:
        key, sep, values = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--set {text!r} is not KEY=VALUE[,VALUE...]; e.g. --set agent.learning_rate=0.001,0.0005."
            )
        options = split_values(values)
        if len(options) > 1 and not all(options):
            raise ConfigError(f"--set {text!r} has an empty value between commas; remove the extra comma.")
        if key in grid:
            raise ConfigError(f"--set {key}=... is given twice; list all its values in one --set.")
        grid[key] = options
    return grid


def plan(
    config_path: str | os.PathLike,
    sets: Sequence[str] = (),
    seeds: Sequence[int] = (0,),
    runs_root: str | os.PathLike = "runs",
) -> Sweep:
    """Validate every grid point (nothing is written if one is invalid), then create the sweep directory and
    name each job's run directory inside it."""
    grid = parse_grid(sets)
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    configs = [load_config(config_path, [f"{k}={v}" for k, v in point.items()]) for point in points]
    directory = runs.create_run_dir(runs_root, f"sweep-{configs[0]['algorithm']}", configs[0]["env"]["id"])
    sweep = Sweep(directory, str(config_path), grid, list(seeds), points)
    for i, (point, config) in enumerate(zip(points, configs)):
        varying = {k: v for k, v in point.items() if len(grid[k]) > 1}
        label = runs.slug("_".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in varying.items()))[:60]
        name = f"p{i}_{label}" if varying else f"p{i}"
        for seed in seeds:
            sweep.jobs.append(Job(i, seed, {**config, "seed": seed}, directory / f"{name}_seed{seed}"))
    write_sweep_file(sweep, {})
    return sweep


def write_sweep_file(sweep: Sweep, results: dict[str, dict]) -> None:
    """SWEEP_DIR/sweep.json: the grid, the seeds, and each run with its point, seed and (once known) status."""
    runs.atomic_write_json(
        sweep.directory / runs.SWEEP_NAME,
        {
            "config": sweep.config_path,
            "grid": sweep.grid,
            "seeds": sweep.seeds,
            "runs": [
                {
                    "run_dir": str(job.run_dir),
                    "point": sweep.points[job.point],
                    "seed": job.seed,
                    "status": results.get(str(job.run_dir), {}).get("status"),
                    "final_eval": results.get(str(job.run_dir), {}).get("final_eval"),
                }
                for job in sweep.jobs
            ],
        },
    )


# ----------------------------------------------------------------------------------------------------- one run
def train_job(config: dict, run_dir: str) -> dict:
    """Train one run (in a worker process or a Ray task) and return its summary. Never raises: a failed or
    interrupted run is a result of the sweep, with its files on disk like any run's."""
    from neurenix_cli import experiment

    if _stop is not None and _stop.is_set():
        return {"run_dir": run_dir, "status": SKIPPED}
    try:
        return experiment.train(config, run_dir)
    except experiment.RunInterrupted as exc:
        return exc.summary
    except Exception as exc:
        summary = runs.read_summary(run_dir) or {}
        return {**summary, "run_dir": run_dir, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}


_stop: Any = None  # in a worker process: the sweep's "start no new run" event


def _init_worker(stop: Any, blas_threads: int) -> None:
    """Ctrl-C reaches every process of the terminal's group: a worker between runs ignores it (the sweep
    process decides what happens next), while a training run handles it as `neurenix train` does.

    Each worker's runs may use at most their share of the cores for BLAS: two runs that each want every core
    stall each other (neurenix/_accel/runtime.py). A cap the user set stands."""
    global _stop
    _stop = stop
    os.environ.setdefault("NEURENIX_MAX_BLAS_THREADS", str(blas_threads))
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ----------------------------------------------------------------------------------------------------- locally
def run_local(
    jobs: Sequence[Job], workers: int | None = None, on_done: Callable[[Job, dict], None] | None = None
) -> dict[str, dict]:
    """Train `jobs` in up to `workers` processes (default: one per core); returns run_dir -> summary.

    On Ctrl-C the running runs stop as `neurenix train` does (checkpoint saved, marked interrupted), no new run
    starts, and SweepInterrupted carries the results; SIGTERM to the sweep process is passed on to the runs.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    workers = max(1, min(workers or available_cores(), len(jobs)))
    # spawn, not fork: a fresh interpreter per worker inherits no threads, locks or signal state of the parent.
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    results: dict[str, dict] = {}
    share = max(1, available_cores() // workers)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(stop, share)
    ) as pool:
        pending = {pool.submit(train_job, job.config, str(job.run_dir)): job for job in jobs}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    job = pending.pop(future)
                    results[str(job.run_dir)] = _outcome(future, job)
                    if on_done is not None:
                        on_done(job, results[str(job.run_dir)])
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", signal.SIGINT)
            stop.set()
            for future in pending:
                future.cancel()
            if signum != signal.SIGINT:  # SIGTERM came to this process alone; a Ctrl-C reached every worker
                _forward(signum, [job.run_dir for job in pending.values()])
            for future, job in pending.items():
                if not future.cancelled():
                    results[str(job.run_dir)] = _outcome(future, job)
            raise SweepInterrupted(signum, results) from None
    return results


def _outcome(future: Any, job: Job) -> dict:
    """The run's summary; a worker process that died (killed, out of memory) makes its run a failed one."""
    try:
        return future.result()
    except Exception as exc:
        summary = runs.read_summary(job.run_dir) or {}
        error = f"the worker process died ({type(exc).__name__}: {exc})"
        return {**summary, "run_dir": str(job.run_dir), "status": "failed", "error": error}


def _forward(signum: int, run_dirs: Sequence[Path]) -> None:
    """Send `signum` to the processes training `run_dirs` (each run's lock file names its trainer)."""
    for run_dir in run_dirs:
        pid = runs.RunLock(run_dir).owner()
        if pid is not None and pid != os.getpid():
            try:
                os.kill(pid, signum)
            except OSError:
                pass  # finished (or never started) meanwhile


# ----------------------------------------------------------------------------------------------------- on Ray
def ray_train_job(config: dict, name: str) -> dict:
    """A Ray task: train into a temporary directory on this node and return the summary and every file of the
    run directory (relative path -> bytes), so the driver needs no shared filesystem."""
    os.environ.setdefault("NEURENIX_MAX_BLAS_THREADS", "1")  # the one CPU Ray gave this task
    scratch = Path(tempfile.mkdtemp(prefix="neurenix-sweep-"))
    try:
        run_dir = scratch / name
        summary = train_job(config, str(run_dir))
        files = {
            str(path.relative_to(run_dir)): path.read_bytes()
            for path in sorted(run_dir.rglob("*"))
            if path.is_file() and path.name != runs.LOCK_NAME
        }
        return {"summary": summary, "files": files}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_ray(
    jobs: Sequence[Job], address: str | None = None, on_done: Callable[[Job, dict], None] | None = None
) -> dict[str, dict]:
    """Train `jobs` as Ray tasks (one CPU each) on the cluster at `address`, or on Ray's default when None
    (RAY_ADDRESS, else a new local instance); write each run's files under its local run directory."""
    with ray_session(address, "neurenix sweep --ray") as ray:
        task = ray.remote(num_cpus=1, max_retries=0)(ray_train_job)
        pending = {task.remote(job.config, job.run_dir.name): job for job in jobs}
        results: dict[str, dict] = {}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ready[0])
                returned = ray.get(ready[0])
                results[str(job.run_dir)] = unpack_ray_run(job.run_dir, returned)
                if on_done is not None:
                    on_done(job, results[str(job.run_dir)])
        except KeyboardInterrupt as exc:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise SweepInterrupted(getattr(exc, "signum", signal.SIGINT), results) from None
        return results


@contextlib.contextmanager
def ray_session(address: str | None, command: str) -> Iterator[Any]:
    """Ray, connected to the cluster at `address`, or to Ray's default when None (RAY_ADDRESS, else a new local
    instance), for the body."""
    from neurenix_cli.extras import require

    ray = require("ray", "ray", command)
    if address is None:
        ray.init(include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def unpack_ray_run(run_dir: Path, returned: dict) -> dict:
    """Write a Ray task's run files under `run_dir`; the summary then names the local directory."""
    for relative, data in returned["files"].items():
        target = run_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    summary = {**returned["summary"], "run_dir": str(run_dir)}
    if (run_dir / runs.SUMMARY_NAME).exists():
        runs.atomic_write_json(run_dir / runs.SUMMARY_NAME, summary)
    return summary


# ----------------------------------------------------------------------------------------------------- results
def points_table(sweep: Sweep, results: dict[str, dict]) -> list[dict]:
    """Per grid point: its values, its runs, and the mean and (population) std of their final evaluations."""
    rows = []
    for i, point in enumerate(sweep.points):
        jobs = [job for job in sweep.jobs if job.point == i]
        outcomes = [results.get(str(job.run_dir), {"status": SKIPPED}) for job in jobs]
        finals = [float(o["final_eval"]) for o in outcomes if o.get("final_eval") is not None]
        rows.append(
            {
                "point": point,
                "runs": [
                    {
                        "run_dir": str(job.run_dir),
                        "seed": job.seed,
                        "status": o.get("status"),
                        "final_eval": o.get("final_eval"),
                    }
                    for job, o in zip(jobs, outcomes)
                ],
                "completed": sum(o.get("status") == "completed" for o in outcomes),
                "final_eval_mean": rounded(statistics.fmean(finals)) if finals else None,
                "final_eval_std": rounded(statistics.pstdev(finals)) if finals else None,
            }
        )
    return rows


def sweep_json(sweep: Sweep, rows: list[dict]) -> str:
    return json.dumps({"sweep_dir": str(sweep.directory), "seeds": sweep.seeds, "points": rows})
