"""What a person (or a log file) sees while a run trains.

One `Progress` snapshot, three ways to show it: a Rich live view on a terminal, plain lines at a steady interval
anywhere else (pipes, cron, CI, and the run's own train.log), and nothing at all for `--quiet`/`--json`.
Rich is imported only when the live view is used.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

from neurenix_cli.numbers import thousands


@dataclass
class Progress:
    """The state of a run as the reporters show it."""

    algorithm: str
    env_id: str
    run_dir: str
    step_budget: int | None = None  # absolute step count the run ends at, when budgeted in steps
    episode_budget: int | None = None  # absolute episode count the run ends at, when budgeted in episodes
    total_steps: int = 0
    episodes: int = 0
    # The rate and the ETA are measured from the session's first step on: the seconds before it (making the env,
    # reading a resumed run's files) and a sample of one step would make them say nothing.
    rate_start_steps: int = 0  # the counts when the measurement began
    rate_start_episodes: int = 0
    rate_s: float | None = None  # seconds measured; None before the session's first step
    mean_return: float | None = None  # over the last 100 episodes
    latest_eval: float | None = None
    latest_eval_step: int | None = None
    best_eval: float | None = None
    losses: dict[str, float] = field(default_factory=dict)

    @property
    def steps_per_s(self) -> float | None:
        """None until there is a rate: steps measured over some time."""
        steps = self.total_steps - self.rate_start_steps
        return steps / self.rate_s if self.rate_s and steps > 0 else None

    @property
    def fraction(self) -> float | None:
        """Share of the budget done (the larger of the two when both are set)."""
        parts = []
        if self.step_budget:
            parts.append(self.total_steps / self.step_budget)
        if self.episode_budget:
            parts.append(self.episodes / self.episode_budget)
        return min(max(parts), 1.0) if parts else None

    @property
    def eta_s(self) -> float | None:
        done_share = self.fraction
        start_share = 0.0
        if self.step_budget:
            start_share = self.rate_start_steps / self.step_budget
        elif self.episode_budget:
            start_share = self.rate_start_episodes / self.episode_budget
        if done_share is None or not self.rate_s or done_share <= start_share:
            return None
        return self.rate_s * (1.0 - done_share) / (done_share - start_share)


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _rate(p: Progress) -> str:
    return "-" if p.steps_per_s is None else f"{p.steps_per_s:,.0f}"


def _num(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def main_losses(losses: dict[str, float], limit: int = 4) -> dict[str, float]:
    """The update's loss-like figures first (names containing "loss"), then other diagnostics, at most `limit`."""
    items = [
        (k, v)
        for k, v in losses.items()
        if k not in ("total_steps", "updates") and isinstance(v, (int, float))
    ]
    items.sort(key=lambda kv: "loss" not in kv[0])
    return dict(items[:limit])


def format_line(p: Progress) -> str:
    """One plain progress line: `step 12,000/50,000 (24%) | episodes 130 | return(100) 41.20 | ...`."""
    parts = []
    if p.step_budget:
        parts.append(
            f"step {thousands(p.total_steps)}/{thousands(p.step_budget)} "
            f"({100 * p.total_steps / p.step_budget:.0f}%)"
        )
    else:
        parts.append(f"step {thousands(p.total_steps)}")
    parts.append(
        f"episodes {thousands(p.episodes)}" + (f"/{thousands(p.episode_budget)}" if p.episode_budget else "")
    )
    parts.append(f"return(100) {_num(p.mean_return)}")
    if p.latest_eval is not None:
        parts.append(f"eval {_num(p.latest_eval)} (best {_num(p.best_eval)})")
    parts.append(f"{_rate(p)} steps/s")
    parts.append(f"ETA {format_duration(p.eta_s)}")
    losses = main_losses(p.losses)
    if losses:
        parts.append(" ".join(f"{k} {v:.4g}" for k, v in losses.items()))
    return " | ".join(parts)


class Reporter:
    """Silent: the base every reporter extends, and what `--quiet` and `--json` use."""

    def start(self, progress: Progress, message: str) -> None:
        """The run begins; `message` says what trains where."""

    def update(self, progress: Progress) -> None:
        """Called often (several times a second at most); a reporter decides what to show and when."""

    def event(self, message: str) -> None:
        """Something worth a line of its own: an evaluation, a new best, an early stop."""

    def finish(self, progress: Progress, message: str | None) -> None:
        """The run ended (completed, failed or interrupted): `message` says how, or is None when the exception
        that ends the run says it (the CLI prints that once, on stderr)."""


