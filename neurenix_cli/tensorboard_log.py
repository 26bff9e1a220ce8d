"""TensorBoard event files of a run, in RUN_DIR/tensorboard/ (`train.tensorboard: true` or `train --tensorboard`).

Written with tensorboardX (the [tensorboard] extra: a small, maintained writer of TensorBoard's own event
format, with no deep-learning framework behind it), imported only when a run asks for it. The x axis of every
scalar is the env step count, as in the CSV files:

    episode/return, episode/length   each episode, at the step it ended (a row of metrics.csv)
    train/<name>                     the update losses and diagnostics of each row of updates.csv
    time/steps_per_s                 with each row of updates.csv
    eval/mean_return, eval/std_return   each evaluation (a row of evals.csv)
"""

from __future__ import annotations

import os
from pathlib import Path

from neurenix_cli.extras import require

TENSORBOARD_DIR = "tensorboard"


class TensorBoardLog:
    """A run's event writer. `resume_step`: a resumed run drops its CSV rows after that step, and TensorBoard
    is told to hide the events after it too (tensorboardX's `purge_step`), so curves do not double back."""

    def __init__(self, run_dir: str | os.PathLike, resume_step: int = 0):
        tensorboardx = require("tensorboardX", "tensorboard", "train.tensorboard")
        self.writer = tensorboardx.SummaryWriter(
            logdir=str(Path(run_dir) / TENSORBOARD_DIR),
            purge_step=resume_step + 1 if resume_step else None,
            flush_secs=10,
        )

    def episode(self, step: int, episode_return: float, length: int) -> None:
        self.writer.add_scalar("episode/return", episode_return, step)
        self.writer.add_scalar("episode/length", length, step)

    def update(self, step: int, losses: dict[str, float], steps_per_s: float | None) -> None:
        """`steps_per_s`: None before the session has measured a rate (its first step)."""
        for name, value in losses.items():
            self.writer.add_scalar(f"train/{name}", value, step)
        if steps_per_s is not None:
            self.writer.add_scalar("time/steps_per_s", steps_per_s, step)

    def evaluation(self, step: int, mean: float, std: float) -> None:
        self.writer.add_scalar("eval/mean_return", mean, step)
        self.writer.add_scalar("eval/std_return", std, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
