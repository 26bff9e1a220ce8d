"""Learning curves from runs' metrics.csv: smoothing, grouping seeds of one config, aggregating, and a compact
chart for the terminal (block characters, or plain ASCII where the terminal cannot show them).

`neurenix plot` draws what `aggregate` computes; `neurenix show` and the end of `neurenix train` print
`terminal_chart`. Everything here is numpy and the run files: no plotting library.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from neurenix_cli import runs
from neurenix_cli.numbers import thousands

X_COLUMNS = {"steps": "step", "time": "wall_s"}
X_LABELS = {"steps": "environment steps", "time": "wall-clock seconds"}
LEGEND_CHARS = 60  # a longer label, in the legend's small font, spans most of an 8-inch-wide chart
# Keys that may differ between runs of one experiment: the seed, and settings that only change what is written
# (a run with TensorBoard on learns exactly what the same run without it learns).
NOT_THE_EXPERIMENT = (
    "seed",
    "versions",
    "train.tensorboard",
    "train.log_every",
    "train.checkpoint_every",
    "train.save_replay_buffer",
)


@dataclass
class Group:
    """Runs whose config.yaml is the same except for the seed."""

    config: dict
    runs: list[Path] = field(default_factory=list)


def expand_runs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Each path as a run directory, or, for a directory of runs (a sweep, a runs root), the runs inside it."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if (path / runs.CONFIG_NAME).is_file():
            out.append(path)
            continue
        inside = [p for p in runs.find_runs(path) if (p / runs.CONFIG_NAME).is_file()]
        if not inside:
            raise runs.RunDirError(
                f"{path} is neither a run directory (no {runs.CONFIG_NAME}) nor a directory of runs; pass "
                "directories `neurenix train` or `neurenix sweep` created."
            )
        out.extend(sorted(inside))
    return out


def read_config(run_dir: Path) -> dict:
    import yaml

    from neurenix_cli import unique_yaml

    try:
        data = unique_yaml.load((run_dir / runs.CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise runs.RunDirError(f"{run_dir / runs.CONFIG_NAME} cannot be read: {exc}") from None
    return data if isinstance(data, dict) else {}


def group_runs(run_dirs: Sequence[Path]) -> list[Group]:
    """Runs grouped by their config without the seed, in the order each group first appears."""
    groups: dict[str, Group] = {}
    for run_dir in run_dirs:
        config = read_config(run_dir)
        experiment = {k: v for k, v in flatten(config).items() if k not in NOT_THE_EXPERIMENT}
        key = json.dumps(experiment, sort_keys=True, default=str)
        groups.setdefault(key, Group(config)).runs.append(run_dir)
    return list(groups.values())


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """`{"agent": {"gamma": 0.9}}` -> `{"agent.gamma": 0.9}` (lists stay values)."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def group_labels(groups: Sequence[Group]) -> list[str]:
    """A legend label per group: the config values that tell the groups apart (`agent.gamma=0.9`), or the
    algorithm and env when there is only one group."""
    flat = [{k: v for k, v in flatten(g.config).items() if k not in NOT_THE_EXPERIMENT} for g in groups]
    keys = sorted({k for f in flat for k in f})
    differing = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flat}) > 1]
    labels = []
    for g, f in zip(groups, flat):
        if differing:
            text = ", ".join(f"{k}={_short(f.get(k))}" for k in differing)
        else:
            text = f"{g.config.get('algorithm')} on {(g.config.get('env') or {}).get('id')}"
        labels.append(f"{text} ({len(g.runs)} run{'s' if len(g.runs) != 1 else ''})")
    return labels


def legend_labels(labels: Sequence[str], limit: int = LEGEND_CHARS) -> list[str]:
    """`group_labels` as the legend shows them: unchanged if all fit in `limit` characters; otherwise numbered
    (`#1 agent.gamma=0.9, agent.tau=0... (2 runs)`), each one's settings cut to fit, for the key table that
    `neurenix plot` prints with them in full. Runs that differ in many keys would otherwise fill the chart with
    their legend."""
    if all(len(label) <= limit for label in labels):
        return list(labels)
    out = []
    for number, label in enumerate(labels, 1):
        settings, _, count = label.rpartition(" (")
        head, tail = f"#{number} ", f" ({count}"
        room = max(limit - len(head) - len(tail), 4)
        if len(settings) > room:
            kept = settings[: room - 3]
            # Whole settings only, where one fits: a value cut short reads as another value.
            settings = (kept.rpartition(", ")[0] or kept) + (", ..." if ", " in kept else "...")
        out.append(head + settings + tail)
    return out


def _short(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict)) else str(value)


# ----------------------------------------------------------------------------------------------------- numbers
def read_returns(run_dir: Path, x: str = "steps") -> tuple[np.ndarray, np.ndarray]:
    """(x, return) per finished episode, from metrics.csv; x is the env step or the wall time it ended at."""
    column = X_COLUMNS[x]
    xs, ys = [], []
    for row in runs.read_csv(run_dir / "metrics.csv"):
        try:
            xs.append(float(row[column]))
            ys.append(float(row["return"]))
        except (KeyError, TypeError, ValueError):
            continue  # a torn or foreign row: the curve is the rows that parse
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over the last `window` values (fewer at the start, so no value is dropped)."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or values.size == 0:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


