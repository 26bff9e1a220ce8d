"""Pruning: each evaluation reported to a tuner (`neurenix tune`'s Optuna trial), which may stop the run."""

from __future__ import annotations

from collections.abc import Callable

from neurenix_cli.session.state import RunCallback

PRUNED = "pruned"  # summary.json's stop_reason of a run its tuner stopped


class Pruning(RunCallback):
    """Calls `report(step, mean_reward)` after every evaluation during training; when it returns True the run
    stops at this step as a completed run whose stop_reason is `pruned` (its final evaluation is the one just
    made). The tuner knows nothing of sessions, the session nothing of Optuna."""

    def __init__(self, report: Callable[[int, float], bool]):
        self.report = report
        self.stop_reason: str | None = None

    def on_evaluation(self, step: int, mean: float, std: float, episodes: int) -> None:
        if self.stop_reason is None and self.report(step, mean):
            self.stop_reason = PRUNED

    def on_step(self, total_steps: int) -> bool:
        return self.stop_reason is not None
