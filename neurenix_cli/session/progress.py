"""The reporter's view of training: the mean return of the last episodes and a progress update a few times a
second (the reporter decides what to show: a live view, or a plain line every --log-interval seconds)."""

from __future__ import annotations

import math
import time

from neurenix_cli import runs
from neurenix_cli.reporting import Reporter
from neurenix_cli.session.state import RunCallback, RunState

UPDATE_EVERY_S = 0.2  # on_step runs thousands of times a second; a view needs a few updates


class ProgressUpdates(RunCallback):
    def __init__(self, state: RunState, reporter: Reporter):
        self.state, self.reporter = state, reporter
        self.last_update = -math.inf
        # A resumed run's "mean return of the last 100 episodes" continues from the rows already on disk.
        state.returns.extend(float(r["return"]) for r in runs.read_csv(state.path / "metrics.csv")[-100:])

    def on_episode_end(self, info: dict) -> bool:
        self.state.returns.append(float(info["reward"]))
        return False

    def on_step(self, total_steps: int) -> bool:
        now = time.monotonic()
        if now - self.last_update >= UPDATE_EVERY_S:
            self.last_update = now
            self.reporter.update(self.state.progress())
        return False