@dataclass
class Curve:
    """A group's curve: `mean` over its runs at `x`, with a band from `low` to `high`."""

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_runs: int


def aggregate(
    run_dirs: Sequence[Path], x: str = "steps", window: int = 1, band: str = "minmax", points: int = 200
) -> Curve | None:
    """Mean and band across runs of the smoothed return, on a common grid over the x range all runs cover
    (outside it some runs would have no data and the mean would silently change its meaning). None if no run
    has a finished episode."""
    curves = []
    for run_dir in run_dirs:
        xs, ys = read_returns(run_dir, x)
        if xs.size:
            curves.append((xs, smooth(ys, window)))
    if not curves:
        return None
    if len(curves) == 1:
        xs, ys = curves[0]
        return Curve(xs, ys, ys, ys, 1)
    start = max(xs[0] for xs, _ in curves)
    end = min(xs[-1] for xs, _ in curves)
    grid = np.linspace(start, end, points) if end > start else np.asarray([end])
    stacked = np.stack([np.interp(grid, xs, ys) for xs, ys in curves])
    mean = stacked.mean(axis=0)
    if band == "std":
        std = stacked.std(axis=0)
        low, high = mean - std, mean + std
    else:
        low, high = stacked.min(axis=0), stacked.max(axis=0)
    return Curve(grid, mean, low, high, len(curves))


# ----------------------------------------------------------------------------------------------------- terminal
BLOCKS = " ▁▂▃▄▅▆▇█"
ASCII_LEVELS = " .:-=+*#@"


def terminal_chart(
    xs: np.ndarray, ys: np.ndarray, width: int = 60, height: int = 6, ascii: bool = False
) -> str:
    """A compact column chart of ys over xs: each column is the mean of the values whose x falls in it, each
    text row is one `height`-th of the value range, refined in eighths with block characters."""
    if ys.size == 0:
        return "no finished episodes yet\n"
    columns = max(1, min(width, ys.size))
    edges = np.linspace(xs[0], xs[-1], columns + 1)
    which = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, columns - 1)
    values = np.full(columns, np.nan)
    for c in range(columns):
        inside = ys[which == c]
        if inside.size:
            values[c] = inside.mean()
        elif c:
            values[c] = values[c - 1]  # no episode ended in this stretch: carry the last value on
    values[np.isnan(values)] = ys[0]
    low, high = float(values.min()), float(values.max())
    span = high - low
    levels = (values - low) / span * height * 8 if span > 0 else np.full(columns, height * 4.0)
    # A column that is the minimum still gets a sliver, so the chart never shows an empty column.
    levels = np.maximum(np.rint(levels), 1)
    chars = ASCII_LEVELS if ascii else BLOCKS
    labels = [f"{high:.4g}", f"{low:.4g}"]
    pad = max(len(t) for t in labels)
    lines = []
    for row in range(height - 1, -1, -1):
        cells = np.clip(levels - row * 8, 0, 8).astype(int)
        label = labels[0] if row == height - 1 else labels[1] if row == 0 else ""
        lines.append(f"{label.rjust(pad)} |{''.join(chars[c] for c in cells)}")
    left, right = thousands(round(xs[0])), thousands(round(xs[-1]))
    axis = left + right.rjust(columns - len(left)) if columns > len(left) + len(right) else f"{left}..{right}"
    lines.append(" " * (pad + 2) + axis)
    return "\n".join(lines) + "\n"


def can_draw_blocks(stream: IO[str]) -> bool:
    try:
        BLOCKS.encode(getattr(stream, "encoding", None) or "ascii")
    except (LookupError, UnicodeEncodeError):
        return False
    return True


def run_chart(run_dir: Path, stream: IO[str], width: int = 60, height: int = 6) -> str:
    """The return curve of one run as text for `stream`, with a title line."""
    xs, ys = read_returns(run_dir)
    title = f"return per episode over env steps ({ys.size} episodes"
    title += f", smoothed over {min(ys.size, 10)})" if ys.size > 1 else ")"
    if ys.size == 0:
        return f"{title}\n{_no_episodes(run_dir)}\n"
    chart = terminal_chart(xs, smooth(ys, 10), width, height, ascii=not can_draw_blocks(stream))
    return f"{title}\n{chart}"


def _no_episodes(run_dir: Path) -> str:
    """Why a run has no curve: "yet" only for a run that can still get one; a failed run says how it ended."""
    summary = runs.read_summary(run_dir) or {}
    if summary.get("status") != "failed":
        return "no finished episodes yet"
    why = f": {summary['error']}" if summary.get("error") else " (it recorded no error)"
    return (
        f"no finished episodes: the run failed at step {thousands(summary.get('total_steps'))} before any "
        f"episode ended{why}"
    )
