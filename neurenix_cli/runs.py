"""Run directories: unique names, a lock while training, CSV writers, and atomic files.

Every file a run writes is either appended row by row (CSVs, flushed after each row, so a `kill -9` leaves at
most one incomplete trailing line) or replaced whole through a temporary file + fsync + rename, so a reader (or a
crash) only ever sees the old or the new version, never half of one.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from neurenix_cli.numbers import significant

LOCK_NAME = ".lock"
WRITE_ELSEWHERE = "Choose a writable place with --runs-root DIR or --run-dir DIR"  # for a new run's directory
SUMMARY_NAME = "summary.json"
CONFIG_NAME = "config.yaml"
SWEEP_NAME = "sweep.json"  # marks a sweep directory: one run directory per grid point and seed inside
STUDY_NAME = (
    "study.json"  # marks a `neurenix tune` study directory: one run directory per trial and seed inside
)


class RunDirError(Exception):
    """A run directory cannot be used as asked (exists, locked, unwritable): a usage error, exit 2."""


# ----------------------------------------------------------------------------------------------------- naming
def slug(text: str) -> str:
    """A file-name-safe piece: `ALE/Pong-v5` -> `ALE-Pong-v5`."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", str(text)).strip("-") or "x"


def create_run_dir(
    root: str | os.PathLike, algorithm: str, env_id: str, now: _dt.datetime | None = None
) -> Path:
    """Create and return a new, empty `root/<algo>_<env>_<YYYYmmdd-HHMMSS>[_n]` directory.

    `os.mkdir` is atomic and fails when the name exists, so two processes started in the same second each get
    their own directory (the second gets `_1`, the third `_2`, ...).
    """
    root = Path(root)
    make_dirs(root)
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = f"{slug(algorithm)}_{slug(env_id)}_{stamp}"
    for n in range(10_000):
        path = root / (base if n == 0 else f"{base}_{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunDirError(
                f"cannot create a run directory in {root}: {exc.strerror}. "
                "Choose a writable place with --runs-root DIR."
            ) from exc
    raise RunDirError(
        f"{root}: 10000 runs named {base}_* already exist; use --runs-root DIR or --run-dir DIR."
    )


