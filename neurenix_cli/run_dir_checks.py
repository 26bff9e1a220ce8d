"""Whether a new run can go where it is asked to, found without writing anything: `train --check` answers what
the real command would, because both ask these checks first.

Each check raises RunDirError (exit 2) saying what is there and giving a fix that works: a folder holding a run
that can continue is continued with `--resume`, a completed one evaluated, and any other folder is not a run.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from neurenix_cli import runs


def check_run_dir(path: Path) -> None:
    """`--run-dir DIR`: DIR must be new or empty, and creatable or writable."""
    if path.is_dir():
        refuse_occupied(path)
    reason = unwritable(path)
    if reason is not None:
        raise runs.RunDirError(
            f"cannot create a run in {path}: {reason}. Choose a writable place with --run-dir DIR or "
            "--runs-root DIR."
        )


def check_runs_root(root: Path) -> None:
    """`--runs-root DIR`: DIR must be a directory, or creatable, where a new run directory can be made."""
    reason = unwritable(root)
    if reason is not None:
        raise runs.RunDirError(
            f"cannot create a run directory in {root}: {reason}. Choose a writable place with --runs-root DIR."
        )


def check_resumable(path: Path, unwritable_fix: str) -> None:
    """`--resume RUN --check`: what taking the run's lock would refuse, found without taking it: a directory
    the lock file cannot be written in (the same message as `RunLock`'s), or a lock a live process holds."""
    reason = unwritable(path)
    if reason is not None:
        raise runs.RunDirError(f"cannot write in {reason}. {unwritable_fix}.")
    runs.RunLock(path).refuse_if_held()


def refuse_occupied(path: Path) -> None:
    """Refuse a directory that holds anything but a lock file (a new run would mix its files with those),
    saying whether it is a run, and so what to do with it."""
    entries = sorted(p.name for p in path.iterdir() if p.name != runs.LOCK_NAME)
    if not entries:
        return
    if not (path / runs.CONFIG_NAME).is_file():
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise runs.RunDirError(
            f"{path} is not empty ({shown}) and is not a run (no {runs.CONFIG_NAME}, so nothing there can be "
            "resumed or evaluated). Give --run-dir a new or empty directory, or --runs-root DIR to create "
            "one under DIR."
        )
    status = runs.run_status(path)
    if status == "running" and runs.RunLock(path).owner() == os.getpid():
        status = "dead"  # the lock is ours (experiment.train checks again once it holds it): nobody trains it
    if status == "completed":
        fix = f"evaluate it with `neurenix eval {path}`, or give --run-dir a new or empty directory"
    elif status == "running":
        fix = (
            f"it is locked by process {runs.RunLock(path).owner()}, which is still training it; give --run-dir "
            "a new or empty directory"
        )
    else:
        fix = f"continue it with `neurenix train --resume {path}`, or give --run-dir a new or empty directory"
    raise runs.RunDirError(f"{path} already holds a run (status {status}): {fix}.")


def unwritable(path: Path) -> str | None:
    """Why a directory could not be made (or written in) at `path`, or None if it could: the nearest existing
    directory on the way must be a writable directory."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = hasattr(os, "statvfs") and os.statvfs(existing).f_flag & os.ST_RDONLY
        return f"{existing}: {os.strerror(errno.EROFS if read_only else errno.EACCES)}"
    return None
