"""Schedules as functions of training progress in [0, 1] (the fraction of the step budget used)."""

from __future__ import annotations


class LinearSchedule:
    """start -> end linearly over the first `duration` of progress, then constant at `end`."""

    def __init__(self, start: float, end: float, duration: float = 1.0) -> None:
        if not 0.0 < duration <= 1.0:
            raise ValueError(f"invalid duration {duration}: must be in (0, 1]")
        self.start, self.end, self.duration = float(start), float(end), float(duration)

    def __call__(self, progress: float) -> float:
        fraction = min(max(progress / self.duration, 0.0), 1.0)
        return self.start + fraction * (self.end - self.start)

    def __repr__(self) -> str:
        return f"LinearSchedule({self.start}, {self.end}, duration={self.duration})"