def make_dirs(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirError(
            f"cannot create {path}: {exc.strerror}. Choose a writable place with --runs-root DIR."
        ) from exc


# ----------------------------------------------------------------------------------------------------- atomic
def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text`: write a temporary sibling, fsync it, rename it over `path`, fsync the dir."""
    path = Path(path)
    with naming(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, 0o644)  # mkstemp makes 0600; a run's files are as readable as any other output
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def naming(path: str | os.PathLike) -> Iterator[None]:
    """Give an OSError the file name it lacks: writes and fsyncs (and numpy's writers) raise ENOSPC without
    one, and "No space left on device" alone does not say which file of the run could not be written."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays reach summaries through the library's result dicts.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename inside `path` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(agent: Any, directory: Path, include_replay_buffer: bool = False) -> Path:
    """`agent.save`, which stages the checkpoint and swaps it in atomically (see neurenix.checkpoint: the old
    copy waits as `<name>.previous` between the two renames); an OS error names the checkpoint."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with naming(directory):
        agent.save(str(directory), include_replay_buffer=include_replay_buffer)
    return directory


def remove_leftovers(run_dir: Path) -> list[str]:
    """Delete what a writer killed mid-write left in `run_dir` and its `checkpoints/`: temporary files and
    directories (hidden names holding `.tmp`) and `<checkpoint>.previous` copies whose checkpoint is in place.
    Returns the names removed. Only the holder of the run's lock may call it: a live writer's temporaries look
    the same."""
    removed = []
    for folder in (run_dir, run_dir / "checkpoints"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            temporary = path.name.startswith(".") and ".tmp" in path.name
            superseded = (
                path.name.endswith(".previous") and (folder / path.name[: -len(".previous")]).is_dir()
            )
            if not (temporary or superseded):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path.relative_to(run_dir).as_posix())
    return removed


def resolve_checkpoint(directory: Path) -> Path | None:
    """`directory` if it exists, else the `.previous` copy a crash mid-swap left behind, else None."""
    if directory.is_dir():
        return directory
    from neurenix.checkpoint import previous_path  # lazily: `list runs` and --help stay free of numpy

    previous = previous_path(directory)
    return previous if previous.is_dir() else None


# ----------------------------------------------------------------------------------------------------- lock
class RunLock:
    """An exclusive lock on a run directory, held while training writes into it.

    The lock file holds the owner's pid. Where `fcntl` exists the lock is an `flock` on that file, which the
    kernel releases when the owner dies, so a lock left by a killed process is simply taken over. Elsewhere a
    lock whose pid is no longer alive is treated as stale and taken over.
    """

    def __init__(self, run_dir: str | os.PathLike, unwritable_fix: str = WRITE_ELSEWHERE):
        self.path = Path(run_dir) / LOCK_NAME
        self.unwritable_fix = unwritable_fix  # a resume has no --runs-root: its caller says what works
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not Linux/macOS
            self._acquire_by_pid()
            return self
        for _ in range(100):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise RunDirError(
                    f"cannot write in {self.path.parent}: {exc.strerror}. {self.unwritable_fix}."
                ) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise self._locked_error() from None
                raise
            # The file may have been unlinked by its previous owner between our open and flock: then we hold a
            # lock on a nameless file. Only a lock on the file the path names counts.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                os.fsync(fd)
                self._fd = fd
                return self
            os.close(fd)
        raise RunDirError(
            f"could not lock {self.path.parent}: the lock file keeps changing; is another "
            "process starting runs there?"
        )

    def _acquire_by_pid(self) -> None:  # pragma: no cover - exercised only without fcntl
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid = self.owner()
                if pid is not None and pid_alive(pid):
                    raise self._locked_error() from None
                os.unlink(self.path)  # stale: its owner is gone
                continue
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return
        raise self._locked_error()

    def refuse_if_held(self) -> None:
        """Raise what `acquire` would if a live process holds the lock, without taking it or writing anything
        (`train --resume --check`): a shared flock, which an exclusive holder's lock refuses, probes it."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not Linux/macOS
            pid = self.owner()
            if pid is not None and pid_alive(pid):
                raise self._locked_error() from None
            return
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return  # no lock file: nobody holds it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise self._locked_error() from None
            raise
        finally:
            os.close(fd)  # releases the probe's shared lock

    def owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or "x")
        except (OSError, ValueError):
            return None

    def _locked_error(self) -> RunDirError:
        pid = self.owner()
        who = f"process {pid}" if pid is not None else "another process"
        return RunDirError(
            f"{self.path.parent} is locked by {who}, which is still training it. Wait for it to "
            f"finish or stop it (kill -INT {pid if pid is not None else '<pid>'}); a lock left by a "
            "process that died is taken over automatically."
        )

    def release(self) -> None:
        if self._fd is None:
            return
        # Unlink before closing: a process waiting on this inode re-checks the path and retries.
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def pid_alive(pid: int) -> bool:
    """Whether a process of that pid exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ----------------------------------------------------------------------------------------------------- CSVs
class CsvLog:
    """Append rows to a CSV, one flushed line per row; the header comes from the first row's keys.

    Reopening an existing file appends under the header already there (a resumed run), and columns a later row
    adds are ignored rather than shifting the file's layout. `truncate_after(step)` drops rows a resumed run is
    about to write again.
    """

    def __init__(self, path: str | os.PathLike, fieldnames: Iterable[str] | None = None):
        self.path = Path(path)
        self.fieldnames: list[str] | None = list(fieldnames) if fieldnames is not None else None
        existing = read_header(self.path)
        if existing:
            self.fieldnames = existing
        self._file = open(self.path, "a", encoding="utf-8", newline="")
        self._writer: csv.DictWriter | None = None
        if self.fieldnames is not None:
            self._start(need_header=not existing)

    def _start(self, need_header: bool) -> None:
        self._writer = csv.DictWriter(
            self._file, fieldnames=self.fieldnames, extrasaction="ignore", lineterminator="\n"
        )
        if need_header:
            self._writer.writeheader()
            self._file.flush()

    def write(self, row: dict[str, Any]) -> None:
        with naming(self.path):
            if self._writer is None:
                self.fieldnames = list(row)
                self._start(need_header=True)
            self._writer.writerow({k: _fmt(v) for k, v in row.items()})
            self._file.flush()

    def sync(self) -> None:
        with naming(self.path):
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return significant(value)
    if hasattr(value, "item"):  # numpy scalar
        return _fmt(value.item())
    return value


def read_header(path: Path) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            first = f.readline()
    except FileNotFoundError:
        return None
    return next(csv.reader([first])) if first.strip() else None


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a run's CSV; an incomplete last line (a crash mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(text.splitlines()))


def truncate_csv_after(path: str | os.PathLike, step: int, column: str = "step") -> None:
    """Keep the header and the rows with `column <= step` (and drop a torn last line), atomically."""
    path = Path(path)
    header = read_header(path)
    if not header:
        return
    rows = read_csv(path)
    kept = [r for r in rows if _as_float(r.get(column)) is not None and _as_float(r[column]) <= step]
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(kept)
    atomic_write_text(path, buf.getvalue())


def _as_float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


# ----------------------------------------------------------------------------------------------------- reading
def read_summary(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    try:
        with open(Path(run_dir) / SUMMARY_NAME, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def find_runs(root: str | os.PathLike, into_sweeps: bool = False) -> list[Path]:
    """Run directories directly under `root` (those holding a config.yaml or summary.json), oldest first; with
    `into_sweeps`, also the runs inside the sweep and study directories directly under `root`."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for p in root.iterdir():
        if not p.is_dir():
            continue
        if (p / CONFIG_NAME).exists() or (p / SUMMARY_NAME).exists():
            runs.append(p)
        elif into_sweeps and ((p / SWEEP_NAME).exists() or (p / STUDY_NAME).exists()):
            runs += find_runs(p)
    return sorted(runs, key=lambda p: (p.stat().st_mtime, p.name))


def run_status(run_dir: str | os.PathLike, summary: dict | None = None) -> str:
    """The summary's status, except that a `running` run whose process is gone (killed, machine rebooted) shows
    as `dead`: it can be continued with `neurenix train --resume`."""
    summary = summary if summary is not None else read_summary(run_dir)
    if summary is None:
        return "unknown"
    status = str(summary.get("status", "unknown"))
    if status == "running":
        pid = RunLock(run_dir).owner()
        if pid is None or not pid_alive(pid):
            return "dead"
    return status


def not_a_run(path: Path, command: Callable[[Path | str, str | None], str]) -> str:
    """Why `path`, given where a run directory is wanted, is not one, and the command that works: a checkpoint
    or a folder inside a run is reached through that run, whose config.yaml rebuilds its env and agent.
    `command(run, checkpoint)` is that command for `run`, and `checkpoint` what names the checkpoint `path` is
    (`best`, `last`, or its path), None when it is none."""
    from neurenix.checkpoint import META_FILE  # lazily: `show` of a real run needs no engine

    if path.is_dir():
        inside = next((run for run in path.parents[:2] if (run / CONFIG_NAME).is_file()), None)
        if inside is not None and path.parent.name == "checkpoints":
            choice = path.name if path.name in ("best", "last") else str(path)
            return (
                f"{path} is a checkpoint inside run {inside}, not a run directory; use the run: "
                f"`{command(inside, choice)}`."
            )
        if inside is not None:
            return (
                f"{path} is inside run {inside}, not a run directory; use the run: `{command(inside, None)}`."
            )
        if (path / META_FILE).is_file():
            return (
                f"{path} is a checkpoint, not a run directory; use the run it was trained in: "
                f"`{command('RUN_DIR', str(path))}`."
            )
    return (
        f"{path} is not a run directory (no {CONFIG_NAME}); pass a directory that `neurenix train` created "
        "(`neurenix list runs` shows them)."
    )
