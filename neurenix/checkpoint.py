"""Checkpoints that can never run code when loaded: arrays in `arrays.npz` (read with allow_pickle=False) and
metadata in `meta.json` (format version, what wrote it, a sha256 per array, and since format 2 a sha256 of the
metadata itself, so that a corrupted counter or hyperparameter is caught like a corrupted array).

A checkpoint is a directory, replaced atomically: the new one is written beside it under a temporary name and
fsynced, the old one is renamed to `<name>.previous`, the new one renamed into place, then the old one removed.
If the process dies between the two renames, loading falls back to `<name>.previous`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from neurenix.errors import CheckpointError

FORMAT_VERSION = 2  # 2 added `meta_sha256`; version 1 checkpoints (without it) still load
META_CHECKSUM = "meta_sha256"
ARRAYS_FILE = "arrays.npz"
META_FILE = "meta.json"
_ALLOWED_KINDS = "biuf"  # bool, int, uint, float: never object, string or void arrays


def flatten_state(state: dict, prefix: str = "") -> tuple[dict[str, np.ndarray], dict]:
    """Split a nested state into arrays keyed 'a/b/c' and a JSON tree of everything else."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict = {}
    for key, value in state.items():
        if "/" in key:
            raise ValueError(f"state key {key!r} must not contain '/'")
        if isinstance(value, np.ndarray):
            arrays[prefix + key] = value
        elif isinstance(value, dict):
            sub_arrays, sub_scalars = flatten_state(value, f"{prefix}{key}/")
            arrays.update(sub_arrays)
            if sub_scalars:
                scalars[key] = sub_scalars
        else:
            scalars[key] = value.item() if isinstance(value, np.generic) else value
    return arrays, scalars


def unflatten_state(arrays: dict[str, np.ndarray], scalars: dict) -> dict:
    state = json.loads(json.dumps(scalars))
    for key, value in arrays.items():
        node = state
        *parents, leaf = key.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return state


def save_checkpoint(directory: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(meta)
    meta["format_version"] = FORMAT_VERSION
    meta["arrays"] = {name: _describe(array) for name, array in arrays.items()}
    meta.pop(META_CHECKSUM, None)
    meta[META_CHECKSUM] = meta_checksum(meta)
    staging = directory.with_name(f".{directory.name}.tmp-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        with open(staging / ARRAYS_FILE, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        with open(staging / META_FILE, "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        # A full disk or a second Ctrl-C mid-write: leave no half-written directory behind.
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = previous_path(directory)
    if directory.exists():
        if previous.exists():
            shutil.rmtree(previous)
        os.replace(directory, previous)
    os.replace(staging, directory)
    _fsync_dir(directory.parent)
    if previous.exists():
        shutil.rmtree(previous)
    return directory


def load_checkpoint(directory: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read and verify a checkpoint; every problem is a CheckpointError that names the path."""
    directory = Path(directory)
    if not directory.exists() and previous_path(directory).exists():
        directory = previous_path(directory)
    if not directory.is_dir():
        raise CheckpointError(
            f"No checkpoint at {directory}: expected a directory holding {ARRAYS_FILE} and {META_FILE}."
        )
    meta = _read_meta(directory / META_FILE)
    arrays = _read_arrays(directory / ARRAYS_FILE)
    described = meta["arrays"]
    if set(described) != set(arrays):
        missing = _some(set(described) - set(arrays))
        extra = _some(set(arrays) - set(described))
        raise CheckpointError(
            f"Checkpoint {directory} is inconsistent: {ARRAYS_FILE} and {META_FILE} do not belong together "
            f"(arrays missing: {missing}; unexpected: {extra}). Were files copied between checkpoints?"
        )
    for name, array in arrays.items():
        if _describe(array) != described[name]:
            raise CheckpointError(
                f"Checkpoint {directory} is corrupt: array {name!r} does not match its recorded checksum, shape or "
                "dtype. Use another checkpoint (checkpoints/best or checkpoints/last)."
            )
    return arrays, meta


def meta_checksum(meta: dict) -> str:
    """sha256 of the metadata's canonical JSON (sorted keys, no spaces), `meta_sha256` itself left out."""
    body = {key: value for key, value in meta.items() if key != META_CHECKSUM}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _some(names: set[str], limit: int = 3) -> str:
    shown = ", ".join(sorted(names)[:limit]) or "none"
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _read_meta(path: Path) -> dict:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise CheckpointError(f"Cannot read {path}: {error.strerror or error}.") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"Checkpoint metadata {path} is not UTF-8 text; the file is corrupt.") from None
    try:
        meta = json.loads(text)
    except ValueError as error:
        raise CheckpointError(
            f"Checkpoint metadata {path} is not valid JSON ({error}); the file is corrupt."
        ) from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"Checkpoint metadata {path} must be a JSON object.")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(
            f"Checkpoint metadata {path} has no integer format_version; it is not a Neurenix checkpoint."
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"Checkpoint {path.parent} has format version {version}, newer than this Neurenix reads "
            f"({FORMAT_VERSION}). Upgrade Neurenix to load it."
        )
    if version < 1:
        raise CheckpointError(f"Checkpoint metadata {path} has an invalid format_version {version}.")
    if version >= 2 and meta.get(META_CHECKSUM) != meta_checksum(meta):
        raise CheckpointError(
            f"Checkpoint metadata {path} does not match its checksum ({META_CHECKSUM}); the file is corrupt "
            "or was edited. Use another checkpoint (checkpoints/best or checkpoints/last)."
        )
    described = meta.get("arrays")
    if not isinstance(described, dict) or not all(
        isinstance(d, dict)
        and isinstance(d.get("sha256"), str)
        and isinstance(d.get("shape"), list)
        and isinstance(d.get("dtype"), str)
        for d in described.values()
    ):
        raise CheckpointError(
            f"Checkpoint metadata {path} has a malformed 'arrays' table; the file is corrupt."
        )
    return meta


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise CheckpointError(f"Checkpoint arrays {path} are missing.") from None
    except ValueError as error:
        if "pickle" not in str(error):
            raise CheckpointError(
                f"Checkpoint arrays {path} are unreadable (truncated or corrupt: {error})."
            ) from None
        # numpy's answer to object arrays and pickle files when pickling is off: refuse, never unpickle.
        raise CheckpointError(
            f"Checkpoint arrays {path} are refused: they hold pickled Python objects, which could run code "
            "when loaded; a Neurenix checkpoint holds only numbers."
        ) from None
    except Exception as error:
        # A damaged zip or .npy header surfaces as almost any exception (BadZipFile, EOFError, KeyError,
        # NotImplementedError for a flipped compression method, RuntimeError for a flipped encryption flag,
        # struct and zlib errors...): every one of them means the file is corrupt.
        raise CheckpointError(
            f"Checkpoint arrays {path} are unreadable (truncated or corrupt: {type(error).__name__}: {error})."
        ) from None
    for name, array in arrays.items():
        if array.dtype.kind not in _ALLOWED_KINDS:
            raise CheckpointError(
                f"Checkpoint arrays {path} hold {name!r} of dtype {array.dtype}; only numbers are allowed."
            )
    return arrays


def _describe(array: np.ndarray) -> dict[str, Any]:
    contiguous = np.ascontiguousarray(array)
    return {
        "sha256": hashlib.sha256(contiguous.tobytes()).hexdigest(),
        "shape": list(array.shape),
        "dtype": array.dtype.str,
    }


def previous_path(directory: Path) -> Path:
    """Where the replaced checkpoint waits during a save: the one loadable copy if a crash hits mid-swap."""
    return directory.with_name(directory.name + ".previous")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