class PlainReporter(Reporter):
    """Timestamped plain lines: one at start, one per event, a progress line every `interval_s`, one at the end."""

    def __init__(self, stream: IO[str], interval_s: float = 10.0, clock: Any = time.monotonic):
        self.stream = stream
        self.interval_s = interval_s
        self.clock = clock
        self._last = -math.inf

    def _write(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            self.stream.write(f"{stamp} {text}\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe must not stop training
            pass

    def start(self, progress: Progress, message: str) -> None:
        self._last = self.clock()
        self._write(message)

    def update(self, progress: Progress) -> None:
        now = self.clock()
        if now - self._last >= self.interval_s:
            self._last = now
            self._write(format_line(progress))

    def event(self, message: str) -> None:
        self._write(message)

    def finish(self, progress: Progress, message: str | None) -> None:
        self._write(format_line(progress))
        if message is not None:
            self._write(message)


class FanOut(Reporter):
    """Sends everything to several reporters (the run's train.log and the user's screen)."""

    def __init__(self, *reporters: Reporter):
        self.reporters = [r for r in reporters if r is not None]

    def start(self, progress: Progress, message: str) -> None:
        for r in self.reporters:
            r.start(progress, message)

    def update(self, progress: Progress) -> None:
        for r in self.reporters:
            r.update(progress)

    def event(self, message: str) -> None:
        for r in self.reporters:
            r.event(message)

    def finish(self, progress: Progress, message: str | None) -> None:
        for r in self.reporters:
            r.finish(progress, message)


class RichReporter(Reporter):
    """A live view on a terminal: progress bar over the budget, rates, returns, latest eval, main losses."""

    def __init__(self, console: Any = None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._live: Any = None

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        p = self._progress
        if p is None:
            return Text("")
        fraction = p.fraction
        head = Table.grid(padding=(0, 1))
        head.add_column()
        head.add_column(justify="right")
        steps = thousands(p.total_steps)
        budget = f"{steps}/{thousands(p.step_budget)} steps" if p.step_budget else f"{steps} steps"
        if p.episode_budget:
            budget += f"  {thousands(p.episodes)}/{thousands(p.episode_budget)} episodes"
        head.add_row(
            ProgressBar(total=1.0, completed=fraction or 0.0, width=40),
            f"{budget}  {100 * (fraction or 0):.0f}%  ETA {format_duration(p.eta_s)}",
        )
        stats = Table.grid(padding=(0, 3))
        cells = [
            f"[bold]{_rate(p)}[/] steps/s",
            f"episodes [bold]{thousands(p.episodes)}[/]",
            f"return(100) [bold]{_num(p.mean_return)}[/]",
            (
                f"eval [bold]{_num(p.latest_eval)}[/] @ step {thousands(p.latest_eval_step)} "
                f"(best {_num(p.best_eval)})"
                if p.latest_eval is not None
                else "eval -"
            ),
        ]
        for _ in cells:
            stats.add_column()
        stats.add_row(*cells)
        losses = main_losses(p.losses)
        loss_line = Text(
            "  ".join(f"{k} {v:.4g}" for k, v in losses.items()) or "no updates yet", style="dim"
        )
        return Group(head, stats, loss_line)

    def start(self, progress: Progress, message: str) -> None:
        from rich.live import Live

        self._progress = progress
        self.console.print(message)
        self._live = Live(self, console=self.console, refresh_per_second=4, transient=False)
        self._live.start()

    def update(self, progress: Progress) -> None:
        self._progress = progress

    def event(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def finish(self, progress: Progress, message: str | None) -> None:
        self._progress = progress
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
        if message is not None:
            self.console.print(message, highlight=False)


def is_terminal(stream: IO[str]) -> bool:
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def make_reporter(quiet: bool = False, interval_s: float = 10.0, stream: IO[str] | None = None) -> Reporter:
    """Rich on a terminal, plain lines elsewhere, silence for --quiet/--json. Progress goes to stderr, so
    stdout carries only the result."""
    if quiet:
        return Reporter()
    stream = stream if stream is not None else sys.stderr
    if is_terminal(stream):
        return RichReporter()
    return PlainReporter(stream, interval_s)


# ----------------------------------------------------------------------------------------------------- results
def summary_rows(summary: dict) -> list[tuple[str, str]]:
    """The figures of a finished run, in the order the final table shows them."""
    best = summary.get("best_eval")
    best_step = summary.get("best_eval_step")
    best_text = _num(best) + (f" @ step {thousands(best_step)}" if best_step else "")
    rows = [
        ("status", str(summary.get("status"))),
        ("run", str(summary.get("run_dir"))),
        ("algorithm", f"{summary.get('algorithm')} on {summary.get('env_id')} (seed {summary.get('seed')})"),
        (
            "steps",
            f"{thousands(summary.get('total_steps', 0))} in {thousands(summary.get('episodes', 0))} episodes",
        ),
        (
            "time",
            f"{format_duration(summary.get('wall_s'))} ({summary.get('steps_per_s') or 0:,.0f} steps/s)",
        ),
        ("best eval", best_text),
        ("final eval", _num(summary.get("final_eval"))),
    ]
    if summary.get("stop_reason"):
        rows.append(("stopped", str(summary["stop_reason"])))
    if summary.get("error"):
        rows.append(("error", str(summary["error"])))
    return rows


def print_table(title: str, rows: list[tuple[str, str]], stream: IO[str] | None = None) -> None:
    """A two-column table: Rich on a terminal, aligned plain text otherwise."""
    stream = stream if stream is not None else sys.stdout
    if is_terminal(stream):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(key, value)
        Console(file=stream).print(table)
        return
    width = max((len(k) for k, _ in rows), default=0)
    stream.write(title + "\n")
    for key, value in rows:
        stream.write(f"  {key.ljust(width)}  {value}\n")
    stream.flush()


def print_listing(
    title: str, header: list[str], rows: list[list[str]], stream: IO[str] | None = None, empty: str = "none"
) -> None:
    """A table with a header row: Rich on a terminal, aligned plain columns otherwise."""
    stream = stream if stream is not None else sys.stdout
    if is_terminal(stream):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for name in header:
            table.add_column(name)
        for row in rows:
            table.add_row(*row)
        console = Console(file=stream)
        console.print(table if rows else f"{title}: {empty}")
        return
    if not rows:
        stream.write(f"{title}: {empty}\n")
        return
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    stream.write(title + "\n")
    for row in [header, *rows]:
        stream.write("  " + "  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() + "\n")
    stream.flush()
